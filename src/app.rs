//! Wires the pool, the actors and the HTTP server together and runs them until a signal.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Service;
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpServer};
use futures_util::FutureExt;

use crate::api::{self, AppState};
use crate::auth::Auth;
use crate::camera::source::CameraSource;
use crate::cluster::listener::Listener;
use crate::cluster::{default_url, Cluster};
use crate::config::{CameraDecl, Config};
use crate::live::ws::WsSettings;
use crate::metrics::Metrics;
use crate::parking::lot::LotError;
use crate::stages::Stages;
use crate::storage::db::{Db, DbError};
use crate::storage::images::StoreError;
use crate::tools::sim;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Lot(#[from] LotError),
    #[error("camera {camera} declared in the config: {detail}")]
    DeclaredCamera { camera: String, detail: String },
    #[error("image store: {0}")]
    Images(#[from] StoreError),
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
    #[error("detector: {0}")]
    Detector(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("accounts: {0}")]
    Auth(#[from] crate::auth::setup::SetupError),
}

/// How long a stop waits for the analyses under way, the slot actors and the archive together.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// Runs the server on the current actix system until it is told to stop (SIGINT, SIGTERM).
/// `on_listening` is called with the address actually bound (the port may have been 0).
pub async fn run(
    mut config: Config,
    database_url: &str,
    replay: Option<ReplaySetup>,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<(), AppError> {
    let _replay_server = match replay {
        // The demo camera is a convenience: without its frames the server still runs.
        Some(setup) if config.cameras.is_empty() => match start_replay(&setup) {
            Ok((decl, server)) => {
                config.cameras.push(decl);
                Some(server)
            }
            Err(e) => {
                tracing::error!(error = %e, "the replayed camera cannot start; serving without it");
                None
            }
        },
        _ => None,
    };
    let config = Arc::new(config);
    let db =
        Db::connect(database_url, config.database.pool_size, Duration::from_secs(config.database.acquire_timeout_s))?;
    db.ping().await?;
    let metrics = Metrics::new();
    let node = config.cluster.node_name();
    let cluster =
        Cluster::new(node.clone(), Duration::from_secs_f64(config.cluster.lease_ttl_s), db.clone(), metrics.clone());
    let first_admin = crate::auth::setup::first_admin(&db, &config.auth).await?;
    crate::auth::setup::declare_tokens(&db, &config.auth).await?;
    crate::auth::setup::sweep_sessions(db.clone(), &config.auth, cluster.clone());
    let auth = web::Data::new(
        Auth::new(db.clone(), config.auth.clone(), config.server.allowed_origins.clone()).with_cluster(cluster.clone()),
    );
    if !config.auth.enabled {
        tracing::warn!(
            "auth.enabled = false: anyone who reaches the port is an admin; only behind a proxy that authenticates"
        );
    }
    let stages = Stages::start(&config, &db, &metrics, &cluster).await?;
    let state = web::Data::new(AppState {
        cluster: cluster.clone(),
        keeper: stages.keeper.clone(),
        lot: stages.lot.clone(),
        cameras: stages.cameras.clone(),
        archive: stages.archive.clone(),
        images: stages.images.clone(),
        db,
        metrics: metrics.clone(),
        config: config.clone(),
        sightings: stages.sightings.clone(),
        detecting: stages.watch.is_some(),
    });
    let ws_settings = web::Data::new(WsSettings {
        broadcaster: stages.broadcaster.clone(),
        heartbeat: Duration::from_secs(config.live.heartbeat_interval_s.max(1)),
        timeout: Duration::from_secs(config.live.client_timeout_s.max(2)),
    });
    let routes_config = config.clone();
    let auth_for_listener = auth.clone();
    let listener_metrics = metrics.clone();
    let mut server = HttpServer::new(move || {
        let metrics = metrics.clone();
        let routes_config = routes_config.clone();
        App::new()
            .app_data(state.clone())
            .app_data(ws_settings.clone())
            .app_data(auth.clone())
            .wrap(from_fn(crate::auth::guard::guard))
            .wrap(api::json_errors())
            .wrap_fn(move |req, srv| {
                let done = api::record(&req, &metrics);
                srv.call(req).map(move |res| {
                    match &res {
                        Ok(r) => done(r.status().as_u16()),
                        Err(e) => done(e.as_response_error().status_code().as_u16()),
                    }
                    res
                })
            })
            .wrap(Condition::new(!routes_config.server.allowed_origins.is_empty(), cors(&routes_config)))
            .configure(|cfg| crate::dashboard::configure(cfg, &routes_config))
            .configure(move |cfg| api::configure(cfg, &routes_config))
    })
    .bind((config.server.host.as_str(), config.server.port))?
    .disable_signals()
    .shutdown_timeout(10);
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let Some(addr) = server.addrs().first().copied() else {
        return Err(AppError::Config("the HTTP server is bound to no address".into()));
    };
    cluster.set_advertise_url(
        config.cluster.advertise_url.clone().unwrap_or_else(|| default_url(&config.server.host, addr.port(), &node)),
    );
    // The leases and the other replicas' notices, once this replica can be reached.
    actix_web::rt::spawn(stages.keeper.clone().run());
    actix_web::rt::spawn(
        Listener {
            url: database_url.to_string(),
            cluster: cluster.clone(),
            keeper: stages.keeper.clone(),
            lot: stages.lot.clone(),
            auth: auth_for_listener,
            metrics: listener_metrics,
        }
        .run(),
    );
    on_listening(addr);
    if let Some(admin) = first_admin {
        match admin.generated_password {
            // Standard output only, once: never the log, which is kept and shipped.
            Some(p) => {
                println!("smartpark first sign-in: user admin, password {p} (shown this once; change it under Users)")
            }
            None => println!("smartpark first sign-in: user admin, with the configured auth.admin_password"),
        }
    }
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        match stop_signal().await {
            Ok(name) => tracing::info!(signal = name, "shutting down"),
            Err(e) => tracing::error!(error = %e, "cannot listen for signals; shutting down"),
        }
        // The stages stop in reverse, while HTTP still answers (pushes with 503), then HTTP
        // drains; the private PostgreSQL is stopped by the caller once this returns.
        stages.stop(STOP_DEADLINE).await;
        handle.stop(true).await;
    });
    server.await?;
    tracing::info!("HTTP server stopped");
    Ok(())
}

/// Cross-origin calls, for the pages of `server.allowed_origins` only (with credentials, so a
/// dashboard served elsewhere can sign in). Without listed origins CORS stays off.
fn cors(config: &Config) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([actix_web::http::header::AUTHORIZATION, actix_web::http::header::CONTENT_TYPE])
        .supports_credentials()
        .max_age(600);
    for origin in &config.server.allowed_origins {
        cors = cors.allowed_origin(origin.trim_end_matches('/'));
    }
    cors
}

/// Waits for SIGINT or SIGTERM (what a terminal and a container runtime send).
async fn stop_signal() -> std::io::Result<&'static str> {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => Ok("SIGTERM"),
        _ = int.recv() => Ok("SIGINT"),
    }
}

/// The demo's camera: recorded frames served as an ESP32-style MJPEG stream in this process.
pub struct ReplaySetup {
    pub dirs: Vec<std::path::PathBuf>,
    pub fps: f64,
}

/// The camera id the replayed camera gets.
pub const REPLAY_CAMERA: &str = "replay";

fn start_replay(setup: &ReplaySetup) -> Result<(CameraDecl, actix_web::dev::ServerHandle), AppError> {
    let fail = |detail: String| AppError::DeclaredCamera { camera: REPLAY_CAMERA.into(), detail };
    let frames = sim::load_frames(&setup.dirs).map_err(|e| fail(format!("{e:#}")))?;
    let replay = sim::Replay::new(frames, setup.fps).map_err(|e| fail(e.to_string()))?;
    let n = replay.len();
    let (addr, server) = sim::serve(replay, ([127, 0, 0, 1], 0).into())?;
    let handle = server.handle();
    actix_web::rt::spawn(server);
    // The spaces come from the first annotation beside the first folder's frames.
    let pklot = setup.dirs.first().and_then(|d| {
        let mut xmls: Vec<_> = std::fs::read_dir(d.join("bounding_boxes"))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        xmls.sort();
        xmls.into_iter().next()
    });
    let names: Vec<String> =
        setup.dirs.iter().filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
    tracing::info!(frames = n, fps = setup.fps, stream = %format!("http://{addr}/stream"), "replayed camera playing");
    let decl = CameraDecl {
        id: REPLAY_CAMERA.parse().map_err(|e| fail(format!("{e}")))?,
        name: format!("Replayed camera ({})", names.join(", ")),
        source: CameraSource::Mjpeg { url: format!("http://{addr}/stream") },
        token_file: None,
        pklot,
    };
    Ok((decl, handle))
}
