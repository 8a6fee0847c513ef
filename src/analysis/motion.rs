//! Motion gating, as Frigate does it: the detector runs only when the parts of the picture that
//! hold spaces have changed since the last frame it saw.
//!
//! Frames are compared as small grey copies: averaging blocks of pixels while shrinking removes
//! most sensor and JPEG noise for free, and a car is still dozens of pixels at 1/5 scale. A slow
//! change of light (a cloud, dusk, the camera's exposure) shifts every pixel alike, so the
//! picture's median difference is taken off; a change of light over part of the picture (a
//! cloud's shadow, the sun moving off a row) is slow across space, so each pixel is compared
//! relative to the mean of its neighbourhood rather than as it is.

use serde::{Deserialize, Serialize};

use crate::parking::geometry::Polygon;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct MotionParams {
    /// Width of the grey copy; the height keeps the frame's aspect. 240 px keeps a parked car
    /// (≥ 60 px wide in a 1280 px frame) at a dozen pixels or more.
    pub width: u32,
    /// A pixel has changed when it differs from the reference by more than this many grey
    /// levels, after the typical difference is taken off.
    pub pixel_threshold: u8,
    /// A region has changed when at least this fraction of its pixels has.
    pub min_changed_fraction: f32,
    /// Light changes over large areas (cloud shadows, sun on part of the lot) are removed by
    /// comparing each pixel with the mean of the square of this radius around it; 0 = off.
    pub light_radius: u32,
}

impl Default for MotionParams {
    fn default() -> Self {
        MotionParams { width: 240, pixel_threshold: 15, min_changed_fraction: 0.15, light_radius: 8 }
    }
}

/// The smallest grey copy worth comparing; below it a space is a pixel or two.
const MIN_WIDTH: u32 = 16;

pub struct MotionGate {
    params: MotionParams,
    /// Size of the grey copies the mask was built for.
    small_size: (u32, u32),
    /// Per region, the indices of the grey copy's pixels inside it.
    regions: Vec<Vec<usize>>,
    reference: Option<image::GrayImage>,
}

impl MotionGate {
    pub fn new(params: MotionParams) -> MotionGate {
        MotionGate { params, small_size: (0, 0), regions: Vec::new(), reference: None }
    }

    fn small_size_for(&self, frame_w: u32, frame_h: u32) -> (u32, u32) {
        let w = self.params.width.max(MIN_WIDTH).min(frame_w.max(1));
        let h =
            ((u64::from(frame_h) * u64::from(w) + u64::from(frame_w.max(1)) / 2) / u64::from(frame_w.max(1))).max(1);
        (w, u32::try_from(h).unwrap_or(u32::MAX))
    }

    /// A small grey-scale copy of an RGB frame: each small pixel is the mean luma of the block
    /// of frame pixels that falls in it, gathered in one pass over the frame.
    pub fn shrink(&self, frame: &image::RgbImage) -> image::GrayImage {
        let (fw, fh) = frame.dimensions();
        let (w, h) = self.small_size_for(fw, fh);
        if fw == 0 || fh == 0 {
            return image::GrayImage::new(w, h);
        }
        // u64: a block of a huge frame shrunk to a small width can exceed u32 range.
        let mut sums = vec![0u64; (w * h) as usize];
        let mut counts = vec![0u64; (w * h) as usize];
        // Which small column each frame column falls in, computed once per frame.
        let column: Vec<usize> = (0..fw).map(|x| (u64::from(x) * u64::from(w) / u64::from(fw)) as usize).collect();
        for (y, row) in frame.rows().enumerate() {
            let base = (y as u64 * u64::from(h) / u64::from(fh)) as usize * w as usize;
            for (px, &c) in row.zip(&column) {
                let [r, g, b] = px.0;
                // BT.601 luma in 8-bit fixed point.
                sums[base + c] += u64::from((77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b)) >> 8);
                counts[base + c] += 1;
            }
        }
        let pixels = sums.iter().zip(&counts).map(|(&s, &n)| (s + n / 2).checked_div(n).unwrap_or(0) as u8).collect();
        image::GrayImage::from_raw(w, h, pixels).unwrap_or_else(|| image::GrayImage::new(w, h))
    }

    /// Regions = the space polygons in full-frame pixel coordinates (plus frame size); rebuilds
    /// the mask. Changing the regions makes the next `changed` answer true.
    pub fn set_regions(&mut self, frame_w: u32, frame_h: u32, regions: &[Polygon]) {
        let (w, h) = self.small_size_for(frame_w, frame_h);
        let sx = f64::from(w) / f64::from(frame_w.max(1));
        let sy = f64::from(h) / f64::from(frame_h.max(1));
        self.small_size = (w, h);
        self.regions = regions
            .iter()
            .map(|poly| {
                let scaled: Vec<[f64; 2]> = poly.points().iter().map(|p| [p[0] * sx, p[1] * sy]).collect();
                region_pixels(&scaled, w, h)
            })
            .collect();
        self.reference = None;
    }

    /// Compares with the copy kept at the last `mark_analysed`; true when any region changed
    /// enough, or when there is nothing to compare with.
    pub fn changed(&self, small: &image::GrayImage) -> bool {
        match self.region_changes(small) {
            None => true,
            Some(fractions) => fractions.iter().any(|&f| self.is_change(f)),
        }
    }

    /// Per region, the fraction of its pixels that changed since the reference; None when there
    /// is no reference of the same size to compare with.
    pub fn region_changes(&self, small: &image::GrayImage) -> Option<Vec<f32>> {
        self.region_changes_since(self.reference.as_ref()?, small)
    }

    /// Per region, the fraction of its pixels that changed between `reference` and `small` (grey
    /// copies made by `shrink` for the current regions); None when their sizes differ.
    pub fn region_changes_since(&self, reference: &image::GrayImage, small: &image::GrayImage) -> Option<Vec<f32>> {
        if reference.dimensions() != small.dimensions() || small.dimensions() != self.small_size {
            return None;
        }
        let (w, h) = small.dimensions();
        let radius = self.params.light_radius;
        let (now, then) =
            (local_contrast(small.as_raw(), w, h, radius), local_contrast(reference.as_raw(), w, h, radius));
        let diff = |i: usize| now[i] - then[i];
        // The whole picture's typical difference is the change of light: a car or a person
        // moves only a small part of it, however few regions are watched.
        let shift = median((0..now.len()).map(diff));
        let threshold = i32::from(self.params.pixel_threshold);
        let fractions = self
            .regions
            .iter()
            .map(|pixels| {
                if pixels.is_empty() {
                    return 0.0;
                }
                let moved = pixels.iter().filter(|&&i| (diff(i) - shift).abs() > threshold).count();
                moved as f32 / pixels.len() as f32
            })
            .collect();
        Some(fractions)
    }

    /// Whether a region's change fraction counts as a change.
    pub fn is_change(&self, fraction: f32) -> bool {
        fraction > 0.0 && fraction >= self.params.min_changed_fraction
    }

    /// The frame just went through the detector: it becomes the reference.
    pub fn mark_analysed(&mut self, small: image::GrayImage) {
        self.reference = Some(small);
    }
}

/// The pixels whose centres lie inside the polygon; a region too thin to hold any centre still
/// gets the pixel under its centroid, so that it is watched at all.
fn region_pixels(poly: &[[f64; 2]], w: u32, h: u32) -> Vec<usize> {
    let clamp = |v: f64, hi: u32| (v.max(0.0) as u32).min(hi);
    let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for p in poly {
        (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
    }
    let mut out = Vec::new();
    for y in clamp(y0.floor(), h)..clamp(y1.ceil() + 1.0, h) {
        for x in clamp(x0.floor(), w)..clamp(x1.ceil() + 1.0, w) {
            if contains(poly, [f64::from(x) + 0.5, f64::from(y) + 0.5]) {
                out.push((y * w + x) as usize);
            }
        }
    }
    if out.is_empty() {
        let n = poly.len() as f64;
        let cx = poly.iter().map(|p| p[0]).sum::<f64>() / n;
        let cy = poly.iter().map(|p| p[1]).sum::<f64>() / n;
        if cx >= 0.0 && cy >= 0.0 && cx < f64::from(w) && cy < f64::from(h) {
            out.push((cy as u32 * w + cx as u32) as usize);
        }
    }
    out
}

/// Even-odd rule, as `Polygon::contains`; the scaled points are not re-validated as a Polygon
/// because rounding could in principle merge two of them.
fn contains(pts: &[[f64; 2]], p: [f64; 2]) -> bool {
    let mut inside = false;
    let mut j = pts.len() - 1;
    for (i, &a) in pts.iter().enumerate() {
        let b = pts[j];
        if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Median of differences in -255..=255, by counting.
fn median(values: impl Iterator<Item = i32>) -> i32 {
    let mut hist = [0u32; 511];
    let mut n = 0u32;
    for v in values {
        hist[(v.clamp(-255, 255) + 255) as usize] += 1;
        n += 1;
    }
    let mut seen = 0;
    for (i, &c) in hist.iter().enumerate() {
        seen += c;
        if seen * 2 > n {
            return i as i32 - 255;
        }
    }
    0
}

/// Each pixel minus the mean of the (2r+1)² square around it (clipped at the borders), from an
/// integral image; r = 0 returns the pixels unchanged.
fn local_contrast(px: &[u8], w: u32, h: u32, r: u32) -> Vec<i32> {
    if r == 0 {
        return px.iter().map(|&v| i32::from(v)).collect();
    }
    let (w, h, r) = (w as usize, h as usize, r as usize);
    let mut integral = vec![0u32; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0u32;
        for x in 0..w {
            row += u32::from(px[y * w + x]);
            integral[(y + 1) * (w + 1) + x + 1] = integral[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let sum = integral[y1 * (w + 1) + x1] + integral[y0 * (w + 1) + x0]
                - integral[y0 * (w + 1) + x1]
                - integral[y1 * (w + 1) + x0];
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            out.push(i32::from(px[y * w + x]) - ((sum + n / 2) / n) as i32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x1: f64, y1: f64, x2: f64, y2: f64) -> Polygon {
        Polygon::new(vec![[x1, y1], [x2, y1], [x2, y2], [x1, y2]]).unwrap()
    }

    /// A textured grey frame, as asphalt is never flat.
    fn frame() -> image::RgbImage {
        image::RgbImage::from_fn(640, 360, |x, y| {
            let v = (90 + (x * 7 + y * 13) % 23) as u8;
            image::Rgb([v, v, v])
        })
    }

    fn paint(img: &mut image::RgbImage, x1: u32, y1: u32, x2: u32, y2: u32, c: [u8; 3]) {
        for y in y1..y2 {
            for x in x1..x2 {
                img.put_pixel(x, y, image::Rgb(c));
            }
        }
    }

    fn gate_on(reference: &image::RgbImage) -> MotionGate {
        let mut g = MotionGate::new(MotionParams::default());
        g.set_regions(640, 360, &[rect(100.0, 100.0, 200.0, 200.0), rect(300.0, 100.0, 400.0, 200.0)]);
        assert!(g.changed(&g.shrink(reference)), "nothing to compare with yet");
        g.mark_analysed(g.shrink(reference));
        g
    }

    #[test]
    fn shrinks_by_averaging() {
        let g = MotionGate::new(MotionParams::default());
        let mut f = image::RgbImage::new(480, 270);
        paint(&mut f, 0, 0, 240, 270, [255, 255, 255]);
        let s = g.shrink(&f);
        assert_eq!(s.dimensions(), (240, 135));
        assert_eq!(s.get_pixel(10, 10).0[0], 255);
        assert_eq!(s.get_pixel(200, 10).0[0], 0);
        // A column split in two: each small pixel averages two frame columns.
        let mut stripes = image::RgbImage::new(480, 2);
        for y in 0..2 {
            for x in (0..480).step_by(2) {
                stripes.put_pixel(x, y, image::Rgb([200, 200, 200]));
            }
        }
        assert_eq!(g.shrink(&stripes).get_pixel(5, 0).0[0], 100);
        // Never upscales, never panics on an empty frame.
        assert_eq!(g.shrink(&image::RgbImage::new(100, 50)).dimensions(), (100, 50));
        let _ = g.shrink(&image::RgbImage::new(0, 0));
    }

    #[test]
    fn a_car_in_a_region_is_a_change() {
        let reference = frame();
        let g = gate_on(&reference);
        assert!(!g.changed(&g.shrink(&reference)));
        let mut now = reference.clone();
        paint(&mut now, 120, 120, 180, 190, [230, 230, 230]);
        assert!(g.changed(&g.shrink(&now)));
        let fractions = g.region_changes(&g.shrink(&now)).unwrap();
        assert!(fractions[0] > 0.3 && fractions[1] == 0.0, "{fractions:?}");
        // A dark car shows mostly by its outline once local light is taken off; still enough.
        let mut dark = reference.clone();
        paint(&mut dark, 320, 110, 380, 190, [30, 30, 30]);
        assert!(g.changed(&g.shrink(&dark)));
    }

    #[test]
    fn movement_outside_the_regions_is_not() {
        let reference = frame();
        let g = gate_on(&reference);
        let mut now = reference.clone();
        paint(&mut now, 450, 220, 560, 330, [250, 250, 250]);
        assert!(!g.changed(&g.shrink(&now)));
    }

    #[test]
    fn light_is_not_movement() {
        let reference = frame();
        let g = gate_on(&reference);
        let brighter =
            image::RgbImage::from_fn(640, 360, |x, y| image::Rgb(reference.get_pixel(x, y).0.map(|v| v + 20)));
        assert!(!g.changed(&g.shrink(&brighter)));
        // A cloud's shadow over the left half, edge inside a region.
        let shaded = image::RgbImage::from_fn(640, 360, |x, y| {
            let p = *reference.get_pixel(x, y);
            if x < 150 {
                image::Rgb(p.0.map(|v| v - 40))
            } else {
                p
            }
        });
        assert!(!g.changed(&g.shrink(&shaded)));
    }

    #[test]
    fn new_regions_or_sizes_force_an_analysis() {
        let reference = frame();
        let mut g = gate_on(&reference);
        g.set_regions(640, 360, &[rect(10.0, 10.0, 50.0, 50.0)]);
        assert!(g.changed(&g.shrink(&reference)));
        g.mark_analysed(g.shrink(&reference));
        assert!(!g.changed(&g.shrink(&reference)));
        // A frame of another size cannot be compared.
        assert!(g.changed(&g.shrink(&image::RgbImage::new(320, 240))));
        // A space thinner than a small pixel is still watched.
        g.set_regions(640, 360, &[Polygon::new(vec![[100.0, 100.0], [101.0, 100.0], [101.0, 140.0]]).unwrap()]);
        assert_eq!(g.regions[0].len(), 1);
    }
}
