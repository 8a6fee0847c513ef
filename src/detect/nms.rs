//! From raw predictions to boxes: the confidence filter of each layout, then class-aware
//! non-maximum suppression, with the same rules as Ultralytics' `non_max_suppression`.

use serde::Serialize;

/// A box in the model's input pixels until `detect` maps it to the frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Detection {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
    pub class: usize,
}

impl Detection {
    pub fn area(&self) -> f32 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }

    pub fn iou(&self, o: &Detection) -> f32 {
        let w = (self.x2.min(o.x2) - self.x1.max(o.x1)).max(0.0);
        let h = (self.y2.min(o.y2) - self.y1.max(o.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// Ultralytics keeps at most this many candidates, best first, before suppression.
const MAX_CANDIDATES: usize = 30_000;

fn corners(cx: f32, cy: f32, w: f32, h: f32, score: f32, class: usize) -> Detection {
    Detection { x1: cx - w / 2.0, y1: cy - h / 2.0, x2: cx + w / 2.0, y2: cy + h / 2.0, score, class }
}

/// YOLOv5 rows `[cx, cy, w, h, objectness, C class scores]`: a row is a candidate when its
/// objectness and then its best class score × objectness pass `conf`. The best class is taken
/// over all classes first and only then checked against `wanted`, as Ultralytics does.
pub fn candidates_anchors(pred: &[f32], classes: usize, conf: f32, wanted: &dyn Fn(usize) -> bool) -> Vec<Detection> {
    let width = 5 + classes;
    let mut out = Vec::new();
    for row in pred.chunks_exact(width) {
        let obj = row[4];
        if obj <= conf {
            continue;
        }
        let (class, best) = argmax(&row[5..]);
        let score = best * obj;
        if score > conf && wanted(class) {
            out.push(corners(row[0], row[1], row[2], row[3], score, class));
        }
    }
    out
}

/// YOLOv8/11 columns: channel-major `[4 + C + M, N]`, class scores without objectness.
pub fn candidates_channels(
    pred: &[f32],
    classes: usize,
    masks: usize,
    conf: f32,
    wanted: &dyn Fn(usize) -> bool,
) -> Vec<Detection> {
    let channels = 4 + classes + masks;
    let n = pred.len() / channels;
    let channel = |c: usize| &pred[c * n..(c + 1) * n];
    // Best class per anchor, walking one class channel at a time so memory is read in order.
    let mut best = vec![f32::NEG_INFINITY; n];
    let mut best_class = vec![0usize; n];
    for c in 0..classes {
        for (i, &s) in channel(4 + c).iter().enumerate() {
            if s > best[i] {
                best[i] = s;
                best_class[i] = c;
            }
        }
    }
    let (cx, cy, w, h) = (channel(0), channel(1), channel(2), channel(3));
    (0..n)
        .filter(|&i| best[i] > conf && wanted(best_class[i]))
        .map(|i| corners(cx[i], cy[i], w[i], h[i], best[i], best_class[i]))
        .collect()
}

fn argmax(scores: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &s) in scores.iter().enumerate() {
        if s > best.1 {
            best = (i, s);
        }
    }
    best
}

/// Greedy suppression, best first, within each class; keeps at most `max_det`.
pub fn suppress(mut candidates: Vec<Detection>, iou: f32, max_det: usize) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    candidates.truncate(MAX_CANDIDATES);
    let mut kept: Vec<Detection> = Vec::new();
    for c in candidates {
        if kept.len() >= max_det {
            break;
        }
        if kept.iter().all(|k| k.class != c.class || k.iou(&c) <= iou) {
            kept.push(c);
        }
    }
    kept
}

impl From<&Detection> for crate::analysis::occupancy::VehicleBox {
    fn from(d: &Detection) -> Self {
        crate::analysis::occupancy::VehicleBox { x1: d.x1, y1: d.y1, x2: d.x2, y2: d.y2, score: d.score }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: usize) -> bool {
        true
    }

    #[test]
    fn anchors_filter_by_objectness_then_class_score() {
        #[rustfmt::skip]
        let pred = [
            50.0, 50.0, 20.0, 10.0, 0.9, 0.1, 0.8,   // class 1, 0.72
            50.0, 50.0, 20.0, 10.0, 0.2, 0.9, 0.9,   // objectness too low
            10.0, 10.0, 4.0, 4.0, 0.5, 0.4, 0.3,     // 0.2 < 0.25
        ];
        let c = candidates_anchors(&pred, 2, 0.25, &all);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].x1, c[0].y1, c[0].x2, c[0].y2, c[0].class), (40.0, 45.0, 60.0, 55.0, 1));
        assert!((c[0].score - 0.72).abs() < 1e-6);
        // The best class is chosen over every class, then filtered: no fallback to class 0.
        assert!(candidates_anchors(&pred, 2, 0.25, &|c| c == 0).is_empty());
    }

    #[test]
    fn channels_are_read_column_wise() {
        // Two anchors, two classes, one mask coefficient.
        #[rustfmt::skip]
        let pred = [
            10.0, 30.0,   // cx
            10.0, 30.0,   // cy
            4.0, 2.0,     // w
            4.0, 2.0,     // h
            0.1, 0.7,     // class 0
            0.6, 0.2,     // class 1
            9.0, 9.0,     // mask
        ];
        let c = candidates_channels(&pred, 2, 1, 0.25, &all);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].class, c[0].score), (1, 0.6));
        assert_eq!((c[1].class, c[1].x1, c[1].score), (0, 29.0, 0.7));
    }

    #[test]
    fn suppression_is_per_class() {
        let a = Detection { x1: 0.0, y1: 0.0, x2: 10.0, y2: 10.0, score: 0.9, class: 0 };
        let b = Detection { x1: 1.0, y1: 1.0, x2: 11.0, y2: 11.0, score: 0.8, class: 0 };
        let c = Detection { class: 1, ..b };
        let d = Detection { x1: 20.0, x2: 30.0, score: 0.5, ..a };
        let kept = suppress(vec![d, b, a, c], 0.45, 300);
        assert_eq!(kept, vec![a, c, d]);
        assert_eq!(suppress(vec![d, b, a, c], 0.45, 2).len(), 2);
        assert!((a.iou(&b) - 81.0 / 119.0).abs() < 1e-6);
        assert_eq!(a.iou(&d), 0.0);
    }
}
