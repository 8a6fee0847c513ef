//! What one camera's analyses keep from frame to frame, apart from the models: the motion gate
//! that skips the models while the spaces look unchanged, the memory of what each space was last
//! confidently seen as, and the debouncer. The server's `Watch` and `smartpark eval --replay`
//! both run frames through it, so the replay measures the live behaviour itself.
//!
//! The memory is what time tells: a parked car does not move, and an empty space does not fill
//! without its pixels changing. A space confidently seen occupied (or free) keeps that answer for
//! as long as its pixels stay as they were in that frame, whatever a later analysis proposes (a
//! car the detector loses in one frame, a classifier swayed by a shadow elsewhere); once its
//! pixels change, the models decide again.

use std::collections::HashMap;
use std::sync::Arc;

use image::{GrayImage, RgbImage};

use super::geometry::Polygon;
use super::occupancy::{Debouncer, SpaceEvidence};
use crate::detect::motion::{MotionGate, MotionParams};

/// Evidence at least this sure is remembered while the space's pixels stay unchanged.
pub const HOLD_CONFIDENCE: f32 = 0.9;

/// A space's state that the analyses agreed on and should now be recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub slot: i64,
    pub occupied: bool,
    pub confidence: f32,
}

#[derive(Debug, Clone)]
struct Held {
    occupied: bool,
    confidence: f32,
    /// The grey copy of the frame it was seen in.
    frame: Arc<GrayImage>,
}

pub struct CameraLoop {
    gate: MotionGate,
    debouncer: Debouncer,
    /// The spaces (and frame size) the gate's regions were built for.
    regions: Vec<(i64, Polygon)>,
    size: (u32, u32),
    held: HashMap<i64, Held>,
    /// The evidence of the last analysis that ran the models, in the order of `regions`.
    last: Option<Vec<SpaceEvidence>>,
}

impl CameraLoop {
    pub fn new(motion: MotionParams, confirm: usize) -> CameraLoop {
        CameraLoop {
            gate: MotionGate::new(motion),
            debouncer: Debouncer::new(confirm),
            regions: Vec::new(),
            size: (0, 0),
            held: HashMap::new(),
            last: None,
        }
    }

    /// The small grey copy of a frame that motion is judged on.
    pub fn shrink(&self, frame: &RgbImage) -> GrayImage {
        self.gate.shrink(frame)
    }

    /// The spaces (id, polygon) and frame size of this analysis. A space that moved or went
    /// starts afresh; a new frame size forgets every memory (the grey copies no longer compare).
    pub fn set_spaces(&mut self, regions: Vec<(i64, Polygon)>, size: (u32, u32)) {
        if regions == self.regions && size == self.size {
            return;
        }
        for (old_id, old_polygon) in &self.regions {
            if size != self.size || !regions.iter().any(|(i, p)| i == old_id && p == old_polygon) {
                self.debouncer.forget(*old_id);
                self.held.remove(old_id);
            }
        }
        let polygons: Vec<Polygon> = regions.iter().map(|(_, p)| p.clone()).collect();
        self.gate.set_regions(size.0, size.1, &polygons);
        self.regions = regions;
        self.size = size;
        self.last = None;
    }

    /// Whether this frame must go to the models: some space changed since the last analysed
    /// frame, or there is none to compare with.
    pub fn needs_models(&self, small: &GrayImage) -> bool {
        self.gate.changed(small)
    }

    /// After the models: `evidence` and `current` (the spaces' present states) are in the order
    /// of the spaces given to `set_spaces`. Applies the memory, then the debouncer; the frame
    /// becomes the gate's reference. Returns the changes to record.
    pub fn conclude(&mut self, small: GrayImage, current: &[Option<bool>], evidence: &[SpaceEvidence]) -> Vec<Change> {
        let small = Arc::new(small);
        let evidence = self.remember(&small, evidence);
        let changes = self.debounce(current, &evidence);
        self.last = Some(evidence);
        self.gate.mark_analysed(Arc::unwrap_or_clone(small));
        changes
    }

    /// A frame the motion gate found unchanged: it shows what the last analysis saw, so it
    /// counts as one more analysis agreeing with it. Without this a pending change would wait
    /// for the scene to move (or for `max_interval_s`) before the debouncer could confirm it.
    pub fn unchanged(&mut self, current: &[Option<bool>]) -> Vec<Change> {
        match self.last.take() {
            Some(evidence) => {
                let changes = self.debounce(current, &evidence);
                self.last = Some(evidence);
                changes
            }
            None => Vec::new(),
        }
    }

    fn debounce(&mut self, current: &[Option<bool>], evidence: &[SpaceEvidence]) -> Vec<Change> {
        let mut changes = Vec::new();
        for (((id, _), now), e) in self.regions.iter().zip(current).zip(evidence) {
            if let Some(occupied) = self.debouncer.update(*id, *now, e) {
                changes.push(Change { slot: *id, occupied, confidence: e.confidence });
            }
        }
        changes
    }

    /// Each space's evidence, or what it was confidently seen as while its pixels have not
    /// changed since.
    fn remember(&mut self, small: &Arc<GrayImage>, evidence: &[SpaceEvidence]) -> Vec<SpaceEvidence> {
        // Spaces seen in the same frame share its grey copy: compare with each copy once.
        let mut changes_since: HashMap<*const GrayImage, Option<Vec<f32>>> = HashMap::new();
        let mut out = Vec::with_capacity(evidence.len());
        for (i, ((id, _), e)) in self.regions.iter().zip(evidence).enumerate() {
            let mut e = *e;
            if let Some(held) = self.held.get(id) {
                let fractions = changes_since
                    .entry(Arc::as_ptr(&held.frame))
                    .or_insert_with(|| self.gate.region_changes_since(&held.frame, small));
                let still = fractions.as_ref().and_then(|f| f.get(i)).is_some_and(|&f| !self.gate.is_change(f));
                if still {
                    if e.occupied != held.occupied {
                        e = SpaceEvidence { occupied: held.occupied, confidence: held.confidence, vehicle: e.vehicle };
                    }
                } else {
                    self.held.remove(id);
                }
            }
            if e.confidence >= HOLD_CONFIDENCE && !self.held.contains_key(id) {
                self.held.insert(*id, Held { occupied: e.occupied, confidence: e.confidence, frame: small.clone() });
            }
            out.push(e);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x1: f64, y1: f64, x2: f64, y2: f64) -> Polygon {
        Polygon::new(vec![[x1, y1], [x2, y1], [x2, y2], [x1, y2]]).unwrap()
    }

    fn asphalt() -> RgbImage {
        RgbImage::from_fn(320, 180, |x, y| {
            let v = (90 + (x * 7 + y * 13) % 23) as u8;
            image::Rgb([v, v, v])
        })
    }

    /// A car: roof, windows and edges, not a flat colour (light changes are taken off as local
    /// means, so only structure counts as motion).
    fn with_car(mut img: RgbImage) -> RgbImage {
        for y in 20..80 {
            for x in 20..60 {
                let c = if (x / 4 + y / 4) % 2 == 0 { [220, 40, 40] } else { [20, 20, 30] };
                img.put_pixel(x, y, image::Rgb(c));
            }
        }
        img
    }

    fn seen(occupied: bool, confidence: f32) -> SpaceEvidence {
        SpaceEvidence { occupied, confidence, vehicle: None }
    }

    #[test]
    fn a_confident_answer_holds_while_the_pixels_do() {
        let mut lp = CameraLoop::new(MotionParams::default(), 1);
        lp.set_spaces(vec![(1, rect(10.0, 10.0, 70.0, 90.0)), (2, rect(100.0, 10.0, 160.0, 90.0))], (320, 180));
        let parked = with_car(asphalt());
        let small = lp.shrink(&parked);
        assert!(lp.needs_models(&small), "nothing to compare with yet");
        let changes = lp.conclude(small, &[None, None], &[seen(true, 0.99), seen(false, 0.95)]);
        assert_eq!(changes.len(), 2);
        // Same pixels, and the models lose the car: the space stays occupied.
        let small = lp.shrink(&parked);
        assert!(!lp.needs_models(&small));
        assert!(lp.conclude(small, &[Some(true), Some(false)], &[seen(false, 0.8), seen(false, 0.9)]).is_empty());
        // The car leaves: its pixels change and the models decide again.
        let small = lp.shrink(&asphalt());
        assert!(lp.needs_models(&small));
        let changes = lp.conclude(small, &[Some(true), Some(false)], &[seen(false, 0.97), seen(false, 0.97)]);
        assert_eq!(changes, [Change { slot: 1, occupied: false, confidence: 0.97 }]);
    }

    #[test]
    fn an_unchanged_frame_confirms_what_the_last_analysis_saw() {
        let mut lp = CameraLoop::new(MotionParams::default(), 3);
        lp.set_spaces(vec![(1, rect(10.0, 10.0, 70.0, 90.0))], (320, 180));
        assert!(lp.unchanged(&[None]).is_empty(), "nothing seen yet");
        let img = with_car(asphalt());
        assert!(lp.conclude(lp.shrink(&img), &[None], &[seen(true, 0.7)]).is_empty());
        assert!(lp.unchanged(&[None]).is_empty());
        assert_eq!(lp.unchanged(&[None]), [Change { slot: 1, occupied: true, confidence: 0.7 }]);
        assert!(lp.unchanged(&[Some(true)]).is_empty());
        // New spaces: the old evidence no longer applies.
        lp.set_spaces(vec![(2, rect(100.0, 10.0, 160.0, 90.0))], (320, 180));
        assert!(lp.unchanged(&[None]).is_empty());
    }

    #[test]
    fn a_doubtful_answer_is_not_held_and_a_moved_space_starts_afresh() {
        let mut lp = CameraLoop::new(MotionParams::default(), 1);
        let spaces = vec![(1, rect(10.0, 10.0, 70.0, 90.0))];
        lp.set_spaces(spaces.clone(), (320, 180));
        let img = with_car(asphalt());
        assert_eq!(lp.conclude(lp.shrink(&img), &[None], &[seen(true, 0.6)]).len(), 1);
        // Not held: the next answer on the same pixels stands.
        assert_eq!(lp.conclude(lp.shrink(&img), &[Some(true)], &[seen(false, 0.7)]).len(), 1);
        assert!(lp.conclude(lp.shrink(&img), &[Some(false)], &[seen(true, 0.95)]).len() == 1);
        // Held now; moving the space forgets it.
        lp.set_spaces(vec![(1, rect(12.0, 10.0, 70.0, 90.0))], (320, 180));
        assert_eq!(lp.conclude(lp.shrink(&img), &[Some(true)], &[seen(false, 0.7)]).len(), 1);
    }
}
