//! People and permissions against the real server: every route for every kind of caller (the
//! table comes from the router's own declarations, so a new route is covered without editing
//! this file), the WebSocket, cross-site requests, sign-in limits, revocation, secrets.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use smartpark::auth::{Access, Role};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Signs in and returns the `Cookie` header value the session needs.
async fn sign_in(s: &Server, user: &str, password: &str) -> String {
    let res = anonymous()
        .post(s.url("/api/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "sign-in as {user}");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("smartpark_session="))
        .expect("a session cookie")
        .to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "the cookie lacks {attr}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag ({cookie})");
    cookie.split(';').next().unwrap().to_string()
}

async fn add_user(http: &reqwest::Client, s: &Server, name: &str, role: &str) {
    let (st, body) = call(
        http.post(s.url("/api/users"))
            .json(&json!({"username": name, "password": format!("{name}-password"), "role": role})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
}

async fn new_token(http: &reqwest::Client, s: &Server, name: &str, role: &str) -> (i64, String) {
    let (st, body) = call(http.post(s.url("/api/tokens")).json(&json!({"name": name, "role": role}))).await;
    assert_eq!(st, 201, "{body}");
    (body["id"].as_i64().unwrap(), body["token"].as_str().unwrap().to_string())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Nobody,
    Viewer,
    Operator,
    Admin,
    RevokedToken,
    ExpiredSession,
    WrongDeviceToken,
}

/// What the guard (or the push routes' own check) must answer: `Some(code)` for a refusal,
/// `None` when the caller is let through (the handler then answers whatever it answers).
fn expected(access: Access, caller: Caller) -> Option<u16> {
    let role = match caller {
        Caller::Viewer => Some(Role::Viewer),
        Caller::Operator => Some(Role::Operator),
        Caller::Admin => Some(Role::Admin),
        _ => None,
    };
    match access {
        Access::Public => None,
        // Nobody here holds the camera's device token: user sessions do not count.
        Access::Device => Some(401),
        Access::Role(needed) => match role {
            None => Some(401),
            Some(r) if r < needed => Some(403),
            Some(_) => None,
        },
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_its_role_allows() {
    let s = Server::start();
    let admin = client();
    create_push_camera(&admin, &s, "gate").await;
    add_user(&admin, &s, "vera", "viewer").await;
    add_user(&admin, &s, "otto", "operator").await;
    add_user(&admin, &s, "ezra", "admin").await;
    let viewer = sign_in(&s, "vera", "vera-password").await;
    let operator = sign_in(&s, "otto", "otto-password").await;
    let admin_cookie = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    let expired = sign_in(&s, "ezra", "ezra-password").await;
    let (revoked_id, revoked) = new_token(&admin, &s, "gone", "admin").await;
    assert_eq!(call(admin.delete(s.url(&format!("/api/tokens/{revoked_id}")))).await.0, 204);
    // A session past its lifetime: age it in the database.
    {
        use diesel_async::RunQueryDsl;
        let db = smartpark::storage::db::Db::connect(&s.database_url(), 1, Duration::from_secs(5)).unwrap();
        let mut conn = db.conn().await.unwrap();
        let n = diesel::sql_query(
            "UPDATE auth_sessions SET created_at = now() - interval '400 days' WHERE username = 'ezra'",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        assert_eq!(n, 1);
    }

    let mut endpoints = smartpark::api::routes::endpoints();
    // Signing out ends the callers' sessions: last.
    endpoints.sort_by_key(|e| e.path == "/api/auth/logout");
    let callers = [
        Caller::Nobody,
        Caller::Viewer,
        Caller::Operator,
        Caller::Admin,
        Caller::RevokedToken,
        Caller::ExpiredSession,
        Caller::WrongDeviceToken,
    ];
    let http = anonymous();
    let mut checked = 0;
    let mut table = String::new();
    for e in &endpoints {
        // Ids that exist nowhere, so an allowed call changes nothing (it answers 404 or 400);
        // the push routes name the real camera, whose token nobody here has.
        let camera = if e.access == Access::Device { "gate" } else { "999999" };
        let path = e
            .path
            .replace("{path:.*}", "style.css")
            .replace("{username}", "nobody-here")
            .replace("/api/cameras/{id}", &format!("/api/cameras/{camera}"))
            .replace("{id}", "999999");
        let mut row = format!("{:7} {:40}", e.method.as_str(), e.path);
        for caller in callers {
            let method = reqwest::Method::from_bytes(e.method.as_str().as_bytes()).unwrap();
            let mut req = http.request(method, s.url(&path)).header("x-camera-id", "gate");
            if e.method.as_str() != "GET" {
                req = req.header("content-type", "application/json").body("{}");
            }
            req = match caller {
                Caller::Nobody => req,
                Caller::Viewer => req.header("cookie", &viewer),
                Caller::Operator => req.header("cookie", &operator),
                Caller::Admin => req.header("cookie", &admin_cookie),
                Caller::RevokedToken => req.bearer_auth(&revoked),
                Caller::ExpiredSession => req.header("cookie", &expired),
                Caller::WrongDeviceToken => req.bearer_auth("not-the-device-token-of-any-camera"),
            };
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.text().await.unwrap_or_default();
            match expected(e.access, caller) {
                Some(want) => assert_eq!(status, want, "{} {} as {caller:?}: {body}", e.method, e.path),
                None => assert!(
                    status != 401 && status != 403 && status < 500,
                    "{} {} as {caller:?} must pass the guard: {status} {body}",
                    e.method,
                    e.path
                ),
            }
            row.push_str(&format!(" {status}"));
            checked += 1;
        }
        table.push_str(&row);
        table.push('\n');
    }
    eprintln!("route × nobody viewer operator admin revoked expired device\n{table}");
    assert_eq!(checked, endpoints.len() * callers.len());
    assert!(endpoints.len() >= 40, "the table covers every route ({})", endpoints.len());
}

#[tokio::test]
async fn the_websocket_needs_a_caller_and_this_sites_origin_and_closes_when_its_user_goes() {
    let s = Server::start();
    let admin = client();
    // Nobody: refused before the upgrade.
    match tokio_tungstenite::connect_async(s.ws_url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("a WebSocket without a caller: {:?}", other.map(|_| ())),
    }
    // A valid token, from another site's page: refused.
    let mut req = s.ws_url().into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse().unwrap());
    req.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("a WebSocket from a foreign origin: {:?}", other.map(|_| ())),
    }
    create_camera(&admin, &s, "cam").await;
    let mut others = ws_connect(&s).await;
    assert_eq!(ws_next(&mut others, Duration::from_secs(5)).await["type"], "snapshot");
    // A signed-in viewer from this server's own page: welcome, until the user is removed.
    add_user(&admin, &s, "wes", "viewer").await;
    let cookie = sign_in(&s, "wes", "wes-password").await;
    let mut req = s.ws_url().into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    req.headers_mut().insert("origin", s.base.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("same-origin WebSocket");
    let snapshot = ws_next(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(call(admin.delete(s.url("/api/users/wes"))).await.0, 204);
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the removed user's WebSocket closes at once");
    assert_eq!(closed, Some(1008));
    let (st, _) = call(anonymous().get(s.url("/api/auth/me")).header("cookie", &cookie)).await;
    assert_eq!(st, 401, "the removed user's session has ended");
    // Everyone else's dashboard stays: a change still reaches the admin's socket.
    let slot = create_slot(&admin, &s, "cam", "A1").await;
    set_state(&admin, &s, slot, "occupied").await;
    ws_until(&mut others, Duration::from_secs(5), |m| m["type"] == "slot" && m["slot"]["state"] == "occupied").await;
}

#[tokio::test]
async fn a_cross_site_change_with_the_cookie_is_refused() {
    let s = Server::start();
    let admin = client();
    create_camera(&admin, &s, "cam").await;
    let slot = create_slot(&admin, &s, "cam", "A1").await;
    add_user(&admin, &s, "otto", "operator").await;
    let cookie = sign_in(&s, "otto", "otto-password").await;
    let put = |origin: Option<&str>, site: Option<&str>, state: &str| {
        let mut req = anonymous()
            .put(s.url(&format!("/api/slots/{slot}")))
            .header("cookie", &cookie)
            .json(&json!({"state": state}));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        req
    };
    let (st, body) = call(put(Some("http://evil.example"), Some("cross-site"), "occupied")).await;
    assert_eq!((st, body["error"].as_str()), (403, Some("cross_site")), "{body}");
    let (st, _) = call(put(None, Some("cross-site"), "occupied")).await;
    assert_eq!(st, 403, "no Origin, but the fetch metadata says cross-site");
    let (st, _) = call(put(None, Some("same-site"), "occupied")).await;
    assert_eq!(st, 403, "a sibling subdomain is another site");
    let (st, body) = call(put(Some(&s.base), Some("same-origin"), "occupied")).await;
    assert_eq!(st, 200, "the dashboard's own request: {body}");
    assert_eq!(body["state"], "occupied");
    // A token is not sent by browsers on their own: no cross-site check applies to it.
    let (st, _) = call(
        admin
            .put(s.url(&format!("/api/slots/{slot}")))
            .header("origin", "http://evil.example")
            .json(&json!({"state": "free"})),
    )
    .await;
    assert_eq!(st, 200);
    // Who did it is on record: the stay opened by otto, and the audit.
    let (_, sessions) = call(admin.get(s.url("/api/sessions"))).await;
    assert_eq!(sessions["items"][0]["started_by"], "otto", "{sessions}");
    assert_eq!(sessions["items"][0]["ended_by"], "token:tests", "{sessions}");
    let (st, audit) = call(admin.get(s.url("/api/audit?limit=50"))).await;
    assert_eq!(st, 200);
    let actions: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["actor"].as_str().unwrap().to_string(), i["action"].as_str().unwrap().to_string()))
        .collect();
    for want in [
        ("otto", "slot.set_state"),
        ("token:tests", "slot.set_state"),
        ("token:tests", "camera.create"),
        ("token:tests", "user.create"),
    ] {
        assert!(actions.contains(&(want.0.into(), want.1.into())), "{want:?} not in {actions:?}");
    }
    let (st, _) = call(anonymous().get(s.url("/api/audit")).header("cookie", &cookie)).await;
    assert_eq!(st, 403, "an operator does not read the audit");
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_slowed_then_refused() {
    let s = Server::start();
    let http = anonymous();
    let attempt = |user: &str, password: &str| {
        http.post(s.url("/api/auth/login")).json(&json!({"username": user, "password": password}))
    };
    let (st_user, unknown) = call(attempt("nobody-at-all", "whatever-password")).await;
    let (st_pw, wrong) = call(attempt("admin", "not-the-password")).await;
    assert_eq!((st_user, st_pw), (401, 401));
    assert_eq!(unknown, wrong, "a wrong name and a wrong password get the same answer");
    let started = std::time::Instant::now();
    for i in 3..=10 {
        let (st, body) = call(attempt("admin", &format!("guess-{i}"))).await;
        assert_eq!(st, 401, "failure {i}: {body}");
    }
    assert!(started.elapsed() >= Duration::from_secs(3), "later failures are answered slowly: {:?}", started.elapsed());
    // The eleventh within the minute is refused, even with the right password.
    let res = attempt("admin", ADMIN_PASSWORD).send().await.unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "too_many_attempts");
    // Machines with a token are not affected.
    assert_eq!(call(client().get(s.url("/api/auth/me"))).await.0, 200);
}

#[tokio::test]
async fn secrets_stay_secret_and_cameras_cannot_reach_link_local_addresses() {
    let s = Server::start();
    let admin = client();
    let (st, body) = call(
        admin
            .post(s.url("/api/users"))
            .json(&json!({"username": "pam", "password": "pam-secret-pw", "role": "viewer"})),
    )
    .await;
    assert_eq!(st, 201);
    assert!(!body.to_string().contains("pam-secret-pw") && !body.to_string().contains("argon2"), "{body}");
    let (_, token) = new_token(&admin, &s, "prometheus", "viewer").await;
    let (_, listed) = call(admin.get(s.url("/api/tokens"))).await;
    assert!(!listed.to_string().contains(&token), "the token's secret is listed: {listed}");
    let (_, users) = call(admin.get(s.url("/api/users"))).await;
    assert!(!users.to_string().contains("argon2"), "{users}");
    // /metrics is for monitoring: a token, not the public.
    assert_eq!(anonymous().get(s.url("/metrics")).send().await.unwrap().status(), 401);
    assert_eq!(client_with_token(&token).get(s.url("/metrics")).send().await.unwrap().status(), 200);
    // A camera URL with credentials is stored but never shown, nor logged.
    let (st, cam) = call(admin.post(s.url("/api/cameras")).json(&json!({
        "id": "door", "name": "Door",
        "source": {"kind": "mjpeg", "url": "http://cam-user:cam-pass-42@127.0.0.1:9/stream?pwd=cam-pass-42"},
    })))
    .await;
    assert_eq!(st, 201, "{cam}");
    assert_eq!(cam["source"]["url"], "http://cam-user:***@127.0.0.1:9/stream?pwd=***");
    let last_error = eventually(Duration::from_secs(20), "the camera's connection error", || async {
        let c = camera(&admin, &s, "door").await;
        c["last_error"].as_str().map(str::to_string)
    })
    .await;
    assert!(!last_error.contains("cam-pass-42"), "{last_error}");
    let (_, audit) = call(admin.get(s.url("/api/audit"))).await;
    assert!(!audit.to_string().contains("cam-pass-42"), "{audit}");
    // Link-local addresses (cloud metadata) are refused as camera sources.
    for url in ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]:81/stream"] {
        let (st, body) = call(admin.post(s.url("/api/cameras")).json(&json!({
            "id": "meta", "name": "x", "source": {"kind": "snapshot", "url": url, "interval_ms": 1000},
        })))
        .await;
        assert_eq!((st, body["error"].as_str()), (400, Some("forbidden_address")), "{url}: {body}");
    }
    // A database error's text never reaches a client: a conflict says what kind it was.
    let (st, body) = call(
        admin.post(s.url("/api/users")).json(&json!({"username": "pam", "password": "12345678", "role": "viewer"})),
    )
    .await;
    assert_eq!(st, 409);
    assert!(!body.to_string().contains("users_pkey"), "{body}");
    let log = s.log();
    for secret in [ADMIN_PASSWORD, "pam-secret-pw", token.as_str(), "cam-pass-42"] {
        assert!(!log.contains(secret), "the log holds a secret ({secret})");
    }
    let printed = s.stdout.lock().unwrap().join("\n");
    assert!(!printed.contains(ADMIN_PASSWORD), "a configured password is not printed");
}

#[tokio::test]
async fn the_first_start_prints_a_password_and_the_shell_manages_users() {
    let mut s = Server::start_with(&[("SMARTPARK_AUTH__ADMIN_PASSWORD", "")]);
    // Printed just after the address the helper waits for.
    let password = eventually(Duration::from_secs(5), "the first password on standard output", || async {
        let printed = s.stdout.lock().unwrap().join("\n");
        printed
            .lines()
            .find_map(|l| l.strip_prefix("smartpark first sign-in: user admin, password "))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
    })
    .await;
    assert!(password.len() >= 20, "{password}");
    sign_in(&s, "admin", &password).await;
    assert!(!s.log().contains(&password), "the first password is printed, never logged");
    s.stop();
    let smartpark = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smartpark"))
            .args(args)
            .arg("--data-dir")
            .arg(&s.data_dir)
            .env_remove("DATABASE_URL")
            .env("SMARTPARK_LOG__FORMAT", "text")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) =
        smartpark(&["user", "add", "carol", "--role", "operator", "--password-stdin"], Some("carol-password\n"));
    assert!(ok, "{out}");
    let (ok, out) = smartpark(&["user", "list"], None);
    assert!(ok && out.contains("carol\toperator") && out.contains("admin\tadmin"), "{out}");
    let (ok, out) = smartpark(&["user", "remove", "admin"], None);
    assert!(!ok && out.contains("last admin"), "{out}");
    let (ok, out) = smartpark(&["user", "passwd", "admin"], None);
    assert!(ok, "{out}");
    let new_password = out
        .split("new password ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    s.relaunch();
    // Whatever a second first-start would print has been printed by the time a sign-in succeeds.
    sign_in(&s, "carol", "carol-password").await;
    let printed = s.stdout.lock().unwrap().join("\n");
    assert_eq!(printed.matches("first sign-in").count(), 1, "the first password is printed once: {printed}");
    sign_in(&s, "admin", &new_password).await;
    let (st, _) =
        call(anonymous().post(s.url("/api/auth/login")).json(&json!({"username": "admin", "password": password})))
            .await;
    assert_eq!(st, 401, "the old password is gone");
}

#[tokio::test]
async fn the_openapi_document_says_how_to_authenticate_and_what_each_operation_needs() {
    let s = Server::start();
    let (st, doc) = call(client().get(s.url("/api/openapi.json"))).await;
    assert_eq!(st, 200);
    let schemes = doc["components"]["securitySchemes"].as_object().expect("security schemes");
    assert_eq!(schemes["api_token"]["scheme"], "bearer");
    assert_eq!(
        (schemes["session"]["in"].as_str(), schemes["session"]["name"].as_str()),
        (Some("cookie"), Some("smartpark_session"))
    );
    assert!(schemes.contains_key("device_token"));
    let mut documented = 0;
    for e in smartpark::api::routes::endpoints() {
        let Some(op) = doc["paths"][e.path].get(e.method.as_str().to_ascii_lowercase()) else { continue };
        documented += 1;
        let security = op["security"].as_array().unwrap_or_else(|| panic!("{} {} has no security", e.method, e.path));
        match e.access {
            Access::Public => assert_eq!(security, &vec![json!({})], "{} {}", e.method, e.path),
            Access::Device => assert_eq!(security, &vec![json!({"device_token": []})]),
            Access::Role(r) => {
                assert_eq!(op["x-required-role"], r.as_str(), "{} {}", e.method, e.path);
                assert!(op["responses"].get("401").is_some() && op["responses"].get("403").is_some());
            }
        }
    }
    assert!(documented >= 40, "{documented} operations documented");
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
        }
    }
}

#[tokio::test]
async fn cross_origin_use_only_for_configured_origins() {
    let plain = Server::start();
    let listed = Server::start_with(&[("SMARTPARK_SERVER__ALLOWED_ORIGINS", r#"["https://ops.example.com"]"#)]);
    let preflight = |s: &Server, origin: &str| {
        anonymous()
            .request(reqwest::Method::OPTIONS, s.url("/api/slots"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
    };
    let allow = |res: &reqwest::Response| {
        res.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string())
    };
    let res = preflight(&plain, "https://ops.example.com").send().await.unwrap();
    assert_eq!(allow(&res), None, "no CORS without configured origins");
    let res = preflight(&listed, "https://ops.example.com").send().await.unwrap();
    assert_eq!(allow(&res).as_deref(), Some("https://ops.example.com"));
    let res = preflight(&listed, "https://evil.example").send().await.unwrap();
    assert_eq!(allow(&res), None);
    // The listed origin's page may change a space with its user's cookie; another's may not.
    let admin = client();
    create_camera(&admin, &listed, "cam").await;
    let slot = create_slot(&admin, &listed, "cam", "A1").await;
    let cookie = sign_in(&listed, "admin", ADMIN_PASSWORD).await;
    for (origin, want) in [("https://ops.example.com", 200), ("https://evil.example", 403)] {
        let res = anonymous()
            .put(listed.url(&format!("/api/slots/{slot}")))
            .header("cookie", &cookie)
            .header("origin", origin)
            .header("sec-fetch-site", "cross-site")
            .json(&json!({"state": "occupied"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), want, "from {origin}");
    }
}
