//! A real S3-protocol server for tests: moto's `moto_server`, from the repository's tool venv
//! (`bash scripts/install-moto.sh` puts it there). Each [`S3Server`] is a private process on a
//! loopback port, killed on drop. It keeps everything in memory, so [`S3Server::stop`] followed by
//! [`S3Server::start_again`] is an outage that also loses every bucket, like a wiped MinIO.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Moto starts in about half a second; the margin covers a loaded CI machine.
pub const START_DEADLINE: Duration = Duration::from_secs(30);

pub struct S3Server {
    /// `http://127.0.0.1:PORT`, for `S3Config::endpoint`.
    pub endpoint: String,
    port: u16,
    child: Option<Child>,
    /// moto's own output, shown when it fails to start.
    log: tempfile::NamedTempFile,
}

impl S3Server {
    pub fn start() -> S3Server {
        let log = tempfile::Builder::new().prefix("moto-").suffix(".log").tempfile().expect("moto log file");
        // The port is free when picked but may be taken before moto binds it; a few fresh picks
        // make that race harmless.
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            match launch(port, &log) {
                Ok(child) => {
                    return S3Server { endpoint: format!("http://127.0.0.1:{port}"), port, child: Some(child), log }
                }
                Err(failure) => failures.push(failure),
            }
        }
        panic!("moto_server did not start: {}", failures.join("\n"));
    }

    /// Kills the server, as in an outage: connections are refused until [`S3Server::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh, empty server on the same port.
    pub fn start_again(&mut self) {
        self.stop();
        match launch(self.port, &self.log) {
            Ok(child) => self.child = Some(child),
            Err(failure) => panic!("moto_server did not start again on port {}: {failure}", self.port),
        }
    }

    /// Freezes the server (SIGSTOP): the kernel still accepts connections but nothing answers,
    /// which is what a hung server or a black-holed network looks like to a client.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// What moto printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("moto_server is not running").id();
        let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().expect("kill");
        assert!(status.success(), "kill -{name} {pid} failed");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // SIGKILL ends a paused (SIGSTOPped) server too.
        self.stop();
    }
}

fn moto_server() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-tools/bin/moto_server");
    assert!(exe.is_file(), "{} is missing: run `bash scripts/install-moto.sh` first", exe.display());
    exe
}

/// Starts moto on `port` and waits until it answers HTTP.
fn launch(port: u16, log: &tempfile::NamedTempFile) -> Result<Child, String> {
    let exe = moto_server();
    let read_log = || std::fs::read_to_string(log.path()).unwrap_or_default();
    // Appending, so that a restart keeps the earlier run's output.
    let out = std::fs::OpenOptions::new().append(true).open(log.path()).map_err(|e| format!("moto log: {e}"))?;
    let err = out.try_clone().map_err(|e| format!("moto log: {e}"))?;
    let mut child = Command::new(&exe)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", exe.display()))?;
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}; log:\n{}", read_log()));
        }
        if answers(port) {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no answer within {START_DEADLINE:?}; log:\n{}", read_log()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// Whether an HTTP request to the port gets an HTTP answer, not merely whether the port accepts.
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}
