//! One analysis of a camera's newest frame: decoded; unless the motion gate finds the spaces
//! unchanged, the detector finds the vehicles and the space classifier reads each space, the
//! occupancy rule weighs both into evidence per space, and the camera's loop (memory of what is
//! still, corrections by hand, debounce) decides what changes; `report` tells the spaces.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use image::GrayImage;

use super::camera_loop::CameraLoop;
use super::motion::MotionGate;
use super::occupancy::{assess, VehicleBox};
use super::report::record;
use super::watch::{Sighting, Watching};
use crate::camera::feed::Frame;
use crate::detect::preprocess::decode;
use crate::parking::geometry::Polygon;
use crate::parking::state::{SlotState, SlotView, Source};

pub(super) struct CameraWatch {
    pub(super) looping: CameraLoop<Arc<Frame>>,
    /// The spaces set by hand whose hold is in the loop, with the time of that change.
    pub(super) by_hand: HashMap<i64, DateTime<Utc>>,
    pub(super) next_due: Instant,
    pub(super) last_detect: Option<Instant>,
    pub(super) last_frame: Option<(u64, DateTime<Utc>)>,
    /// When a frame of this camera last decoded (or when watching began).
    pub(super) last_usable: Instant,
    /// Its spaces were made unknown for want of frames, and no usable frame came since.
    pub(super) unseen: bool,
}

pub(super) async fn analyse(s: &Watching, id: &str, w: &mut CameraWatch) {
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
        Err(_) => {
            return failed(format!("no answer from the detector within detect.timeout_s ({} s)", s.config.timeout_s))
        }
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
