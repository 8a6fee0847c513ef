//! One typed configuration: built-in defaults < TOML file < environment < command-line flags.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where local state lives: the embedded PostgreSQL cluster (and later, local images).
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub live: LiveConfig,
    pub log: LogConfig,
    pub capture: CaptureConfig,
    pub archive: ArchiveConfig,
    pub storage: crate::storage::images::StorageConfig,
    pub detect: DetectConfig,
    pub occupancy: OccupancyConfig,
    /// Accounts, sessions and API tokens.
    pub auth: crate::auth::config::AuthConfig,
    /// Several replicas on one database: this one's name and address, and the leases' length.
    pub cluster: ClusterConfig,
    /// Cameras declared in the file; created (or renamed) at start, never deleted by a restart.
    pub cameras: Vec<CameraDecl>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Largest JSON body a client may send.
    pub json_limit_bytes: usize,
    /// Largest XML body (PKLot import) a client may send.
    pub xml_limit_bytes: usize,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Serve the dashboard's files from this directory (`src/dashboard` of a checkout) instead
    /// of the copies built into the binary: for working on the page without rebuilding.
    pub dashboard_dir: Option<PathBuf>,
    /// Origins (`https://ops.example.com`) besides the server's own whose pages may call the API
    /// and open the WebSocket. Empty: only the server's own pages (and CORS stays off).
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// An external PostgreSQL; when absent, a private server runs in `data_dir/postgres`.
    pub url: Option<String>,
    pub pool_size: usize,
    /// Where `initdb`, `pg_ctl` and `postgres` are; searched for when absent.
    pub postgres_bin_dir: Option<PathBuf>,
    /// Seconds to wait for a connection from the pool before answering 503.
    pub acquire_timeout_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// How often the server pings each WebSocket client.
    pub heartbeat_interval_s: u64,
    /// A client that answers nothing for this long is dropped.
    pub client_timeout_s: u64,
}

/// Replicas: plain `smartpark serve` processes on one database (and one S3 store).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// This replica's name, unique among them; the host name when unset (a pod's name).
    pub node: Option<String>,
    /// Where the other replicas reach this one (relayed streams, handed-over pushes); from the
    /// listen address when unset.
    pub advertise_url: Option<String>,
    /// How long a camera's lease lasts unrenewed; renewed every third of it. A replica that
    /// dies loses its cameras after at most this long (one that stops hands them over at once).
    pub lease_ttl_s: f64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { node: None, advertise_url: None, lease_ttl_s: 10.0 }
    }
}

impl ClusterConfig {
    /// The replica's name: the configured one, else the host name.
    pub fn node_name(&self) -> String {
        if let Some(n) = self.node.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            return n.to_string();
        }
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
        let ok = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) } == 0;
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        match std::str::from_utf8(&buf[..end]) {
            Ok(h) if ok && !h.is_empty() => h.to_string(),
            _ => "smartpark".to_string(),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if !(self.lease_ttl_s.is_finite() && (1.0..=600.0).contains(&self.lease_ttl_s)) {
            return Err(format!("cluster.lease_ttl_s: {} is not between 1 and 600 seconds", self.lease_ttl_s));
        }
        if let Some(u) = &self.advertise_url {
            let url = reqwest::Url::parse(u).map_err(|e| format!("cluster.advertise_url: {u:?}: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(format!("cluster.advertise_url: {u:?} is not an http(s) URL such as http://10.0.0.7:8080"));
            }
        }
        Ok(())
    }
}

/// How frames are taken from cameras.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureConfig {
    /// A pulled camera that delivers no frame for this long is reconnected; a pushing camera
    /// that sends none for this long is shown offline.
    pub stall_timeout_s: u64,
    /// Time allowed to connect to a camera and get its answer's headers.
    pub connect_timeout_s: u64,
    /// First wait before reconnecting a failed camera; it doubles per failure up to the maximum.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Largest JPEG accepted from a camera, pushed or pulled.
    pub max_frame_bytes: usize,
    /// How often each camera's status (fps, newest frame) is re-sent to dashboards.
    pub status_interval_s: u64,
    /// When not empty, camera sources must resolve into these networks (CIDR, such as
    /// `192.168.10.0/24`). Link-local addresses (cloud metadata) are refused whatever it says.
    pub allowed_networks: Vec<String>,
}

/// The vehicle detector and how often each camera is analysed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Whether cameras are analysed at all.
    pub enabled: bool,
    /// A YOLO TorchScript file. When it is missing the server runs without detection (and says so).
    pub model: PathBuf,
    /// The space classifier (`make models` trains it): each space's own patch, weighed with the
    /// detector's boxes. When the file is missing the boxes decide alone (and the server says so).
    pub space_model: PathBuf,
    /// `auto` (CUDA when there is a GPU), `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// libtorch's threads per detector; 0 is its default (one per core).
    pub threads: i32,
    /// Detector actors (SyncArbiter threads), each with its own copy of the model.
    pub workers: usize,
    /// The most frames, from as many cameras, that go through the model in one forward pass.
    pub batch_size: usize,
    /// Seconds between analyses of a camera.
    pub interval_s: f64,
    /// Even with no motion in the spaces, a camera is analysed at least this often.
    pub max_interval_s: f64,
    /// Skip the detector while the spaces look unchanged since the last analysis.
    pub motion_gating: bool,
    pub motion: crate::analysis::motion::MotionParams,
    /// The longer side of the model's input, in pixels (a multiple of 32, 640 to 1280 usual).
    pub imgsz: u32,
    pub confidence: f32,
    pub iou: f32,
    pub max_detections: usize,
    /// Which of the model's classes are vehicles (names the model lacks are ignored).
    pub classes: Vec<String>,
    /// The longest one analysis may wait for the models; past it the analysis fails and says so
    /// (a wedged worker must not stop a camera's analyses for ever).
    pub timeout_s: f64,
}

impl Default for DetectConfig {
    fn default() -> Self {
        let p = crate::detect::yolo::DetectParams::default();
        DetectConfig {
            enabled: true,
            model: PathBuf::from("models/yolov5n.torchscript"),
            space_model: PathBuf::from("models/space-classifier.torchscript"),
            device: "auto".into(),
            threads: 0,
            workers: 1,
            batch_size: 4,
            interval_s: 5.0,
            max_interval_s: 60.0,
            motion_gating: true,
            motion: Default::default(),
            imgsz: p.imgsz,
            confidence: p.confidence,
            iou: p.iou,
            max_detections: p.max_detections,
            classes: p.classes,
            timeout_s: 30.0,
        }
    }
}

impl DetectConfig {
    /// What a bad `[detect]` or `[occupancy]` section gets told at start.
    pub fn check(&self, occupancy: &OccupancyConfig) -> Result<(), String> {
        self.params().check()?;
        let seconds = |v: f64| v.is_finite() && (0.05..=86_400.0).contains(&v);
        if !seconds(self.interval_s) {
            return Err(format!("detect.interval_s must be between 0.05 and 86400, got {}", self.interval_s));
        }
        if !seconds(self.max_interval_s) || self.max_interval_s < self.interval_s {
            return Err(format!(
                "detect.max_interval_s must be at least detect.interval_s and at most 86400, got {}",
                self.max_interval_s
            ));
        }
        if !seconds(self.timeout_s) {
            return Err(format!("detect.timeout_s must be between 0.05 and 86400, got {}", self.timeout_s));
        }
        if self.workers == 0 || self.batch_size == 0 {
            return Err("detect.workers and detect.batch_size must be at least 1".into());
        }
        if self.threads < 0 {
            return Err(format!("detect.threads must be 0 (libtorch's default) or more, got {}", self.threads));
        }
        if occupancy.confirm == 0 {
            return Err("occupancy.confirm must be at least 1".into());
        }
        if !(occupancy.stale_after_s.is_finite() && occupancy.stale_after_s >= self.interval_s.max(1.0)) {
            return Err(format!(
                "occupancy.stale_after_s must be at least detect.interval_s (and 1 s), got {}",
                occupancy.stale_after_s
            ));
        }
        if occupancy.manual_hold_s.is_some_and(|h| !(h.is_finite() && h > 0.0)) {
            return Err(format!("occupancy.manual_hold_s must be more than 0 s, got {:?}", occupancy.manual_hold_s));
        }
        occupancy.rule.validate().map_err(|e| format!("occupancy.rule: {e}"))
    }

    pub fn params(&self) -> crate::detect::yolo::DetectParams {
        crate::detect::yolo::DetectParams {
            imgsz: self.imgsz,
            confidence: self.confidence,
            iou: self.iou,
            max_detections: self.max_detections,
            classes: self.classes.clone(),
        }
    }
}

/// How detections become space states.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OccupancyConfig {
    /// A space changes state only after this many consecutive analyses agree, so a passing car
    /// or one bad frame does not open or close a parking session.
    pub confirm: usize,
    /// The per-frame rule.
    pub rule: crate::analysis::occupancy::OccupancyParams,
    /// An analysed camera that delivers no usable frame for this long leaves its spaces
    /// `unknown` until its frames return (an open stay stays open).
    pub stale_after_s: f64,
    /// A space set by hand keeps that state while the camera shows it unchanged; past this many
    /// seconds the detector judges it again anyway. None: until its pixels change.
    pub manual_hold_s: Option<f64>,
}

impl Default for OccupancyConfig {
    fn default() -> Self {
        OccupancyConfig { confirm: 3, rule: Default::default(), stale_after_s: 30.0, manual_hold_s: None }
    }
}

/// Which frames are kept as captures in the image store, and for how long.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Keep one frame of each camera this often; 0 keeps none on a timer.
    pub interval_s: u64,
    /// Keep every frame a camera pushes.
    pub keep_pushed: bool,
    /// Frames waiting for the image store (during an outage); the oldest is dropped beyond this.
    pub queue_limit: usize,
    /// Captures older than this are deleted; 0 keeps them regardless of age.
    pub max_age_days: u32,
    /// Each camera keeps at most this many captures, the newest; 0 means no limit. Evidence (a
    /// capture a space change or a stay refers to) does not count.
    pub max_per_camera: u64,
    /// Evidence is kept at least this long, whatever `max_age_days` says; the evidence of an
    /// open stay is kept while the stay is open.
    pub evidence_retention_days: u32,
    /// How often the retention rules are applied.
    pub sweep_interval_s: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when standard error is not a terminal, text otherwise.
    Auto,
    Json,
    Text,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter such as `info,smartpark=debug`; `RUST_LOG` wins when set.
    pub level: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraDecl {
    pub id: crate::camera::id::CameraId,
    pub name: String,
    /// Where its frames come from; a camera that pushes when absent.
    #[serde(default)]
    pub source: crate::camera::source::CameraSource,
    /// A file holding the device token the camera pushes frames with.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// A PKLot XML file whose spaces become this camera's slots (created or updated by label).
    #[serde(default)]
    pub pklot: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            live: LiveConfig::default(),
            log: LogConfig::default(),
            capture: CaptureConfig::default(),
            archive: ArchiveConfig::default(),
            storage: Default::default(),
            detect: DetectConfig::default(),
            occupancy: Default::default(),
            auth: Default::default(),
            cluster: ClusterConfig::default(),
            cameras: Vec::new(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 8080,
            json_limit_bytes: 256 * 1024,
            xml_limit_bytes: 4 * 1024 * 1024,
            workers: 0,
            dashboard_dir: None,
            allowed_origins: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: None, pool_size: 16, postgres_bin_dir: None, acquire_timeout_s: 5 }
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig { heartbeat_interval_s: 5, client_timeout_s: 15 }
    }
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            stall_timeout_s: 10,
            connect_timeout_s: 10,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            max_frame_bytes: 4 * 1024 * 1024,
            status_interval_s: 5,
            allowed_networks: Vec::new(),
        }
    }
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            interval_s: 60,
            keep_pushed: true,
            queue_limit: 256,
            max_age_days: 30,
            max_per_camera: 10_000,
            evidence_retention_days: 90,
            sweep_interval_s: 600,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Auto, level: "info".into() }
    }
}

/// Values given on the command line; only those present override the layers below.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Layers the sources in order of precedence; `env` is passed in so tests need not touch the
    /// process environment.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            // A named file that is missing is an error, not a silent fallback to defaults.
            if !file.is_file() {
                return Err(ConfigError(Box::new(figment::Error::from(format!(
                    "config file {} not found",
                    file.display()
                )))));
            }
            fig = fig.merge(Toml::file(file));
        }
        // SMARTPARK_CONFIG, SMARTPARK_API_TOKEN and SMARTPARK_DEVICE_TOKEN belong to the
        // commands, not to the settings.
        fig = fig
            .merge(Env::prefixed("SMARTPARK_").split("__").ignore(&[
                "config",
                "auth.admin_password",
                "api_token",
                "device_token",
            ]))
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database.url".into()));
        let mut cli = Figment::new();
        if let Some(d) = &overrides.data_dir {
            cli = cli.merge(Serialized::default("data_dir", d));
        }
        if let Some(h) = &overrides.host {
            cli = cli.merge(Serialized::default("server.host", h));
        }
        if let Some(p) = overrides.port {
            cli = cli.merge(Serialized::default("server.port", p));
        }
        if let Some(u) = &overrides.database_url {
            cli = cli.merge(Serialized::default("database.url", u));
        }
        let mut config: Config = fig.merge(cli).extract().map_err(Box::new)?;
        // The admin password is taken as written: figment would read a password such as
        // `12345678` or `[x]` as a number or a list.
        if let Ok(p) = std::env::var("SMARTPARK_AUTH__ADMIN_PASSWORD") {
            config.auth.admin_password = Some(crate::auth::config::Secret(p));
        }
        config.auth.check().map_err(|e| ConfigError(Box::new(figment::Error::from(e))))?;
        config.cluster.check().map_err(|e| ConfigError(Box::new(figment::Error::from(e))))?;
        for origin in &config.server.allowed_origins {
            check_origin(origin).map_err(|e| ConfigError(Box::new(figment::Error::from(e))))?;
        }
        // An empty DATABASE_URL means "not set" (a common way to unset it in shells and k8s).
        if config.database.url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            config.database.url = None;
        }
        Ok(config)
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
fn check_origin(origin: &str) -> Result<(), String> {
    let bad = || format!("server.allowed_origins: {origin:?} is not an origin such as https://ops.example.com");
    let url = reqwest::Url::parse(origin).map_err(|_| bad())?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none() && url.username().is_empty();
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare || origin.contains('*') {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
// figment's Jail hands back its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "smartpark.toml",
                "data_dir = \"from-file\"\n[server]\nport = 9000\nhost = \"0.0.0.0\"\n[live]\nclient_timeout_s = 30\n",
            )?;
            jail.set_env("SMARTPARK_SERVER__PORT", "9100");
            jail.set_env("DATABASE_URL", "postgres://env/db");
            let over = Overrides { port: Some(9200), ..Default::default() };
            let c = Config::load(Some(Path::new("smartpark.toml")), &over).map_err(|e| e.to_string())?;
            assert_eq!(c.server.port, 9200, "flag beats env");
            assert_eq!(c.server.host, "0.0.0.0", "file beats default");
            assert_eq!(c.data_dir, PathBuf::from("from-file"));
            assert_eq!(c.live.client_timeout_s, 30);
            assert_eq!(c.live.heartbeat_interval_s, 5, "default kept");
            assert_eq!(c.database.url.as_deref(), Some("postgres://env/db"));
            let env_only =
                Config::load(Some(Path::new("smartpark.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(env_only.server.port, 9100, "env beats file");
            Ok(())
        });
    }

    #[test]
    fn the_admin_password_from_the_environment_is_taken_as_written() {
        figment::Jail::expect_with(|jail| {
            for p in ["12345678", "[not, a, list]", "true-ish {x}"] {
                jail.set_env("SMARTPARK_AUTH__ADMIN_PASSWORD", p);
                let c = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
                assert_eq!(c.auth.admin_password.as_ref().map(|s| s.0.as_str()), Some(p));
                assert!(!format!("{c:?}").contains(p), "the password shows in the config's Debug");
            }
            Ok(())
        });
    }

    #[test]
    fn allowed_origins_must_be_origins() {
        assert!(check_origin("https://ops.example.com").is_ok());
        assert!(check_origin("http://10.0.0.5:8080").is_ok());
        for bad in ["*", "ops.example.com", "https://ops.example.com/dashboard", "ftp://x", "https://*.example.com"] {
            assert!(check_origin(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn detection_settings_are_checked() {
        let c = Config::default();
        c.detect.check(&c.occupancy).unwrap();
        for (key, value) in
            [("interval_s", "0"), ("interval_s", "-1"), ("max_interval_s", "1"), ("imgsz", "650"), ("workers", "0")]
        {
            let mut d = DetectConfig::default();
            match key {
                "interval_s" => d.interval_s = value.parse().unwrap(),
                "max_interval_s" => d.max_interval_s = value.parse().unwrap(),
                "imgsz" => d.imgsz = value.parse().unwrap(),
                _ => d.workers = value.parse().unwrap(),
            }
            assert!(d.check(&c.occupancy).unwrap_err().contains(key), "{key} = {value}");
        }
        let bad = OccupancyConfig { confirm: 0, ..Default::default() };
        assert!(c.detect.check(&bad).is_err());
    }

    #[test]
    fn the_documented_example_is_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/smartpark.example.toml");
        let from_file: Config = Figment::from(Toml::file(&path)).extract().expect("docs/smartpark.example.toml parses");
        let defaults = Config::default();
        assert_eq!(format!("{from_file:?}"), format!("{defaults:?}"), "the example shows every default");
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[server]\nprot = 1\n")?;
            assert!(Config::load(Some(Path::new("bad.toml")), &Overrides::default()).is_err());
            assert!(Config::load(Some(Path::new("missing.toml")), &Overrides::default()).is_err());
            jail.set_env("DATABASE_URL", "");
            let c = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert!(c.database.url.is_none());
            Ok(())
        });
    }
}
