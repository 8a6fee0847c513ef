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
use std::time::Instant;

use image::{GrayImage, RgbImage};

use super::occupancy::{Debouncer, SpaceEvidence};
use crate::analysis::motion::{MotionGate, MotionParams};
use crate::parking::geometry::Polygon;

/// Evidence at least this sure is remembered while the space's pixels stay unchanged.
pub const HOLD_CONFIDENCE: f32 = 0.9;

/// A space's state that the analyses agreed on and should now be recorded, with what first
/// showed it (the server's frame: the change's time and evidence).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change<T = ()> {
    pub slot: i64,
    pub occupied: bool,
    pub confidence: f32,
    pub first: T,
}

#[derive(Debug, Clone)]
struct Held {
    occupied: bool,
    confidence: f32,
    /// The grey copy of the frame it was seen in (or set by hand on).
    frame: Arc<GrayImage>,
    /// Set by hand: held until this instant at most (None: until the pixels change).
    by_hand: Option<Option<Instant>>,
}

pub struct CameraLoop<T = ()> {
    gate: MotionGate,
    debouncer: Debouncer<T>,
    /// The spaces (and frame size) the gate's regions were built for.
    regions: Vec<(i64, Polygon)>,
    size: (u32, u32),
    held: HashMap<i64, Held>,
    /// The evidence of the last analysis that ran the models, in the order of `regions`.
    last: Option<Vec<SpaceEvidence>>,
}

impl<T: Clone> CameraLoop<T> {
    pub fn new(motion: MotionParams, confirm: usize) -> CameraLoop<T> {
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

    /// A person set the space to `occupied` while the camera showed `small` (the frame of this
    /// analysis): that answer holds while the space's pixels stay as they are there, or until
    /// `until`; then the models judge it again. An operator corrects what the models get wrong,
    /// so they must not undo it at once.
    pub fn set_by_hand(&mut self, slot: i64, occupied: bool, small: &GrayImage, until: Option<Instant>) {
        let Some(i) = self.regions.iter().position(|(id, _)| *id == slot) else { return };
        self.debouncer.forget(slot);
        let frame = Arc::new(small.clone());
        self.held.insert(slot, Held { occupied, confidence: 1.0, frame, by_hand: Some(until) });
        // An unchanged frame repeats the last evidence: it must repeat the correction.
        if let Some(e) = self.last.as_mut().and_then(|last| last.get_mut(i)) {
            *e = SpaceEvidence { occupied, confidence: 1.0, vehicle: e.vehicle };
        }
    }

    /// Ends the holds by hand whose time is up; true when one ended (the models must look again,
    /// whether or not anything moved).
    pub fn expire_holds(&mut self, now: Instant) -> bool {
        let before = self.held.len();
        self.held.retain(|_, h| !matches!(h.by_hand, Some(Some(until)) if until <= now));
        let ended = self.held.len() != before;
        if ended {
            self.last = None;
        }
        ended
    }

    /// After the models: `evidence` and `current` (the spaces' present states) are in the order
    /// of the spaces given to `set_spaces`; `shown` is the frame analysed. Applies the memory,
    /// then the debouncer; the frame becomes the gate's reference. Returns the changes to record.
    pub fn conclude(
        &mut self,
        small: GrayImage,
        current: &[Option<bool>],
        evidence: &[SpaceEvidence],
        shown: &T,
    ) -> Vec<Change<T>> {
        let small = Arc::new(small);
        let evidence = self.remember(&small, evidence);
        let changes = self.debounce(current, &evidence, shown);
        self.last = Some(evidence);
        self.gate.mark_analysed(Arc::unwrap_or_clone(small));
        changes
    }

    /// A frame the motion gate found unchanged: it shows what the last analysis saw, so it
    /// counts as one more analysis agreeing with it. Without this a pending change would wait
    /// for the scene to move (or for `max_interval_s`) before the debouncer could confirm it.
    pub fn unchanged(&mut self, current: &[Option<bool>], shown: &T) -> Vec<Change<T>> {
        match self.last.take() {
            Some(evidence) => {
                let changes = self.debounce(current, &evidence, shown);
                self.last = Some(evidence);
                changes
            }
            None => Vec::new(),
        }
    }

    fn debounce(&mut self, current: &[Option<bool>], evidence: &[SpaceEvidence], shown: &T) -> Vec<Change<T>> {
        let mut changes = Vec::new();
        for (((id, _), now), e) in self.regions.iter().zip(current).zip(evidence) {
            if let Some((occupied, first)) = self.debouncer.update(*id, *now, e, shown) {
                changes.push(Change { slot: *id, occupied, confidence: e.confidence, first });
            }
        }
        changes
    }

    /// Each space's evidence, or what it was confidently seen as (or set to by hand) while its
    /// pixels have not changed since.
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
                self.held.insert(
                    *id,
                    Held { occupied: e.occupied, confidence: e.confidence, frame: small.clone(), by_hand: None },
                );
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
        let mut lp: CameraLoop = CameraLoop::new(MotionParams::default(), 1);
        lp.set_spaces(vec![(1, rect(10.0, 10.0, 70.0, 90.0)), (2, rect(100.0, 10.0, 160.0, 90.0))], (320, 180));
        let parked = with_car(asphalt());
        let small = lp.shrink(&parked);
        assert!(lp.needs_models(&small), "nothing to compare with yet");
        let changes = lp.conclude(small, &[None, None], &[seen(true, 0.99), seen(false, 0.95)], &());
        assert_eq!(changes.len(), 2);
        // Same pixels, and the models lose the car: the space stays occupied.
        let small = lp.shrink(&parked);
        assert!(!lp.needs_models(&small));
        assert!(lp.conclude(small, &[Some(true), Some(false)], &[seen(false, 0.8), seen(false, 0.9)], &()).is_empty());
        // The car leaves: its pixels change and the models decide again.
        let small = lp.shrink(&asphalt());
        assert!(lp.needs_models(&small));
        let changes = lp.conclude(small, &[Some(true), Some(false)], &[seen(false, 0.97), seen(false, 0.97)], &());
        assert_eq!(changes, [Change { slot: 1, occupied: false, confidence: 0.97, first: () }]);
    }

    #[test]
    fn an_unchanged_frame_confirms_what_the_last_analysis_saw() {
        let mut lp: CameraLoop = CameraLoop::new(MotionParams::default(), 3);
        lp.set_spaces(vec![(1, rect(10.0, 10.0, 70.0, 90.0))], (320, 180));
        assert!(lp.unchanged(&[None], &()).is_empty(), "nothing seen yet");
        let img = with_car(asphalt());
        assert!(lp.conclude(lp.shrink(&img), &[None], &[seen(true, 0.7)], &()).is_empty());
        assert!(lp.unchanged(&[None], &()).is_empty());
        assert_eq!(lp.unchanged(&[None], &()), [Change { slot: 1, occupied: true, confidence: 0.7, first: () }]);
        assert!(lp.unchanged(&[Some(true)], &()).is_empty());
        // New spaces: the old evidence no longer applies.
        lp.set_spaces(vec![(2, rect(100.0, 10.0, 160.0, 90.0))], (320, 180));
        assert!(lp.unchanged(&[None], &()).is_empty());
    }

    #[test]
    fn a_doubtful_answer_is_not_held_and_a_moved_space_starts_afresh() {
        let mut lp: CameraLoop = CameraLoop::new(MotionParams::default(), 1);
        let spaces = vec![(1, rect(10.0, 10.0, 70.0, 90.0))];
        lp.set_spaces(spaces.clone(), (320, 180));
        let img = with_car(asphalt());
        assert_eq!(lp.conclude(lp.shrink(&img), &[None], &[seen(true, 0.6)], &()).len(), 1);
        // Not held: the next answer on the same pixels stands.
        assert_eq!(lp.conclude(lp.shrink(&img), &[Some(true)], &[seen(false, 0.7)], &()).len(), 1);
        assert!(lp.conclude(lp.shrink(&img), &[Some(false)], &[seen(true, 0.95)], &()).len() == 1);
        // Held now; moving the space forgets it.
        lp.set_spaces(vec![(1, rect(12.0, 10.0, 70.0, 90.0))], (320, 180));
        assert_eq!(lp.conclude(lp.shrink(&img), &[Some(true)], &[seen(false, 0.7)], &()).len(), 1);
    }

    #[test]
    fn a_change_is_stamped_with_the_frame_that_first_showed_it() {
        let mut lp: CameraLoop<u32> = CameraLoop::new(MotionParams::default(), 3);
        lp.set_spaces(vec![(1, rect(10.0, 10.0, 70.0, 90.0))], (320, 180));
        let img = with_car(asphalt());
        assert!(lp.conclude(lp.shrink(&img), &[Some(false)], &[seen(true, 0.7)], &10).is_empty());
        assert!(lp.unchanged(&[Some(false)], &11).is_empty());
        assert_eq!(lp.unchanged(&[Some(false)], &12), [Change { slot: 1, occupied: true, confidence: 0.7, first: 10 }]);
    }

    #[test]
    fn a_correction_by_hand_holds_until_the_space_changes_or_its_time_is_up() {
        let mut lp: CameraLoop<u32> = CameraLoop::new(MotionParams::default(), 2);
        lp.set_spaces(vec![(1, rect(10.0, 10.0, 70.0, 90.0))], (320, 180));
        let parked = with_car(asphalt());
        // The models call the space occupied.
        assert!(lp.conclude(lp.shrink(&parked), &[Some(false)], &[seen(true, 0.8)], &1).is_empty());
        assert_eq!(lp.unchanged(&[Some(false)], &2).len(), 1);
        // An operator says free; the scene stays as it was: the correction holds, whatever the
        // models say about the same pixels.
        let small = lp.shrink(&parked);
        lp.set_by_hand(1, false, &small, None);
        for n in 3..8 {
            assert!(lp.unchanged(&[Some(false)], &n).is_empty());
            assert!(lp.conclude(lp.shrink(&parked), &[Some(false)], &[seen(true, 0.95)], &n).is_empty());
        }
        // The space changes (the car goes, one comes): the models judge it again.
        assert!(lp.conclude(lp.shrink(&asphalt()), &[Some(false)], &[seen(false, 0.95)], &8).is_empty());
        assert!(lp.conclude(lp.shrink(&parked), &[Some(false)], &[seen(true, 0.8)], &9).is_empty());
        assert_eq!(lp.unchanged(&[Some(false)], &10), [Change { slot: 1, occupied: true, confidence: 0.8, first: 9 }]);

        // With a time limit, the hold ends when it is up, even though nothing moved.
        let small = lp.shrink(&parked);
        lp.set_by_hand(1, false, &small, Some(Instant::now()));
        assert!(lp.expire_holds(Instant::now()), "its time is up");
        assert!(!lp.expire_holds(Instant::now()), "once");
        assert!(lp.conclude(lp.shrink(&parked), &[Some(false)], &[seen(true, 0.8)], &11).is_empty());
        assert_eq!(lp.unchanged(&[Some(false)], &12).len(), 1);
    }
}
