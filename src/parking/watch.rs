//! Each camera's occupancy step: every `detect.interval_s` its newest frame is decoded; unless
//! motion gating finds the spaces unchanged, the detector finds the vehicles, the occupancy rule
//! turns them into evidence per space, the debouncer waits for analyses to agree, and the slot
//! actors are told, with the frame kept as the change's evidence.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use image::GrayImage;
use parking_lot::RwLock;

use super::board::SlotBoard;
use super::geometry::Polygon;
use super::lot::Lot;
use super::occupancy::{assess, Debouncer, VehicleBox};
use super::slot::Observe;
use super::state::{SlotState, Source};
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
    gate: MotionGate,
    debouncer: Debouncer,
    /// The spaces (and frame size) the gate's regions were built for.
    regions: Vec<(i64, Polygon)>,
    size: (u32, u32),
    next_due: Instant,
    last_detect: Option<Instant>,
    last_frame: Option<(u64, DateTime<Utc>)>,
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
        self.cameras.retain(|id, _| ids.contains(id));
        s.sightings.write().retain(|id, _| ids.contains(id));
        let now = Instant::now();
        for id in ids {
            let watch = self
                .cameras
                .entry(id.clone())
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(CameraWatch {
                        gate: MotionGate::new(s.config.motion.clone()),
                        debouncer: Debouncer::new(s.occupancy.confirm),
                        regions: Vec::new(),
                        size: (0, 0),
                        next_due: now,
                        last_detect: None,
                        last_frame: None,
                    }))
                })
                .clone();
            // Still busy with the previous frame: this camera waits its turn.
            let Ok(mut w) = watch.try_lock_owned() else { continue };
            if now < w.next_due {
                continue;
            }
            w.next_due = now + Duration::from_secs_f64(s.config.interval_s);
            let shared = self.shared.clone();
            actix::spawn(async move { analyse(&shared, &id, &mut w).await });
        }
    }
}

impl Actor for Watch {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = Duration::from_secs_f64(self.shared.config.interval_s.clamp(0.05, 1.0));
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
    let outcome = |o: &str| s.metrics.analyses.with_label_values(&[id, o]).inc();
    let Some(frame) = s.cameras.feed(id).and_then(|f| f.latest()) else { return };
    let this_frame = (frame.seq, frame.taken_at);
    if w.last_frame == Some(this_frame) {
        return;
    }
    let spaces: Vec<_> = s.board.list().into_iter().filter(|v| v.camera_id == id).collect();
    if spaces.is_empty() {
        return;
    }
    w.last_frame = Some(this_frame);
    let gate_params = s.config.motion.clone();
    let jpeg = frame.jpeg.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        decode(&jpeg).map(|rgb| {
            let small = MotionGate::new(gate_params).shrink(&rgb);
            (rgb, small)
        })
    })
    .await;
    let (rgb, small): (image::RgbImage, GrayImage) = match decoded {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            tracing::warn!(camera = id, error = %e, "a frame could not be decoded for analysis");
            return outcome("failed");
        }
        Err(e) => {
            tracing::error!(camera = id, error = %e, "frame decoding panicked");
            return outcome("failed");
        }
    };
    let regions: Vec<(i64, Polygon)> = spaces.iter().map(|v| (v.id, v.polygon.clone())).collect();
    let size = rgb.dimensions();
    if regions != w.regions || size != w.size {
        // A moved space starts its debounce afresh; the gate must look at the new regions.
        for (old_id, old_polygon) in &w.regions {
            if !regions.iter().any(|(i, p)| i == old_id && p == old_polygon) {
                w.debouncer.forget(*old_id);
            }
        }
        let polygons: Vec<Polygon> = regions.iter().map(|(_, p)| p.clone()).collect();
        w.gate.set_regions(size.0, size.1, &polygons);
        w.regions = regions;
        w.size = size;
    }
    let forced = w.last_detect.is_none_or(|t| t.elapsed() >= Duration::from_secs_f64(s.config.max_interval_s));
    if s.config.motion_gating && !forced && !w.gate.changed(&small) {
        return outcome("unchanged");
    }
    let boxes = match s.detector.detect(Arc::new(rgb)).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(camera = id, error = %e, "detection failed");
            return outcome("failed");
        }
    };
    outcome("detected");
    w.last_detect = Some(Instant::now());
    w.gate.mark_analysed(small);
    s.sightings.write().insert(id.to_string(), Arc::new(Sighting { frame: frame.clone(), boxes: boxes.clone() }));
    let vehicles: Vec<VehicleBox> = boxes.iter().map(VehicleBox::from).collect();
    let polygons: Vec<Polygon> = spaces.iter().map(|v| v.polygon.clone()).collect();
    let evidence = assess(&polygons, &vehicles, &s.occupancy.rule);
    let mut changes = Vec::new();
    for (view, e) in spaces.iter().zip(&evidence) {
        let current = match view.state {
            SlotState::Occupied => Some(true),
            SlotState::Free => Some(false),
            SlotState::Unknown => None,
        };
        if let Some(occupied) = w.debouncer.update(view.id, current, e) {
            changes.push((view.id, state_of(Some(occupied)), e.confidence));
        }
    }
    if changes.is_empty() {
        return;
    }
    let capture_id = keep_evidence(s, id, &frame).await;
    for (slot, state, confidence) in changes {
        let observation =
            Observe { state, source: Source::Detector, confidence: Some(confidence), at: frame.taken_at, capture_id };
        if let Err(e) = s.lot.observe(slot, observation).await {
            tracing::warn!(camera = id, slot, error = %e, "the detector's change was not recorded");
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
