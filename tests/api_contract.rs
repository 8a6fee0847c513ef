//! The API's shapes, its errors for everything a client can get wrong, and the PKLot import.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const PKLOT_XML: &str = "../shared/fixtures/pklot/annotated/sequence1/bounding_boxes/2013-02-22_06_25_00.xml";

fn assert_error(code: u16, body: &Value, expected: u16, what: &str) {
    assert_eq!(code, expected, "{what}: {body}");
    assert!(body["error"].is_string() && body["detail"].is_string(), "{what}: error body {body}");
}

#[tokio::test]
async fn bad_ids_json_and_polygons_get_json_4xx_and_change_nothing() {
    let s = Server::start_with(&[("SMARTPARK_SERVER__JSON_LIMIT_BYTES", "4096")]);
    let http = client();
    create_camera(&http, &s, "cam").await;
    let slot = create_slot(&http, &s, "cam", "L1").await;
    set_state(&http, &s, slot, "occupied").await;

    let put =
        |path: String, body: &'static str| http.put(s.url(&path)).header("content-type", "application/json").body(body);
    let post = |path: &str, body: Value| http.post(s.url(path)).json(&body);

    // Bad ids.
    for path in [
        "/api/slots/abc",
        "/api/slots/999999",
        "/api/sessions/abc",
        "/api/sessions/424242",
        "/api/cameras/nope",
        "/api/cameras/nope/slots",
        "/api/nothing",
    ] {
        let (c, b) = call(http.get(s.url(path))).await;
        assert_error(c, &b, 404, path);
    }
    let (c, b) = call(put("/api/slots/999999".into(), r#"{"state":"free"}"#)).await;
    assert_error(c, &b, 404, "PUT unknown slot");
    let (c, b) = call(http.delete(s.url("/api/cameras/nope"))).await;
    assert_error(c, &b, 404, "DELETE unknown camera");
    let (c, b) = call(post("/api/cameras/nope/slots", json!({"label": "x", "polygon": [[0,0],[1,0],[0,1]]}))).await;
    assert_error(c, &b, 404, "slot on unknown camera");

    // Bad JSON and bad values.
    for (body, what) in [
        (r#"{"state":"#, "truncated JSON"),
        ("not json", "not JSON"),
        (r#"{"state":"parked"}"#, "unknown state"),
        (r#"{"state":"unknown"}"#, "manual unknown"),
        (r#"{"state":"free","extra":1}"#, "unknown field"),
        (r#"[]"#, "wrong type"),
    ] {
        let (c, b) = call(put(format!("/api/slots/{slot}"), body)).await;
        assert_error(c, &b, 400, what);
    }
    let (c, b) = call(http.put(s.url(&format!("/api/slots/{slot}"))).body(r#"{"state":"free"}"#)).await;
    assert_error(c, &b, 415, "JSON without a content type");
    let big = format!(r#"{{"id":"big","name":"{}"}}"#, "x".repeat(10_000));
    let (c, b) = call(http.post(s.url("/api/cameras")).header("content-type", "application/json").body(big)).await;
    assert_error(c, &b, 413, "oversized body");

    // Bad polygons.
    for (polygon, what) in [
        (json!([[0, 0], [10, 10]]), "two points"),
        (json!([[0, 0], [10, 10], [10, 0], [0, 10]]), "bow-tie"),
        (json!([[0, 0], [10, 0], [20, 0]]), "collinear"),
        (json!([[0, 0], [10, 0], [0, 0]]), "repeated point"),
        (json!([[0, 0, 3], [10, 0], [0, 10]]), "three coordinates"),
        (json!("square"), "not a list"),
    ] {
        let (c, b) = call(post("/api/cameras/cam/slots", json!({"label": "bad", "polygon": polygon}))).await;
        assert_error(c, &b, 400, what);
    }
    let (c, b) =
        call(http.patch(s.url(&format!("/api/slots/{slot}"))).json(&json!({"polygon": [[0,0],[5,5],[5,0],[0,5]]})))
            .await;
    assert_error(c, &b, 400, "PATCH bow-tie");

    // Bad camera ids, names and labels; conflicts.
    for (body, what) in [
        (json!({"id": "has space", "name": "x"}), "id with a space"),
        (json!({"id": "", "name": "x"}), "empty id"),
        (json!({"id": "ok", "name": ""}), "empty name"),
        (json!({"id": "ok"}), "missing name"),
    ] {
        let (c, b) = call(post("/api/cameras", body)).await;
        assert_error(c, &b, 400, what);
    }
    let (c, b) = call(post("/api/cameras", json!({"id": "cam", "name": "again"}))).await;
    assert_error(c, &b, 409, "duplicate camera");
    let (c, b) = call(post("/api/cameras/cam/slots", json!({"label": "L1", "polygon": [[0,0],[1,0],[0,1]]}))).await;
    assert_error(c, &b, 409, "duplicate label");
    let (c, b) = call(post("/api/cameras/cam/slots", json!({"label": "  ", "polygon": [[0,0],[1,0],[0,1]]}))).await;
    assert_error(c, &b, 400, "blank label");

    // Text Postgres cannot store (a NUL byte) never reaches it.
    let (c, b) = call(http.get(s.url("/api/cameras/a%00b"))).await;
    assert_error(c, &b, 404, "NUL in a camera id");
    let (c, b) = call(post("/api/cameras", json!({"id": "nul", "name": "a\u{0}b"}))).await;
    assert_error(c, &b, 400, "NUL in a name");
    let (c, b) = call(post("/api/cameras/cam/slots", json!({"label": "a\u{0}", "polygon": [[0,0],[1,0],[0,1]]}))).await;
    assert_error(c, &b, 400, "NUL in a label");

    // Bad queries.
    for path in [
        "/api/sessions?camera=a%00b",
        "/api/sessions?limit=0",
        "/api/sessions?limit=x",
        "/api/sessions?cursor=zzz",
        "/api/sessions?from=yesterday",
        "/api/sessions?bogus=1",
        "/api/slots?state=parked",
        "/api/stats/history?bucket=week",
        "/api/stats/history?bucket=minute&from=2020-01-01T00:00:00Z",
    ] {
        let (c, b) = call(http.get(s.url(path))).await;
        assert_error(c, &b, 400, path);
    }
    let res = http.delete(s.url("/api/slots")).send().await.unwrap();
    assert_eq!(res.status(), 405, "a known path with a method it does not serve");
    assert_eq!(res.headers()["allow"], "GET");
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"], "method_not_allowed");

    // PKLot imports that are not PKLot.
    let xml = |body: &'static str| {
        http.post(s.url("/api/cameras/cam/import-pklot")).header("content-type", "application/xml").body(body)
    };
    for (body, what) in [
        ("<parking", "truncated XML"),
        ("<lot/>", "wrong root"),
        ("<parking/>", "no spaces"),
        (
            r#"<parking><space id="1"><contour><point x="1" y="1"/><point x="2" y="2"/></contour></space></parking>"#,
            "two-point space",
        ),
    ] {
        let (c, b) = call(xml(body)).await;
        assert_error(c, &b, 400, what);
    }
    let (c, b) =
        call(http.post(s.url("/api/cameras/cam/import-pklot")).header("content-type", "image/png").body("x")).await;
    assert_error(c, &b, 415, "PKLot as an image");

    // Nothing of it changed the lot, and the server is well.
    let (_, slots) = call(http.get(s.url("/api/slots"))).await;
    let slots = slots.as_array().unwrap();
    assert_eq!(slots.len(), 1);
    assert_eq!(slots[0]["state"], "occupied");
    assert_eq!(slots[0]["polygon"], json!([[0.0, 0.0], [100.0, 0.0], [100.0, 50.0], [0.0, 50.0]]));
    let (c, _) = call(http.get(s.url("/readyz"))).await;
    assert_eq!(c, 200);
    assert!(!s.log().contains("panicked"), "no actor panicked:\n{}", s.log());
}

#[tokio::test]
async fn cameras_and_slots_are_managed_through_the_api() {
    let s = Server::start();
    let http = client();
    let (c, cam) = call(http.post(s.url("/api/cameras")).json(&json!({"id": "gate", "name": "Gate"}))).await;
    assert_eq!(c, 201);
    assert_eq!(cam["name"], "Gate");
    let a = create_slot(&http, &s, "gate", "G1").await;
    let b = create_slot(&http, &s, "gate", "G2").await;
    create_camera(&http, &s, "yard").await;
    let y = create_slot(&http, &s, "yard", "Y1").await;
    set_state(&http, &s, a, "occupied").await;

    let (_, list) = call(http.get(s.url("/api/cameras"))).await;
    assert_eq!(
        list.as_array().unwrap().iter().map(|c| (c["id"].clone(), c["slots"].clone())).collect::<Vec<_>>(),
        vec![(json!("gate"), json!(2)), (json!("yard"), json!(1))]
    );
    let (c, renamed) = call(http.put(s.url("/api/cameras/gate")).json(&json!({"name": "Main gate"}))).await;
    assert_eq!((c, renamed["name"].clone()), (200, json!("Main gate")));

    let (_, only_gate) = call(http.get(s.url("/api/slots?camera=gate"))).await;
    assert_eq!(only_gate.as_array().unwrap().len(), 2);
    let (_, occupied) = call(http.get(s.url("/api/slots?state=occupied"))).await;
    assert_eq!(occupied.as_array().unwrap().iter().map(|v| v["id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![a]);
    let (_, cam_slots) = call(http.get(s.url("/api/cameras/yard/slots"))).await;
    assert_eq!(cam_slots[0]["id"], y);

    let (c, edited) = call(
        http.patch(s.url(&format!("/api/slots/{b}"))).json(&json!({"label": "G2b", "polygon": [[1,1],[9,1],[9,9]]})),
    )
    .await;
    assert_eq!(c, 200, "{edited}");
    assert_eq!(edited["label"], "G2b");
    assert_eq!(edited["polygon"], json!([[1.0, 1.0], [9.0, 1.0], [9.0, 9.0]]));

    let mut ws = ws_connect(&s).await;
    ws_next(&mut ws, Duration::from_secs(5)).await;
    let (c, _) = call(http.delete(s.url(&format!("/api/slots/{b}")))).await;
    assert_eq!(c, 204);
    let gone = ws_until(&mut ws, Duration::from_secs(5), |v| v["type"] == "slot_removed").await;
    assert_eq!(gone["id"], b);
    let (c, _) = call(http.get(s.url(&format!("/api/slots/{b}")))).await;
    assert_eq!(c, 404);

    let (c, _) = call(http.delete(s.url("/api/cameras/gate"))).await;
    assert_eq!(c, 204);
    let (_, left) = call(http.get(s.url("/api/slots"))).await;
    assert_eq!(left.as_array().unwrap().iter().map(|v| v["id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![y]);
    let (_, sessions) = call(http.get(s.url("/api/sessions"))).await;
    assert!(sessions["items"].as_array().unwrap().is_empty(), "a deleted camera takes its spaces' history");
}

#[tokio::test]
async fn pklot_files_import_through_the_cli_and_the_api() {
    let s = Server::start();
    let xml = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PKLOT_XML);
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_smartpark"))
            .args(["import-pklot", "--camera", "ufpr05", "--name", "UFPR05", "--server", &s.base])
            .env("SMARTPARK_API_TOKEN", common::ADMIN_TOKEN)
            .arg(&xml)
            .output()
            .expect("run import-pklot")
    };
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("40 space(s) created"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let http = client();
    let (_, slots) = call(http.get(s.url("/api/slots?camera=ufpr05"))).await;
    let slots = slots.as_array().unwrap();
    assert_eq!(slots.len(), 40);
    let first = slots.iter().find(|v| v["label"] == "1").unwrap();
    assert_eq!(first["polygon"], json!([[608.0, 613.0], [741.0, 654.0], [775.0, 582.0], [608.0, 526.0]]));

    // Importing again moves the same spaces rather than adding new ones.
    set_state(&http, &s, first["id"].as_i64().unwrap(), "occupied").await;
    let (c, res) = call(
        http.post(s.url("/api/cameras/ufpr05/import-pklot"))
            .header("content-type", "application/xml")
            .body(std::fs::read(&xml).unwrap()),
    )
    .await;
    assert_eq!(c, 200, "{res}");
    assert_eq!((res["created"].clone(), res["updated"].clone()), (json!(0), json!(40)));
    let (_, again) = call(http.get(s.url(&format!("/api/slots/{}", first["id"])))).await;
    assert_eq!(again["state"], "occupied", "a re-import keeps the state");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartpark"))
        .args(["import-pklot", "--camera", "ufpr05", "--server", &s.base, "/no/such/file.xml"])
        .env("SMARTPARK_API_TOKEN", common::ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(!out.status.success());

    // PKLot's own UFPR04 file, `<Point>` with a capital P, imports whole.
    let ufpr04 = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/lots/ufpr04/bounding_boxes/2012-12-28_11_20_07.xml");
    let (c, _) = call(http.post(s.url("/api/cameras")).json(&json!({"id": "ufpr04", "name": "UFPR04"}))).await;
    assert_eq!(c, 201);
    let (c, res) = call(
        http.post(s.url("/api/cameras/ufpr04/import-pklot"))
            .header("content-type", "application/xml")
            .body(std::fs::read(&ufpr04).unwrap()),
    )
    .await;
    assert_eq!((c, res["created"].clone()), (200, json!(28)), "{res}");
    // A broken file is refused with where and what.
    let broken =
        "<parking id=\"x\">\n<space id=\"1\">\n<contour><point x=\"1\" y=\"1\"/></contour>\n</space></parking>";
    let (c, res) = call(
        http.post(s.url("/api/cameras/ufpr04/import-pklot")).header("content-type", "application/xml").body(broken),
    )
    .await;
    assert_eq!(c, 400, "{res}");
    assert_eq!(res["detail"], "line 3: space 1: <contour>: a polygon needs at least 3 points, got 1", "{res}");
}

#[tokio::test]
async fn openapi_health_metrics_and_heartbeat() {
    let s = Server::start_with(&[("SMARTPARK_LIVE__HEARTBEAT_INTERVAL_S", "1")]);
    let http = client();
    let (c, doc) = call(http.get(s.url("/api/openapi.json"))).await;
    assert_eq!(c, 200);
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/slots", vec!["get"]),
        ("/api/slots/{id}", vec!["get", "put", "patch", "delete"]),
        ("/api/slots/{id}/observations", vec!["post"]),
        ("/api/cameras", vec!["get", "post"]),
        ("/api/cameras/{id}", vec!["get", "put", "delete"]),
        ("/api/cameras/{id}/slots", vec!["get", "post"]),
        ("/api/cameras/{id}/import-pklot", vec!["post"]),
        ("/api/sessions", vec!["get"]),
        ("/api/sessions/{id}", vec!["get"]),
        ("/api/stats", vec!["get"]),
        ("/api/stats/history", vec!["get"]),
        ("/healthz", vec!["get"]),
        ("/readyz", vec!["get"]),
        ("/metrics", vec!["get"]),
    ] {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"));
        for m in methods {
            assert!(item.get(m).is_some(), "{m} {path} missing from the OpenAPI document");
        }
    }
    // Every documented path is served: none answers "no such route".
    for (path, item) in paths {
        let concrete = path.replace("{id}", "1");
        for method in item.as_object().unwrap().keys() {
            let req = http
                .request(method.to_uppercase().parse().unwrap(), s.url(&concrete))
                .header("content-type", "application/json")
                .body("{}");
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            assert!(
                !text.contains("no such route") && status != 405,
                "{method} {path} is documented but not served: {status} {text}"
            );
        }
    }

    let (c, h) = call(http.get(s.url("/healthz"))).await;
    assert_eq!((c, h["status"].clone()), (200, json!("ok")));
    let (c, r) = call(http.get(s.url("/readyz"))).await;
    assert_eq!((c, r["status"].clone()), (200, json!("ready")));
    let metrics = http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let readyz_count: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("smartpark_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no /readyz counter in {metrics}"));
    assert_eq!(readyz_count, 2, "the route walk and the call above");
    assert!(metrics.contains("smartpark_slots{state=\"unknown\"} 0"));

    // The server pings; a client that answers stays connected past the timeout.
    let mut ws = ws_connect(&s).await;
    ws_next(&mut ws, Duration::from_secs(5)).await;
    use futures_util::StreamExt;
    let ping = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_))) = ws.next().await {
                return;
            }
        }
    })
    .await;
    assert!(ping.is_ok(), "the server sends heartbeat pings");
}
