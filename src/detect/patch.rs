//! How a parking space is cut out of a frame for the space classifier; `scripts/space_patch.py`
//! does the same for training, so the classifier is shown what it learnt from.
//!
//! The space's minimum-area rectangle, rectified: the patch is that rectangle (times a context
//! factor) turned so that its longer side runs down the patch, and stretched to a square. A space
//! is thereby the same picture whatever the camera's resolution or the space's angle in the
//! frame, and the neighbours beside a space in a tight row stay out of it. Each patch pixel
//! averages k × k bilinear samples (one per two frame pixels along the longer side: k = that side
//! over twice the patch's, rounded up), so a large space is shrunk without aliasing.

use image::RgbImage;

use crate::parking::geometry::Polygon;

/// The rectangle of the frame a space is read through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub centre: [f64; 2],
    /// Unit vectors of the patch's x and y axes, in frame pixels.
    pub across: [f64; 2],
    pub down: [f64; 2],
    /// The rectangle's extent along `across` (its shorter side) and along `down`, in frame pixels.
    pub width: f64,
    pub length: f64,
}

fn sub(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

fn dot(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Andrew's monotone chain: the convex hull, counter-clockwise, without collinear points.
fn hull(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut pts: Vec<[f64; 2]> = points.to_vec();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let mut lower: Vec<[f64; 2]> = Vec::new();
    for &p in &pts {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0.0 {
            lower.pop();
        }
        lower.push(p);
    }
    let mut upper: Vec<[f64; 2]> = Vec::new();
    for &p in pts.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0.0 {
            upper.pop();
        }
        upper.push(p);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// A rectangle around the hull: (area, centre, e, n, extent along e, extent along n).
type Candidate = (f64, [f64; 2], [f64; 2], [f64; 2], f64, f64);

impl Window {
    /// The space's minimum-area rectangle (one of its sides lies on a hull edge), times `context`.
    pub fn of(polygon: &Polygon, context: f64) -> Window {
        let h = hull(polygon.points());
        let mut best: Option<Candidate> = None;
        for i in 0..h.len() {
            let edge = sub(h[(i + 1) % h.len()], h[i]);
            let length = edge[0].hypot(edge[1]);
            if length == 0.0 {
                continue;
            }
            let e = [edge[0] / length, edge[1] / length];
            let n = [-e[1], e[0]];
            let (mut e_lo, mut e_hi, mut n_lo, mut n_hi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
            for &p in &h {
                let (pe, pn) = (dot(p, e), dot(p, n));
                e_lo = e_lo.min(pe);
                e_hi = e_hi.max(pe);
                n_lo = n_lo.min(pn);
                n_hi = n_hi.max(pn);
            }
            let (we, wn) = (e_hi - e_lo, n_hi - n_lo);
            // Two edges can give rectangles of the same area (to rounding): the first one wins,
            // as in scripts/space_patch.py.
            if best.is_none_or(|b| we * wn < b.0 * (1.0 - 1e-9)) {
                let (me, mn) = ((e_hi + e_lo) / 2.0, (n_hi + n_lo) / 2.0);
                let centre = [e[0] * me + n[0] * mn, e[1] * me + n[1] * mn];
                best = Some((we * wn, centre, e, n, we, wn));
            }
        }
        // A valid polygon has area, so its hull has an edge; the fallback only keeps this total.
        let (_, centre, e, n, we, wn) = best.unwrap_or((0.0, polygon.points()[0], [0.0, 1.0], [-1.0, 0.0], 1.0, 1.0));
        let mut down = if we >= wn { e } else { n };
        if down[1] < 0.0 || (down[1] == 0.0 && down[0] < 0.0) {
            down = [-down[0], -down[1]];
        }
        Window { centre, across: [down[1], -down[0]], down, width: we.min(wn) * context, length: we.max(wn) * context }
    }

    /// Sub-samples per patch pixel along each axis: one per two frame pixels along the longer
    /// side, which with bilinear sampling lets every frame pixel count.
    pub fn samples(&self, size: usize) -> usize {
        ((self.length / (2.0 * size as f64)).ceil() as usize).clamp(1, 8)
    }

    /// Writes the `size` × `size` patch as RGB floats in 0..1, channels last, into `out`.
    pub fn cut(&self, frame: &RgbImage, size: usize, out: &mut [f32]) {
        debug_assert_eq!(out.len(), size * size * 3);
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        if w == 0 || h == 0 || size == 0 {
            out.fill(0.0);
            return;
        }
        let src = frame.as_raw();
        let k = self.samples(size);
        let n = (size * k) as f64;
        let (xmax, ymax) = ((w - 1) as f32, (h - 1) as f32);
        // Sample (i, j) of the n × n grid sits at origin + i·step_u + j·step_v, in the frame's
        // pixel-index coordinates (pixel centres at integers).
        let (su, sv) = (self.width / n, self.length / n);
        let step_u = [(su * self.across[0]) as f32, (su * self.across[1]) as f32];
        let first = 0.5 - n / 2.0;
        let origin = [
            self.centre[0] + first * (su * self.across[0] + sv * self.down[0]) - 0.5,
            self.centre[1] + first * (su * self.across[1] + sv * self.down[1]) - 0.5,
        ];
        let scale = 1.0 / (255.0 * (k * k) as f32);
        let mut acc = vec![0.0f32; size * 3];
        for row in 0..size {
            acc.fill(0.0);
            for sy in 0..k {
                let j = (row * k + sy) as f64;
                let (x0, y0) = ((origin[0] + j * sv * self.down[0]) as f32, (origin[1] + j * sv * self.down[1]) as f32);
                for col in 0..size {
                    let a = &mut acc[col * 3..col * 3 + 3];
                    for sx in 0..k {
                        // From the row's start each time, not by adding steps, so no error builds up.
                        let i = (col * k + sx) as f32;
                        let (cx, cy) = ((x0 + i * step_u[0]).clamp(0.0, xmax), (y0 + i * step_u[1]).clamp(0.0, ymax));
                        let (xi, yi) = (cx as usize, cy as usize);
                        let (fx, fy) = (cx - xi as f32, cy - yi as f32);
                        let dx = if xi + 1 < w { 3 } else { 0 };
                        let dy = if yi + 1 < h { w * 3 } else { 0 };
                        let p = (yi * w + xi) * 3;
                        let (p00, p01) = (&src[p..p + 3], &src[p + dx..p + dx + 3]);
                        let (p10, p11) = (&src[p + dy..p + dy + 3], &src[p + dy + dx..p + dy + dx + 3]);
                        for c in 0..3 {
                            let top = f32::from(p00[c]) + (f32::from(p01[c]) - f32::from(p00[c])) * fx;
                            let bottom = f32::from(p10[c]) + (f32::from(p11[c]) - f32::from(p10[c])) * fx;
                            a[c] += top + (bottom - top) * fy;
                        }
                    }
                }
            }
            let o = row * size * 3;
            for (dst, v) in out[o..o + size * 3].iter_mut().zip(&acc) {
                *dst = v * scale;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poly(p: &[[f64; 2]]) -> Polygon {
        Polygon::new(p.to_vec()).unwrap()
    }

    fn close(a: [f64; 2], b: [f64; 2]) -> bool {
        (a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9
    }

    #[test]
    fn the_window_is_the_minimum_rectangle_with_its_long_side_down() {
        // Upright rectangle, 20 wide and 40 tall: the long side is already down.
        let w = Window::of(&poly(&[[10.0, 10.0], [30.0, 10.0], [30.0, 50.0], [10.0, 50.0]]), 1.0);
        assert!(close(w.centre, [20.0, 30.0]), "{w:?}");
        assert!(close(w.down, [0.0, 1.0]) && close(w.across, [1.0, 0.0]), "{w:?}");
        assert!((w.length - 40.0).abs() < 1e-9 && (w.width - 20.0).abs() < 1e-9);
        // Lying down: the patch turns it upright, whichever way the points were listed.
        let lying = Window::of(&poly(&[[0.0, 0.0], [0.0, 10.0], [30.0, 10.0], [30.0, 0.0]]), 1.5);
        assert!(close(lying.down, [1.0, 0.0]) && close(lying.across, [0.0, -1.0]), "{lying:?}");
        assert!((lying.length - 45.0).abs() < 1e-9 && (lying.width - 15.0).abs() < 1e-9);
        // A rectangle turned by 30 degrees is found exactly, and a spike on a side does not
        // count: the hull decides.
        let (s, c) = 30f64.to_radians().sin_cos();
        let turn = |x: f64, y: f64| [100.0 + x * c - y * s, 50.0 + x * s + y * c];
        let turned = Window::of(&poly(&[turn(-5.0, -20.0), turn(5.0, -20.0), turn(5.0, 20.0), turn(-5.0, 20.0)]), 1.0);
        assert!(close(turned.centre, [100.0, 50.0]), "{turned:?}");
        assert!((turned.length - 40.0).abs() < 1e-9 && (turned.width - 10.0).abs() < 1e-9);
        assert!(close(turned.down, [-s, c]), "{turned:?}");
        let dented = poly(&[turn(-5.0, -20.0), turn(5.0, -20.0), turn(0.0, 0.0), turn(5.0, 20.0), turn(-5.0, 20.0)]);
        assert!((Window::of(&dented, 1.0).length - 40.0).abs() < 1e-9);
        // PKLot UFPR05's space 11: two hull edges give rectangles of the same area (8888), one
        // a rounding error smaller; the first edge is taken, as the training script does.
        let tie = Window::of(&poly(&[[752.0, 478.0], [730.0, 540.0], [848.0, 570.0], [865.0, 499.0]]), 1.0);
        assert!((tie.width - 73.0068).abs() < 1e-3 && (tie.length - 121.742).abs() < 1e-3, "{tie:?}");
    }

    #[test]
    fn cutting_samples_the_frame_and_clamps_at_its_edges() {
        // Left half black, right half white.
        let frame = RgbImage::from_fn(40, 40, |x, _| if x < 20 { image::Rgb([0, 0, 0]) } else { image::Rgb([255; 3]) });
        // An upright 20 × 30 space over the middle: the patch's left half is dark, its right half
        // light.
        let w = Window::of(&poly(&[[10.0, 5.0], [30.0, 5.0], [30.0, 35.0], [10.0, 35.0]]), 1.0);
        let mut out = vec![0.0; 4 * 4 * 3];
        w.cut(&frame, 4, &mut out);
        let px = |out: &[f32], r: usize, c: usize| out[(r * 4 + c) * 3];
        for r in 0..4 {
            assert_eq!(px(&out, r, 0), 0.0);
            assert_eq!(px(&out, r, 3), 1.0);
            assert!(px(&out, r, 1) < 0.5 && px(&out, r, 2) > 0.5);
        }
        // A space hanging off the frame's corner reads the edge pixels, never out of bounds.
        let off = Window::of(&poly(&[[-30.0, -30.0], [60.0, -30.0], [60.0, 60.0], [-30.0, 60.0]]), 1.0);
        off.cut(&frame, 4, &mut out);
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(px(&out, 0, 0), 0.0);
        assert_eq!(px(&out, 3, 3), 1.0);
    }
}
