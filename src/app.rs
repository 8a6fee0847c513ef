//! Wires the pool, the actors and the HTTP server together and runs them until a signal.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::Service;
use actix_web::{web, App, HttpServer};
use futures_util::FutureExt;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::live::broadcaster::{Broadcaster, CloseAll};
use crate::live::feed::ChangeFeed;
use crate::live::ws::WsSettings;
use crate::metrics::Metrics;
use crate::parking::board::SlotBoard;
use crate::parking::lot::{Lot, LotError};
use crate::parking::pklot;
use crate::storage::cameras;
use crate::storage::db::{Db, DbError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Lot(#[from] LotError),
    #[error("camera {camera} declared in the config: {detail}")]
    DeclaredCamera { camera: String, detail: String },
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
}

/// Runs the server on the current actix system until it is told to stop (SIGINT, SIGTERM).
/// `on_listening` is called with the address actually bound (the port may have been 0).
pub async fn run(
    config: Config,
    database_url: &str,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<(), AppError> {
    let config = Arc::new(config);
    let db =
        Db::connect(database_url, config.database.pool_size, Duration::from_secs(config.database.acquire_timeout_s))?;
    db.ping().await?;
    let metrics = Metrics::new();
    let board = Arc::new(SlotBoard::default());
    let stall_limit = Duration::from_secs(config.live.client_timeout_s);
    let broadcaster = {
        let (board, db, metrics) = (board.clone(), db.clone(), metrics.clone());
        Broadcaster::start_in_arbiter(&Arbiter::new().handle(), move |_| {
            Broadcaster::new(board, db, metrics, stall_limit)
        })
    };
    let feed = ChangeFeed::new(broadcaster.clone());
    let lot = Lot::start(db.clone(), board.clone(), feed, metrics.clone()).await?;
    declare_cameras(&config, &db, &lot).await?;

    let state = web::Data::new(AppState { lot, db, metrics: metrics.clone(), config: config.clone() });
    let ws_settings = web::Data::new(WsSettings {
        broadcaster: broadcaster.clone(),
        heartbeat: Duration::from_secs(config.live.heartbeat_interval_s.max(1)),
        timeout: Duration::from_secs(config.live.client_timeout_s.max(2)),
    });
    let routes_config = config.clone();
    let mut server = HttpServer::new(move || {
        let metrics = metrics.clone();
        let routes_config = routes_config.clone();
        App::new()
            .app_data(state.clone())
            .app_data(ws_settings.clone())
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
            .configure(move |cfg| api::configure(cfg, &routes_config))
    })
    .bind((config.server.host.as_str(), config.server.port))?
    .disable_signals()
    .shutdown_timeout(10);
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    if let Some(addr) = server.addrs().first() {
        on_listening(*addr);
    }
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        match stop_signal().await {
            Ok(name) => tracing::info!(signal = name, "shutting down"),
            Err(e) => tracing::error!(error = %e, "cannot listen for signals; shutting down"),
        }
        // Dashboards are told first, so they do not hold the graceful stop for its whole timeout.
        let _ = broadcaster.send(CloseAll).await;
        handle.stop(true).await;
    });
    server.await?;
    tracing::info!("HTTP server stopped");
    Ok(())
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

/// Cameras named in the config file exist after start, with the spaces of their PKLot file.
async fn declare_cameras(config: &Config, db: &Db, lot: &Lot) -> Result<(), AppError> {
    for decl in &config.cameras {
        let fail = |detail: String| AppError::DeclaredCamera { camera: decl.id.to_string(), detail };
        {
            let mut conn = db.conn().await?;
            cameras::upsert(&mut conn, &decl.id, &decl.name).await?;
        }
        if let Some(path) = &decl.pklot {
            let xml = std::fs::read_to_string(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
            let spaces = pklot::parse(&xml).map_err(|e| fail(format!("{}: {e}", path.display())))?;
            let n = lot.import(&decl.id, spaces).await?.len();
            tracing::info!(camera = %decl.id, spaces = n, "declared camera ready");
        }
    }
    Ok(())
}
