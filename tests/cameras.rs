//! Cameras end to end: a simulated ESP32 camera on the network, the server's capture actor
//! pulling it, viewers watching the server's re-served stream, and the camera failing in the
//! ways real ones do.

mod common;

use std::time::Duration;

use common::sim::{jpeg_files, SimCamera};
use common::{call, camera, client, eventually, ws_connect, ws_until, Server, ADMIN_TOKEN};
use futures_util::StreamExt;
use serde_json::json;
use smartpark::camera::mjpeg::MjpegParser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FAST_RECONNECT: &[(&str, &str)] = &[
    ("SMARTPARK_CAPTURE__STALL_TIMEOUT_S", "2"),
    ("SMARTPARK_CAPTURE__BACKOFF_INITIAL_MS", "100"),
    ("SMARTPARK_CAPTURE__BACKOFF_MAX_MS", "1000"),
    ("SMARTPARK_CAPTURE__STATUS_INTERVAL_S", "1"),
];

/// Reads `n` frames from an MJPEG URL with smartpark's own parser.
async fn read_frames(url: &str, n: usize) -> Vec<Vec<u8>> {
    let res = client().get(url).send().await.expect("open stream");
    assert_eq!(res.status(), 200);
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert!(ct.as_deref().is_some_and(|c| c.starts_with("multipart/x-mixed-replace")), "{ct:?}");
    let mut parser = MjpegParser::new(ct.as_deref(), 8 << 20);
    let mut body = res.bytes_stream();
    let mut frames = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while frames.len() < n {
            let chunk = body.next().await.expect("stream open").expect("stream chunk");
            parser.push(&chunk);
            while let Some(part) = parser.next_part().expect("valid MJPEG") {
                frames.push(part.data.to_vec());
            }
        }
    })
    .await
    .expect("frames within 20 s");
    frames
}

/// Adds a camera that the server pulls as MJPEG from `url`; answers the created camera.
async fn add_mjpeg_camera(http: &reqwest::Client, s: &Server, id: &str, url: &str) -> serde_json::Value {
    let (st, body) = call(http.post(s.url("/api/cameras")).json(&json!({
        "id": id, "name": id, "source": {"kind": "mjpeg", "url": url}
    })))
    .await;
    assert_eq!(st, 201, "{body}");
    body
}

async fn online_with_frames(http: &reqwest::Client, s: &Server, id: &str, more_than: u64) -> serde_json::Value {
    eventually(Duration::from_secs(20), &format!("camera {id} online with over {more_than} frames"), || async {
        let c = camera(http, s, id).await;
        (c["status"] == "online" && c["frames"].as_u64().unwrap_or(0) > more_than).then_some(c)
    })
    .await
}

#[tokio::test]
async fn a_pulled_camera_is_re_served_to_many_viewers_and_reconnects_after_a_reboot() {
    let mut sim = SimCamera::start(10.0);
    let s = Server::start_with(FAST_RECONNECT);
    let http = client();
    let mut ws = ws_connect(&s).await;
    let body = add_mjpeg_camera(&http, &s, "gate", &sim.url("/stream")).await;
    assert_eq!(body["source"], json!({"kind": "mjpeg", "url": sim.url("/stream")}));
    assert!(body["token"].as_str().is_some_and(|t| t.len() >= 32), "a device token is shown once: {body}");

    let live = ws_until(&mut ws, Duration::from_secs(20), |m| {
        m["type"] == "camera" && m["camera"]["id"] == "gate" && m["camera"]["status"] == "online"
    })
    .await;
    assert!(live["camera"]["frames"].as_u64().unwrap() >= 1);
    let c = online_with_frames(&http, &s, "gate", 5).await;
    assert!(c["fps"].as_f64().unwrap() > 3.0, "about 10 fps: {c}");
    assert!(c["last_frame_at"].is_string());

    // The snapshot is a frame the camera sent, byte for byte.
    let originals = jpeg_files();
    let res = http.get(s.url("/api/cameras/gate/snapshot.jpg")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    let snap = res.bytes().await.unwrap();
    assert!(originals.iter().any(|o| o[..] == snap[..]), "snapshot is one of the camera's frames");

    // Three viewers, one upstream connection.
    let url = s.url("/api/cameras/gate/stream");
    let viewers = futures_util::future::join_all((0..3).map(|_| read_frames(&url, 4))).await;
    for frames in &viewers {
        assert_eq!(frames.len(), 4);
        for f in frames {
            assert!(originals.iter().any(|o| o == f), "a re-served frame differs from the camera's");
        }
    }
    assert_eq!(sim.stream_clients().await, 1, "the server holds one connection to the camera");

    // The board reboots: the capture notices, says so, and reconnects on its own.
    let before = camera(&http, &s, "gate").await["frames"].as_u64().unwrap();
    sim.kill();
    let down = ws_until(&mut ws, Duration::from_secs(20), |m| {
        m["type"] == "camera" && m["camera"]["id"] == "gate" && m["camera"]["status"] != "online"
    })
    .await;
    assert!(down["camera"]["last_error"].is_string(), "{down}");
    sim.relaunch();
    let back = online_with_frames(&http, &s, "gate", before + 3).await;
    assert!(back["reconnects"].as_u64().unwrap() >= 1, "{back}");
    assert_eq!(sim.stream_clients().await, 1);

    // Deleting the camera ends its stream for viewers.
    let res = client().get(&url).send().await.unwrap();
    let mut body = res.bytes_stream();
    assert!(body.next().await.is_some(), "a first frame");
    let (st, _) = call(http.delete(s.url("/api/cameras/gate"))).await;
    assert_eq!(st, 204);
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream of a deleted camera ends");
    eventually(Duration::from_secs(10), "the camera's upstream connection to close", || async {
        (sim.stream_clients().await == 0).then_some(())
    })
    .await;
}

/// A camera that answers like an MJPEG camera and then misbehaves, one connection after another:
/// it stalls after a frame, then sends garbage, then works.
async fn misbehaving_camera(frame: Vec<u8>) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        for attempt in 0.. {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let mut req = [0u8; 2048];
            let _ = sock.read(&mut req).await;
            let head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n";
            let part = |f: &[u8]| {
                let mut p =
                    format!("--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", f.len()).into_bytes();
                p.extend_from_slice(f);
                p.extend_from_slice(b"\r\n");
                p
            };
            let _ = sock.write_all(head.as_bytes()).await;
            match attempt {
                0 => {
                    // One frame, then silence with the connection held open.
                    let _ = sock.write_all(&part(&frame)).await;
                    held.push(sock);
                }
                1 => {
                    // Noise where frames should be, more than a frame may ever be.
                    let noise: Vec<u8> =
                        (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
                    let _ = sock.write_all(&noise).await;
                    held.push(sock);
                }
                _ => {
                    let frame = frame.clone();
                    tokio::spawn(async move {
                        loop {
                            if sock.write_all(&part(&frame)).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    });
                }
            }
        }
    });
    (port, task)
}

#[tokio::test]
async fn stalls_and_garbage_are_retried_and_never_touch_another_camera() {
    let frame = jpeg_files().remove(0);
    let (port, _bad) = misbehaving_camera(frame).await;
    let sim = SimCamera::start(10.0);
    let mut env = FAST_RECONNECT.to_vec();
    env.push(("SMARTPARK_CAPTURE__MAX_FRAME_BYTES", "1000000"));
    let s = Server::start_with(&env);
    let http = client();
    for (id, url) in [("good", sim.url("/stream")), ("flaky", format!("http://127.0.0.1:{port}/video"))] {
        add_mjpeg_camera(&http, &s, id, &url).await;
    }
    let errors = std::cell::RefCell::new(Vec::<String>::new());
    let healthy = eventually(Duration::from_secs(40), "the flaky camera to recover", || {
        let (http, s, errors) = (&http, &s, &errors);
        async move {
            let c = camera(http, s, "flaky").await;
            if let Some(e) = c["last_error"].as_str() {
                let mut errors = errors.borrow_mut();
                if errors.last().map(String::as_str) != Some(e) {
                    errors.push(e.to_string());
                }
            }
            (c["status"] == "online" && c["reconnects"].as_u64().unwrap_or(0) >= 2).then_some(c)
        }
    })
    .await;
    let errors = errors.into_inner();
    assert!(errors.iter().any(|e| e.contains("stalled")), "a stall was seen: {errors:?}");
    assert!(errors.iter().any(|e| e.contains("MJPEG") || e.contains("frame")), "garbage was seen: {errors:?}");
    assert!(healthy["frames"].as_u64().unwrap() >= 2);
    let good = camera(&http, &s, "good").await;
    assert_eq!(good["status"], "online");
    assert_eq!(good["reconnects"], 0, "the healthy camera never dropped: {good}");
}

#[tokio::test]
async fn a_snapshot_camera_is_polled() {
    let sim = SimCamera::start(10.0);
    let s = Server::start_with(FAST_RECONNECT);
    let http = client();
    let (st, body) = call(http.post(s.url("/api/cameras")).json(&json!({
        "id": "yard", "name": "Yard", "source": {"kind": "snapshot", "url": sim.url("/capture"), "interval_ms": 200}
    })))
    .await;
    assert_eq!(st, 201, "{body}");
    let c = online_with_frames(&http, &s, "yard", 3).await;
    assert_eq!(c["source"]["kind"], "snapshot");
    assert_eq!(sim.stream_clients().await, 0, "polling opens no stream");

    // A camera switched to another source keeps its id and its viewers' feed.
    let (st, body) = call(http.put(s.url("/api/cameras/yard")).json(&json!({
        "name": "Yard", "source": {"kind": "mjpeg", "url": sim.url("/stream")}
    })))
    .await;
    assert_eq!(st, 200, "{body}");
    eventually(Duration::from_secs(20), "the switched camera to stream", || async {
        (sim.stream_clients().await == 1).then_some(())
    })
    .await;
    let frames = camera(&http, &s, "yard").await["frames"].as_u64().unwrap();
    online_with_frames(&http, &s, "yard", frames + 3).await;
}

#[tokio::test]
async fn bad_camera_sources_are_refused() {
    let s = Server::start();
    let http = client();
    for (source, code) in [
        (json!({"kind": "mjpeg", "url": "ftp://cam/stream"}), "invalid_source"),
        (json!({"kind": "mjpeg"}), "invalid_body"),
        (json!({"kind": "snapshot", "url": "http://cam/capture", "interval_ms": 0}), "invalid_source"),
        (json!({"kind": "rtsp", "url": "rtsp://cam"}), "invalid_body"),
    ] {
        let (st, body) =
            call(http.post(s.url("/api/cameras")).json(&json!({"id": "c1", "name": "c", "source": source}))).await;
        assert_eq!((st, body["error"].as_str()), (400, Some(code)), "{source}: {body}");
    }
    let (st, _) = call(http.get(s.url("/api/cameras/c1"))).await;
    assert_eq!(st, 404, "nothing was created");
    for path in ["/api/cameras/nope/stream", "/api/cameras/nope/snapshot.jpg"] {
        let (st, body) = call(http.get(s.url(path))).await;
        assert_eq!((st, body["error"].as_str()), (404, Some("not_found")), "{path}");
    }
    common::create_camera(&http, &s, "quiet").await;
    let (st, body) = call(http.get(s.url("/api/cameras/quiet/snapshot.jpg"))).await;
    assert_eq!(st, 404, "no frame yet: {body}");
    let c = camera(&http, &s, "quiet").await;
    assert_eq!((c["status"].as_str(), c["source"]["kind"].as_str()), (Some("offline"), Some("push")));
}

#[tokio::test]
async fn the_demo_replays_recorded_png_frames_as_a_camera_with_its_spaces() {
    let (seq1, seq4) = (common::sim::pklot("annotated/sequence1"), common::sim::pklot("annotated/sequence4"));
    let s = Server::start_with_args(
        &["--replay", seq1.to_str().unwrap(), "--replay", seq4.to_str().unwrap(), "--replay-fps", "5"],
        &[],
    );
    let http = client();
    let c = online_with_frames(&http, &s, "replay", 2).await;
    assert_eq!(c["slots"], 40, "the spaces of the sequence's annotation: {c}");
    assert_eq!(c["source"]["kind"], "mjpeg");
    // The PNG frames reach the server as JPEGs of the camera's size.
    let res = http.get(s.url("/api/cameras/replay/snapshot.jpg")).send().await.unwrap();
    let jpeg = res.bytes().await.unwrap();
    let info = smartpark::camera::jpeg::inspect(&jpeg).expect("a JPEG");
    assert_eq!((info.width, info.height), (1280, 720));
    // A configured camera replaces the demo.
    let config = common::data_dir();
    let file = config.path().join("smartpark.toml");
    std::fs::write(&file, "[[cameras]]\nid = \"own\"\nname = \"Own\"\n").unwrap();
    let s2 =
        Server::start_with_args(&["--replay", seq1.to_str().unwrap()], &[("SMARTPARK_CONFIG", file.to_str().unwrap())]);
    let (_, all) = call(http.get(s2.url("/api/cameras"))).await;
    let ids: Vec<&str> = all.as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, ["own"]);
}

#[tokio::test]
async fn a_viewer_that_stops_reading_holds_up_no_one() {
    let sim = SimCamera::start(20.0);
    let s = Server::start_with(FAST_RECONNECT);
    let http = client();
    add_mjpeg_camera(&http, &s, "gate", &sim.url("/stream")).await;
    online_with_frames(&http, &s, "gate", 0).await;
    // A viewer that asks for the stream and never reads a byte of it.
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut stuck = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stuck
        .write_all(
            format!(
                "GET /api/cameras/gate/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let before = camera(&http, &s, "gate").await["frames"].as_u64().unwrap();
    // Enough frames to fill the stuck viewer's socket buffers many times over (about 250 kB each).
    let frames = read_frames(&s.url("/api/cameras/gate/stream"), 60).await;
    assert_eq!(frames.len(), 60);
    let c = camera(&http, &s, "gate").await;
    assert_eq!((c["status"].as_str(), c["reconnects"].as_u64()), (Some("online"), Some(0)), "{c}");
    assert!(c["frames"].as_u64().unwrap() >= before + 59, "capture went on at the camera's pace: {c}");
    assert!(c["viewers"].as_u64().unwrap() >= 1, "the stuck viewer is still connected, only skipping frames: {c}");
    drop(stuck);
}

#[tokio::test]
async fn a_stopping_server_ends_its_streams_cleanly() {
    let sim = SimCamera::start(10.0);
    let s = Server::start_with(FAST_RECONNECT);
    let http = client();
    add_mjpeg_camera(&http, &s, "gate", &sim.url("/stream")).await;
    online_with_frames(&http, &s, "gate", 0).await;
    let res = client().get(s.url("/api/cameras/gate/stream")).send().await.unwrap();
    let mut body = res.bytes_stream();
    assert!(body.next().await.is_some_and(|c| c.is_ok()), "a first frame");
    // SIGTERM: the stream must end as a complete response, not be cut when the graceful stop
    // gives up on it.
    let stopping = std::thread::spawn(move || {
        let mut s = s;
        s.stop();
    });
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match body.next().await {
                None => return Ok(()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the stream ends");
    assert_eq!(ended, Ok(()), "the stream ended cleanly");
    stopping.join().expect("the server stopped with success");
}
