//! `SlotActor`: one per space. It alone decides the space's state and opens and closes the
//! parking sessions in it; a change is stored first, then published.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::board::SlotBoard;
use super::geometry::Polygon;
use super::lot::view_from_row;
use super::state::{to_db_precision, SlotState, SlotView, Source};
use crate::live::feed::ChangeFeed;
use crate::metrics::Metrics;
use crate::storage::db::{Db, DbError};
use crate::storage::leases::Fence;
use crate::storage::slots::{self, Change, Recorded};

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
    /// For what the camera's owner saw (detector, camera): the lease it owned the camera by.
    /// The database refuses the change once that lease has passed to another replica.
    pub fence: Option<Fence>,
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
    /// The change came from owning a camera whose lease this replica has lost.
    #[error("this replica no longer owns the camera (its lease passed to another replica)")]
    Fenced,
    #[error("the space keeps changing under this change; try again")]
    Busy,
    #[error("the space was deleted")]
    Gone,
    #[error("stored row is unreadable: {0}")]
    Corrupt(String),
}

impl SlotError {
    /// The database is out: the same change may be stored later.
    pub fn is_outage(&self) -> bool {
        matches!(self, SlotError::Db(e) if e.is_outage())
    }
}

pub struct SlotActor {
    view: Arc<SlotView>,
    db: Db,
    board: Arc<SlotBoard>,
    feed: ChangeFeed,
    metrics: Metrics,
    /// Changes the camera made while the database was out, oldest first, to be stored in order
    /// with their own times when it returns.
    held: VecDeque<Observe>,
    /// Failed attempts to store `held` in a row (the retry waits longer each time).
    retries: u32,
    flush_scheduled: bool,
    /// What the other replicas are told when this space changes.
    notice: String,
}

/// Changes one space holds for the database at most; beyond, the oldest is let go. At one change
/// per `confirm` analyses this is minutes of a busy space's history.
const HELD_LIMIT: usize = 64;

/// Stores what is held (sent to itself while changes wait for the database).
#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

/// Until the database answers again: stores `held`, at once if nothing waits, or says why not.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct Drain;

impl SlotActor {
    pub fn new(
        view: SlotView,
        db: Db,
        board: Arc<SlotBoard>,
        feed: ChangeFeed,
        metrics: Metrics,
        notice: String,
    ) -> SlotActor {
        SlotActor {
            notice,
            view: Arc::new(view),
            db,
            board,
            feed,
            metrics,
            held: VecDeque::new(),
            retries: 0,
            flush_scheduled: false,
        }
    }

    fn publish(&mut self, view: SlotView, sessions_moved: bool) -> Arc<SlotView> {
        let view = Arc::new(view);
        self.view = view.clone();
        self.board.put(view.clone());
        self.feed.slot_changed(view.clone(), sessions_moved);
        view
    }

    /// The state and time the space will have once what is held is stored.
    fn latest(&self) -> (SlotState, DateTime<Utc>) {
        self.held.back().map(|h| (h.state, h.at)).unwrap_or((self.view.state, self.view.since))
    }

    fn hold(&mut self, observations: impl IntoIterator<Item = Observe>, ctx: &mut Context<Self>) {
        for o in observations {
            if self.held.len() >= HELD_LIMIT {
                let lost = self.held.pop_front();
                self.metrics.changes_held.dec();
                tracing::error!(
                    slot = self.view.id,
                    ?lost,
                    "too many changes held for the database; the oldest is lost"
                );
            }
            self.held.push_back(o);
            self.metrics.changes_held.inc();
        }
        if self.retries == 0 {
            tracing::warn!(slot = self.view.id, held = self.held.len(), "database out: the space's changes are held");
        }
        // Readers that judge against the space's state (the analyses) see where it is going;
        // the dashboards keep the last stored state until it is stored.
        let held = self.held.back().map(|h| h.state);
        self.board.put(Arc::new(SlotView { held, ..(*self.view).clone() }));
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            let delay = Duration::from_millis(500 * 2u64.pow(self.retries.min(3)));
            self.retries = self.retries.saturating_add(1);
            ctx.run_later(delay, |_, ctx| ctx.notify(Flush));
        }
    }

    /// Stores `pending` after what is held, in order, each from the state the one before left;
    /// publishes each as it is stored. A row that moved on (another replica changed the space)
    /// is read back and adopted, and the change is judged again from it. What could not be
    /// stored comes back with the error.
    ///
    /// With `verify`, a change that would change nothing here is checked against the stored
    /// row first: another replica may have moved the space, and "unchanged" must be true of the
    /// database, not of this replica's memory.
    fn store(&mut self, pending: Vec<Observe>, verify: bool) -> impl ActorFuture<Self, Output = Stored> + use<> {
        let mut queue: Vec<Observe> = self.held.drain(..).collect();
        self.metrics.changes_held.sub(queue.len() as i64);
        queue.extend(pending);
        let db = self.db.clone();
        let notice = self.notice.clone();
        let start = (*self.view).clone();
        async move {
            let mut out = Stored { views: Vec::new(), adopted: None, left: Vec::new(), error: None, last: None };
            let mut view = start;
            let mut conn = match db.conn().await {
                Ok(c) => c,
                Err(e) => {
                    out.left = queue;
                    out.error = Some(SlotError::Db(e));
                    return out;
                }
            };
            let mut rest = queue.into_iter();
            let mut moves = 0;
            let mut verified = !verify;
            let mut next = rest.next();
            while let Some(mut o) = next.take() {
                if o.state == view.state || overruled(&o, &view) {
                    if !verified {
                        verified = true;
                        match slots::load_one(&mut conn, view.id).await {
                            Ok(Some((row, session))) if row.version != view.version => {
                                match view_from_row(row, session.map(|s| (s.id, s.started_at))) {
                                    Ok(fresh) => {
                                        view = fresh;
                                        out.adopted = Some(view.clone());
                                        next = Some(o);
                                        continue;
                                    }
                                    Err(e) => tracing::error!(slot = view.id, error = %e, "stored row unreadable"),
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                out.left = std::iter::once(o).chain(rest).collect();
                                out.error = Some(SlotError::Db(e));
                                return out;
                            }
                        }
                    }
                    next = rest.next();
                    continue;
                }
                if o.at < view.since {
                    if o.reported_time {
                        out.left = std::iter::once(o.clone()).chain(rest).collect();
                        out.error = Some(SlotError::Stale { at: o.at, since: view.since });
                        return out;
                    }
                    o.at = view.since;
                }
                let change = Change {
                    slot_id: view.id,
                    at: o.at,
                    from: view.state,
                    to: o.state,
                    source: o.source,
                    confidence: o.confidence,
                    capture_id: o.capture_id,
                    actor: o.actor.clone(),
                    reason: o.reason.clone(),
                    version: view.version,
                    fence: o.fence.clone(),
                    notice: notice.clone(),
                };
                let recorded = slots::record_change(&mut conn, change).await;
                let failed = match recorded {
                    Ok(Recorded::Stored { version, open }) => {
                        let moved = view.session_id != open.map(|(id, _)| id);
                        view = SlotView {
                            state: o.state,
                            since: o.at,
                            source: Some(o.source),
                            actor: o.actor.clone(),
                            session_id: open.map(|(id, _)| id),
                            session_started_at: open.map(|(_, t)| t),
                            held: None,
                            version,
                            ..view
                        };
                        out.views.push((view.clone(), moved));
                        next = rest.next();
                        continue;
                    }
                    Ok(Recorded::Moved) if moves < MOVED_RETRIES => {
                        moves += 1;
                        match slots::load_one(&mut conn, view.id).await {
                            Ok(Some((row, session))) => match view_from_row(row, session.map(|s| (s.id, s.started_at))) {
                                Ok(fresh) => {
                                    view = fresh;
                                    out.adopted = Some(view.clone());
                                    next = Some(o);
                                    continue;
                                }
                                Err(e) => SlotError::Corrupt(e.to_string()),
                            },
                            Ok(None) => SlotError::Gone,
                            Err(e) => SlotError::Db(e),
                        }
                    }
                    Ok(Recorded::Moved) => SlotError::Busy,
                    Ok(Recorded::Fenced) => SlotError::Fenced,
                    Err(e) => SlotError::Db(e),
                };
                out.left = std::iter::once(o).chain(rest).collect();
                out.error = Some(failed);
                return out;
            }
            out
        }
        .into_actor(self)
        .map(|mut out, act, _| {
            let mut last = None;
            // In the order they were stored: an adopted row may come between the actor's own.
            let mut published: Vec<(SlotView, Option<bool>)> =
                out.views.iter().map(|(v, moved)| (v.clone(), Some(*moved))).collect();
            if let Some(adopted) = out.adopted.take() {
                published.push((adopted, None));
            }
            published.sort_by_key(|(v, _)| v.version);
            for (view, stored) in published {
                match stored {
                    Some(moved) => {
                        let source = view.source.map_or("", |s| s.as_str());
                        act.metrics.slot_changes.with_label_values(&[source, view.state.as_str()]).inc();
                        tracing::info!(slot = view.id, camera = %view.camera_id, state = %view.state, source, "space changed");
                        last = Some(act.publish(view, moved));
                    }
                    None if view.version > act.view.version => {
                        tracing::info!(slot = view.id, state = %view.state, "space changed on another replica; adopted");
                        let moved = act.view.session_id != view.session_id;
                        last = Some(act.publish(view, moved));
                    }
                    None => {}
                }
            }
            if matches!(out.error, Some(SlotError::Fenced)) {
                act.metrics.fenced_writes.inc();
            }
            out.last = last;
            out
        })
    }
}

/// How many times one change is judged again after the row moved under it.
const MOVED_RETRIES: u32 = 3;

/// What `store` did: the views it stored (and whether each moved a stay), the newest one it
/// adopted, what is left unstored and why.
struct Stored {
    views: Vec<(SlotView, bool)>,
    adopted: Option<SlotView>,
    left: Vec<Observe>,
    error: Option<SlotError>,
    last: Option<Arc<SlotView>>,
}

impl Stored {
    fn views_empty(&self) -> bool {
        self.views.is_empty()
    }
}

/// The models judged a frame taken before a person corrected the space: it does not undo the
/// correction.
fn overruled(o: &Observe, view: &SlotView) -> bool {
    o.source == Source::Detector && view.source == Some(Source::Manual) && o.at < view.since
}

/// The Lot puts a new actor's first view on the board itself, before the actor runs, so that a
/// space is readable the moment its creation is answered.
impl Actor for SlotActor {
    type Context = Context<Self>;
}

impl Handler<Observe> for SlotActor {
    type Result = AtomicResponse<Self, Result<Observed, SlotError>>;

    fn handle(&mut self, mut msg: Observe, ctx: &mut Context<Self>) -> Self::Result {
        let current = self.view.clone();
        let unchanged = |view| AtomicResponse::new(Box::pin(fut::ready(Ok(Observed { view, changed: false }))));
        let (state, since) = self.latest();
        // While changes wait for the database, it cannot be asked: judged on what is held.
        if !self.held.is_empty() && (msg.state == state || overruled(&msg, &current)) {
            return unchanged(current);
        }
        let same = msg.state == state || overruled(&msg, &current);
        // Never ahead of this clock: a state dated in the future would make every later change
        // look older than it and be refused until the clock caught up.
        let mut at = to_db_precision(msg.at.min(Utc::now()));
        if at < since && !same {
            if msg.reported_time {
                return AtomicResponse::new(Box::pin(fut::ready(Err(SlotError::Stale { at, since }))));
            }
            at = since;
        }
        msg.at = at;
        // The camera's changes wait for the database; a person or a sensor is told it is out.
        if msg.source.may_wait() && !self.held.is_empty() {
            self.hold([msg], ctx);
            return unchanged(current);
        }
        // Atomic: no other message is handled until this change is stored and published, so
        // changes to one space are applied strictly one after another.
        AtomicResponse::new(Box::pin(self.store(vec![msg], true).map(move |out, act, ctx| {
            match out.error {
                None => {
                    Ok(Observed { changed: !out.views_empty(), view: out.last.unwrap_or_else(|| act.view.clone()) })
                }
                Some(e) if e.is_outage() && out.left.iter().all(|o| o.source.may_wait()) => {
                    act.hold(out.left, ctx);
                    Ok(Observed { view: act.view.clone(), changed: false })
                }
                Some(e) => {
                    // The first of `left` failed. Out of the database: a person's change is
                    // refused (503) and what the camera saw still waits. Refused by it: that
                    // change is dropped (tried again it would fail again), the camera's others wait.
                    let mut left = out.left.into_iter();
                    if !e.is_outage() {
                        left.next();
                    }
                    let waiting: Vec<Observe> = left.filter(|o| o.source.may_wait()).collect();
                    if !waiting.is_empty() {
                        act.hold(waiting, ctx);
                    }
                    Err(e)
                }
            }
        })))
    }
}

impl Handler<Flush> for SlotActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        self.flush_scheduled = false;
        if self.held.is_empty() {
            self.retries = 0;
            return AtomicResponse::new(Box::pin(fut::ready(())));
        }
        AtomicResponse::new(Box::pin(self.store(Vec::new(), false).map(|out, act, ctx| match out.error {
            None => {
                tracing::info!(slot = act.view.id, "database back: the held changes are stored");
                act.retries = 0;
            }
            Some(e) if e.is_outage() => {
                tracing::debug!(slot = act.view.id, error = %e, "held changes still wait for the database");
                act.hold(out.left, ctx);
            }
            Some(e) => {
                // Refused, not out: that change would fail for ever; the ones after it go on.
                let mut left = out.left.into_iter();
                let refused = left.next();
                tracing::error!(slot = act.view.id, error = %e, ?refused, "a held change was refused; dropped");
                let rest: Vec<Observe> = left.collect();
                if rest.is_empty() {
                    act.retries = 0;
                } else {
                    act.hold(rest, ctx);
                }
            }
        })))
    }
}

impl Handler<Drain> for SlotActor {
    type Result = AtomicResponse<Self, usize>;

    /// The server is stopping: one last try to store what is held; answers how many could not be.
    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        if self.held.is_empty() {
            return AtomicResponse::new(Box::pin(fut::ready(0)));
        }
        AtomicResponse::new(Box::pin(self.store(Vec::new(), false).map(|out, act, _| {
            act.metrics.changes_held.add(out.left.len() as i64);
            let n = out.left.len();
            act.held.extend(out.left);
            n
        })))
    }
}

/// Another replica stored a change (or the listener re-read every space after it reconnected):
/// the space takes the stored row if it is newer than what this actor has.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Adopt(pub SlotView);

impl Handler<Adopt> for SlotActor {
    type Result = ();

    fn handle(&mut self, msg: Adopt, _: &mut Context<Self>) {
        if msg.0.version <= self.view.version {
            return;
        }
        let moved = self.view.session_id != msg.0.session_id;
        self.publish(msg.0, moved);
        if !self.held.is_empty() {
            let held = self.held.back().map(|h| h.state);
            self.board.put(Arc::new(SlotView { held, ..(*self.view).clone() }));
        }
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
                let row = result?;
                let mut view = (*act.view).clone();
                view.version = view.version.max(row.version);
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
