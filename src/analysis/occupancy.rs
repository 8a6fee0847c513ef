//! Which spaces of one camera are occupied, from the vehicle boxes of one frame.
//!
//! The rule: a vehicle stands on the ground, so its box's lower part (the "footprint") is what
//! says which space it is in; in an oblique view the upper part of the box (roof, windscreen)
//! hangs over the space behind it. Each (space, box) pair is scored by the intersection over
//! union of the space polygon and the footprint rectangle, which penalises both a small box
//! inside a big space and a big box that merely touches a space. Boxes are then given to spaces
//! one-to-one, best pairs first, so one car across a line fills one space, not two; a space
//! whose assigned pair scores below `min_evidence` is free. Frame-to-frame memory is the
//! [`Debouncer`]'s job, not this one's.
//!
//! With the space classifier, each space also has its own probability of being occupied, read
//! from its patch. The two are weighed as independent evidence, in log-odds (each adds the log of
//! its likelihood ratio): the classifier's logit, plus `box_weight` when a box fills the space,
//! minus `no_box_weight` when no vehicle box touches it at all. The weights are what the
//! detector's worst measured lot says of it: where it puts a box it is right 98% of the time or
//! more (ln(0.98/0.02) ≈ 4), so a box outweighs all but a very sure classifier; but it misses up
//! to 35% of the cars (PKLot PUCPR), so its silence is weak evidence (ln(1/0.35) ≈ 1).

use std::collections::HashMap;

use crate::parking::geometry::Polygon;

/// A detector box in the pixel coordinates of the frame the spaces are drawn on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VehicleBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct OccupancyParams {
    /// Boxes scoring below this are ignored. Low on purpose: a small, far or half-hidden car
    /// often scores 0.05–0.25 with a nano model, and the geometric test plus one-box-per-space
    /// already rejects most stray low boxes. Pass the detector's own threshold at or below it.
    pub min_score: f32,
    /// The footprint is this fraction of the box's height, measured up from its bottom edge.
    /// 1.0 uses the whole box (right for a camera looking straight down).
    pub footprint: f32,
    /// A space is occupied when its assigned box's footprint overlaps it with at least this
    /// intersection over union.
    pub min_evidence: f32,
    /// Two boxes overlapping more than this are one vehicle reported twice (for instance as
    /// "car" and as "truck", since the detector's suppression works per class).
    pub duplicate_iou: f32,
    /// With the space classifier: the log-odds a detector box that fills a space adds to the
    /// classifier's. 4 is a detector right 98% of the time where it puts a box.
    pub box_weight: f32,
    /// With the space classifier: the log-odds taken off when no vehicle box touches the space
    /// at all. 1 is a detector that finds at least 65% of the cars.
    pub no_box_weight: f32,
}

impl Default for OccupancyParams {
    fn default() -> Self {
        OccupancyParams {
            min_score: 0.05,
            footprint: 0.5,
            min_evidence: 0.15,
            duplicate_iou: 0.7,
            box_weight: 4.0,
            no_box_weight: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpaceEvidence {
    pub occupied: bool,
    /// 0.5..=1, how sure: 0.5 right at `min_evidence`, 1 at no overlap (free) or at twice
    /// `min_evidence` (occupied).
    pub confidence: f32,
    /// The box assigned to the space, index into the input slice.
    pub vehicle: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OccupancyParamsError {
    #[error("min_score must be a number from 0 to 1")]
    MinScore,
    #[error("footprint must be a fraction above 0 and at most 1")]
    Footprint,
    #[error("min_evidence must be a number above 0 and at most 1")]
    MinEvidence,
    #[error("duplicate_iou must be a number above 0 and at most 1")]
    DuplicateIou,
    #[error("box_weight and no_box_weight must be numbers from 0 to 20")]
    Weight,
}

impl OccupancyParams {
    pub fn validate(&self) -> Result<(), OccupancyParamsError> {
        let within = |v: f32, low_open: bool| v.is_finite() && v <= 1.0 && if low_open { v > 0.0 } else { v >= 0.0 };
        if !within(self.min_score, false) {
            return Err(OccupancyParamsError::MinScore);
        }
        if !within(self.footprint, true) {
            return Err(OccupancyParamsError::Footprint);
        }
        if !within(self.min_evidence, true) {
            return Err(OccupancyParamsError::MinEvidence);
        }
        if !within(self.duplicate_iou, true) {
            return Err(OccupancyParamsError::DuplicateIou);
        }
        let weight = |w: f32| w.is_finite() && (0.0..=20.0).contains(&w);
        if !weight(self.box_weight) || !weight(self.no_box_weight) {
            return Err(OccupancyParamsError::Weight);
        }
        Ok(())
    }
}

/// One frame, no memory: evidence for each space (same order as `spaces`), from the detector's
/// boxes and, when there is one, the space classifier's probability for each space. A box counts
/// for at most one space.
pub fn assess(
    spaces: &[Polygon],
    boxes: &[VehicleBox],
    classifier: Option<&[f32]>,
    params: &OccupancyParams,
) -> Vec<SpaceEvidence> {
    let from_boxes = assess_boxes(spaces, boxes, params);
    match classifier {
        Some(p) if p.len() == spaces.len() => {
            from_boxes.iter().zip(p).map(|(&(b, touched), &p)| fuse(b, touched, p, params)).collect()
        }
        _ => from_boxes.into_iter().map(|(b, _)| b).collect(),
    }
}

/// The classifier's log-odds, plus the box's weight when one fills the space, minus the
/// silence's when none touches it.
fn fuse(boxes: SpaceEvidence, touched: bool, probability: f32, params: &OccupancyParams) -> SpaceEvidence {
    let weight = |w: f32| if w.is_finite() { f64::from(w).clamp(0.0, 20.0) } else { 0.0 };
    let p = if probability.is_finite() { f64::from(probability).clamp(1e-6, 1.0 - 1e-6) } else { 0.5 };
    let detector = match (boxes.occupied, touched) {
        (true, _) => weight(params.box_weight),
        (false, false) => -weight(params.no_box_weight),
        (false, true) => 0.0,
    };
    let z = (p / (1.0 - p)).ln() + detector;
    SpaceEvidence { occupied: z > 0.0, confidence: (1.0 / (1.0 + (-z.abs()).exp())) as f32, vehicle: boxes.vehicle }
}

/// The detector's boxes alone, and whether any vehicle's footprint touched each space.
fn assess_boxes(spaces: &[Polygon], boxes: &[VehicleBox], params: &OccupancyParams) -> Vec<(SpaceEvidence, bool)> {
    // Parameters come from configuration; an out-of-range value must not make every space
    // occupied or panic, so it falls back to the safe end of its range.
    let footprint =
        if params.footprint.is_finite() && params.footprint > 0.0 { params.footprint.min(1.0) } else { 1.0 };
    let threshold = if params.min_evidence.is_finite() && params.min_evidence > 0.0 {
        f64::from(params.min_evidence.min(1.0))
    } else {
        1.0
    };
    let vehicles = distinct_vehicles(boxes, params);
    let feet: Vec<(usize, Rect)> = vehicles.iter().map(|&i| (i, Rect::footprint(&boxes[i], footprint))).collect();

    // Every overlapping (space, box) pair with its evidence.
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    let mut strongest = vec![0.0f64; spaces.len()];
    for (s, poly) in spaces.iter().enumerate() {
        let pts = poly.points();
        let bounds = Rect::bounding(pts);
        let area = poly.area();
        for &(b, foot) in &feet {
            if !bounds.overlaps(&foot) {
                continue;
            }
            let inter = polygon_rect_area(pts, foot.x1, foot.y1, foot.x2, foot.y2);
            let union = area + foot.area() - inter;
            if inter <= 0.0 || union <= 0.0 {
                continue;
            }
            let evidence = inter / union;
            strongest[s] = strongest[s].max(evidence);
            pairs.push((evidence, s, b));
        }
    }

    // Greedy, best pair first: the best pair is almost always mutually best, and unlike a
    // maximum-sum matching it never gives up a clear match to fill two doubtful spaces.
    // Indices break ties so the answer does not depend on sort stability.
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut assigned: Vec<Option<(usize, f64)>> = vec![None; spaces.len()];
    let mut used = vec![false; boxes.len()];
    for (evidence, s, b) in pairs {
        if evidence < threshold {
            break;
        }
        if assigned[s].is_some() || used[b] {
            continue;
        }
        assigned[s] = Some((b, evidence));
        used[b] = true;
    }

    assigned
        .iter()
        .zip(&strongest)
        .map(|(a, &strongest)| match *a {
            Some((b, evidence)) => (
                SpaceEvidence {
                    occupied: true,
                    confidence: sureness((evidence - threshold) / threshold),
                    vehicle: Some(b),
                },
                true,
            ),
            // A strong box that went to a neighbour leaves this space barely free.
            None => (
                SpaceEvidence { occupied: false, confidence: sureness(1.0 - strongest / threshold), vehicle: None },
                strongest > 0.0,
            ),
        })
        .collect()
}

fn sureness(margin: f64) -> f32 {
    (0.5 + 0.5 * margin.clamp(0.0, 1.0)) as f32
}

/// Indices of the usable boxes, one per vehicle: the detector suppresses duplicates only within
/// a class, so the same car may come as "car" and "truck"; the better-scored one stays.
fn distinct_vehicles(boxes: &[VehicleBox], params: &OccupancyParams) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len())
        .filter(|&i| {
            let b = &boxes[i];
            let finite = [b.x1, b.y1, b.x2, b.y2, b.score].iter().all(|v| v.is_finite());
            finite && b.x2 > b.x1 && b.y2 > b.y1 && b.score >= params.min_score
        })
        .collect();
    order.sort_by(|&a, &b| boxes[b].score.total_cmp(&boxes[a].score).then(a.cmp(&b)));
    let duplicate = f64::from(params.duplicate_iou);
    let mut kept: Vec<usize> = Vec::with_capacity(order.len());
    for i in order {
        let r = Rect::whole(&boxes[i]);
        if kept.iter().all(|&k| r.iou(&Rect::whole(&boxes[k])) <= duplicate) {
            kept.push(i);
        }
    }
    kept
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
}

impl Rect {
    fn whole(b: &VehicleBox) -> Rect {
        Rect { x1: f64::from(b.x1), y1: f64::from(b.y1), x2: f64::from(b.x2), y2: f64::from(b.y2) }
    }

    /// The lower `fraction` of the box: where the vehicle meets the ground.
    fn footprint(b: &VehicleBox, fraction: f32) -> Rect {
        let r = Rect::whole(b);
        Rect { y1: r.y2 - f64::from(fraction) * (r.y2 - r.y1), ..r }
    }

    fn bounding(pts: &[[f64; 2]]) -> Rect {
        let mut r = Rect { x1: f64::INFINITY, y1: f64::INFINITY, x2: f64::NEG_INFINITY, y2: f64::NEG_INFINITY };
        for p in pts {
            r = Rect { x1: r.x1.min(p[0]), y1: r.y1.min(p[1]), x2: r.x2.max(p[0]), y2: r.y2.max(p[1]) };
        }
        r
    }

    fn area(&self) -> f64 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }

    fn overlaps(&self, o: &Rect) -> bool {
        self.x1 < o.x2 && o.x1 < self.x2 && self.y1 < o.y2 && o.y1 < self.y2
    }

    fn iou(&self, o: &Rect) -> f64 {
        let inter = Rect { x1: self.x1.max(o.x1), y1: self.y1.max(o.y1), x2: self.x2.min(o.x2), y2: self.y2.min(o.y2) };
        let i = inter.area();
        let u = self.area() + o.area() - i;
        if u > 0.0 {
            i / u
        } else {
            0.0
        }
    }
}

/// Area of the part of a simple polygon inside the rectangle [x1, x2] × [y1, y2].
///
/// Sutherland–Hodgman: clipping any simple polygon against a convex region may leave
/// zero-width bridges along the clip edges, but those add no area, so the shoelace sum of the
/// result is exact.
pub fn polygon_rect_area(poly: &[[f64; 2]], x1: f64, y1: f64, x2: f64, y2: f64) -> f64 {
    if !(x2 > x1 && y2 > y1) || poly.len() < 3 {
        return 0.0;
    }
    // (axis, bound, keep the side above the bound)
    let edges = [(0, x1, true), (0, x2, false), (1, y1, true), (1, y2, false)];
    let mut cur: Vec<[f64; 2]> = poly.to_vec();
    let mut next: Vec<[f64; 2]> = Vec::with_capacity(poly.len() + 4);
    for (axis, bound, above) in edges {
        let inside = |p: [f64; 2]| if above { p[axis] >= bound } else { p[axis] <= bound };
        let cut = |a: [f64; 2], b: [f64; 2]| {
            let t = (bound - a[axis]) / (b[axis] - a[axis]);
            let mut p = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
            // Exactly on the bound, whatever the rounding of t.
            p[axis] = bound;
            p
        };
        next.clear();
        let mut prev = cur[cur.len() - 1];
        for &p in &cur {
            match (inside(prev), inside(p)) {
                (true, true) => next.push(p),
                (true, false) => next.push(cut(prev, p)),
                (false, true) => {
                    next.push(cut(prev, p));
                    next.push(p);
                }
                (false, false) => {}
            }
            prev = p;
        }
        std::mem::swap(&mut cur, &mut next);
        if cur.len() < 3 {
            return 0.0;
        }
    }
    let n = cur.len();
    let twice: f64 = (0..n).map(|i| cur[i][0] * cur[(i + 1) % n][1] - cur[(i + 1) % n][0] * cur[i][1]).sum();
    twice.abs() / 2.0
}

/// Memory across analyses: a space's state changes only when `confirm` consecutive analyses
/// agree, so one missed detection or one passer-by does not flip it.
#[derive(Debug, Clone)]
pub struct Debouncer<T = ()> {
    confirm: usize,
    /// Per space: the state the recent analyses keep proposing, how many in a row, and what
    /// showed it first (the frame a change is stamped with).
    pending: HashMap<i64, (bool, usize, T)>,
}

impl<T: Clone> Debouncer<T> {
    /// `confirm` 0 is taken as 1: an analysis always counts for itself.
    pub fn new(confirm: usize) -> Debouncer<T> {
        Debouncer { confirm: confirm.max(1), pending: HashMap::new() }
    }

    /// `current` = the state the space has now (Some(true)=occupied, Some(false)=free,
    /// None=unknown); `shown` = what this analysis looked at. Returns the new state and what
    /// first showed it exactly when the space should change now (after `confirm` agreeing
    /// analyses that differ from current); key = the space id.
    pub fn update(
        &mut self,
        key: i64,
        current: Option<bool>,
        evidence: &SpaceEvidence,
        shown: &T,
    ) -> Option<(bool, T)> {
        let seen = evidence.occupied;
        if current == Some(seen) {
            // Agreement with the present state breaks any streak towards the other one.
            self.pending.remove(&key);
            return None;
        }
        let streak = match self.pending.get_mut(&key) {
            Some((state, count, _)) if *state == seen => {
                *count += 1;
                *count
            }
            _ => {
                self.pending.insert(key, (seen, 1, shown.clone()));
                1
            }
        };
        if streak >= self.confirm {
            self.pending.remove(&key).map(|(state, _, first)| (state, first))
        } else {
            None
        }
    }

    /// The space was deleted, reshaped or set by hand: its streak no longer means anything.
    pub fn forget(&mut self, key: i64) {
        self.pending.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poly(p: &[[f64; 2]]) -> Polygon {
        Polygon::new(p.to_vec()).unwrap()
    }

    fn rect(x1: f64, y1: f64, x2: f64, y2: f64) -> Polygon {
        poly(&[[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
    }

    fn car(x1: f32, y1: f32, x2: f32, y2: f32) -> VehicleBox {
        VehicleBox { x1, y1, x2, y2, score: 0.8 }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn clipped_area_is_exact() {
        let sq = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        assert!(close(polygon_rect_area(&sq, 5.0, 5.0, 20.0, 20.0), 25.0));
        assert!(close(polygon_rect_area(&sq, -5.0, -5.0, 20.0, 20.0), 100.0));
        assert!(close(polygon_rect_area(&sq, 2.0, 2.0, 4.0, 4.0), 4.0));
        assert!(close(polygon_rect_area(&sq, 11.0, 0.0, 20.0, 10.0), 0.0));
        // Clockwise winding gives the same area.
        let cw: Vec<[f64; 2]> = sq.iter().rev().copied().collect();
        assert!(close(polygon_rect_area(&cw, 5.0, 5.0, 20.0, 20.0), 25.0));
        // A diamond cut through its middle: half of its area of 50.
        let diamond = [[5.0, 0.0], [10.0, 5.0], [5.0, 10.0], [0.0, 5.0]];
        assert!(close(polygon_rect_area(&diamond, 0.0, 0.0, 10.0, 5.0), 25.0));
        // A concave L (area 64) under a rectangle that crosses its notch twice.
        let l = [[0.0, 0.0], [10.0, 0.0], [10.0, 4.0], [4.0, 4.0], [4.0, 10.0], [0.0, 10.0]];
        assert!(close(polygon_rect_area(&l, 0.0, 0.0, 10.0, 10.0), 64.0));
        assert!(close(polygon_rect_area(&l, 2.0, 2.0, 8.0, 8.0), 4.0 * 2.0 + 2.0 * 4.0 + 2.0 * 2.0));
        // Degenerate rectangles have no area.
        assert_eq!(polygon_rect_area(&sq, 5.0, 5.0, 5.0, 9.0), 0.0);
        assert_eq!(polygon_rect_area(&sq, f64::NAN, 0.0, 5.0, 5.0), 0.0);
    }

    #[test]
    fn a_car_in_its_space_fills_it_and_the_rest_stay_free() {
        let spaces = [rect(0.0, 50.0, 40.0, 100.0), rect(50.0, 50.0, 90.0, 100.0)];
        let ev = assess(&spaces, &[car(2.0, 30.0, 38.0, 98.0)], None, &OccupancyParams::default());
        assert!(ev[0].occupied);
        assert_eq!(ev[0].vehicle, Some(0));
        assert!(!ev[1].occupied);
        assert_eq!(ev[1].confidence, 1.0);
        assert!((0.5..=1.0).contains(&ev[0].confidence));
    }

    #[test]
    fn a_car_across_the_line_fills_one_space() {
        let spaces = [rect(0.0, 0.0, 40.0, 50.0), rect(40.0, 0.0, 80.0, 50.0)];
        // A little more on the right: the right space gets it.
        let ev = assess(&spaces, &[car(22.0, 0.0, 64.0, 50.0)], None, &OccupancyParams::default());
        assert_eq!(ev.iter().filter(|e| e.occupied).count(), 1);
        assert!(ev[1].occupied);
        // The left space saw strong evidence that went elsewhere: it is free, but not surely.
        assert!(ev[0].confidence < 0.6);
    }

    #[test]
    fn the_top_of_a_car_over_the_space_behind_does_not_fill_it() {
        // Oblique view: the row behind is higher up in the image. The car's box covers the
        // back space's lower part with its roof, and its own space with its lower half.
        let back = rect(0.0, 0.0, 40.0, 40.0);
        let front = rect(0.0, 40.0, 40.0, 80.0);
        let tall = car(2.0, 20.0, 38.0, 78.0);
        let ev = assess(&[back.clone(), front.clone()], &[tall], None, &OccupancyParams::default());
        assert!(!ev[0].occupied && ev[1].occupied);
        // With the whole box as footprint the roof would count as much as the wheels.
        let whole = OccupancyParams { footprint: 1.0, ..OccupancyParams::default() };
        let one = assess(&[back], &[tall], None, &whole);
        assert!(one[0].occupied, "without a footprint the roof alone fills the back space");
    }

    #[test]
    fn small_low_or_broken_boxes_do_not_count() {
        let spaces = [rect(0.0, 0.0, 100.0, 100.0)];
        let p = OccupancyParams::default();
        // A cyclist-sized box in a car-sized space.
        assert!(!assess(&spaces, &[car(40.0, 60.0, 50.0, 90.0)], None, &p)[0].occupied);
        let faint = VehicleBox { score: 0.01, ..car(0.0, 0.0, 100.0, 100.0) };
        assert!(!assess(&spaces, &[faint], None, &p)[0].occupied);
        let nan = VehicleBox { x1: f32::NAN, ..car(0.0, 0.0, 100.0, 100.0) };
        assert!(!assess(&spaces, &[nan], None, &p)[0].occupied);
        let inverted = car(100.0, 100.0, 0.0, 0.0);
        assert!(!assess(&spaces, &[inverted], None, &p)[0].occupied);
        assert!(assess(&[], &[car(0.0, 0.0, 1.0, 1.0)], None, &p).is_empty());
        assert!(!assess(&spaces, &[], None, &p)[0].occupied);
    }

    #[test]
    fn one_car_reported_twice_fills_one_space() {
        // Same car as "car" and as "truck"; the neighbour is empty but its edge is touched.
        let spaces = [rect(0.0, 0.0, 40.0, 60.0), rect(40.0, 0.0, 80.0, 60.0)];
        let as_car = car(2.0, 0.0, 46.0, 58.0);
        let as_truck = VehicleBox { score: 0.3, ..car(4.0, 1.0, 48.0, 58.0) };
        let p = OccupancyParams { min_evidence: 0.05, ..OccupancyParams::default() };
        let ev = assess(&spaces, &[as_truck, as_car], None, &p);
        assert_eq!(ev[0].vehicle, Some(1), "the better-scored copy is the one kept");
        assert!(!ev[1].occupied);
    }

    #[test]
    fn params_validate_and_read_with_defaults() {
        assert_eq!(OccupancyParams::default().validate(), Ok(()));
        let p: OccupancyParams = serde_json::from_str(r#"{"min_evidence": 0.2}"#).unwrap();
        assert_eq!(p, OccupancyParams { min_evidence: 0.2, ..OccupancyParams::default() });
        let bad = OccupancyParams { footprint: 0.0, ..OccupancyParams::default() };
        assert_eq!(bad.validate(), Err(OccupancyParamsError::Footprint));
        assert!(OccupancyParams { min_score: f32::NAN, ..OccupancyParams::default() }.validate().is_err());
        // Out-of-range values never panic and never make an empty space occupied.
        let wild = OccupancyParams { footprint: f32::NAN, min_evidence: -1.0, ..OccupancyParams::default() };
        let ev = assess(&[rect(0.0, 0.0, 10.0, 10.0)], &[car(20.0, 20.0, 30.0, 30.0)], None, &wild);
        assert!(!ev[0].occupied);
    }

    #[test]
    fn the_classifier_and_the_boxes_are_weighed_together() {
        let spaces = [rect(0.0, 50.0, 40.0, 100.0), rect(50.0, 50.0, 90.0, 100.0), rect(100.0, 50.0, 140.0, 100.0)];
        let boxes = [car(2.0, 30.0, 38.0, 98.0)];
        let p = OccupancyParams::default();
        // A box and a doubtful classifier: occupied. No box and a sure classifier: occupied (the
        // car the detector missed). No box and a classifier that says free: free.
        let ev = assess(&spaces, &boxes, Some(&[0.2, 0.97, 0.1]), &p);
        assert_eq!(ev.iter().map(|e| e.occupied).collect::<Vec<_>>(), [true, true, false]);
        assert_eq!(ev[0].vehicle, Some(0));
        assert!(ev[1].confidence > 0.9 && ev[2].confidence > 0.9);
        // Only a classifier sure beyond the box's weight overrules it.
        let sure_free = assess(&spaces, &boxes, Some(&[0.001, 0.5, 0.5]), &p);
        assert!(!sure_free[0].occupied);
        // With no box anywhere near, a classifier that is only fairly sure is not enough.
        let fairly = assess(&spaces, &boxes, Some(&[0.9, 0.65, 0.9]), &p);
        assert_eq!(fairly.iter().map(|e| e.occupied).collect::<Vec<_>>(), [true, false, true]);
        // A classifier answer per space or none at all: a wrong count falls back to the boxes.
        let fallback = assess(&spaces, &boxes, Some(&[0.99]), &p);
        assert_eq!(fallback, assess(&spaces, &boxes, None, &p));
        // A NaN from the classifier is no evidence either way.
        let nan = assess(&spaces, &boxes, Some(&[f32::NAN, f32::NAN, f32::NAN]), &p);
        assert!(nan[0].occupied && !nan[1].occupied);
        // Without any weight for the boxes the classifier decides alone.
        let alone = OccupancyParams { box_weight: 0.0, no_box_weight: 0.0, ..OccupancyParams::default() };
        assert!(!assess(&spaces, &boxes, Some(&[0.2, 0.97, 0.1]), &alone)[0].occupied);
        assert!(assess(&spaces, &boxes, Some(&[0.2, 0.65, 0.1]), &alone)[1].occupied);
        assert!(OccupancyParams { box_weight: -1.0, ..OccupancyParams::default() }.validate().is_err());
        assert!(OccupancyParams { no_box_weight: f32::NAN, ..OccupancyParams::default() }.validate().is_err());
    }

    fn seen(occupied: bool) -> SpaceEvidence {
        SpaceEvidence { occupied, confidence: 1.0, vehicle: None }
    }

    #[test]
    fn debouncer_waits_for_agreeing_analyses() {
        let mut d = Debouncer::new(3);
        assert_eq!(d.update(7, Some(false), &seen(true), &1), None);
        assert_eq!(d.update(7, Some(false), &seen(true), &2), None);
        // The change is stamped with the analysis that first showed it.
        assert_eq!(d.update(7, Some(false), &seen(true), &3), Some((true, 1)));
        // Once changed, the streak starts again from nothing.
        assert_eq!(d.update(7, Some(true), &seen(true), &4), None);
        // A glitch in the middle resets the streak.
        assert_eq!(d.update(7, Some(true), &seen(false), &5), None);
        assert_eq!(d.update(7, Some(true), &seen(false), &6), None);
        assert_eq!(d.update(7, Some(true), &seen(true), &7), None);
        assert_eq!(d.update(7, Some(true), &seen(false), &8), None);
        assert_eq!(d.update(7, Some(true), &seen(false), &9), None);
        assert_eq!(d.update(7, Some(true), &seen(false), &10), Some((false, 8)));
        // Spaces are independent; unknown counts as different from both states.
        assert_eq!(d.update(8, None, &seen(false), &11), None);
        d.forget(8);
        assert_eq!(d.update(8, None, &seen(false), &12), None);
        assert_eq!(d.update(8, None, &seen(false), &13), None);
        assert_eq!(d.update(8, None, &seen(false), &14), Some((false, 12)));
        let mut at_once = Debouncer::new(0);
        assert_eq!(at_once.update(1, None, &seen(true), &()), Some((true, ())));
        assert_eq!(at_once.update(1, Some(true), &seen(true), &()), None);
    }
}
