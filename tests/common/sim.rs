//! The `smartpark sim-camera` process: a camera on the network that tests can kill and bring back.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The PKLot fixtures, beside the repository.
pub fn pklot(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/pklot").join(rel)
}

/// Real JPEG frames of a real lot (sent as they are, so tests can compare bytes).
pub fn jpeg_dir() -> PathBuf {
    pklot("annotated/sequence0/frames")
}

pub fn jpeg_files() -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(jpeg_dir()).expect("fixture frames").flatten().map(|e| e.path()).collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).expect("read frame")).collect()
}

pub struct SimCamera {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
}

impl SimCamera {
    /// Serves the fixture JPEGs at `fps` on a free port.
    pub fn start(fps: f64) -> SimCamera {
        SimCamera::start_on(0, fps)
    }

    pub fn start_on(port: u16, fps: f64) -> SimCamera {
        SimCamera::start_frames(&jpeg_dir(), port, fps)
    }

    /// Serves the frames of `dir` at `fps` on `port` (0: a free one).
    pub fn start_frames(dir: &std::path::Path, port: u16, fps: f64) -> SimCamera {
        let args = vec!["--frames".to_string(), dir.display().to_string(), "--fps".to_string(), fps.to_string()];
        let mut sim = SimCamera { child: None, port, args };
        sim.launch();
        sim
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    fn launch(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smartpark"))
            .arg("sim-camera")
            .args(&self.args)
            .args(["--port", &self.port.to_string()])
            .env("SMARTPARK_LOG__FORMAT", "text")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sim-camera");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("sim-camera serving http://") {
                    let _ = tx.send(rest.split('/').next().unwrap_or_default().to_string());
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("sim-camera did not start");
        self.port = addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("sim-camera port");
        self.child = Some(child);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGKILL: the camera drops off the network at once.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Comes back on the same port, as a rebooted board would.
    pub fn relaunch(&mut self) {
        assert!(self.child.is_none());
        self.launch();
    }

    /// Open MJPEG connections, as the camera counts them.
    pub async fn stream_clients(&self) -> u64 {
        let v: serde_json::Value =
            reqwest::get(self.url("/clients")).await.expect("sim /clients").json().await.expect("sim JSON");
        v["stream_clients"].as_u64().expect("count")
    }
}

impl Drop for SimCamera {
    fn drop(&mut self) {
        self.kill();
    }
}
