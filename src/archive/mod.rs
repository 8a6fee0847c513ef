//! The `Archive` actor keeps the frames worth keeping: it writes each JPEG to the image store and
//! records it in `captures`, one at a time, in arrival order. The cameras only hand it frames
//! and never wait for it: while the store (or the database) is out, frames wait in a bounded
//! queue and the head is retried with backoff; when the queue is full the oldest is dropped.
//! It also applies the retention rules in the background.

mod retention;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use sha2::{Digest, Sha256};

use crate::camera::backoff::Backoff;
use crate::camera::feed::{Frame, FrameArrived, Origin};
use crate::config::ArchiveConfig;
use crate::metrics::Metrics;
use crate::storage::captures::{self, Retention};
use crate::storage::db::Db;
use crate::storage::hex;
use crate::storage::images::ImageStore;
use crate::storage::models::NewCapture;
use retention::{sweep, Swept};

/// Why a frame was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The camera pushed it.
    Push,
    /// The periodic keep of a pulled camera.
    Interval,
    /// It shows a space changing state.
    Evidence,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Push => "push",
            Reason::Interval => "interval",
            Reason::Evidence => "evidence",
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Keep {
    pub camera: String,
    pub frame: Arc<Frame>,
    pub reason: Reason,
    /// Told the capture's id once its row exists (a slot change links to its evidence).
    pub stored: Option<tokio::sync::oneshot::Sender<i64>>,
    /// For evidence: the lease its camera was owned by; no row is written once it has passed.
    pub fence: Option<crate::storage::leases::Fence>,
}

/// Deletes images whose rows are gone (the camera was deleted).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget(pub Vec<String>);

/// Applies the retention rules now (tests and the periodic sweep).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Sweep;

/// Where a kept frame's image lives in the store: by camera and UTC day, then time and content.
pub fn storage_key(camera: &str, frame: &Frame, sha256_hex: &str) -> String {
    format!(
        "captures/{camera}/{}-{}.jpg",
        frame.taken_at.format("%Y/%m/%d/%H%M%S%.6f"),
        &sha256_hex[..16.min(sha256_hex.len())]
    )
}

pub struct Archive {
    /// The periodic sweep runs on the replica that holds the jobs lease.
    cluster: Arc<crate::cluster::Cluster>,
    store: ImageStore,
    db: Db,
    metrics: Metrics,
    config: ArchiveConfig,
    queue: VecDeque<Keep>,
    forget: VecDeque<String>,
    busy: bool,
    /// When each camera's last frame was kept on the timer.
    last_kept: HashMap<String, Instant>,
    /// The server is stopping: told when the queue is empty.
    drained: Vec<tokio::sync::oneshot::Sender<()>>,
    failures: u32,
    backoff: Backoff,
    sweeping: bool,
}

enum Outcome {
    Stored(i64),
    /// The store or the database is out: keep the frame and retry.
    Retry(String),
    /// This frame can never be stored (its camera is gone, the store refuses the key).
    Drop(String),
}

impl Archive {
    pub fn new(
        store: ImageStore,
        db: Db,
        metrics: Metrics,
        config: ArchiveConfig,
        cluster: Arc<crate::cluster::Cluster>,
    ) -> Archive {
        Archive {
            cluster,
            store,
            db,
            metrics,
            config,
            queue: VecDeque::new(),
            forget: VecDeque::new(),
            busy: false,
            last_kept: HashMap::new(),
            drained: Vec::new(),
            failures: 0,
            backoff: Backoff { initial: Duration::from_millis(250), max: Duration::from_secs(30) },
            sweeping: false,
        }
    }

    fn gauge(&self) {
        self.metrics.archive_queue.set(self.queue.len() as i64);
    }

    /// Works on the head of the queue unless an attempt is already under way.
    fn work(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        if let Some(key) = self.forget.pop_front() {
            self.busy = true;
            let store = self.store.clone();
            async move { store.delete(&key).await.map_err(|e| (key, e)) }
                .into_actor(self)
                .map(|res, act, ctx| {
                    act.busy = false;
                    if let Err((key, e)) = res {
                        tracing::warn!(key, error = %e, "could not delete an image of a deleted camera");
                        if e.is_transient() {
                            act.forget.push_back(key);
                            return act.retry_later(ctx);
                        }
                    }
                    act.work(ctx);
                })
                .spawn(ctx);
            return;
        }
        let Some(item) = self.queue.front() else {
            for done in self.drained.drain(..) {
                let _ = done.send(());
            }
            return;
        };
        // The item stays at the head (with its reply) until it is stored or given up.
        let (camera, frame, reason, fence) = (item.camera.clone(), item.frame.clone(), item.reason, item.fence.clone());
        self.busy = true;
        store_one(self.store.clone(), self.db.clone(), camera, frame, reason, fence)
            .into_actor(self)
            .map(|outcome, act, ctx| {
                act.busy = false;
                match outcome {
                    Outcome::Stored(id) => {
                        if let Some(done) = act.queue.pop_front().and_then(|k| k.stored) {
                            let _ = done.send(id);
                        }
                        act.failures = 0;
                        act.metrics.captures_stored.inc();
                        act.gauge();
                        act.work(ctx);
                    }
                    Outcome::Drop(why) => {
                        act.queue.pop_front();
                        act.metrics.captures_dropped.with_label_values(&["refused"]).inc();
                        tracing::warn!(error = %why, "a capture cannot be kept; dropped");
                        act.gauge();
                        act.work(ctx);
                    }
                    Outcome::Retry(why) => {
                        if act.failures == 0 {
                            tracing::warn!(error = %why, queued = act.queue.len(), "image store or database out; captures wait");
                        }
                        act.retry_later(ctx);
                    }
                }
            })
            .spawn(ctx);
    }

    fn retry_later(&mut self, ctx: &mut Context<Self>) {
        let delay = self.backoff.delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        self.busy = true;
        ctx.run_later(delay, |act, ctx| {
            act.busy = false;
            act.work(ctx);
        });
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping || (self.config.max_age_days == 0 && self.config.max_per_camera == 0) {
            return;
        }
        self.sweeping = true;
        let (db, store, metrics) = (self.db.clone(), self.store.clone(), self.metrics.clone());
        let days = |d: u32| chrono::Duration::days(d.into());
        let now = chrono::Utc::now();
        let rules = Retention {
            older_than: (self.config.max_age_days > 0).then(|| now - days(self.config.max_age_days)),
            per_camera: self.config.max_per_camera,
            evidence_until: now - days(self.config.evidence_retention_days),
        };
        async move { sweep(db, store, rules, metrics).await }
            .into_actor(self)
            .map(|res, act, _| {
                act.sweeping = false;
                match res {
                    Ok(Swept { deleted: 0, skipped: 0 }) => {}
                    Ok(Swept { deleted, skipped }) => {
                        act.metrics.captures_expired.inc_by(deleted as u64);
                        tracing::info!(deleted, skipped, "captures past retention deleted");
                    }
                    Err(e) => tracing::warn!(error = %e, "retention sweep stopped; it runs again later"),
                }
            })
            .spawn(ctx);
    }
}

async fn store_one(
    store: ImageStore,
    db: Db,
    camera: String,
    frame: Arc<Frame>,
    reason: Reason,
    fence: Option<crate::storage::leases::Fence>,
) -> Outcome {
    let sha = hex(&Sha256::digest(&frame.jpeg));
    let key = storage_key(&camera, &frame, &sha);
    if let Err(e) = store.put(&key, frame.jpeg.clone(), "image/jpeg").await {
        return if e.is_transient() { Outcome::Retry(e.to_string()) } else { Outcome::Drop(e.to_string()) };
    }
    let row = NewCapture {
        camera_id: &camera,
        storage_key: &key,
        taken_at: frame.taken_at,
        size_bytes: frame.jpeg.len() as i64,
        width: frame.width.into(),
        height: frame.height.into(),
        sha256: &sha,
        reason: reason.as_str(),
    };
    let result = match (db.conn().await, &fence) {
        (Ok(mut conn), Some(fence)) => captures::insert_fenced(&mut conn, &row, fence).await,
        (Ok(mut conn), None) => captures::insert(&mut conn, &row).await.map(Some),
        (Err(e), _) => Err(e),
    };
    match result {
        Ok(Some(row)) => Outcome::Stored(row.id),
        Ok(None) => {
            let _ = store.delete(&key).await;
            Outcome::Drop(format!("evidence of camera {camera} refused: this replica's lease on it has passed"))
        }
        // The camera was deleted while its frame waited: the image has no owner.
        Err(e) if e.violation() == Some(&diesel::result::DatabaseErrorKind::ForeignKeyViolation) => {
            let _ = store.delete(&key).await;
            Outcome::Drop(format!("camera {camera} is gone"))
        }
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

impl Actor for Archive {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = Duration::from_secs(self.config.sweep_interval_s.max(1));
        // On one replica at a time: two sweeps would race to delete the same captures.
        let periodic = |act: &mut Archive, ctx: &mut Context<Archive>| {
            if act.cluster.runs_jobs() {
                act.sweep(ctx)
            }
        };
        ctx.run_later(Duration::from_secs(5), periodic);
        ctx.run_interval(every, periodic);
    }
}

/// Which waiting capture a full queue lets go for a new one (None: the new one is let go). The
/// head may be in flight and stays. Routine frames go first, oldest first; the evidence of a
/// slot change goes only when nothing else waits, and then the oldest evidence before the new.
fn make_room(waiting: &[Reason], head_in_flight: bool, incoming: Reason) -> Option<usize> {
    let first = usize::from(head_in_flight);
    if let Some(i) = (first..waiting.len()).find(|&i| waiting[i] != Reason::Evidence) {
        return Some(i);
    }
    (incoming == Reason::Evidence && first < waiting.len()).then_some(first)
}

impl Handler<Keep> for Archive {
    type Result = ();

    fn handle(&mut self, msg: Keep, ctx: &mut Context<Self>) {
        if self.queue.len() >= self.config.queue_limit.max(1) {
            self.metrics.captures_dropped.with_label_values(&["queue_full"]).inc();
            let reasons: Vec<Reason> = self.queue.iter().map(|k| k.reason).collect();
            match make_room(&reasons, self.busy, msg.reason) {
                Some(i) => {
                    self.queue.remove(i);
                }
                None => return,
            }
        }
        self.queue.push_back(msg);
        self.gauge();
        self.work(ctx);
    }
}

/// A frame from a camera: kept if it was pushed (`archive.keep_pushed`) or if the camera's
/// `archive.interval_s` has passed since its last kept frame.
impl Handler<FrameArrived> for Archive {
    type Result = ();

    fn handle(&mut self, msg: FrameArrived, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let every = (self.config.interval_s > 0).then(|| Duration::from_secs(self.config.interval_s));
        let due = every.is_some_and(|every| self.last_kept.get(&msg.camera).is_none_or(|t| now - *t >= every));
        let reason = match msg.origin {
            Origin::Pushed if self.config.keep_pushed => Reason::Push,
            _ if due => Reason::Interval,
            _ => return,
        };
        self.last_kept.insert(msg.camera.clone(), now);
        // A pulled frame shares the stream parser's large read buffer; a copy lets the archive
        // hold it (possibly for long, during a store outage) without holding that buffer.
        let frame = match msg.origin {
            Origin::Pulled => Arc::new(Frame { jpeg: bytes::Bytes::copy_from_slice(&msg.frame.jpeg), ..*msg.frame }),
            Origin::Pushed => msg.frame,
        };
        self.handle(Keep { camera: msg.camera, frame, reason, stored: None, fence: None }, ctx);
    }
}

/// The server is stopping and no frame comes any more: answers how many captures are still
/// waiting once the queue is empty or `deadline` has passed (those are lost).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain {
    pub deadline: Duration,
}

impl Handler<Drain> for Archive {
    type Result = ResponseActFuture<Self, usize>;

    fn handle(&mut self, msg: Drain, ctx: &mut Context<Self>) -> Self::Result {
        let (done, empty) = tokio::sync::oneshot::channel();
        self.drained.push(done);
        self.work(ctx);
        Box::pin(
            async move {
                let _ = tokio::time::timeout(msg.deadline, empty).await;
            }
            .into_actor(self)
            .map(|_, act, _| {
                let left = act.queue.len();
                if left > 0 {
                    act.metrics.captures_dropped.with_label_values(&["stopping"]).inc_by(left as u64);
                }
                left
            }),
        )
    }
}

impl Handler<Forget> for Archive {
    type Result = ();

    fn handle(&mut self, msg: Forget, ctx: &mut Context<Self>) {
        self.forget.extend(msg.0);
        self.work(ctx);
    }
}

impl Handler<Sweep> for Archive {
    type Result = ();

    fn handle(&mut self, _: Sweep, ctx: &mut Context<Self>) {
        self.sweep(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_lets_routine_frames_go_before_evidence() {
        use Reason::{Evidence as E, Interval as I, Push as P};
        // The oldest routine frame behind the in-flight head goes, even behind evidence.
        assert_eq!(make_room(&[I, E, P, I], true, I), Some(2));
        assert_eq!(make_room(&[I, E, P, I], false, E), Some(0));
        // Only evidence waits: a routine newcomer is the one let go; evidence replaces the oldest.
        assert_eq!(make_room(&[E, E], false, P), None);
        assert_eq!(make_room(&[E, E], false, E), Some(0));
        assert_eq!(make_room(&[E, E], true, E), Some(1));
        // Nothing but the head in flight: the newcomer cannot be kept.
        assert_eq!(make_room(&[I], true, E), None);
    }

    #[test]
    fn keys_sort_by_camera_and_time() {
        let frame = Frame {
            jpeg: bytes::Bytes::new(),
            width: 1,
            height: 1,
            taken_at: chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            seq: 1,
        };
        let sha = hex(&Sha256::digest(b"x"));
        assert_eq!(
            storage_key("gate", &frame, &sha),
            format!("captures/gate/2023/11/14/221320.123456-{}.jpg", &sha[..16])
        );
    }
}
