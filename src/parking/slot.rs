//! `SlotActor`: one per space. It alone decides the space's state and opens and closes the
//! parking sessions in it; a change is stored first, then published.

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::board::SlotBoard;
use super::geometry::Polygon;
use super::state::{to_db_precision, SlotState, SlotView, Source};
use crate::live::feed::ChangeFeed;
use crate::metrics::Metrics;
use crate::storage::db::{Db, DbError};
use crate::storage::slots::{self, Change};

/// Something seen about the space: by a person, a sensor or the detector.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Observed, SlotError>")]
pub struct Observe {
    pub state: SlotState,
    pub source: Source,
    pub confidence: Option<f32>,
    pub at: DateTime<Utc>,
    pub capture_id: Option<i64>,
    /// The user or token that reported it (none for the detector).
    pub actor: Option<String>,
    /// Why, when the source alone does not say.
    pub reason: Option<String>,
    /// `at` is the reporter's own time for what it saw (a sensor's `observed_at`): one older than
    /// the space's state is refused rather than moved. Otherwise the change is taken as happening
    /// now, and a clock that stepped back only keeps it in order.
    pub reported_time: bool,
}

#[derive(Debug, Clone)]
pub struct Observed {
    pub view: Arc<SlotView>,
    /// False when the space was already in that state: nothing was written.
    pub changed: bool,
}

/// A new label or polygon for the space.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Arc<SlotView>, SlotError>")]
pub struct Reshape {
    pub label: Option<String>,
    pub polygon: Option<Polygon>,
}

/// The space was deleted: stop, and take it off the board and the dashboards.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Retire;

#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the observation at {at} is older than the space's current state (since {since})")]
    Stale { at: DateTime<Utc>, since: DateTime<Utc> },
    #[error("a space with label {0:?} already exists on this camera")]
    LabelTaken(String),
}

pub struct SlotActor {
    view: Arc<SlotView>,
    db: Db,
    board: Arc<SlotBoard>,
    feed: ChangeFeed,
    metrics: Metrics,
}

impl SlotActor {
    pub fn new(view: SlotView, db: Db, board: Arc<SlotBoard>, feed: ChangeFeed, metrics: Metrics) -> SlotActor {
        SlotActor { view: Arc::new(view), db, board, feed, metrics }
    }

    fn publish(&mut self, view: SlotView, sessions_moved: bool) -> Arc<SlotView> {
        let view = Arc::new(view);
        self.view = view.clone();
        self.board.put(view.clone());
        self.feed.slot_changed(view.clone(), sessions_moved);
        view
    }
}

/// The Lot puts a new actor's first view on the board itself, before the actor runs, so that a
/// space is readable the moment its creation is answered.
impl Actor for SlotActor {
    type Context = Context<Self>;
}

impl Handler<Observe> for SlotActor {
    type Result = AtomicResponse<Self, Result<Observed, SlotError>>;

    fn handle(&mut self, msg: Observe, _: &mut Context<Self>) -> Self::Result {
        let current = self.view.clone();
        if msg.state == current.state {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(Observed { view: current, changed: false }))));
        }
        if msg.source == Source::Detector && current.source == Some(Source::Manual) && msg.at < current.since {
            // The models judged a frame taken before a person corrected the space: it does not
            // undo the correction.
            return AtomicResponse::new(Box::pin(fut::ready(Ok(Observed { view: current, changed: false }))));
        }
        // Never ahead of this clock: a state dated in the future would make every later change
        // look older than it and be refused until the clock caught up.
        let mut at = to_db_precision(msg.at.min(Utc::now()));
        if at < current.since {
            if msg.reported_time {
                return AtomicResponse::new(Box::pin(fut::ready(Err(SlotError::Stale { at, since: current.since }))));
            }
            at = current.since;
        }
        let change = Change {
            slot_id: current.id,
            at,
            from: current.state,
            to: msg.state,
            source: msg.source,
            confidence: msg.confidence,
            capture_id: msg.capture_id,
            actor: msg.actor.clone(),
            reason: msg.reason.clone(),
            open_session: current.session_id.zip(current.session_started_at),
        };
        let db = self.db.clone();
        // Atomic: no other message is handled until this change is stored and published, so
        // changes to one space are applied strictly one after another.
        AtomicResponse::new(Box::pin(
            async move {
                let mut conn = db.conn().await?;
                Ok::<_, SlotError>(slots::record_change(&mut conn, change).await?)
            }
            .into_actor(self)
            .map(move |result, act, _| {
                let open = result?;
                let before = act.view.session_id;
                let view = SlotView {
                    state: msg.state,
                    since: at,
                    source: Some(msg.source),
                    actor: msg.actor.clone(),
                    session_id: open.map(|(id, _)| id),
                    session_started_at: open.map(|(_, t)| t),
                    ..(*act.view).clone()
                };
                act.metrics.slot_changes.with_label_values(&[msg.source.as_str(), msg.state.as_str()]).inc();
                tracing::info!(slot = view.id, camera = %view.camera_id, state = %view.state, source = msg.source.as_str(), "space changed");
                let moved = before != view.session_id;
                Ok(Observed { view: act.publish(view, moved), changed: true })
            }),
        ))
    }
}

impl Handler<Reshape> for SlotActor {
    type Result = AtomicResponse<Self, Result<Arc<SlotView>, SlotError>>;

    fn handle(&mut self, msg: Reshape, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let id = self.view.id;
        let polygon_json = msg.polygon.as_ref().map(|p| serde_json::to_value(p).unwrap_or_default());
        let label = msg.label.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let mut conn = db.conn().await?;
                slots::update_geometry(&mut conn, id, label.as_deref(), polygon_json).await.map_err(|e| {
                    match (e.violation(), label) {
                        (Some(diesel::result::DatabaseErrorKind::UniqueViolation), Some(l)) => SlotError::LabelTaken(l),
                        _ => SlotError::Db(e),
                    }
                })
            }
            .into_actor(self)
            .map(move |result, act, _| {
                result?;
                let mut view = (*act.view).clone();
                if let Some(l) = msg.label {
                    view.label = l;
                }
                if let Some(p) = msg.polygon {
                    view.polygon = p;
                }
                Ok(act.publish(view, false))
            }),
        ))
    }
}

impl Handler<Retire> for SlotActor {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        self.board.remove(self.view.id);
        self.feed.slot_removed(self.view.id);
        ctx.stop();
    }
}
