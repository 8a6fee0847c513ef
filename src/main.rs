//! The `smartpark` command: serve, migrate, import-pklot, sim-camera, detect, eval, bench.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use std::net::ToSocketAddrs;

use smartpark::app::ReplaySetup;
use smartpark::config::{Config, LogFormat, Overrides};
use smartpark::storage::db;
use smartpark::storage::embedded_pg::EmbeddedPostgres;
use smartpark::tools::sim;

#[derive(Parser)]
#[command(name = "smartpark", version, about = "Real-time parking monitor")]
struct Cli {
    /// A TOML configuration file (see docs/smartpark.example.toml).
    #[arg(long, global = true, env = "SMARTPARK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Default)]
struct DbFlags {
    /// Where local state lives (the private PostgreSQL among it).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// An external PostgreSQL; without it a private server runs in the data directory.
    #[arg(long)]
    database_url: Option<String>,
}

/// The model and how it is run, for the commands that run it outside the server.
#[derive(Args)]
struct ModelFlags {
    /// A YOLO TorchScript file (Ultralytics export, YOLOv5 or YOLOv8/11 layout); by default
    /// the configured `detect.model`.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The longer side of the model's input (a multiple of 32).
    #[arg(long)]
    imgsz: Option<u32>,
    #[arg(long)]
    conf: Option<f32>,
    #[arg(long)]
    iou: Option<f32>,
    /// Comma-separated class names to keep, or `all`; by default the configured vehicles.
    #[arg(long)]
    classes: Option<String>,
    /// auto, cpu, cuda or cuda:N; by default the configured `detect.device`.
    #[arg(long)]
    device: Option<String>,
    /// libtorch's threads; by default the configured `detect.threads` (0: one per core).
    #[arg(long)]
    threads: Option<i32>,
    /// The space classifier (TorchScript from `make models`), or `none` for the detector's boxes
    /// alone; by default the configured `detect.space_model` when that file exists.
    #[arg(long)]
    space_model: Option<PathBuf>,
}

impl ModelFlags {
    fn open(&self, config: &Config) -> anyhow::Result<smartpark::detect::yolo::Yolo> {
        use smartpark::detect::{model, yolo};
        let mut params = config.detect.params();
        if let Some(v) = self.imgsz {
            params.imgsz = v;
        }
        if let Some(v) = self.conf {
            params.confidence = v;
        }
        if let Some(v) = self.iou {
            params.iou = v;
        }
        match self.classes.as_deref() {
            Some("all") => params.classes.clear(),
            Some(list) => params.classes = list.split(',').map(|s| s.trim().to_string()).collect(),
            None => {}
        }
        let threads = self.threads.unwrap_or(config.detect.threads);
        if threads > 0 {
            tch::set_num_threads(threads);
        }
        let device =
            model::parse_device(self.device.as_deref().unwrap_or(&config.detect.device)).map_err(anyhow::Error::msg)?;
        let m = model::Model::load(self.model.as_ref().unwrap_or(&config.detect.model), device)?;
        yolo::Yolo::new(m, params).map_err(anyhow::Error::msg)
    }

    /// The detector and, unless told otherwise, the space classifier.
    fn open_all(&self, config: &Config) -> anyhow::Result<smartpark::tools::eval::Models> {
        use smartpark::detect::{classifier::SpaceClassifier, model};
        let yolo = self.open(config)?;
        let device =
            model::parse_device(self.device.as_deref().unwrap_or(&config.detect.device)).map_err(anyhow::Error::msg)?;
        let classifier = match &self.space_model {
            Some(p) if p.as_os_str() == "none" => None,
            Some(p) => Some(SpaceClassifier::load(p, device)?),
            None if config.detect.space_model.is_file() => {
                Some(SpaceClassifier::load(&config.detect.space_model, device)?)
            }
            None => {
                eprintln!(
                    "no space classifier at {} (`make models` trains it): the detector's boxes decide alone",
                    config.detect.space_model.display()
                );
                None
            }
        };
        Ok(smartpark::tools::eval::Models { yolo, classifier })
    }
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Per-stage detection times, against the Python reference pipeline in the same run.
    Detect {
        #[command(flatten)]
        model: ModelFlags,
        /// A folder of JPEG frames.
        #[arg(long)]
        images: PathBuf,
        /// The original checkpoint the Python reference runs (the `yolov5` package's pipeline).
        #[arg(long, default_value = "../shared/models/yolov5n.pt")]
        reference_weights: PathBuf,
        /// The Python with torch and yolov5 installed (`make models` sets it up).
        #[arg(long, default_value = ".venv/bin/python")]
        python: PathBuf,
        /// Times each image is run per round.
        #[arg(long, default_value_t = 1)]
        passes: usize,
        /// Alternating rounds of smartpark and the reference; each side's best round counts.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// A PKLot XML file whose spaces the space classifier reads in every frame, to time what
        /// it adds (needs the classifier: --space-model or the configured one).
        #[arg(long, value_name = "FILE.xml")]
        spaces: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ClusterCli {
    /// Hand this replica's cameras to the others before it stops (a pod's preStop): marks it
    /// as leaving and waits until it holds none. Needs the shared database (DATABASE_URL).
    Leave {
        /// The replica; by default `cluster.node` (the host name).
        #[arg(long)]
        node: Option<String>,
        /// At most this long.
        #[arg(long, default_value_t = 20)]
        wait_s: u64,
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCli {
    /// Add a user; the password is read from standard input with --password-stdin, or made
    /// at random and printed once.
    Add {
        username: String,
        #[arg(long, default_value = "viewer")]
        role: smartpark::auth::Role,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbFlags,
    },
    /// Set a user's password (their sessions end).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbFlags,
    },
    /// Remove a user (their sessions end). The last admin cannot be removed.
    Remove {
        username: String,
        #[command(flatten)]
        db: DbFlags,
    },
    /// List the users: name, role, created.
    List {
        #[command(flatten)]
        db: DbFlags,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default when no command is given in `make run`).
    Serve {
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        port: Option<u16>,
        #[command(flatten)]
        db: DbFlags,
        /// Folders of recorded frames to play as a camera when the config declares none (the
        /// demo); a folder's `bounding_boxes/` PKLot files give the camera's spaces.
        #[arg(long, value_name = "DIR")]
        replay: Vec<PathBuf>,
        /// Frames per second of the replayed camera.
        #[arg(long, default_value_t = 0.5)]
        replay_fps: f64,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbFlags,
    },
    /// Load the spaces of a PKLot XML file onto a camera of a running server.
    ImportPklot {
        /// The camera's id; it is created when missing.
        #[arg(long)]
        camera: String,
        /// The camera's name when it is created (its id otherwise).
        #[arg(long)]
        name: Option<String>,
        /// The server's base URL; by default the configured host and port.
        #[arg(long)]
        server: Option<String>,
        /// An admin's API token (`POST /api/tokens`, or the Users page).
        #[arg(long, env = "SMARTPARK_API_TOKEN", hide_env_values = true, allow_hyphen_values = true)]
        token: String,
        file: PathBuf,
    },
    /// Manage accounts straight on the database (stop the server first when it runs its
    /// private PostgreSQL: the data directory is its alone while it runs).
    #[command(subcommand)]
    User(UserCli),
    /// Replicas sharing one database.
    #[command(subcommand)]
    Cluster(ClusterCli),
    /// Play folders of JPEG/PNG frames as a camera: an ESP32-style MJPEG stream on
    /// http://HOST:PORT/stream (and one JPEG on /capture), or posted to a server with --push.
    SimCamera {
        /// Folders of frames (or folders holding a frames/ folder), played in order, looping.
        #[arg(long, num_args = 1.., required = true, value_name = "DIR")]
        frames: Vec<PathBuf>,
        #[arg(long, default_value_t = 5.0)]
        fps: f64,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// 0 picks a free port; the address is printed.
        #[arg(long, default_value_t = 81)]
        port: u16,
        /// Post each frame to this URL (a server's /api/cameras/{id}/frames) instead of serving.
        #[arg(long, value_name = "URL")]
        push: Option<String>,
        /// The camera's device token, for --push.
        // Tokens are URL-safe base64, so one in 64 starts with '-'.
        #[arg(long, env = "SMARTPARK_DEVICE_TOKEN", requires = "push", allow_hyphen_values = true)]
        token: Option<String>,
        /// With --push: play the frames this many times, then exit.
        #[arg(long, requires = "push")]
        passes: Option<u32>,
    },
    /// Detect vehicles in images: one JSON line per image with its boxes in image pixels.
    Detect {
        #[command(flatten)]
        model: ModelFlags,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Measure occupancy against PKLot-format trees (frames/ beside bounding_boxes/, any depth):
    /// every frame on its own, or with --replay through the live loop. Prints a line per lot and
    /// one for all; the last line is one JSON object.
    Eval {
        #[command(flatten)]
        model: ModelFlags,
        /// A folder of annotated frames; give it several times for several lots.
        #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
        dataset: Vec<PathBuf>,
        /// Play each sequence (a frames/ folder, in name order) through the live loop: motion
        /// gating, memory and debounce, as a camera analysed every detect.interval_s.
        #[arg(long)]
        replay: bool,
        /// With --replay: analyses each frame stays for.
        #[arg(long, default_value_t = 12, requires = "replay")]
        hold: usize,
        /// Judge the frames as a camera of this size would deliver them (WxH, such as 1920x1080 or
        /// 640x480): the largest centred part of that shape, scaled, with the spaces inside it.
        #[arg(long, value_name = "WxH")]
        frame_size: Option<smartpark::tools::eval::FrameSize>,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let json = match config.log.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

/// The database to use: the configured one, or a private server started now (stopped on drop).
fn database(config: &Config) -> anyhow::Result<(String, Option<EmbeddedPostgres>)> {
    match &config.database.url {
        Some(url) => Ok((url.clone(), None)),
        None => {
            let pg = EmbeddedPostgres::start(&config.data_dir, config.database.postgres_bin_dir.as_deref())
                .context("starting the private PostgreSQL (set DATABASE_URL to use another server)")?;
            Ok((pg.url().to_string(), Some(pg)))
        }
    }
}

/// Each dashboard holds a socket; the soft limit on open files is often far below the hard one.
fn raise_open_file_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// libtorch frees and reallocates the same large activation buffers on every forward pass. By
/// default glibc hands blocks over 128 KiB (its threshold grows only to 32 MiB, on demand) back
/// to the kernel on free, so each frame page-faults and zeroes about a hundred megabytes again;
/// keeping freed memory in the heap made inference about 12% faster here, for a heap that stays
/// at its peak (a few hundred MB with the model).
fn keep_freed_memory() {
    // SAFETY: plain libc calls, made before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

fn main() -> anyhow::Result<()> {
    keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { host, port, db: flags, replay, replay_fps } => {
            let overrides = Overrides { data_dir: flags.data_dir, host, port, database_url: flags.database_url };
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            init_logging(&config);
            raise_open_file_limit();
            let (url, mut embedded) = database(&config)?;
            let applied = db::run_migrations(&url)?;
            if !applied.is_empty() {
                tracing::info!(?applied, "migrations applied");
            }
            let replay = (!replay.is_empty()).then_some(ReplaySetup { dirs: replay, fps: replay_fps });
            let result = actix_web::rt::System::new().block_on(smartpark::app::run(config, &url, replay, |addr| {
                println!("smartpark serving http://{addr}");
            }));
            if let Some(pg) = embedded.as_mut() {
                pg.stop();
            }
            result?;
        }
        Command::Migrate { db: flags } => {
            let overrides =
                Overrides { data_dir: flags.data_dir, database_url: flags.database_url, ..Default::default() };
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            init_logging(&config);
            let (url, _embedded) = database(&config)?;
            let applied = db::run_migrations(&url)?;
            println!("{} migration(s) applied", applied.len());
        }
        Command::SimCamera { frames, fps, host, port, push, token, passes } => {
            let config = Config::load(cli.config.as_deref(), &Overrides::default())?;
            init_logging(&config);
            let replay = sim::Replay::new(sim::load_frames(&frames)?, fps)?;
            actix_web::rt::System::new().block_on(async move {
                match push {
                    Some(url) => {
                        let token = token.context("--push needs --token (or SMARTPARK_DEVICE_TOKEN)")?;
                        println!("sim-camera pushing {} frame(s) at {fps} fps to {url}", replay.len());
                        let (sent, failed) = sim::push(replay, &url, &token, passes).await?;
                        println!("sim-camera sent {sent} frame(s), {failed} refused or failed");
                        anyhow::Ok(())
                    }
                    None => {
                        let addr = (host.as_str(), port)
                            .to_socket_addrs()?
                            .next()
                            .with_context(|| format!("{host} does not resolve"))?;
                        let n = replay.len();
                        let (bound, server) = sim::serve(replay, addr)?;
                        println!("sim-camera serving http://{bound}/stream ({n} frame(s) at {fps} fps)");
                        let handle = server.handle();
                        actix_web::rt::spawn(async move {
                            let _ = actix_web::rt::signal::ctrl_c().await;
                            handle.stop(false).await;
                        });
                        server.await?;
                        anyhow::Ok(())
                    }
                }
            })?;
        }
        Command::Detect { model, images } => {
            let config = Config::load(cli.config.as_deref(), &Overrides::default())?;
            let mut yolo = model.open(&config)?;
            smartpark::tools::detect::run(&mut yolo, &images)?;
        }
        Command::Eval { model, dataset, replay, hold, frame_size } => {
            let config = Config::load(cli.config.as_deref(), &Overrides::default())?;
            config.detect.check(&config.occupancy).map_err(anyhow::Error::msg)?;
            let mut models = model.open_all(&config)?;
            let say = |line: String| eprintln!("{line}");
            if replay {
                let report = smartpark::tools::replay::run(
                    &mut models,
                    &config.detect,
                    &config.occupancy,
                    &dataset,
                    frame_size,
                    hold,
                    say,
                )?;
                for (lot, figures) in &report.lots {
                    println!("lot {lot}: {figures}");
                }
                println!("all lots: {}", report.overall);
                println!("{}", serde_json::to_string(&report)?);
            } else {
                let report =
                    smartpark::tools::eval::run(&mut models, &config.occupancy.rule, &dataset, frame_size, say)?;
                for (lot, figures) in &report.lots {
                    println!("lot {lot}: {figures}");
                }
                println!("all lots: {} ({:.0} ms per frame)", report.overall, report.ms_per_frame);
                println!("{}", serde_json::to_string(&report)?);
            }
        }
        Command::Bench(BenchCommand::Detect { model, images, reference_weights, python, passes, rounds, spaces }) => {
            let config = Config::load(cli.config.as_deref(), &Overrides::default())?;
            let mut models = model.open_all(&config)?;
            let threads = tch::get_num_threads();
            let spaces = match &spaces {
                Some(path) => {
                    let xml = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                    let spaces = smartpark::parking::pklot::parse(&xml)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    spaces.into_iter().map(|s| s.polygon).collect()
                }
                None => Vec::new(),
            };
            let setup =
                smartpark::tools::bench::Setup { images, reference_weights, python, passes, threads, rounds, spaces };
            let report = smartpark::tools::bench::run(&mut models.yolo, models.classifier.as_ref(), &setup, |line| {
                println!("{line}")
            })?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Cluster(ClusterCli::Leave { node, wait_s, database_url }) => {
            let overrides = Overrides { database_url, ..Default::default() };
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            init_logging(&config);
            let Some(url) = config.database.url.clone() else {
                anyhow::bail!("cluster leave needs the replicas' shared database: set DATABASE_URL or --database-url");
            };
            let node = node.unwrap_or_else(|| config.cluster.node_name());
            let said = actix_web::rt::System::new().block_on(async {
                let pool = db::Db::connect(&url, 1, std::time::Duration::from_secs(config.database.acquire_timeout_s))?;
                smartpark::cluster::leave::leave(&pool, &node, std::time::Duration::from_secs(wait_s)).await
            })?;
            println!("{said}");
        }
        Command::User(user) => {
            use smartpark::auth::cli::UserCommand as U;
            let (command, flags) = match user {
                UserCli::Add { username, role, password_stdin, db } => (U::Add { username, role, password_stdin }, db),
                UserCli::Passwd { username, password_stdin, db } => (U::Passwd { username, password_stdin }, db),
                UserCli::Remove { username, db } => (U::Remove { username }, db),
                UserCli::List { db } => (U::List, db),
            };
            let overrides =
                Overrides { data_dir: flags.data_dir, database_url: flags.database_url, ..Default::default() };
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            init_logging(&config);
            let (url, mut embedded) = database(&config)?;
            db::run_migrations(&url)?;
            let result = actix_web::rt::System::new().block_on(async {
                let pool = db::Db::connect(&url, 1, std::time::Duration::from_secs(config.database.acquire_timeout_s))?;
                smartpark::auth::cli::run(&pool, command).await
            });
            if let Some(pg) = embedded.as_mut() {
                pg.stop();
            }
            println!("{}", result?);
        }
        Command::ImportPklot { camera, name, server, file, token } => {
            let config = Config::load(cli.config.as_deref(), &Overrides::default())?;
            init_logging(&config);
            let xml = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let base = server.unwrap_or_else(|| format!("http://{}:{}", config.server.host, config.server.port));
            let name = name.unwrap_or_else(|| camera.clone());
            let report = actix_web::rt::System::new().block_on(import_pklot(&base, &token, &camera, &name, xml))?;
            println!("{report}");
        }
    }
    Ok(())
}

async fn import_pklot(base: &str, token: &str, camera: &str, name: &str, xml: Vec<u8>) -> anyhow::Result<String> {
    let client = awc::Client::builder().bearer_auth(token).finish();
    let mut res = client
        .post(format!("{base}/api/cameras"))
        .send_json(&serde_json::json!({ "id": camera, "name": name }))
        .await
        .map_err(|e| anyhow::anyhow!("{base}: {e}"))?;
    if !(res.status().is_success() || res.status() == awc::http::StatusCode::CONFLICT) {
        bail!(
            "creating camera {camera}: {} {}",
            res.status(),
            String::from_utf8_lossy(&res.body().await.unwrap_or_default())
        );
    }
    let mut res = client
        .post(format!("{base}/api/cameras/{camera}/import-pklot"))
        .content_type("application/xml")
        .send_body(xml)
        .await
        .map_err(|e| anyhow::anyhow!("{base}: {e}"))?;
    let body = res.body().limit(64 * 1024 * 1024).await.unwrap_or_default();
    if !res.status().is_success() {
        bail!("import refused: {} {}", res.status(), String::from_utf8_lossy(&body));
    }
    let v: serde_json::Value = serde_json::from_slice(&body).context("the server's answer is not JSON")?;
    Ok(format!("camera {camera}: {} space(s) created, {} updated", v["created"], v["updated"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_may_start_with_a_hyphen() {
        let cli =
            Cli::try_parse_from(["smartpark", "sim-camera", "--frames", "f", "--push", "http://x/", "--token", "-Hq2"])
                .map_err(|e| e.to_string())
                .unwrap();
        assert!(matches!(cli.command, Command::SimCamera { token: Some(t), .. } if t == "-Hq2"));
    }
}
