//! Frames into the model's input: JPEG decode, then Ultralytics' letterbox (scale to fit, pad
//! with grey 114 to a multiple of the stride) fused with the RGB→float conversion, written
//! straight into the input tensor's memory.

use image::RgbImage;

#[derive(Debug, thiserror::Error)]
#[error("cannot decode the frame: {0}")]
pub struct DecodeError(String);

pub fn decode(jpeg: &[u8]) -> Result<RgbImage, DecodeError> {
    let img = image::load_from_memory(jpeg).map_err(|e| DecodeError(e.to_string()))?;
    Ok(img.into_rgb8())
}

/// Where a frame lands in the model's input, exactly as `letterbox()` in Ultralytics' code
/// places it (including Python's rounding of halves to even).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    /// The frame's size once scaled.
    pub inner_w: u32,
    pub inner_h: u32,
    pub left: u32,
    pub top: u32,
    /// The input's size.
    pub width: u32,
    pub height: u32,
}

fn py_round(v: f64) -> f64 {
    v.round_ties_even()
}

impl Letterbox {
    /// `minimal`: pad only up to the next multiple of `stride` (what Ultralytics' predictors do
    /// for models that take any size), instead of to the full `size` × `size` square.
    pub fn new(frame_w: u32, frame_h: u32, size: u32, stride: u32, minimal: bool) -> Letterbox {
        let (w, h, s) = (frame_w.max(1) as f64, frame_h.max(1) as f64, size as f64);
        let r = (s / h).min(s / w);
        let inner_w = py_round(w * r) as u32;
        let inner_h = py_round(h * r) as u32;
        let (mut dw, mut dh) = (size.saturating_sub(inner_w) as f64, size.saturating_sub(inner_h) as f64);
        if minimal {
            dw %= stride as f64;
            dh %= stride as f64;
        }
        dw /= 2.0;
        dh /= 2.0;
        let (top, bottom) = (py_round(dh - 0.1) as u32, py_round(dh + 0.1) as u32);
        let (left, right) = (py_round(dw - 0.1) as u32, py_round(dw + 0.1) as u32);
        Letterbox {
            scale: r as f32,
            inner_w,
            inner_h,
            left,
            top,
            width: inner_w + left + right,
            height: inner_h + top + bottom,
        }
    }

    /// From input pixels back to frame pixels.
    pub fn to_frame(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.left as f32) / self.scale, (y - self.top as f32) / self.scale)
    }
}

const PAD: f32 = 114.0 / 255.0;

/// One source index pair and weight per output coordinate, as OpenCV's INTER_LINEAR samples
/// (pixel centres aligned, clamped at the edges, no antialiasing).
fn taps(src: u32, dst: u32) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let f = (d as f64 + 0.5) * scale - 0.5;
            let mut i = f.floor();
            let mut w = f - i;
            if i < 0.0 {
                i = 0.0;
                w = 0.0;
            }
            let i = i as usize;
            if i + 1 >= src as usize {
                (src as usize - 1, src as usize - 1, 0.0)
            } else {
                (i, i + 1, w as f32)
            }
        })
        .collect()
}

/// Writes the letterboxed frame as `height × width × 3` floats in 0..1, RGB, into `out`: the
/// channels-last image one `[3, H, W]` input is a permuted view of.
pub fn fill(out: &mut [f32], frame: &RgbImage, lb: &Letterbox) {
    let (w, h) = (lb.width as usize, lb.height as usize);
    debug_assert_eq!(out.len(), w * h * 3);
    let src = frame.as_raw();
    let sw = frame.width() as usize;
    let (left, top) = (lb.left as usize, lb.top as usize);
    let (iw, ih) = (lb.inner_w as usize, lb.inner_h as usize);
    let lut: Vec<f32> = (0..256).map(|v| v as f32 / 255.0).collect();
    let same_size = iw == sw && ih == frame.height() as usize;
    let xs = if same_size { Vec::new() } else { taps(frame.width(), lb.inner_w) };
    let ys = if same_size { Vec::new() } else { taps(frame.height(), lb.inner_h) };
    for (y, row) in out.chunks_exact_mut(w * 3).enumerate() {
        if y < top || y >= top + ih {
            row.fill(PAD);
            continue;
        }
        row[..left * 3].fill(PAD);
        row[(left + iw) * 3..].fill(PAD);
        let dst = &mut row[left * 3..(left + iw) * 3];
        let sy = y - top;
        if same_size {
            let line = &src[sy * sw * 3..(sy + 1) * sw * 3];
            for (d, s) in dst.iter_mut().zip(line) {
                *d = lut[*s as usize];
            }
            continue;
        }
        let (y0, y1, fy) = ys[sy];
        let (r0, r1) = (&src[y0 * sw * 3..(y0 + 1) * sw * 3], &src[y1 * sw * 3..(y1 + 1) * sw * 3]);
        // OpenCV rounds to 8 bits between the passes; staying in floats differs from it by
        // under half a grey level and keeps this loop a few multiply-adds per value.
        for (px, &(x0, x1, fx)) in dst.chunks_exact_mut(3).zip(&xs) {
            let (a, b) = (&r0[x0 * 3..x0 * 3 + 3], &r0[x1 * 3..x1 * 3 + 3]);
            let (c, d) = (&r1[x0 * 3..x0 * 3 + 3], &r1[x1 * 3..x1 * 3 + 3]);
            for k in 0..3 {
                let top_v = a[k] as f32 + (b[k] as f32 - a[k] as f32) * fx;
                let bottom_v = c[k] as f32 + (d[k] as f32 - c[k] as f32) * fx;
                px[k] = (top_v + (bottom_v - top_v) * fy) * (1.0 / 255.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_matches_ultralytics() {
        // 1280x720 at 1280: no scaling, 720 padded to 736 (8 px each side).
        let lb = Letterbox::new(1280, 720, 1280, 32, true);
        assert_eq!(
            (lb.scale, lb.inner_w, lb.inner_h, lb.left, lb.top, lb.width, lb.height),
            (1.0, 1280, 720, 0, 8, 1280, 736)
        );
        // At 640: half size, 360 → 384 (12 px each side).
        let lb = Letterbox::new(1280, 720, 640, 32, true);
        assert_eq!((lb.inner_w, lb.inner_h, lb.top, lb.width, lb.height), (640, 360, 12, 640, 384));
        // The full square.
        let lb = Letterbox::new(1280, 720, 640, 32, false);
        assert_eq!((lb.top, lb.width, lb.height), (140, 640, 640));
        // bus.jpg, 810x1080 at 640: 480x640, padded to 480 wide, odd paddings rounded as Python.
        let lb = Letterbox::new(810, 1080, 640, 32, true);
        assert_eq!((lb.inner_w, lb.inner_h, lb.left, lb.width, lb.height), (480, 640, 0, 480, 640));
        let lb = Letterbox::new(1000, 700, 640, 32, true);
        assert_eq!((lb.inner_w, lb.inner_h), (640, 448));
        assert_eq!(lb.height, 448);
        assert_eq!(lb.to_frame(320.0, 224.0), (500.0, 350.0));
    }

    #[test]
    fn fill_pads_copies_and_resizes() {
        let mut img = RgbImage::new(4, 2);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([x as u8 * 50, 255, 0]);
        }
        // Same size: a copy between grey bands.
        let lb = Letterbox { scale: 1.0, inner_w: 4, inner_h: 2, left: 0, top: 1, width: 4, height: 4 };
        let mut out = vec![0.0; 4 * 4 * 3];
        fill(&mut out, &img, &lb);
        assert!(out[..12].iter().all(|&v| v == PAD));
        assert_eq!(&out[12..15], &[0.0, 1.0, 0.0]);
        assert_eq!(out[15], 50.0 / 255.0);
        assert!(out[36..].iter().all(|&v| v == PAD));
        // Half size: each output pixel averages two columns.
        let lb = Letterbox::new(4, 2, 2, 1, true);
        assert_eq!((lb.inner_w, lb.inner_h, lb.width, lb.height), (2, 1, 2, 1));
        let mut out = vec![0.0; 2 * 3];
        fill(&mut out, &img, &lb);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        assert!(close(out[0], 25.0 / 255.0), "{}", out[0]);
        assert!(close(out[3], 125.0 / 255.0), "{}", out[3]);
        assert!(close(out[1], 1.0), "{}", out[1]);
    }

    #[test]
    fn bad_frames_are_errors() {
        assert!(decode(b"not an image").is_err());
        assert!(decode(&[0xFF, 0xD8, 0xFF]).is_err());
    }
}
