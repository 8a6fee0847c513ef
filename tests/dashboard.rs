//! The dashboard in a real browser: this test starts the server with a replayed PKLot camera,
//! sets every space to the frame's annotated state, and runs `tests/browser/dashboard.mjs`
//! (Debian's Chromium driven by playwright-core; `scripts/install-browser.sh` installs both).
//! The script asks for the server to be killed and restarted, and for its private PostgreSQL to
//! be stopped and started again (a database outage); this side does it.
//!
//! Screenshots land in `target/tmp/dashboard-screenshots/`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{call, client, eventually, sim::pklot, Server};
use serde_json::json;
use smartpark::parking::pklot;

/// A frame of a busy morning (24 of 40 spaces taken) and its annotation.
const FRAME: &str = "annotated/sequence4/frames/2013-04-15_07_15_01.png";
const ANNOTATION: &str = "annotated/sequence4/bounding_boxes/2013-04-15_07_15_01.xml";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A one-frame PKLot tree for the replayed camera, so the picture and the states agree.
fn scene(dir: &Path) -> PathBuf {
    let root = dir.join("pklot-2013-04-15");
    std::fs::create_dir_all(root.join("frames")).unwrap();
    std::fs::create_dir_all(root.join("bounding_boxes")).unwrap();
    std::fs::copy(pklot(FRAME), root.join("frames/frame.png")).unwrap();
    std::fs::copy(pklot(ANNOTATION), root.join("bounding_boxes/frame.xml")).unwrap();
    root
}

#[test]
fn dashboard_in_a_real_browser() {
    let node_modules = repo().join("tests/browser/node_modules/playwright-core");
    assert!(
        node_modules.is_dir(),
        "playwright-core is missing: run `bash scripts/install-browser.sh` (make test does)"
    );

    let work = common::data_dir();
    let scene = scene(work.path());
    let mut s = Server::start_with_args(&["--replay", scene.to_str().unwrap(), "--replay-fps", "2"], &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(annotate(&s));

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let mut node = Command::new("node")
        .arg(repo().join("tests/browser/dashboard.mjs"))
        .env("BASE_URL", &s.base)
        .env("CAMERA", smartpark::app::REPLAY_CAMERA)
        .env("SHOTS_DIR", &shots)
        .env("ADMIN_PASSWORD", common::ADMIN_PASSWORD)
        .env("ADMIN_TOKEN", common::ADMIN_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (Node.js) on the PATH");
    let mut answer = node.stdin.take().unwrap();
    let mut transcript = String::new();
    let cluster = s.data_dir.join("postgres");
    // The port the database listened on when it was stopped, to start it where the server looks.
    let mut database_port = None;
    for line in BufReader::new(node.stdout.take().unwrap()).lines().map_while(Result::ok) {
        println!("{line}");
        transcript.push_str(&line);
        transcript.push('\n');
        match line.as_str() {
            "ASK restart" => {
                s.kill();
                s.relaunch_on_same_port();
            }
            "ASK database-stop" => {
                // postmaster.pid's fourth line is the port the database listens on.
                let pid_file = std::fs::read_to_string(cluster.join("postmaster.pid")).unwrap();
                database_port = Some(pid_file.lines().nth(3).unwrap().trim().to_string());
                let out = common::pg_ctl(&cluster, &["stop", "-m", "immediate", "-w"]);
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            }
            "ASK database-start" => {
                let port = database_port.take().expect("the database was stopped first");
                let opts = format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''");
                let log = cluster.join("server.log");
                let out = common::pg_ctl(&cluster, &["start", "-w", "-l", log.to_str().unwrap(), "-o", &opts]);
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            }
            _ => continue,
        }
        writeln!(answer, "ok").unwrap();
    }
    let status = node.wait().unwrap();
    assert!(status.success(), "the browser test failed:\n{transcript}\nserver log:\n{}", s.log());
    assert!(transcript.contains("ALL PASSED"), "{transcript}");
    for name in [
        "signin-desktop",
        "overview-desktop",
        "overview-phone",
        "camera-desktop",
        "camera-phone",
        "users-desktop",
        "database-down-desktop",
    ] {
        let png = std::fs::read(shots.join(format!("{name}.png"))).expect(name);
        assert_eq!(&png[1..4], b"PNG", "{name} is a PNG");
    }
    println!("screenshots: {}", shots.display());
}

/// Sets every space to its annotated state, as the detector would have.
async fn annotate(s: &Server) {
    let http = client();
    let spaces = pklot::parse(&std::fs::read_to_string(pklot(ANNOTATION)).unwrap()).unwrap();
    let slots = eventually(Duration::from_secs(20), "the replayed camera's spaces", || async {
        let (_, slots) = call(http.get(s.url("/api/slots?camera=replay"))).await;
        (slots.as_array().map(Vec::len) == Some(spaces.len())).then_some(slots)
    })
    .await;
    for space in &spaces {
        let slot =
            slots.as_array().unwrap().iter().find(|x| x["label"] == space.label.as_str()).expect("a slot per space");
        let state = if space.occupied == Some(true) { "occupied" } else { "free" };
        let (code, body) =
            call(http.put(s.url(&format!("/api/slots/{}", slot["id"]))).json(&json!({ "state": state }))).await;
        assert_eq!(code, 200, "{body}");
    }
}

/// The page and its files as a browser gets them: relative URLs only, types, validators,
/// security headers, and clear errors for what is not there.
#[tokio::test]
async fn the_page_is_served_from_the_binary() {
    let s = Server::start();
    let http = client();
    let res = http.get(s.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(html.contains("data-connection"), "the connection indicator is on the page");

    // Every file the page names is served, with its type; none is named by an absolute path, so
    // the page works under a proxy's prefix.
    let mut files = vec![];
    for cap in html.split(['"', '\'']).filter(|t| t.starts_with("dashboard/")) {
        files.push(cap.to_string());
    }
    assert!(files.iter().any(|f| f.ends_with("app.js")) && files.iter().any(|f| f.ends_with(".css")), "{files:?}");
    let app = http.get(s.url("/dashboard/js/app.js")).send().await.unwrap();
    assert_eq!(app.headers()["content-type"], "text/javascript; charset=utf-8");
    let etag = app.headers()["etag"].to_str().unwrap().to_string();
    let mut modules = vec!["js/app.js".to_string()];
    let mut seen = std::collections::HashSet::new();
    while let Some(m) = modules.pop() {
        if !seen.insert(m.clone()) {
            continue;
        }
        let res = http.get(s.url(&format!("/dashboard/{m}"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "{m}");
        let text = res.text().await.unwrap();
        for bad in ["'/api", "\"/api", "`/api", "'/ws'", "\"/ws\""] {
            assert!(!text.contains(bad), "{m} uses an absolute URL ({bad})");
        }
        // Imports are relative to the module: follow them, so every module is checked.
        for quote in ["from './", "from \"./"] {
            for rest in text.split(quote).skip(1) {
                let target = &rest[..rest.find(['\'', '"']).unwrap()];
                modules.push(format!("js/{target}"));
            }
        }
    }
    assert!(seen.len() >= 10, "the modules reached from app.js: {seen:?}");
    for f in &files {
        assert_eq!(http.get(s.url(&format!("/{f}"))).send().await.unwrap().status(), 200, "{f}");
    }

    // An unchanged file is not sent again.
    let again = http.get(s.url("/dashboard/js/app.js")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    for (path, code) in [("/dashboard/nope.js", 404), ("/dashboard/%2e%2e/Cargo.toml", 404), ("/dashboard/", 404)] {
        let (status, body) = call(http.get(s.url(path))).await;
        assert_eq!((status, body["error"].as_str()), (code, Some("not_found")), "{path}");
    }
    let (status, body) = call(http.post(s.url("/"))).await;
    assert_eq!((status, body["error"].as_str()), (405, Some("method_not_allowed")));
}
