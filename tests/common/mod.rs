//! Starts the real `smartpark` binary with a private PostgreSQL of its own in a temporary data
//! directory, and talks to it over HTTP and WebSocket like any client.
#![allow(dead_code)]

pub mod lot;
pub mod metrics;
pub mod s3;
pub mod sim;
pub mod wsclient;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

pub const START_DEADLINE: Duration = Duration::from_secs(90);

/// The first admin's password in every test server.
pub const ADMIN_PASSWORD: &str = "test-admin-password-1";
/// An admin API token every test server declares (`auth.tokens`), so the helpers are signed in
/// once, from the start, without a sign-in per test.
pub const ADMIN_TOKEN: &str = "smartpark-tests-admin-api-token-0123456789";

/// A benchmark's option from the environment, or its default.
pub fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// User plus system CPU seconds a process has used so far (0 once it is gone).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub data_dir: PathBuf,
    /// Keeps the directory alive for the test; removed on drop.
    _tmp: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    /// The port of the last start, for `relaunch_on_same_port`.
    port: u16,
    /// Every line the server printed on standard output, all starts together.
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A data directory the `postgres` user can enter (the private server runs as it under root).
pub fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("smartpark-test-").tempdir().expect("temp dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
    dir
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts with extra environment, such as `SMARTPARK_LIVE__HEARTBEAT_INTERVAL_S`.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        Server::start_with_args(&[], env)
    }

    /// Starts with extra `serve` arguments, such as `--replay DIR`.
    pub fn start_with_args(args: &[&str], env: &[(&str, &str)]) -> Server {
        let tmp = data_dir();
        let path = tmp.path().to_path_buf();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut s = Server {
            child: None,
            base: String::new(),
            data_dir: path,
            _tmp: Some(tmp),
            env,
            args,
            port: 0,
            stdout: Default::default(),
        };
        s.launch(0);
        s
    }

    fn launch(&mut self, port: u16) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join("server.log"))
            .expect("server log");
        let token_file = self.data_dir.join("tests-admin-token");
        std::fs::write(&token_file, ADMIN_TOKEN).expect("token file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartpark"));
        cmd.args(["serve", "--port", &port.to_string(), "--data-dir"])
            .arg(&self.data_dir)
            .args(&self.args)
            .env_remove("DATABASE_URL")
            .env("SMARTPARK_LOG__FORMAT", "text")
            .env("RUST_LOG", "info")
            // Tests that are not about detection keep their spaces as they set them.
            .env("SMARTPARK_DETECT__ENABLED", "false")
            .env("SMARTPARK_AUTH__ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env(
                "SMARTPARK_AUTH__TOKENS",
                format!("[{{name=\"tests\", role=\"admin\", token_file=\"{}\"}}]", token_file.display()),
            )
            .stdout(Stdio::piped())
            .stderr(log);
        // An empty value unsets what the helper sets by default.
        for (k, v) in &self.env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let mut child = cmd.spawn().expect("spawn smartpark");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let printed = self.stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                printed.lock().unwrap().push(line.clone());
                if let Some(url) = line.strip_prefix("smartpark serving ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(START_DEADLINE) {
            Ok(url) => {
                self.port = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port in the URL");
                self.base = url;
            }
            Err(_) => panic!("server did not start; log:\n{}", self.log()),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replacen("http://", "ws://", 1))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, as a container runtime would, then waits for the process (and so its private
    /// PostgreSQL) to finish.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        assert!(status.success(), "server exited with {status}; log:\n{}", self.log());
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!("server did not stop within 30 s; log:\n{}", self.log());
                    }
                }
            }
        }
    }

    /// SIGKILL: no chance to stop anything, as in a crash or an OOM kill. Its private
    /// PostgreSQL is left running, as it would be.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on a new port, so no client reuses a connection to the old one.
    pub fn relaunch(&mut self) {
        assert!(self.child.is_none(), "stop or kill the server first");
        self.launch(0);
    }

    /// Starts the server again where it was, for clients that reconnect by themselves (a
    /// dashboard). Pooled HTTP connections to the old process are dead: use a fresh client.
    pub fn relaunch_on_same_port(&mut self) {
        assert!(self.child.is_none(), "stop or kill the server first");
        self.launch(self.port);
    }

    /// Sets (or replaces) an environment variable for the next launch.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch(0);
    }

    /// The private PostgreSQL's URL, for tests that must reach behind the API (to age a row).
    pub fn database_url(&self) -> String {
        let password = std::fs::read_to_string(self.data_dir.join("postgres-password")).expect("password file");
        let pid_file = std::fs::read_to_string(self.data_dir.join("postgres/postmaster.pid")).expect("postmaster.pid");
        // The fourth line of postmaster.pid is the port.
        let port = pid_file.lines().nth(3).expect("port line").trim();
        format!("postgres://smartpark:{}@127.0.0.1:{port}/smartpark", password.trim())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            stop_orphan_postgres(&self.data_dir);
        }
    }
}

/// A server that was killed leaves its PostgreSQL behind; stop it so the test leaves nothing.
pub fn stop_orphan_postgres(data_dir: &Path) {
    let cluster = data_dir.join("postgres");
    if cluster.join("postmaster.pid").exists() {
        let _ = pg_ctl(&cluster, &["stop", "-m", "immediate"]);
    }
}

/// Runs the installed `pg_ctl` on a cluster, as the `postgres` user when the tests run as root
/// (as the server itself does).
pub fn pg_ctl(cluster: &Path, args: &[&str]) -> std::process::Output {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL installed under /usr/lib/postgresql")
        .flatten()
        .map(|e| e.path().join("bin/pg_ctl"))
        .find(|p| p.is_file())
        .expect("pg_ctl");
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.current_dir("/").arg("-D").arg(cluster).args(args).output().expect("run pg_ctl")
}

/// A client signed in as an admin (the declared test token).
pub fn client() -> reqwest::Client {
    client_with_token(ADMIN_TOKEN)
}

/// A client that sends this API token.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().expect("header"));
    reqwest::Client::builder().timeout(Duration::from_secs(30)).default_headers(headers).build().expect("http client")
}

/// A client that is nobody.
pub fn anonymous() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client")
}

/// Sends a request and returns status and JSON body (Null when the body is empty).
pub async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

pub async fn create_camera(http: &reqwest::Client, s: &Server, id: &str) {
    let (st, body) = call(http.post(s.url("/api/cameras")).json(&serde_json::json!({"id": id, "name": id}))).await;
    assert_eq!(st, 201, "{body}");
}

/// Creates a camera that pushes its frames and returns its device token.
pub async fn create_push_camera(http: &reqwest::Client, s: &Server, id: &str) -> String {
    let (st, body) = call(
        http.post(s.url("/api/cameras")).json(&serde_json::json!({"id": id, "name": id, "source": {"kind": "push"}})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    body["token"].as_str().expect("token").to_string()
}

/// A frame posted as camera `id` with the device token `token`, as a board sends it.
pub fn push_frame(http: &reqwest::Client, s: &Server, id: &str, token: &str, jpeg: Vec<u8>) -> reqwest::RequestBuilder {
    http.post(s.url(&format!("/api/cameras/{id}/frames")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(jpeg)
}

pub async fn create_slot(http: &reqwest::Client, s: &Server, camera: &str, label: &str) -> i64 {
    let (st, body) = call(http.post(s.url(&format!("/api/cameras/{camera}/slots"))).json(&serde_json::json!({
        "label": label,
        "polygon": [[0, 0], [100, 0], [100, 50], [0, 50]],
    })))
    .await;
    assert_eq!(st, 201, "{body}");
    body["id"].as_i64().expect("slot id")
}

pub async fn set_state(http: &reqwest::Client, s: &Server, slot: i64, state: &str) -> Value {
    let (st, body) =
        call(http.put(s.url(&format!("/api/slots/{slot}"))).json(&serde_json::json!({"state": state}))).await;
    assert_eq!(st, 200, "{body}");
    body
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn ws_connect(s: &Server) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = s.ws_url().into_client_request().expect("ws request");
    req.headers_mut().insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse().expect("header"));
    let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("ws connect");
    ws
}

/// The next JSON message, answering pings on the way; panics at the deadline.
pub async fn ws_next(ws: &mut Ws, deadline: Duration) -> Value {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let msg = tokio::time::timeout_at(until, ws.next()).await.expect("no WebSocket message before the deadline");
        match msg.expect("stream ended").expect("ws error") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("ws JSON"),
            Message::Ping(p) => ws.send(Message::Pong(p)).await.expect("pong"),
            _ => {}
        }
    }
}

/// Reads messages until one satisfies `pred`; panics at the deadline.
pub async fn ws_until(ws: &mut Ws, deadline: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let v = ws_next(ws, left).await;
        if pred(&v) {
            return v;
        }
    }
}

pub fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc())
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// Polls `probe` until it gives a value, or panics with `what` at the deadline.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A camera's entry in `GET /api/cameras/{id}`.
pub async fn camera(http: &reqwest::Client, s: &Server, id: &str) -> Value {
    let (st, body) = call(http.get(s.url(&format!("/api/cameras/{id}")))).await;
    assert_eq!(st, 200, "{body}");
    body
}
