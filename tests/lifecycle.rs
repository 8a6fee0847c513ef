//! The process around the API: migrations, cameras declared in the config file, dead dashboards.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn migrate_applies_once_with_the_private_database() {
    let dir = data_dir();
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_smartpark"))
            .args(["migrate", "--data-dir"])
            .arg(dir.path())
            .env_remove("DATABASE_URL")
            .output()
            .expect("run migrate");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let all = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap().count();
    assert_eq!(run(), format!("{all} migration(s) applied"));
    assert_eq!(run(), "0 migration(s) applied", "a second run finds nothing to do");
    assert!(!dir.path().join("postgres/postmaster.pid").exists(), "the private server is stopped on exit");
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let s = Server::start();
    let http = client();
    create_camera(&http, &s, "kept").await;
    let out = Command::new(env!("CARGO_BIN_EXE_smartpark"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&s.data_dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run a second server");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use by another smartpark"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The first server and its database are untouched.
    let (c, cam) = call(http.get(s.url("/api/cameras/kept"))).await;
    assert_eq!((c, cam["id"].clone()), (200, serde_json::json!("kept")));
}

#[tokio::test]
async fn a_killed_server_comes_back_with_its_data() {
    let mut s = Server::start();
    let http = client();
    create_camera(&http, &s, "lot").await;
    let slot = create_slot(&http, &s, "lot", "K1").await;
    let view = set_state(&http, &s, slot, "occupied").await;

    s.kill();
    assert!(s.data_dir.join("postgres/postmaster.pid").exists(), "the killed server's PostgreSQL is still running");
    s.relaunch();

    let (_, again) = call(http.get(s.url(&format!("/api/slots/{slot}")))).await;
    assert_eq!(again["state"], "occupied");
    assert_eq!(again["session_id"], view["session_id"]);
    assert_eq!(again["since"], view["since"]);
}

#[tokio::test]
async fn cameras_declared_in_the_config_exist_after_start() {
    let config_dir = data_dir();
    let xml = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/pklot/annotated/sequence4/bounding_boxes")
        .read_dir()
        .expect("PKLot fixtures")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "xml"))
        .unwrap();
    let config = config_dir.path().join("smartpark.toml");
    let token_file = config_dir.path().join("door.token");
    std::fs::write(&token_file, "a-device-token-from-a-file\n").unwrap();
    std::fs::write(
        &config,
        format!(
            "[[cameras]]\nid = \"ufpr05\"\nname = \"UFPR05 lot\"\npklot = {:?}\n\
             [[cameras]]\nid = \"door\"\nname = \"Door\"\nsource = {{ kind = \"push\" }}\ntoken_file = {:?}\n",
            xml.to_str().unwrap(),
            token_file.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut s = Server::start_with(&[("SMARTPARK_CONFIG", config.to_str().unwrap())]);
    let http = client();
    let (_, cam) = call(http.get(s.url("/api/cameras/ufpr05"))).await;
    assert_eq!(cam["name"], "UFPR05 lot");
    assert_eq!(cam["slots"], 40);
    // The declared token (read from its file, trimmed) is the one the camera pushes with.
    let (_, door) = call(http.get(s.url("/api/cameras/door"))).await;
    assert_eq!((door["source"]["kind"].as_str(), door["has_token"].as_bool()), (Some("push"), Some(true)));
    let frame = common::sim::jpeg_files().remove(0);
    for (token, status) in [("a-device-token-from-a-file", 202), ("a-device-token-from-a-fil", 401)] {
        let res = push_frame(&http, &s, "door", token, frame.clone()).send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{token}");
    }
    let (_, first) = call(http.get(s.url("/api/slots?camera=ufpr05"))).await;
    let id = first[0]["id"].as_i64().unwrap();
    set_state(&http, &s, id, "occupied").await;

    // A restart declares again without duplicating or resetting anything.
    s.restart();
    let (_, slots) = call(http.get(s.url("/api/slots?camera=ufpr05"))).await;
    assert_eq!(slots.as_array().unwrap().len(), 40);
    assert_eq!(slots[0]["state"], "occupied");
}

async fn ws_clients(http: &reqwest::Client, s: &Server) -> i64 {
    let text = http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix("smartpark_ws_clients ")).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

#[tokio::test]
async fn a_dashboard_that_stops_answering_is_dropped() {
    let s =
        Server::start_with(&[("SMARTPARK_LIVE__HEARTBEAT_INTERVAL_S", "1"), ("SMARTPARK_LIVE__CLIENT_TIMEOUT_S", "2")]);
    let http = client();
    // A WebSocket client that upgrades and then never says anything again, not even a pong.
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    silent
        .write_all(format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // A well-behaved client beside it, answering pings.
    let mut alive = ws_connect(&s).await;
    ws_next(&mut alive, Duration::from_secs(5)).await;

    let deadline = Instant::now() + Duration::from_secs(5);
    while ws_clients(&http, &s).await != 2 {
        assert!(Instant::now() < deadline, "both clients counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Until the silent one is closed, the other keeps reading (and so answering pings).
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    let keep_alive = async {
        loop {
            let _ =
                tokio::time::timeout(Duration::from_millis(200), ws_next(&mut alive, Duration::from_secs(60))).await;
        }
    };
    tokio::select! {
        closed = drained => assert!(closed.is_ok(), "the server closed the silent connection"),
        _ = keep_alive => unreachable!(),
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while ws_clients(&http, &s).await != 1 {
        assert!(Instant::now() < deadline, "only the answering client is left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
