//! Cameras that push: frames posted with the camera's device token become its newest frame and
//! are kept as captures; everything else is refused with a clear answer and changes nothing.

mod common;

use std::time::Duration;

use common::sim::jpeg_files;
use common::{call, camera, client, create_push_camera, eventually, push_frame, Server};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

async fn captures(http: &reqwest::Client, s: &Server, query: &str) -> Value {
    let (st, body) = call(http.get(s.url(&format!("/api/captures?{query}")))).await;
    assert_eq!(st, 200, "{body}");
    body
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn pushed_frames_are_stored_listed_and_served() {
    let s = Server::start();
    let http = client();
    let token = create_push_camera(&http, &s, "door").await;
    let frames = jpeg_files();
    for f in &frames[..3] {
        let (st, body) = call(push_frame(&http, &s, "door", &token, f.clone())).await;
        assert_eq!(st, 202, "{body}");
        assert_eq!((body["width"].as_u64(), body["height"].as_u64()), (Some(1280), Some(720)));
        assert_eq!(body["size_bytes"].as_u64(), Some(f.len() as u64));
    }
    let c = camera(&http, &s, "door").await;
    assert_eq!((c["status"].as_str(), c["frames"].as_u64()), (Some("online"), Some(3)));
    let snap = http.get(s.url("/api/cameras/door/snapshot.jpg")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(snap[..], frames[2][..], "the snapshot is the newest pushed frame");

    // Every pushed frame is kept: listed newest first, with its digest, and served back intact.
    let page = eventually(Duration::from_secs(20), "three captures", || async {
        let page = captures(&http, &s, "camera=door").await;
        (page["items"].as_array().unwrap().len() == 3).then_some(page)
    })
    .await;
    let items = page["items"].as_array().unwrap();
    for (item, original) in items.iter().zip(frames[..3].iter().rev()) {
        assert_eq!(item["sha256"].as_str(), Some(hex_sha256(original).as_str()));
        assert_eq!(item["size_bytes"].as_u64(), Some(original.len() as u64));
        assert_eq!((item["width"].as_u64(), item["reason"].as_str()), (Some(1280), Some("push")));
        let res = http.get(s.url(item["image_url"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        assert_eq!(res.bytes().await.unwrap()[..], original[..]);
    }
    assert!(s.data_dir.join("images/captures/door").is_dir(), "the local store is under the data directory");

    // Paging and time filters.
    let first = captures(&http, &s, "camera=door&limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = captures(&http, &s, &format!("camera=door&limit=2&cursor={cursor}")).await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    let newest = items[0]["taken_at"].as_str().unwrap();
    let from = captures(&http, &s, &format!("camera=door&from={}", urlencode(newest))).await;
    assert_eq!(from["items"].as_array().unwrap().len(), 1);
    let to = captures(&http, &s, &format!("camera=door&to={}", urlencode(newest))).await;
    assert_eq!(to["items"].as_array().unwrap().len(), 2);
    assert_eq!(captures(&http, &s, "camera=other").await["items"], json!([]));
    let one = items[0]["id"].as_i64().unwrap();
    let (st, body) = call(http.get(s.url(&format!("/api/captures/{one}")))).await;
    assert_eq!((st, body["camera_id"].as_str()), (200, Some("door")));

    // The seed's /api/capture: the camera named in a header, or in a form.
    let (st, body) = call(
        http.post(s.url("/api/capture"))
            .header("X-Camera-Id", "door")
            .bearer_auth(&token)
            .header("content-type", "image/jpeg")
            .body(frames[3].clone()),
    )
    .await;
    assert_eq!(st, 202, "{body}");
    let form = reqwest::multipart::Form::new().text("camera_id", "door").text("token", token.clone()).part(
        "imageFile",
        reqwest::multipart::Part::bytes(frames[4].clone()).file_name("frame.jpg").mime_str("image/jpeg").unwrap(),
    );
    let (st, body) = call(http.post(s.url("/api/capture")).multipart(form)).await;
    assert_eq!(st, 202, "{body}");
    assert_eq!(camera(&http, &s, "door").await["frames"].as_u64(), Some(5));

    // `smartpark sim-camera --push` posts like a board: every frame once, in order.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smartpark"))
        .args(["sim-camera", "--fps", "20", "--passes", "1", "--frames"])
        .arg(common::sim::jpeg_dir())
        .args(["--push", &s.url("/api/cameras/door/frames"), "--token", &token])
        .output()
        .expect("sim-camera --push");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("sent 5 frame(s), 0 refused"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(camera(&http, &s, "door").await["frames"].as_u64(), Some(10));
    let snap = http.get(s.url("/api/cameras/door/snapshot.jpg")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(snap[..], frames[4][..], "the last frame pushed is the newest");

    // Deleting the camera deletes its captures' images too.
    let images = s.data_dir.join("images/captures/door");
    eventually(Duration::from_secs(20), "ten captures", || async {
        (captures(&http, &s, "camera=door&limit=100").await["items"].as_array().unwrap().len() == 10).then_some(())
    })
    .await;
    let (st, _) = call(http.delete(s.url("/api/cameras/door"))).await;
    assert_eq!(st, 204);
    eventually(Duration::from_secs(20), "the camera's images to be deleted", || async {
        let left = walk(&images);
        left.is_empty().then_some(())
    })
    .await;
    assert_eq!(captures(&http, &s, "camera=door").await["items"], json!([]));
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                todo.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    files
}

#[tokio::test]
async fn bad_pushes_are_refused_and_change_nothing() {
    let s = Server::start_with(&[("SMARTPARK_CAPTURE__MAX_FRAME_BYTES", "300000")]);
    let http = client();
    let token = create_push_camera(&http, &s, "door").await;
    let good = jpeg_files().remove(0);
    assert!(good.len() < 300_000);
    let png = {
        let mut p: Vec<_> = std::fs::read_dir(common::sim::pklot("annotated/sequence1/frames"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        p.sort();
        // Its head is enough to be a PNG, and keeps it under the size limit.
        std::fs::read(&p[0]).unwrap()[..20_000].to_vec()
    };
    let mut huge = good.clone();
    huge.resize(400_000, 0);

    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "no token",
            http.post(s.url("/api/cameras/door/frames")).header("content-type", "image/jpeg").body(good.clone()),
            401,
            "unauthorized",
        ),
        ("wrong token", push_frame(&http, &s, "door", "not-the-token", good.clone()), 401, "unauthorized"),
        ("unknown camera", push_frame(&http, &s, "nope", &token, good.clone()), 404, "not_found"),
        (
            "text",
            http.post(s.url("/api/cameras/door/frames"))
                .bearer_auth(&token)
                .header("content-type", "text/plain")
                .body("hello"),
            415,
            "unsupported_media_type",
        ),
        ("a PNG sent as JPEG", push_frame(&http, &s, "door", &token, png), 415, "unsupported_media_type"),
        ("truncated", push_frame(&http, &s, "door", &token, good[..good.len() / 2].to_vec()), 400, "invalid_jpeg"),
        ("empty", push_frame(&http, &s, "door", &token, Vec::new()), 415, "unsupported_media_type"),
        ("too large", push_frame(&http, &s, "door", &token, huge), 413, "payload_too_large"),
        (
            "capture without a camera",
            http.post(s.url("/api/capture"))
                .bearer_auth(&token)
                .header("content-type", "image/jpeg")
                .body(good.clone()),
            400,
            "missing_camera",
        ),
        (
            "capture form without a token",
            http.post(s.url("/api/capture")).multipart(
                reqwest::multipart::Form::new()
                    .text("camera_id", "door")
                    .part("image", reqwest::multipart::Part::bytes(good.clone()).file_name("f.jpg")),
            ),
            401,
            "unauthorized",
        ),
    ];
    for (what, req, status, code) in cases {
        let res = req.send().await.expect(what);
        let got = res.status().as_u16();
        let auth = res.headers().get("www-authenticate").is_some();
        let body: Value = res.json().await.unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
        assert_eq!((got, body["error"].as_str()), (status, Some(code)), "{what}: {body}");
        if status == 401 {
            assert!(auth, "{what}: 401 names the scheme in WWW-Authenticate");
        }
    }
    let c = camera(&http, &s, "door").await;
    assert_eq!((c["frames"].as_u64(), c["status"].as_str()), (Some(0), Some("offline")), "{c}");

    // A new token replaces the old one.
    let (st, body) = call(http.post(s.url("/api/cameras/door/token"))).await;
    assert_eq!(st, 200, "{body}");
    let fresh = body["token"].as_str().unwrap().to_string();
    let (st, _) = call(push_frame(&http, &s, "door", &token, good.clone())).await;
    assert_eq!(st, 401, "the old token stopped working");
    let (st, _) = call(push_frame(&http, &s, "door", &fresh, good.clone())).await;
    assert_eq!(st, 202);
    // And it survives a restart (only its digest is stored).
    let mut s = s;
    s.restart();
    let (st, body) = call(push_frame(&http, &s, "door", &fresh, good.clone())).await;
    assert_eq!(st, 202, "{body}");
    for (q, code) in [("limit=0", "invalid_query"), ("cursor=zzz", "invalid_cursor"), ("camera=%00", "invalid_query")] {
        let (st, body) = call(http.get(s.url(&format!("/api/captures?{q}")))).await;
        assert_eq!((st, body["error"].as_str()), (400, Some(code)), "{q}: {body}");
    }
    let (st, _) = call(http.get(s.url("/api/captures/999999/image"))).await;
    assert_eq!(st, 404);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn captures_older_than_the_retention_age_are_deleted() {
    let s =
        Server::start_with(&[("SMARTPARK_ARCHIVE__MAX_AGE_DAYS", "30"), ("SMARTPARK_ARCHIVE__SWEEP_INTERVAL_S", "1")]);
    let http = client();
    let token = create_push_camera(&http, &s, "door").await;
    let frames = jpeg_files();
    for f in &frames[..2] {
        let (st, body) = call(push_frame(&http, &s, "door", &token, f.clone())).await;
        assert_eq!(st, 202, "{body}");
    }
    let items = eventually(Duration::from_secs(20), "two captures", || async {
        let page = captures(&http, &s, "camera=door").await;
        let items = page["items"].as_array().unwrap().clone();
        (items.len() == 2).then_some(items)
    })
    .await;
    // Frames are stamped with the time they arrive, so age one in the database.
    let (old, young) = (&items[1], &items[0]);
    let db = smartpark::storage::db::Db::connect(&s.database_url(), 1, Duration::from_secs(5)).unwrap();
    let mut conn = db.conn().await.unwrap();
    use diesel_async::RunQueryDsl;
    let aged = diesel::sql_query("UPDATE captures SET taken_at = now() - interval '31 days' WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(old["id"].as_i64().unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(aged, 1);
    let left = eventually(Duration::from_secs(20), "the aged capture to go", || async {
        let page = captures(&http, &s, "camera=door").await;
        let items = page["items"].as_array().unwrap().clone();
        (items.len() == 1).then_some(items)
    })
    .await;
    assert_eq!(left[0]["id"], young["id"], "the young one stays");
    let image = s.data_dir.join("images").join(old["storage_key"].as_str().unwrap());
    assert!(!image.exists(), "the aged image is deleted with its row");
    assert!(s.data_dir.join("images").join(young["storage_key"].as_str().unwrap()).exists());
}

/// Evidence is not a routine frame: the captures a stay or a space change refers to do not count
/// against the per-camera limit, outlive `max_age_days` for `evidence_retention_days`, and the
/// entry capture of a stay still open is kept however old. Routine frames around them go.
#[tokio::test]
async fn evidence_outlives_the_routine_frames_around_it() {
    // No retention while the captures are made and aged; the limits come with a restart.
    let mut s =
        Server::start_with(&[("SMARTPARK_ARCHIVE__MAX_AGE_DAYS", "0"), ("SMARTPARK_ARCHIVE__MAX_PER_CAMERA", "0")]);
    let http = client();
    let token = create_push_camera(&http, &s, "door").await;
    let frames = jpeg_files();
    for i in 0..6 {
        let f = &frames[i % frames.len()];
        let (st, body) = call(push_frame(&http, &s, "door", &token, f.clone())).await;
        assert_eq!(st, 202, "{body}");
    }
    let mut items = eventually(Duration::from_secs(20), "six captures", || async {
        let page = captures(&http, &s, "camera=door&limit=10").await;
        let items = page["items"].as_array().unwrap().clone();
        (items.len() == 6).then_some(items)
    })
    .await;
    items.reverse(); // oldest first
    let id = |i: usize| items[i]["id"].as_i64().unwrap();
    let slot = common::create_slot(&http, &s, "door", "D1").await;
    let stay = common::set_state(&http, &s, slot, "occupied").await;

    use diesel_async::RunQueryDsl;
    let db = smartpark::storage::db::Db::connect(&s.database_url(), 1, Duration::from_secs(5)).unwrap();
    let mut conn = db.conn().await.unwrap();
    let sql = |q: &str| diesel::sql_query(q.to_string());
    // 0: the open stay's entry, 200 days old. 1: a change's evidence, 40 days old. 2: a
    // change's evidence, 100 days old. 3: routine, 40 days old. 4, 5: routine, new.
    for (i, days) in [(0, 200), (1, 40), (2, 100), (3, 40)] {
        sql(&format!("UPDATE captures SET taken_at = now() - interval '{days} days' WHERE id = {}", id(i)))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sql(&format!("UPDATE parking_sessions SET entry_capture_id = {} WHERE id = {}", id(0), stay["session_id"]))
        .execute(&mut conn)
        .await
        .unwrap();
    for i in [1, 2] {
        sql(&format!(
            "INSERT INTO slot_events (slot_id, at, from_state, to_state, source, capture_id) \
             VALUES ({slot}, now() - interval '100 days', 'free', 'occupied', 'detector', {})",
            id(i)
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }

    drop(conn);
    s.stop();
    for (k, v) in [
        ("SMARTPARK_ARCHIVE__MAX_AGE_DAYS", "30"),
        ("SMARTPARK_ARCHIVE__MAX_PER_CAMERA", "2"),
        ("SMARTPARK_ARCHIVE__EVIDENCE_RETENTION_DAYS", "90"),
        ("SMARTPARK_ARCHIVE__SWEEP_INTERVAL_S", "1"),
    ] {
        s.set_env(k, v);
    }
    s.relaunch();
    let left = eventually(Duration::from_secs(30), "the sweep to leave four", || async {
        let page = captures(&http, &s, "camera=door&limit=10").await;
        let mut left: Vec<i64> = page["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
        left.sort();
        (left.len() == 4).then_some(left)
    })
    .await;
    assert_eq!(left, vec![id(0), id(1), id(4), id(5)]);
    for (i, kept) in [(0, true), (1, true), (2, false), (3, false), (4, true), (5, true)] {
        let image = s.data_dir.join("images").join(items[i]["storage_key"].as_str().unwrap());
        assert_eq!(image.exists(), kept, "capture {i}");
    }
}
