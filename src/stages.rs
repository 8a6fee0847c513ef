//! The data path's stages, built in one place in the order a frame travels and stopped in
//! reverse. Built: the dashboards' broadcaster (live), the spaces (parking), the image store and
//! the archive, the cameras, then the analyses. Stopped the way a stream topology stops (sources
//! first, then each stage once what is upstream of it has finished): take no more frames, let the
//! analyses under way finish, let the slot actors store what they hold, flush the archive, close
//! the feeds (ending stream viewers) and the dashboards (1001). A deadline bounds the whole; what it cuts short is counted and said.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::analysis::watch::{self, Sightings, Watch, Watching};
use crate::app::AppError;
use crate::archive::{self, Archive};
use crate::camera::capture::CaptureSettings;
use crate::camera::id::CameraId;
use crate::camera::registry::{token_digest, Cameras};
use crate::camera::source::CameraSource;
use crate::cluster::keeper::Keeper;
use crate::cluster::{Cluster, Notice};
use crate::config::Config;
use crate::detect::actor::Detector;
use crate::live::broadcaster::{Broadcaster, CloseAll};
use crate::live::feed::ChangeFeed;
use crate::metrics::Metrics;
use crate::parking::board::SlotBoard;
use crate::parking::lot::Lot;
use crate::parking::pklot;
use crate::storage::cameras;
use crate::storage::db::Db;
use crate::storage::images::{ImageStore, StoreKind};
use crate::storage::models::NewCamera;

pub struct Stages {
    pub cluster: Arc<Cluster>,
    /// The lease loop: `run` once the server listens (its address is advertised).
    pub keeper: Arc<Keeper>,
    pub feed: ChangeFeed,
    pub broadcaster: Addr<Broadcaster>,
    pub lot: Arc<Lot>,
    pub images: ImageStore,
    pub archive: Addr<Archive>,
    pub cameras: Arc<Cameras>,
    pub sightings: Sightings,
    /// None without detection.
    pub watch: Option<Addr<Watch>>,
}

/// What a stop could not finish before its deadline (all zero after a clean stop).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unfinished {
    pub analyses: usize,
    pub changes: usize,
    pub captures: usize,
}

impl Stages {
    pub async fn start(
        config: &Arc<Config>,
        db: &Db,
        metrics: &Metrics,
        cluster: &Arc<Cluster>,
    ) -> Result<Stages, AppError> {
        let board = Arc::new(SlotBoard::default());
        let stall_limit = Duration::from_secs(config.live.client_timeout_s);
        let broadcaster = {
            let (board, db, metrics) = (board.clone(), db.clone(), metrics.clone());
            Broadcaster::start_in_arbiter(&Arbiter::new().handle(), move |_| {
                Broadcaster::new(board, db, metrics, stall_limit)
            })
        };
        let feed = ChangeFeed::new(broadcaster.clone(), cluster.clone());
        let lot = Lot::start(db.clone(), cluster.clone(), board, feed.clone(), metrics.clone()).await?;
        let images = ImageStore::open(&config.storage, &config.data_dir).await?;
        tracing::info!(store = %images.describe(), "captures go to the image store");
        let archive = {
            let (images, db, metrics, archive_config, cluster) =
                (images.clone(), db.clone(), metrics.clone(), config.archive.clone(), cluster.clone());
            Archive::start_in_arbiter(&Arbiter::new().handle(), move |_| {
                Archive::new(images, db, metrics, archive_config, cluster)
            })
        };
        let cameras = Cameras::new(
            CaptureSettings::from_config(&config.capture).map_err(AppError::Config)?,
            feed.clone(),
            archive.clone().recipient(),
            metrics.clone(),
        );
        declare_cameras(config, db, &lot, cluster).await?;
        start_cameras(db, &cameras).await?;
        let sightings = Sightings::default();
        let watch = start_detection(config, &cameras, cluster, &lot, &archive, &sightings, metrics)?;
        let local_store = matches!(config.storage.kind, StoreKind::Local);
        let keeper =
            Keeper::new(cluster.clone(), cameras.clone(), feed.clone(), db.clone(), metrics.clone(), local_store);
        Ok(Stages {
            cluster: cluster.clone(),
            keeper,
            feed,
            broadcaster,
            lot,
            images,
            archive,
            cameras,
            sightings,
            watch,
        })
    }

    /// Stops the stages in reverse, within `deadline` in all.
    pub async fn stop(&self, deadline: Duration) -> Unfinished {
        let started = Instant::now();
        let left = || deadline.saturating_sub(started.elapsed());
        self.cameras.stop_taking();
        let mut unfinished = Unfinished::default();
        if let Some(watch) = &self.watch {
            unfinished.analyses = watch.send(watch::Drain { deadline: left() }).await.unwrap_or(0);
        }
        unfinished.changes = self.lot.drain().await;
        unfinished.captures = self.archive.send(archive::Drain { deadline: left() }).await.unwrap_or(0);
        // What this replica wrote under its leases is stored: the others may take them now.
        self.keeper.release_all().await;
        self.cameras.close();
        let _ = self.broadcaster.send(CloseAll).await;
        let took_ms = started.elapsed().as_millis() as u64;
        if unfinished == Unfinished::default() {
            tracing::info!(took_ms, "pipeline drained: every accepted frame kept, every confirmed change stored");
        } else {
            tracing::error!(
                took_ms,
                analyses = unfinished.analyses,
                changes = unfinished.changes,
                captures = unfinished.captures,
                "pipeline stopped with work unfinished (lost)"
            );
        }
        unfinished
    }
}

/// Knows every stored camera; the lease loop starts the captures of those this replica owns.
async fn start_cameras(db: &Db, registry: &Cameras) -> Result<(), AppError> {
    let rows = {
        let mut conn = db.conn().await?;
        cameras::list(&mut conn).await?
    };
    for (row, _) in rows {
        let id: CameraId = match row.id.parse() {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(camera = row.id, error = %e, "stored camera id is invalid; not started");
                continue;
            }
        };
        match serde_json::from_value::<CameraSource>(row.source) {
            Ok(source) => registry.run(&id, source, row.token_sha256),
            Err(e) => tracing::error!(camera = %id, error = %e, "stored camera source is unreadable; not started"),
        }
    }
    Ok(())
}

/// Cameras named in the config file exist after start, with the spaces of their PKLot file.
async fn declare_cameras(config: &Config, db: &Db, lot: &Lot, cluster: &Cluster) -> Result<(), AppError> {
    for decl in &config.cameras {
        let fail = |detail: String| AppError::DeclaredCamera { camera: decl.id.to_string(), detail };
        decl.source.check().map_err(fail)?;
        let digest = match &decl.token_file {
            Some(path) => {
                let token = std::fs::read_to_string(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
                let token = token.trim();
                if token.len() < 16 {
                    return Err(fail(format!("{}: a device token needs at least 16 characters", path.display())));
                }
                Some(token_digest(token))
            }
            None => None,
        };
        {
            let source = serde_json::to_value(&decl.source).map_err(|e| fail(e.to_string()))?;
            let new = NewCamera { id: &decl.id, name: &decl.name, source, token_sha256: digest.as_deref() };
            let mut conn = db.conn().await?;
            cameras::upsert(&mut conn, &new).await?;
            cluster.notify(Notice::Camera { id: decl.id.to_string() });
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

/// Starts the detector and the occupancy step of every camera. Without the model file the
/// server runs on (spaces change by hand and by sensors) and says why; a model that is there
/// but cannot be used is an error.
fn start_detection(
    config: &Config,
    cameras: &Arc<Cameras>,
    cluster: &Arc<Cluster>,
    lot: &Arc<Lot>,
    archive: &Addr<Archive>,
    sightings: &Sightings,
    metrics: &Metrics,
) -> Result<Option<Addr<Watch>>, AppError> {
    let model = &config.detect.model;
    if !config.detect.enabled {
        tracing::info!("detection is off (detect.enabled = false)");
        return Ok(None);
    }
    config.detect.check(&config.occupancy).map_err(AppError::Detector)?;
    if !model.is_file() {
        tracing::warn!(model = %model.display(), "no detection model there (`make models` writes one); spaces change only through the API");
        return Ok(None);
    }
    let detector = Detector::start(&config.detect, metrics.clone()).map_err(AppError::Detector)?;
    let watching = Watching {
        cameras: cameras.clone(),
        cluster: cluster.clone(),
        board: lot.board().clone(),
        lot: lot.clone(),
        archive: archive.clone(),
        detector,
        config: config.detect.clone(),
        occupancy: config.occupancy.clone(),
        sightings: sightings.clone(),
        metrics: metrics.clone(),
    };
    Ok(Some(Watch::start_in_arbiter(&Arbiter::new().handle(), move |_| Watch::new(watching))))
}
