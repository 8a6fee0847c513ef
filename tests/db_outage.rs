//! A database outage answers 503 with a JSON error, keeps the last known lot readable, loses no
//! stored data, and heals by itself when the database is back.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test]
async fn an_outage_is_a_503_and_loses_nothing() {
    let s = Server::start();
    let http = client();
    create_camera(&http, &s, "lot").await;
    let slot = create_slot(&http, &s, "lot", "X1").await;
    let view = set_state(&http, &s, slot, "occupied").await;

    let cluster = s.data_dir.join("postgres");
    // postmaster.pid's fourth line is the port the server listens on.
    let pid_file = std::fs::read_to_string(cluster.join("postmaster.pid")).unwrap();
    let port = pid_file.lines().nth(3).unwrap().trim().to_string();
    let out = pg_ctl(&cluster, &["stop", "-m", "immediate", "-w"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (c, b) = call(http.put(s.url(&format!("/api/slots/{slot}"))).json(&serde_json::json!({"state": "free"}))).await;
    assert_eq!(c, 503, "{b}");
    assert!(b["error"].is_string());
    let (c, _) = call(http.get(s.url("/readyz"))).await;
    assert_eq!(c, 503);
    let (c, slots) = call(http.get(s.url("/api/slots"))).await;
    assert_eq!(c, 200, "the last known lot stays readable");
    assert_eq!(slots[0]["state"], "occupied", "a failed write changes nothing");

    let opts = format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''");
    let log = cluster.join("server.log");
    let out = pg_ctl(&cluster, &["start", "-w", "-l", log.to_str().unwrap(), "-o", &opts]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (c, _) = call(http.get(s.url("/readyz"))).await;
        if c == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not reconnect to the database");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let freed = set_state(&http, &s, slot, "free").await;
    let (_, session) = call(http.get(s.url(&format!("/api/sessions/{}", view["session_id"])))).await;
    assert_eq!(time(&session["started_at"]), time(&view["since"]), "the stay stored before the outage is intact");
    assert_eq!(time(&session["ended_at"]), time(&freed["since"]));
}
