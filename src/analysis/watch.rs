//! The schedule of the analyses: every `detect.interval_s` each camera, at its own phase, gets
//! one analysis (`analyse`) of its newest frame, one at a time per camera; a camera that has
//! delivered no usable frame for `occupancy.stale_after_s` has its spaces made unknown
//! (`report`). On a stop, no analysis starts and those under way are waited for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use parking_lot::RwLock;

use super::analyse::{analyse, CameraWatch};
use super::camera_loop::CameraLoop;
use super::report::forget;
use crate::archive::Archive;
use crate::camera::feed::Frame;
use crate::camera::registry::Cameras;
use crate::config::{DetectConfig, OccupancyConfig};
use crate::detect::actor::Detector;
use crate::detect::nms::Detection;
use crate::metrics::Metrics;
use crate::parking::board::SlotBoard;
use crate::parking::lot::Lot;

/// A camera's last analysed frame and the vehicles found in it (the overlay draws them).
#[derive(Debug, Clone)]
pub struct Sighting {
    pub frame: Arc<Frame>,
    pub boxes: Vec<Detection>,
}

/// Camera id → its last sighting.
pub type Sightings = Arc<RwLock<HashMap<String, Arc<Sighting>>>>;

/// What the analyses read from and report to.
pub struct Watching {
    pub cameras: Arc<Cameras>,
    /// Whose leases say which cameras this replica speaks for.
    pub cluster: Arc<crate::cluster::Cluster>,
    pub board: Arc<SlotBoard>,
    pub lot: Arc<Lot>,
    pub archive: Addr<Archive>,
    pub detector: Detector,
    pub config: DetectConfig,
    pub occupancy: OccupancyConfig,
    pub sightings: Sightings,
    pub metrics: Metrics,
}

pub struct Watch {
    shared: Arc<Watching>,
    cameras: HashMap<String, Arc<tokio::sync::Mutex<CameraWatch>>>,
    /// The server is stopping: no analysis starts any more.
    stopping: bool,
}

/// The server is stopping: start no analysis, and answer once those under way have finished
/// (and told the slot actors what they confirmed), or `deadline` has passed, with how many had
/// not.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain {
    pub deadline: Duration,
}

impl Handler<Drain> for Watch {
    type Result = ResponseFuture<usize>;

    fn handle(&mut self, msg: Drain, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        let busy: Vec<_> = self.cameras.values().cloned().collect();
        let until = tokio::time::Instant::now() + msg.deadline;
        Box::pin(async move {
            let mut unfinished = 0;
            for camera in busy {
                if tokio::time::timeout_at(until, camera.lock()).await.is_err() {
                    unfinished += 1;
                }
            }
            unfinished
        })
    }
}

impl Watch {
    pub fn new(watching: Watching) -> Watch {
        Watch { shared: Arc::new(watching), cameras: HashMap::new(), stopping: false }
    }

    fn tick(&mut self) {
        if self.stopping {
            return;
        }
        let s = &self.shared;
        let ids = s.cameras.ids();
        self.cameras.retain(|id, _| {
            let keep = ids.contains(id);
            if !keep {
                let _ = s.metrics.analysed_at.remove_label_values(&[id]);
            }
            keep
        });
        s.sightings.write().retain(|id, _| ids.contains(id));
        let now = Instant::now();
        let interval = Duration::from_secs_f64(s.config.interval_s);
        for id in ids {
            let watch = self
                .cameras
                .entry(id.clone())
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(CameraWatch {
                        looping: CameraLoop::new(s.config.motion.clone(), s.occupancy.confirm),
                        by_hand: HashMap::new(),
                        next_due: now + stagger(&id, interval),
                        last_detect: None,
                        last_frame: None,
                        last_usable: now,
                        unseen: false,
                    }))
                })
                .clone();
            // Still busy with the previous frame: this camera waits its turn.
            let Ok(mut w) = watch.try_lock_owned() else { continue };
            let unseen_for = w.last_usable.elapsed();
            if !w.unseen && unseen_for.as_secs_f64() >= s.occupancy.stale_after_s {
                w.unseen = true;
                let (shared, id) = (self.shared.clone(), id.clone());
                actix::spawn(async move { forget(&shared, &id, unseen_for).await });
                continue;
            }
            if now < w.next_due {
                continue;
            }
            // Each camera keeps its own phase: due times step by the interval from the last due
            // time, not from when the tick noticed, so a tick's lateness does not add up into a
            // longer period. A camera that fell a whole interval behind starts a new phase
            // rather than catching up in a burst.
            w.next_due += interval;
            if w.next_due <= now {
                w.next_due = now + interval;
            }
            let shared = self.shared.clone();
            actix::spawn(async move { analyse(&shared, &id, &mut w).await });
        }
    }
}

/// Where in the interval a camera's analyses fall: spread by its id, so that cameras added
/// together do not all reach the detector in the same instant.
fn stagger(id: &str, interval: Duration) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    interval.mul_f64((h.finish() % 1000) as f64 / 1000.0)
}

impl Actor for Watch {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A tenth of the interval: a camera's analysis starts at most that late.
        let every = Duration::from_secs_f64((self.shared.config.interval_s / 10.0).clamp(0.05, 0.5));
        ctx.run_interval(every, |act, _| act.tick());
    }
}
