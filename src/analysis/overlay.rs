//! The image behind `GET /api/cameras/{id}/overlay.jpg`: the camera's newest frame with every
//! parking space tinted by its state and the detector's vehicle boxes drawn on top.
//!
//! The drawing is done here by hand rather than with imageproc: it needs only a polygon fill,
//! thick lines and rectangles, and pulling in imageproc (with its nalgebra/rayon tree) for that
//! would cost far more build time than these few hundred lines.
//!
//! Geometry conventions: coordinates are continuous frame pixels, pixel `(x, y)` covering
//! `[x, x + 1) × [y, y + 1)` with its centre at `(x + 0.5, y + 0.5)`. A fill covers the pixels
//! whose centres lie inside the polygon (even-odd rule), so two spaces sharing an edge neither
//! overlap nor leave a gap. A stroke is 2 px wide and centred on the geometric line, so it covers
//! the pixels either side of it.

use image::codecs::jpeg::JpegEncoder;
use image::RgbImage;

/// The state a space is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceShade {
    Free,
    Occupied,
    Unknown,
}

impl SpaceShade {
    /// The solid colour of the outline; the fill is this colour at [`FILL_ALPHA`].
    pub const fn colour(self) -> [u8; 3] {
        match self {
            SpaceShade::Free => [0, 200, 0],
            SpaceShade::Occupied => [230, 0, 0],
            SpaceShade::Unknown => [150, 150, 150],
        }
    }
}

/// One parking space: its polygon in frame pixels and the state to draw it in.
pub struct OverlaySpace<'a> {
    pub points: &'a [[f64; 2]],
    pub shade: SpaceShade,
}

/// One detected vehicle, corners in frame pixels.
#[derive(Debug, Clone, Copy)]
pub struct OverlayBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
}

/// Opacity of the space fills: enough to read the state at a glance, little enough to still see
/// whether a car is in the space.
pub const FILL_ALPHA: f32 = 0.35;
/// Yellow stands out against asphalt, cars and all three space colours.
pub const BOX_COLOUR: [u8; 3] = [255, 220, 0];

/// [`FILL_ALPHA`] in 1/256ths, so blending is integer arithmetic on the hot path.
const FILL_WEIGHT: u16 = (FILL_ALPHA * 256.0 + 0.5) as u16;

/// Beyond this no polygon is a real calibration, and keeping below it means the edge arithmetic
/// (differences of two coordinates, products with a fraction) can never overflow into inf/NaN.
const COORD_LIMIT: f64 = 1e300;

/// Box corners are clamped to this before going to integers, so `± 1` on them cannot overflow.
const BOX_LIMIT: f64 = (1u64 << 40) as f64;

/// Draws onto `frame` in place: each space polygon filled translucently (alpha [`FILL_ALPHA`]) in
/// green (free), red (occupied) or grey (unknown), with a solid 2 px outline of the same colour,
/// and each vehicle box as a 2 px [`BOX_COLOUR`] rectangle outline. Coordinates may lie partly or
/// wholly outside the frame; what falls outside is clipped. A space with a non-finite or absurd
/// coordinate, or a box with a non-finite corner, is skipped.
pub fn draw(frame: &mut RgbImage, spaces: &[OverlaySpace], boxes: &[OverlayBox]) {
    let mut canvas = Canvas::new(frame);
    let drawable =
        |space: &&OverlaySpace| space.points.iter().flatten().all(|c| c.is_finite() && c.abs() <= COORD_LIMIT);
    // One buffer for every row of every polygon: the fill then allocates once per call.
    let mut crossings = Vec::new();
    for space in spaces.iter().filter(drawable) {
        canvas.fill_polygon(space.points, space.shade.colour(), &mut crossings);
    }
    // Outlines go on only after every fill, so a neighbour's translucent fill never dims them.
    for space in spaces.iter().filter(drawable) {
        canvas.stroke_polygon(space.points, space.shade.colour());
    }
    for b in boxes {
        canvas.stroke_box(b, BOX_COLOUR);
    }
}

/// Encodes as baseline JPEG at `quality` (1-100; the encoder clamps anything else).
pub fn encode_jpeg(frame: &RgbImage, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    // A 1280x720 overlay at usual qualities comes to around a tenth of its raw size.
    let mut out = Vec::with_capacity(frame.as_raw().len() / 8);
    // write_with_encoder rather than encode(as_raw()): the buffer behind an RgbImage may be
    // longer than its pixels, which JpegEncoder::encode would panic on.
    frame.write_with_encoder(JpegEncoder::new_with_quality(&mut out, quality))?;
    Ok(out)
}

/// The frame as a flat RGB slice, so spans can be blended without per-pixel bounds checks.
struct Canvas<'f> {
    rgb: &'f mut [u8],
    width: usize,
    height: usize,
}

impl<'f> Canvas<'f> {
    fn new(frame: &'f mut RgbImage) -> Self {
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        // Only the pixels proper: the container may be longer.
        let rgb = &mut (**frame)[..width * height * 3];
        Canvas { rgb, width, height }
    }

    /// Even-odd scanline fill, sampled at pixel centres. Each row's crossings are sorted and
    /// filled pairwise as spans, which handles concave and self-intersecting polygons alike.
    fn fill_polygon(&mut self, points: &[[f64; 2]], colour: [u8; 3], crossings: &mut Vec<f64>) {
        if points.len() < 3 || self.width == 0 || self.height == 0 {
            return;
        }
        let (min_y, max_y) =
            points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p[1]), hi.max(p[1])));
        // Rows whose centre y + 0.5 lies in [min_y, max_y); only those can have crossings.
        let first_row = to_index((min_y - 0.5).ceil(), self.height);
        let end_row = to_index((max_y - 0.5).ceil(), self.height);
        let tint = colour.map(|c| u16::from(c) * FILL_WEIGHT);
        let row_len = self.width * 3;
        for y in first_row..end_row {
            let yc = y as f64 + 0.5;
            crossings.clear();
            for (a, b) in points.iter().zip(points.iter().cycle().skip(1)) {
                // Half-open in y, so a vertex exactly on the scanline counts once, not twice, and
                // horizontal edges (which would divide by zero) never count.
                if (a[1] <= yc) != (b[1] <= yc) {
                    // Interpolate from the end nearer the scanline: from the far end of an edge
                    // reaching out to 1e150, `far + t * (near - far)` cancels to nonsense. Ties go
                    // to the upper end, so an edge two spaces share gives both the same crossing
                    // whichever way round they list it.
                    let (near, far) = if (yc - a[1]).abs() < (yc - b[1]).abs()
                        || ((yc - a[1]).abs() == (yc - b[1]).abs() && a[1] < b[1])
                    {
                        (a, b)
                    } else {
                        (b, a)
                    };
                    let t = (yc - near[1]) / (far[1] - near[1]);
                    crossings.push(near[0] + t * (far[0] - near[0]));
                }
            }
            crossings.sort_unstable_by(f64::total_cmp);
            let row = &mut self.rgb[y * row_len..][..row_len];
            for span in crossings.chunks_exact(2) {
                // Pixels whose centre x + 0.5 lies in [span[0], span[1]).
                let x0 = to_index((span[0] - 0.5).ceil(), self.width);
                let x1 = to_index((span[1] - 0.5).ceil(), self.width);
                for px in row[x0 * 3..x1 * 3].chunks_exact_mut(3) {
                    for (c, t) in px.iter_mut().zip(tint) {
                        // Rounded integer blend: c * (1 - a) + colour * a, with a in 1/256ths.
                        *c = ((u16::from(*c) * (256 - FILL_WEIGHT) + t + 128) >> 8) as u8;
                    }
                }
            }
        }
    }

    fn stroke_polygon(&mut self, points: &[[f64; 2]], colour: [u8; 3]) {
        match points.len() {
            0 => {}
            1 => self.stroke_segment(points[0], points[0], colour),
            // Closing a two-point "polygon" would just draw the same segment twice.
            2 => self.stroke_segment(points[0], points[1], colour),
            _ => {
                for (a, b) in points.iter().zip(points.iter().cycle().skip(1)) {
                    self.stroke_segment(*a, *b, colour);
                }
            }
        }
    }

    /// A 2 px line: Bresenham over the integer lattice, stamping a 2x2 square centred on each
    /// lattice point. The segment is clipped first, so the loop is bounded by the frame size
    /// however far outside the ends lie.
    fn stroke_segment(&mut self, a: [f64; 2], b: [f64; 2], colour: [u8; 3]) {
        // A stamp at lattice point p covers pixels p - 1 and p, so points in [0, size] can touch
        // the frame; one more pixel of margin keeps rounding at the clip edge from losing an end.
        let (w, h) = (self.width as f64, self.height as f64);
        let Some((a, b)) = clip_segment(a, b, [-1.0, -1.0], [w + 1.0, h + 1.0]) else {
            return;
        };
        // Clamping again is belt and braces: it keeps the loop bounded even if the clip's
        // floating point were ever off by a hair.
        let lattice = |v: f64, hi: f64| v.round().clamp(-1.0, hi + 1.0) as i64;
        let (mut x, mut y) = (lattice(a[0], w), lattice(a[1], h));
        let (x_end, y_end) = (lattice(b[0], w), lattice(b[1], h));
        let (dx, dy) = ((x_end - x).abs(), -(y_end - y).abs());
        let (sx, sy) = ((x_end - x).signum(), (y_end - y).signum());
        let mut err = dx + dy;
        loop {
            self.fill_rect(x - 1, y - 1, x + 1, y + 1, colour);
            if x == x_end && y == y_end {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// The same 2 px centred stroke as the polygons, but as four solid rectangles: exact for
    /// axis-aligned edges and cheaper than walking lines.
    fn stroke_box(&mut self, b: &OverlayBox, colour: [u8; 3]) {
        let corners = [b.x1, b.y1, b.x2, b.y2];
        if !corners.iter().all(|c| c.is_finite()) {
            return;
        }
        let lattice = |v: f32| f64::from(v).round().clamp(-BOX_LIMIT, BOX_LIMIT) as i64;
        // Detectors occasionally emit swapped corners; draw those the same as ordered ones.
        let (left, right) = (lattice(b.x1.min(b.x2)), lattice(b.x1.max(b.x2)));
        let (top, bottom) = (lattice(b.y1.min(b.y2)), lattice(b.y1.max(b.y2)));
        self.fill_rect(left - 1, top - 1, right + 1, top + 1, colour);
        self.fill_rect(left - 1, bottom - 1, right + 1, bottom + 1, colour);
        self.fill_rect(left - 1, top - 1, left + 1, bottom + 1, colour);
        self.fill_rect(right - 1, top - 1, right + 1, bottom + 1, colour);
    }

    /// Solid fill of pixels `[x0, x1) × [y0, y1)`, clipped to the frame.
    fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, colour: [u8; 3]) {
        let clip = |v: i64, size: usize| v.clamp(0, size as i64) as usize;
        let (x0, x1) = (clip(x0, self.width), clip(x1, self.width));
        let (y0, y1) = (clip(y0, self.height), clip(y1, self.height));
        if x0 >= x1 {
            return;
        }
        for y in y0..y1 {
            let start = (y * self.width + x0) * 3;
            for px in self.rgb[start..start + (x1 - x0) * 3].chunks_exact_mut(3) {
                px.copy_from_slice(&colour);
            }
        }
    }
}

/// A float pixel position as an index in `[0, size]`. Saturating, so wildly out-of-frame values
/// simply land on an edge.
fn to_index(v: f64, size: usize) -> usize {
    v.clamp(0.0, size as f64) as usize
}

/// Liang-Barsky clip of segment `a`-`b` to the rectangle `lo`-`hi`; `None` if nothing of it lies
/// inside. The ends may come back swapped.
fn clip_segment(a: [f64; 2], b: [f64; 2], lo: [f64; 2], hi: [f64; 2]) -> Option<([f64; 2], [f64; 2])> {
    // Measure from the end nearer the rectangle: with one end at 1e150 and the other in the frame,
    // the far end's parameters round to exactly 1 and `a + t * d` cancels to nothing.
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let distance = |p: [f64; 2]| (p[0] - centre[0]).abs().max((p[1] - centre[1]).abs());
    let (a, b) = if distance(a) <= distance(b) { (a, b) } else { (b, a) };
    let d = [b[0] - a[0], b[1] - a[1]];
    let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
    for axis in 0..2 {
        for (p, q) in [(-d[axis], a[axis] - lo[axis]), (d[axis], hi[axis] - a[axis])] {
            if p == 0.0 {
                // Parallel to this boundary: wholly outside it or irrelevant to it.
                if q < 0.0 {
                    return None;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| [a[0] + t * d[0], a[1] + t * d[1]];
    Some((at(t0), at(t1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    const BLACK: Rgb<u8> = Rgb([0, 0, 0]);

    fn blend(under: [u8; 3], colour: [u8; 3]) -> [u8; 3] {
        let mut out = under;
        for (c, t) in out.iter_mut().zip(colour) {
            *c = ((u16::from(*c) * (256 - FILL_WEIGHT) + u16::from(t) * FILL_WEIGHT + 128) >> 8) as u8;
        }
        out
    }

    /// Fills only (no outline), so the exact pixel coverage can be checked.
    fn fill_only(width: u32, height: u32, points: &[[f64; 2]]) -> RgbImage {
        let mut frame = RgbImage::from_pixel(width, height, BLACK);
        Canvas::new(&mut frame).fill_polygon(points, [255, 255, 255], &mut Vec::new());
        frame
    }

    fn filled(frame: &RgbImage, x: u32, y: u32) -> bool {
        frame.get_pixel(x, y) != &BLACK
    }

    #[test]
    fn fills_a_square_at_pixel_centres() {
        let frame = fill_only(20, 20, &[[5.0, 5.0], [15.0, 5.0], [15.0, 15.0], [5.0, 15.0]]);
        for (x, y, p) in frame.enumerate_pixels() {
            let inside = (5..15).contains(&x) && (5..15).contains(&y);
            let expected = if inside { blend([0; 3], [255; 3]) } else { [0; 3] };
            assert_eq!(p.0, expected, "pixel ({x}, {y})");
        }
    }

    #[test]
    fn fills_a_concave_l_shape() {
        let l = [[2.0, 2.0], [22.0, 2.0], [22.0, 12.0], [12.0, 12.0], [12.0, 22.0], [2.0, 22.0]];
        let frame = fill_only(30, 30, &l);
        for y in 0..30 {
            for x in 0..30 {
                let in_bar = (2..22).contains(&x) && (2..12).contains(&y);
                let in_leg = (2..12).contains(&x) && (2..22).contains(&y);
                assert_eq!(filled(&frame, x, y), in_bar || in_leg, "pixel ({x}, {y})");
            }
        }
    }

    #[test]
    fn self_intersecting_polygon_uses_even_odd() {
        // A pentagram: under even-odd its inner pentagon is outside, its points inside.
        let star: Vec<[f64; 2]> = (0..5)
            .map(|i| {
                let angle = std::f64::consts::TAU * f64::from(i * 2 % 5) / 5.0 - std::f64::consts::FRAC_PI_2;
                [20.5 + 18.0 * angle.cos(), 20.5 + 18.0 * angle.sin()]
            })
            .collect();
        let frame = fill_only(41, 41, &star);
        assert!(!filled(&frame, 20, 20), "centre of the star");
        assert!(filled(&frame, 20, 6), "top point of the star");
    }

    #[test]
    fn adjacent_spaces_share_an_edge_without_overlap_or_gap() {
        let mut frame = RgbImage::from_pixel(20, 10, BLACK);
        let mut canvas = Canvas::new(&mut frame);
        let mut crossings = Vec::new();
        // A slanted shared edge, where rounding would show up first.
        canvas.fill_polygon(&[[0.0, 0.0], [11.3, 0.0], [7.9, 10.0], [0.0, 10.0]], [255, 0, 0], &mut crossings);
        canvas.fill_polygon(&[[11.3, 0.0], [20.0, 0.0], [20.0, 10.0], [7.9, 10.0]], [0, 0, 255], &mut crossings);
        for p in frame.pixels() {
            let [r, _, b] = p.0;
            assert!((r == 0) != (b == 0), "pixel {p:?} covered by both or neither");
        }
    }

    #[test]
    fn draw_tints_the_inside_and_outlines_the_edge() {
        let mut frame = RgbImage::from_pixel(30, 30, Rgb([100, 100, 100]));
        let square = [[5.0, 5.0], [25.0, 5.0], [25.0, 25.0], [5.0, 25.0]];
        draw(&mut frame, &[OverlaySpace { points: &square, shade: SpaceShade::Occupied }], &[]);
        let red = SpaceShade::Occupied.colour();
        assert_eq!(frame.get_pixel(15, 15).0, blend([100; 3], red));
        // The 2 px outline straddles the edge at x = 5: pixels 4 and 5.
        assert_eq!(frame.get_pixel(4, 15).0, red);
        assert_eq!(frame.get_pixel(5, 15).0, red);
        assert_eq!(frame.get_pixel(6, 15).0, blend([100; 3], red));
        assert_eq!(frame.get_pixel(3, 15).0, [100; 3]);
        assert_eq!(frame.get_pixel(25, 25).0, red);
        assert_eq!(frame.get_pixel(1, 1).0, [100; 3]);
        assert_eq!(frame.get_pixel(28, 28).0, [100; 3]);
    }

    #[test]
    fn shades_have_distinct_colours() {
        let mut frame = RgbImage::from_pixel(30, 10, BLACK);
        let rect = |x: f64| [[x, 2.0], [x + 8.0, 2.0], [x + 8.0, 8.0], [x, 8.0]];
        let (a, b, c) = (rect(1.0), rect(11.0), rect(21.0));
        let spaces = [
            OverlaySpace { points: &a, shade: SpaceShade::Free },
            OverlaySpace { points: &b, shade: SpaceShade::Occupied },
            OverlaySpace { points: &c, shade: SpaceShade::Unknown },
        ];
        draw(&mut frame, &spaces, &[]);
        let [fr, fg, _] = frame.get_pixel(5, 5).0;
        let [or, og, _] = frame.get_pixel(15, 5).0;
        let [ur, ug, ub] = frame.get_pixel(25, 5).0;
        assert!(fg > fr && or > og && ur == ug && ug == ub && ur > 0);
    }

    #[test]
    fn off_frame_and_absurd_polygons_do_not_panic() {
        let mut frame = RgbImage::from_pixel(64, 48, BLACK);
        let off = [[-100.0, -100.0], [-50.0, -100.0], [-50.0, -50.0]];
        let far = [[5000.0, 5000.0], [6000.0, 5000.0], [6000.0, 7000.0]];
        let below = [[10.0, 100.0], [50.0, 100.0], [30.0, 200.0]];
        draw(
            &mut frame,
            &[
                OverlaySpace { points: &off, shade: SpaceShade::Free },
                OverlaySpace { points: &far, shade: SpaceShade::Occupied },
                OverlaySpace { points: &below, shade: SpaceShade::Unknown },
            ],
            &[],
        );
        assert!(frame.pixels().all(|p| *p == BLACK), "nothing off-frame may land on it");

        let degenerate: [&[[f64; 2]]; 7] = [
            &[],
            &[[10.0, 10.0]],
            &[[10.0, 10.0], [20.0, 30.0]],
            &[[10.0, 10.0], [10.0, 10.0], [10.0, 10.0]],
            &[[f64::NAN, 1.0], [2.0, 3.0], [4.0, 5.0]],
            &[[f64::INFINITY, 1.0], [2.0, f64::NEG_INFINITY], [4.0, 5.0]],
            &[[f64::MAX, -f64::MAX], [-f64::MAX, f64::MAX], [f64::MAX, f64::MAX]],
        ];
        let spaces: Vec<_> = degenerate.iter().map(|points| OverlaySpace { points, shade: SpaceShade::Free }).collect();
        draw(&mut frame, &spaces, &[]);
    }

    #[test]
    fn huge_polygon_covering_the_frame_fills_all_of_it() {
        for size in [1e12, 1e150, 1e300] {
            let mut frame = RgbImage::from_pixel(64, 48, BLACK);
            let huge = [[-size, -size], [size, -size], [size, size], [-size, size]];
            // A wedge from inside the frame out to "infinity": its edges leave the frame far from
            // their far ends, so the clipper and the fill's edge arithmetic are both exercised.
            let wedge = [[32.0, 24.0], [size, -size * 0.1], [size, size * 0.1]];
            draw(
                &mut frame,
                &[
                    OverlaySpace { points: &huge, shade: SpaceShade::Free },
                    OverlaySpace { points: &wedge, shade: SpaceShade::Occupied },
                ],
                &[],
            );
            let (green, red) = (SpaceShade::Free.colour(), SpaceShade::Occupied.colour());
            let tinted = blend([0; 3], green);
            for (x, y) in [(0, 0), (63, 0), (0, 47), (63, 47), (20, 24), (63, 18), (63, 30)] {
                assert_eq!(frame.get_pixel(x, y).0, tinted, "pixel ({x}, {y}), size {size}");
            }
            assert_eq!(frame.get_pixel(63, 24).0, blend(tinted, red), "inside the wedge, size {size}");
            // At x = 63 the wedge's upper edge is at y = 20.9: its stroke covers rows 20 and 21.
            assert_eq!(frame.get_pixel(63, 20).0, red, "wedge outline, size {size}");
            assert_eq!(frame.get_pixel(63, 21).0, red, "wedge outline, size {size}");
        }
    }

    #[test]
    fn box_outline_is_set_and_interior_untouched() {
        let mut frame = RgbImage::from_pixel(40, 40, BLACK);
        let b = OverlayBox { x1: 10.0, y1: 12.0, x2: 30.0, y2: 28.0, score: 0.9 };
        draw(&mut frame, &[], &[b]);
        for (x, y) in [(9, 20), (10, 20), (29, 20), (30, 20), (20, 11), (20, 12), (20, 27), (20, 28), (9, 11), (30, 28)]
        {
            assert_eq!(frame.get_pixel(x, y).0, BOX_COLOUR, "outline pixel ({x}, {y})");
        }
        for y in 13..27 {
            for x in 11..29 {
                assert_eq!(*frame.get_pixel(x, y), BLACK, "interior pixel ({x}, {y})");
            }
        }
        for (x, y) in [(8, 20), (31, 20), (20, 10), (20, 29), (5, 5)] {
            assert_eq!(*frame.get_pixel(x, y), BLACK, "outside pixel ({x}, {y})");
        }
        // Swapped corners draw the same box.
        let mut swapped = RgbImage::from_pixel(40, 40, BLACK);
        draw(&mut swapped, &[], &[OverlayBox { x1: 30.0, y1: 28.0, x2: 10.0, y2: 12.0, score: 0.9 }]);
        assert_eq!(frame, swapped);
    }

    #[test]
    fn boxes_partly_or_wholly_off_frame_do_not_panic() {
        let mut frame = RgbImage::from_pixel(40, 40, BLACK);
        let boxes = [
            OverlayBox { x1: -10.0, y1: -10.0, x2: 20.0, y2: 20.0, score: 0.5 },
            OverlayBox { x1: 100.0, y1: 100.0, x2: 200.0, y2: 200.0, score: 0.5 },
            OverlayBox { x1: -f32::MAX, y1: -f32::MAX, x2: f32::MAX, y2: f32::MAX, score: 0.5 },
            OverlayBox { x1: f32::NAN, y1: 0.0, x2: 10.0, y2: 10.0, score: 0.5 },
            OverlayBox { x1: 0.0, y1: f32::INFINITY, x2: 10.0, y2: 10.0, score: 0.5 },
        ];
        draw(&mut frame, &[], &boxes);
        assert_eq!(frame.get_pixel(19, 10).0, BOX_COLOUR);
        assert_eq!(*frame.get_pixel(10, 10), BLACK);
        // An empty frame has nowhere to draw, and must not trip over that either.
        let mut empty = RgbImage::new(0, 0);
        let square = [[0.0, 0.0], [5.0, 0.0], [5.0, 5.0]];
        draw(&mut empty, &[OverlaySpace { points: &square, shade: SpaceShade::Free }], &boxes);
    }

    #[test]
    fn encoded_jpeg_decodes_to_the_same_size() {
        let mut frame = RgbImage::from_pixel(64, 48, Rgb([90, 90, 90]));
        let square = [[8.0, 8.0], [40.0, 8.0], [40.0, 40.0], [8.0, 40.0]];
        draw(
            &mut frame,
            &[OverlaySpace { points: &square, shade: SpaceShade::Free }],
            &[OverlayBox { x1: 30.0, y1: 4.0, x2: 60.0, y2: 30.0, score: 0.8 }],
        );
        let jpeg = encode_jpeg(&frame, 80).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        // Baseline: a SOF0 frame header and no progressive SOF2 one.
        assert!(jpeg.windows(2).any(|w| w == [0xFF, 0xC0]));
        assert!(!jpeg.windows(2).any(|w| w == [0xFF, 0xC2]));
        let decoded = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 48));
    }

    /// The real thing: a PKLot frame with its annotated spaces and two made-up vehicle boxes.
    /// Set `OVERLAY_EXAMPLE_OUT=/some/file.jpg` to keep the rendered image for a look.
    #[test]
    fn renders_a_pklot_frame() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/pklot/annotated/sequence1");
        let stem = "2013-02-22_07_05_01";
        let png = dir.join(format!("frames/{stem}.png"));
        let mut frame = image::open(&png).unwrap_or_else(|e| panic!("PKLot fixture {}: {e}", png.display())).to_rgb8();
        let xml = std::fs::read_to_string(dir.join(format!("bounding_boxes/{stem}.xml"))).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let parsed: Vec<(Vec<[f64; 2]>, SpaceShade)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("space"))
            .map(|space| {
                let points = space
                    .descendants()
                    .filter(|n| n.has_tag_name("point"))
                    .map(|p| ["x", "y"].map(|a| p.attribute(a).unwrap().parse::<f64>().unwrap()))
                    .collect();
                let shade = match space.attribute("occupied") {
                    Some("1") => SpaceShade::Occupied,
                    Some("0") => SpaceShade::Free,
                    _ => SpaceShade::Unknown,
                };
                (points, shade)
            })
            .collect();
        assert_eq!(parsed.len(), 40);
        let spaces: Vec<_> = parsed.iter().map(|(points, shade)| OverlaySpace { points, shade: *shade }).collect();
        let boxes = [
            OverlayBox { x1: 440.0, y1: 300.0, x2: 580.0, y2: 390.0, score: 0.91 },
            OverlayBox { x1: 1200.0, y1: 600.0, x2: 1400.0, y2: 800.0, score: 0.55 },
        ];
        let original = frame.clone();
        draw(&mut frame, &spaces, &boxes);

        // Each space's centre (well inside it, away from every outline and box) is the frame
        // tinted once with its shade.
        for (points, shade) in &parsed {
            let n = points.len() as f64;
            let cx = points.iter().map(|p| p[0]).sum::<f64>() / n;
            let cy = points.iter().map(|p| p[1]).sum::<f64>() / n;
            let (x, y) = (cx as u32, cy as u32);
            let near_box = boxes.iter().any(|b| {
                let near = |v: u32, edge: f32| (v as f32 - edge).abs() < 3.0;
                near(x, b.x1) || near(x, b.x2) || near(y, b.y1) || near(y, b.y2)
            });
            if !near_box {
                let expected = blend(original.get_pixel(x, y).0, shade.colour());
                assert_eq!(frame.get_pixel(x, y).0, expected, "centre of space at ({x}, {y})");
            }
        }
        if let Some(out) = std::env::var_os("OVERLAY_EXAMPLE_OUT") {
            std::fs::write(out, encode_jpeg(&frame, 85).unwrap()).unwrap();
        }
    }
}
