//! The lot: which spaces exist and the address of each one's actor. Creating, reshaping and
//! deleting spaces goes through here so the database, the actors and the board stay in step.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use chrono::DateTime;
use parking_lot::RwLock;

use super::board::SlotBoard;
use super::geometry::Polygon;
use super::pklot::PklotSpace;
use super::slot::{Adopt, Drain, Observe, Observed, Reshape, Retire, SlotActor, SlotError};
use super::state::{SlotState, SlotView};
use crate::cluster::{Cluster, Notice};
use crate::live::feed::ChangeFeed;
use crate::metrics::Metrics;
use crate::storage::db::{Db, DbError};
use crate::storage::models::SlotRow;
use crate::storage::{cameras, slots};
use diesel::result::DatabaseErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum LotError {
    #[error("no space with id {0}")]
    NoSuchSlot(i64),
    #[error("no camera with id {0:?}")]
    NoSuchCamera(String),
    #[error(transparent)]
    Slot(#[from] SlotError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the space's actor is gone")]
    ActorGone,
    #[error("stored row is unreadable: {0}")]
    Corrupt(String),
}

pub struct Lot {
    db: Db,
    cluster: Arc<Cluster>,
    board: Arc<SlotBoard>,
    feed: ChangeFeed,
    metrics: Metrics,
    /// Slot actors run on an arbiter of their own, away from the HTTP workers.
    arbiter: ArbiterHandle,
    actors: RwLock<HashMap<i64, Addr<SlotActor>>>,
}

pub(super) fn view_from_row(row: SlotRow, session: Option<(i64, DateTime<chrono::Utc>)>) -> Result<SlotView, LotError> {
    let polygon: Polygon =
        serde_json::from_value(row.polygon).map_err(|e| LotError::Corrupt(format!("slot {}: polygon: {e}", row.id)))?;
    let state: SlotState = row.state.parse().map_err(|e: String| LotError::Corrupt(format!("slot {}: {e}", row.id)))?;
    Ok(SlotView {
        id: row.id,
        camera_id: row.camera_id,
        label: row.label,
        state,
        since: row.since,
        // An unreadable source is only shown as none: it decides nothing but the hand hold.
        source: row.source.as_deref().and_then(|s| s.parse().ok()),
        actor: row.actor,
        polygon,
        session_id: session.map(|(id, _)| id),
        session_started_at: session.map(|(_, t)| t),
        held: None,
        version: row.version,
    })
}

impl Lot {
    /// Rebuilds every space from the database: states, and the parking sessions still open.
    pub async fn start(
        db: Db,
        cluster: Arc<Cluster>,
        board: Arc<SlotBoard>,
        feed: ChangeFeed,
        metrics: Metrics,
    ) -> Result<Arc<Lot>, LotError> {
        let arbiter = Arbiter::new().handle();
        let lot = Arc::new(Lot { db, cluster, board, feed, metrics, arbiter, actors: RwLock::new(HashMap::new()) });
        let mut conn = lot.db.conn().await?;
        let rows = slots::load_all(&mut conn).await?;
        let n = rows.len();
        for (row, session) in rows {
            lot.spawn(view_from_row(row, session.map(|s| (s.id, s.started_at)))?);
        }
        tracing::info!(spaces = n, "lot restored from the database");
        Ok(lot)
    }

    pub fn board(&self) -> &Arc<SlotBoard> {
        &self.board
    }

    fn spawn(&self, view: SlotView) -> Arc<SlotView> {
        let id = view.id;
        let view = Arc::new(view);
        // On the board at once, so the answer to a create is visible to the next read.
        self.board.put(view.clone());
        let (db, board, feed, metrics) = (self.db.clone(), self.board.clone(), self.feed.clone(), self.metrics.clone());
        let initial = (*view).clone();
        let notice = self.cluster.payload(Notice::Slot { id });
        let addr = SlotActor::start_in_arbiter(&self.arbiter, move |_| {
            SlotActor::new(initial, db, board, feed, metrics, notice)
        });
        self.actors.write().insert(id, addr);
        view
    }

    fn actor(&self, id: i64) -> Result<Addr<SlotActor>, LotError> {
        self.actors.read().get(&id).cloned().ok_or(LotError::NoSuchSlot(id))
    }

    /// The server is stopping: every space stores what it still holds (changes wait behind the
    /// ones under way, each actor handles one at a time). Answers how many changes could not be
    /// stored (the database is out) and are lost.
    pub async fn drain(&self) -> usize {
        let actors: Vec<Addr<SlotActor>> = self.actors.read().values().cloned().collect();
        let answers = futures_util::future::join_all(actors.iter().map(|a| a.send(Drain))).await;
        answers.into_iter().map(|r| r.unwrap_or(0)).sum()
    }

    pub async fn observe(&self, id: i64, observation: Observe) -> Result<Observed, LotError> {
        Ok(self.actor(id)?.send(observation).await.map_err(|_| LotError::ActorGone)??)
    }

    pub async fn reshape(
        &self,
        id: i64,
        label: Option<String>,
        polygon: Option<Polygon>,
    ) -> Result<Arc<SlotView>, LotError> {
        let view = self.actor(id)?.send(Reshape { label, polygon }).await.map_err(|_| LotError::ActorGone)??;
        self.cluster.notify(Notice::Slot { id });
        Ok(view)
    }

    /// Another replica changed, created or deleted the space: this one reads it back.
    pub async fn refresh(&self, id: i64) -> Result<(), LotError> {
        let found = {
            let mut conn = self.db.conn().await?;
            slots::load_one(&mut conn, id).await?
        };
        match found {
            Some((row, session)) => self.adopt(view_from_row(row, session.map(|s| (s.id, s.started_at)))?),
            None => self.forget(id).await,
        }
        Ok(())
    }

    fn adopt(&self, view: SlotView) {
        let addr = self.actors.read().get(&view.id).cloned();
        match addr {
            Some(addr) => addr.do_send(Adopt(view)),
            None => {
                let view = self.spawn(view);
                self.feed.slot_changed(view, false);
            }
        }
    }

    /// A space deleted elsewhere: its actor goes, and it leaves the board and the dashboards.
    async fn forget(&self, id: i64) {
        let addr = self.actors.write().remove(&id);
        if let Some(addr) = addr {
            let _ = addr.send(Retire).await;
        }
    }

    /// Reads every space again (after this replica missed notices): adopts what changed, adds
    /// what is new, drops what is gone. Answers how many spaces there are.
    pub async fn resync(&self) -> Result<usize, LotError> {
        let rows = {
            let mut conn = self.db.conn().await?;
            slots::load_all(&mut conn).await?
        };
        let mut present = std::collections::HashSet::new();
        for (row, session) in rows {
            present.insert(row.id);
            self.adopt(view_from_row(row, session.map(|s| (s.id, s.started_at)))?);
        }
        let gone: Vec<i64> = self.actors.read().keys().filter(|id| !present.contains(id)).copied().collect();
        for id in gone {
            self.forget(id).await;
        }
        Ok(present.len())
    }

    /// A camera deleted elsewhere: its spaces went with it.
    pub async fn forget_camera(&self, camera_id: &str) {
        let ids: Vec<i64> = self.board.list().iter().filter(|v| v.camera_id == camera_id).map(|v| v.id).collect();
        for id in ids {
            self.forget(id).await;
        }
    }

    pub async fn create_slot(&self, camera_id: &str, label: &str, polygon: Polygon) -> Result<Arc<SlotView>, LotError> {
        let mut conn = self.db.conn().await?;
        let json = serde_json::to_value(&polygon).map_err(|e| LotError::Corrupt(e.to_string()))?;
        let row = slots::insert(&mut conn, camera_id, label, json).await.map_err(|e| match e.violation() {
            Some(DatabaseErrorKind::ForeignKeyViolation) => LotError::NoSuchCamera(camera_id.to_string()),
            Some(DatabaseErrorKind::UniqueViolation) => LotError::Slot(SlotError::LabelTaken(label.to_string())),
            _ => LotError::Db(e),
        })?;
        let view = self.spawn(view_from_row(row, None)?);
        self.feed.slot_changed(view.clone(), false);
        self.cluster.notify(Notice::Slot { id: view.id });
        Ok(view)
    }

    /// Creates the file's spaces on the camera; a space whose label exists already moves to the
    /// file's polygon and keeps its state and history.
    pub async fn import(&self, camera_id: &str, spaces: Vec<PklotSpace>) -> Result<Vec<Arc<SlotView>>, LotError> {
        {
            let mut conn = self.db.conn().await?;
            if cameras::get(&mut conn, camera_id).await?.is_none() {
                return Err(LotError::NoSuchCamera(camera_id.to_string()));
            }
        }
        let mut out = Vec::with_capacity(spaces.len());
        for space in spaces {
            let existing = self
                .board
                .list()
                .into_iter()
                .find(|v| v.camera_id == camera_id && v.label == space.label)
                .map(|v| v.id);
            out.push(match existing {
                Some(id) => self.reshape(id, None, Some(space.polygon)).await?,
                None => self.create_slot(camera_id, &space.label, space.polygon).await?,
            });
        }
        Ok(out)
    }

    pub async fn delete_slot(&self, id: i64) -> Result<(), LotError> {
        let addr = self.actor(id)?;
        let mut conn = self.db.conn().await?;
        if slots::delete(&mut conn, id).await? {
            self.actors.write().remove(&id);
            let _ = addr.send(Retire).await;
            self.cluster.notify(Notice::Slot { id });
        }
        Ok(())
    }

    /// Deletes the camera with its spaces and their history; false when there was none.
    pub async fn delete_camera(&self, camera_id: &str) -> Result<bool, LotError> {
        let mut conn = self.db.conn().await?;
        if !cameras::delete(&mut conn, camera_id).await? {
            return Ok(false);
        }
        crate::storage::leases::forget(&mut conn, &crate::storage::leases::camera_lease(camera_id)).await?;
        self.forget_camera(camera_id).await;
        Ok(true)
    }
}
