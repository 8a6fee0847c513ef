//! Each camera's occupancy step: every `detect.interval_s` its newest frame is decoded; unless
//! motion gating finds the spaces unchanged, the detector finds the vehicles and the space
//! classifier reads each space, the occupancy rule weighs both into evidence per space, the
//! camera's loop (memory of what is still, debounce) decides what changes, and the slot actors
//! are told, with the frame kept as the change's evidence.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use image::GrayImage;
use parking_lot::RwLock;

use super::board::SlotBoard;
use super::camera_loop::{CameraLoop, Change};
use super::geometry::Polygon;
use super::lot::Lot;
use super::occupancy::{assess, VehicleBox};
use super::slot::Observe;
use super::state::{SlotState, SlotView, Source};
use crate::camera::archive::{Archive, Keep, Reason};
use crate::camera::feed::Frame;
use crate::camera::registry::Cameras;
use crate::config::{DetectConfig, OccupancyConfig};
use crate::detect::actor::Detector;
use crate::detect::motion::MotionGate;
use crate::detect::nms::Detection;
use crate::detect::preprocess::decode;
use crate::metrics::Metrics;

/// A camera's last analysed frame and the vehicles found in it (the overlay draws them).
#[derive(Debug, Clone)]
pub struct Sighting {
    pub frame: Arc<Frame>,
    pub boxes: Vec<Detection>,
}

/// Camera id → its last sighting.
pub type Sightings = Arc<RwLock<HashMap<String, Arc<Sighting>>>>;

/// How long a change waits for its evidence capture's id before it is recorded without one
/// (the image store or the database may be out; the change must not wait for them).
const EVIDENCE_WAIT: Duration = Duration::from_secs(3);

/// What the analyses read from and report to.
pub struct Watching {
    pub cameras: Arc<Cameras>,
    pub board: Arc<SlotBoard>,
    pub lot: Arc<Lot>,
    pub archive: Addr<Archive>,
    pub detector: Detector,
    pub config: DetectConfig,
    pub occupancy: OccupancyConfig,
    pub sightings: Sightings,
    pub metrics: Metrics,
}

struct CameraWatch {
    looping: CameraLoop<Arc<Frame>>,
    /// The spaces set by hand whose hold is in the loop, with the time of that change.
    by_hand: HashMap<i64, DateTime<Utc>>,
    next_due: Instant,
    last_detect: Option<Instant>,
    last_frame: Option<(u64, DateTime<Utc>)>,
    /// When a frame of this camera last decoded (or when watching began).
    last_usable: Instant,
    /// Its spaces were made unknown for want of frames, and no usable frame came since.
    unseen: bool,
}

pub struct Watch {
    shared: Arc<Watching>,
    cameras: HashMap<String, Arc<tokio::sync::Mutex<CameraWatch>>>,
}

impl Watch {
    pub fn new(watching: Watching) -> Watch {
        Watch { shared: Arc::new(watching), cameras: HashMap::new() }
    }

    fn tick(&mut self) {
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

fn state_of(occupied: Option<bool>) -> SlotState {
    match occupied {
        Some(true) => SlotState::Occupied,
        Some(false) => SlotState::Free,
        None => SlotState::Unknown,
    }
}

async fn analyse(s: &Watching, id: &str, w: &mut CameraWatch) {
    let outcome = |o: &str| {
        s.metrics.analyses.with_label_values(&[id, o]).inc();
        if o != "failed" {
            s.metrics.analysed_at.with_label_values(&[id]).set(Utc::now().timestamp_millis() as f64 / 1000.0);
        }
    };
    let Some(feed) = s.cameras.feed(id) else { return };
    let Some(frame) = feed.latest() else { return };
    let this_frame = (frame.seq, frame.taken_at);
    if w.last_frame == Some(this_frame) {
        return;
    }
    let spaces: Vec<_> = s.board.list().into_iter().filter(|v| v.camera_id == id).collect();
    if spaces.is_empty() {
        return;
    }
    w.last_frame = Some(this_frame);
    let failed = |why: String| {
        tracing::warn!(camera = id, error = %why, "analysis failed");
        feed.analysis_failed(why);
        outcome("failed");
    };
    let gate_params = s.config.motion.clone();
    let jpeg = frame.jpeg.clone();
    let deadline = Instant::now() + Duration::from_secs_f64(s.config.timeout_s);
    let decoding = tokio::task::spawn_blocking(move || {
        decode(&jpeg).map(|rgb| {
            let small = MotionGate::new(gate_params).shrink(&rgb);
            (rgb, small)
        })
    });
    let (rgb, small): (image::RgbImage, GrayImage) = match tokio::time::timeout_at(deadline.into(), decoding).await {
        Ok(Ok(Ok(pair))) => {
            w.last_usable = Instant::now();
            w.unseen = false;
            pair
        }
        Ok(Ok(Err(e))) => return failed(format!("the frame could not be decoded: {e}")),
        Ok(Err(e)) => return failed(format!("decoding the frame panicked: {e}")),
        Err(_) => return failed(format!("decoding took longer than detect.timeout_s ({} s)", s.config.timeout_s)),
    };
    let regions: Vec<(i64, Polygon)> = spaces.iter().map(|v| (v.id, v.polygon.clone())).collect();
    w.looping.set_spaces(regions, rgb.dimensions());
    // A change held for the database counts as made: the analyses judge against it.
    let current: Vec<Option<bool>> = spaces
        .iter()
        .map(|view| match view.held.unwrap_or(view.state) {
            SlotState::Occupied => Some(true),
            SlotState::Free => Some(false),
            SlotState::Unknown => None,
        })
        .collect();
    let hold_ended = hold_corrections(s, w, &spaces, &small);
    let forced =
        hold_ended || w.last_detect.is_none_or(|t| t.elapsed() >= Duration::from_secs_f64(s.config.max_interval_s));
    if s.config.motion_gating && !forced && !w.looping.needs_models(&small) {
        outcome("unchanged");
        feed.analysed();
        let changes = w.looping.unchanged(&current, &frame);
        return record(s, id, changes).await;
    }
    let polygons: Arc<Vec<Polygon>> = Arc::new(spaces.iter().map(|v| v.polygon.clone()).collect());
    let seen = match tokio::time::timeout_at(deadline.into(), s.detector.detect(Arc::new(rgb), polygons.clone())).await
    {
        Ok(Ok(seen)) => seen,
        Ok(Err(e)) => return failed(e.to_string()),
        Err(_) => return failed(format!("no answer from the detector within detect.timeout_s ({} s)", s.config.timeout_s)),
    };
    outcome("detected");
    feed.analysed();
    w.last_detect = Some(Instant::now());
    s.sightings.write().insert(id.to_string(), Arc::new(Sighting { frame: frame.clone(), boxes: seen.boxes.clone() }));
    let vehicles: Vec<VehicleBox> = seen.boxes.iter().map(VehicleBox::from).collect();
    let evidence = assess(&polygons, &vehicles, seen.occupied.as_deref(), &s.occupancy.rule);
    let changes = w.looping.conclude(small, &current, &evidence, &frame);
    record(s, id, changes).await;
}

/// Spaces set by hand since the last analysis hold that state against the models while this
/// frame's pixels of them stay (or for `occupancy.manual_hold_s`, counted from the change).
/// Returns true when a hold's time ran out: the models must look again.
fn hold_corrections(s: &Watching, w: &mut CameraWatch, spaces: &[Arc<SlotView>], small: &GrayImage) -> bool {
    let limit = s.occupancy.manual_hold_s.map(Duration::from_secs_f64);
    let by_hand: Vec<&Arc<SlotView>> =
        spaces.iter().filter(|v| v.source == Some(Source::Manual) && v.state != SlotState::Unknown).collect();
    w.by_hand.retain(|id, _| by_hand.iter().any(|v| v.id == *id));
    for view in by_hand {
        if w.by_hand.get(&view.id) == Some(&view.since) {
            continue;
        }
        w.by_hand.insert(view.id, view.since);
        let until = limit.map(|limit| {
            let age = (Utc::now() - view.since).to_std().unwrap_or_default();
            Instant::now() + limit.saturating_sub(age)
        });
        w.looping.set_by_hand(view.id, view.state == SlotState::Occupied, small, until);
    }
    w.looping.expire_holds(Instant::now())
}

/// A camera that delivers no usable frame cannot say what its spaces hold: they become
/// `unknown`, stored as the camera's own change with the reason. Stays stay open (a dark
/// camera does not mean the cars left); the next analyses give the spaces their states again.
async fn forget(s: &Watching, id: &str, unseen_for: Duration) {
    let reason = format!("camera {id}: no usable frame for {} s", unseen_for.as_secs());
    let known: Vec<_> =
        s.board.list().into_iter().filter(|v| v.camera_id == id && v.held.unwrap_or(v.state) != SlotState::Unknown).collect();
    if known.is_empty() {
        return;
    }
    tracing::warn!(
        camera = id,
        spaces = known.len(),
        seconds = unseen_for.as_secs(),
        "camera unseen: its spaces are unknown until frames return"
    );
    for view in known {
        let observation = Observe {
            state: SlotState::Unknown,
            source: Source::Camera,
            confidence: None,
            at: Utc::now(),
            capture_id: None,
            actor: None,
            reason: Some(reason.clone()),
            reported_time: false,
        };
        if let Err(e) = s.lot.observe(view.id, observation).await {
            tracing::warn!(camera = id, slot = view.id, error = %e, "an unseen space could not be marked unknown");
        }
    }
}

/// Tells the slot actors what the analyses agreed on: each change at the time of the frame that
/// first showed it, with that frame kept as its evidence.
async fn record(s: &Watching, id: &str, changes: Vec<Change<Arc<Frame>>>) {
    let mut kept: HashMap<u64, Option<i64>> = HashMap::new();
    for change in changes {
        let frame = &change.first;
        let capture_id = match kept.get(&frame.seq) {
            Some(c) => *c,
            None => {
                let c = keep_evidence(s, id, frame).await;
                kept.insert(frame.seq, c);
                c
            }
        };
        let observation = Observe {
            state: state_of(Some(change.occupied)),
            source: Source::Detector,
            confidence: Some(change.confidence),
            at: frame.taken_at,
            capture_id,
            actor: None,
            reason: None,
            reported_time: false,
        };
        if let Err(e) = s.lot.observe(change.slot, observation).await {
            tracing::warn!(camera = id, slot = change.slot, error = %e, "the detector's change was not recorded");
        }
    }
}

/// Keeps the frame behind a change and waits (briefly) for its capture id.
async fn keep_evidence(s: &Watching, camera: &str, frame: &Arc<Frame>) -> Option<i64> {
    let (reply, rx) = tokio::sync::oneshot::channel();
    s.archive.do_send(Keep {
        camera: camera.to_string(),
        frame: frame.clone(),
        reason: Reason::Evidence,
        stored: Some(reply),
    });
    match tokio::time::timeout(EVIDENCE_WAIT, rx).await {
        Ok(Ok(id)) => Some(id),
        _ => {
            tracing::warn!(camera, "the evidence capture is not stored yet; the change is recorded without it");
            None
        }
    }
}
