//! `smartpark eval`: the detector, the space classifier and the occupancy rule against annotated
//! frames. Every frame is judged on its own (no debounce, no memory), as the ground truth is per
//! frame; `--replay` (see `replay.rs`) plays the frames through the live loop instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use image::RgbImage;
use serde::Serialize;

use crate::analysis::occupancy::{self, OccupancyParams, SpaceEvidence, VehicleBox};
use crate::detect::actor::Seen;
use crate::detect::classifier::{ClassifierTimings, SpaceClassifier};
use crate::detect::preprocess::decode;
use crate::detect::yolo::{Timings, Yolo};
use crate::parking::geometry::Polygon;
use crate::parking::pklot::{self, PklotSpace};

/// The models a frame goes through, as the server's detector worker runs them.
pub struct Models {
    pub yolo: Yolo,
    pub classifier: Option<SpaceClassifier>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ModelTimings {
    pub detector: Timings,
    pub classifier: ClassifierTimings,
}

impl ModelTimings {
    pub fn total(&self) -> Duration {
        self.detector.total() + self.classifier.patches + self.classifier.inference
    }
}

impl Models {
    pub fn see(&mut self, frame: &RgbImage, spaces: &[Polygon], timings: &mut ModelTimings) -> anyhow::Result<Seen> {
        let boxes = self.yolo.detect(&[frame], &mut timings.detector)?.remove(0);
        let occupied = match &self.classifier {
            Some(c) => Some(c.classify(&[(frame, spaces)], &mut timings.classifier)?.remove(0)),
            None => None,
        };
        Ok(Seen { boxes, occupied })
    }
}

/// The evidence per space of what the models saw.
pub fn evidence(spaces: &[Polygon], seen: &Seen, rule: &OccupancyParams) -> Vec<SpaceEvidence> {
    let boxes: Vec<VehicleBox> = seen.boxes.iter().map(VehicleBox::from).collect();
    occupancy::assess(spaces, &boxes, seen.occupied.as_deref(), rule)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub frames: usize,
    /// Space observations judged (spaces × frames, for spaces with ground truth).
    pub spaces: usize,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub overall: Figures,
    /// Decode, models and occupancy, per frame.
    pub ms_per_frame: f64,
    /// Of which the space classifier: cutting the patches, and its inference.
    pub patches_ms_per_frame: f64,
    pub classifier_ms_per_frame: f64,
    /// Each lot's figures, by the lot's name (`<parking id>` of its annotations).
    pub lots: BTreeMap<String, Figures>,
}

/// Counts, with "occupied" as the positive class.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    pub fn_: usize,
}

impl Confusion {
    pub fn add(&mut self, predicted: bool, truth: bool) {
        match (predicted, truth) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
    }

    pub fn figures(&self, frames: usize) -> Figures {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let n = self.tp + self.fp + self.tn + self.fn_;
        let precision = ratio(self.tp, self.tp + self.fp);
        let recall = ratio(self.tp, self.tp + self.fn_);
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        Figures { frames, spaces: n, accuracy: ratio(self.tp + self.tn, n), precision, recall, f1 }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} frames, {} space observations: accuracy {:.4}, precision {:.4}, recall {:.4}",
            self.frames, self.spaces, self.accuracy, self.precision, self.recall
        )
    }
}

/// One annotated frame.
#[derive(Debug, Clone)]
pub struct Annotated {
    pub image: PathBuf,
    pub xml: PathBuf,
    /// The `frames/` folder it is in: a sequence, in time order by name.
    pub sequence: PathBuf,
}

/// Every `frames/<stem>.(jpg|jpeg|png)` under `root` with a `bounding_boxes/<stem>.xml` beside
/// it, in path order.
pub fn annotated_frames(root: &Path) -> anyhow::Result<Vec<Annotated>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "frames") {
                let boxes = dir.join("bounding_boxes");
                for f in std::fs::read_dir(&path)? {
                    let f = f?.path();
                    let is_image = f
                        .extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"));
                    let Some(stem) = f.file_stem() else { continue };
                    let xml = boxes.join(stem).with_extension("xml");
                    if is_image && xml.is_file() {
                        out.push(Annotated { image: f, xml, sequence: path.clone() });
                    }
                }
            } else {
                dirs.push(path);
            }
        }
    }
    out.sort_by(|a, b| a.image.cmp(&b.image));
    Ok(out)
}

/// Every annotated frame under each root; none at all is an error, as is a root without any.
pub fn annotated_sets(roots: &[PathBuf]) -> anyhow::Result<Vec<Annotated>> {
    let mut all = Vec::new();
    for root in roots {
        let frames = annotated_frames(root)?;
        anyhow::ensure!(
            !frames.is_empty(),
            "no annotated frames under {} (frames/ beside bounding_boxes/)",
            root.display()
        );
        all.extend(frames);
    }
    Ok(all)
}

/// A frame of another camera: `WxH` (say 1920x1080 or 640x480) made from an annotated frame by
/// taking the largest centred part of that shape and scaling it, the spaces with it; spaces not
/// wholly inside are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSize {
    pub width: u32,
    pub height: u32,
}

impl std::str::FromStr for FrameSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a frame size such as 1920x1080");
        let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let (width, height) =
            (w.trim().parse::<u32>().map_err(|_| bad())?, h.trim().parse::<u32>().map_err(|_| bad())?);
        if !(16..=8192).contains(&width) || !(16..=8192).contains(&height) {
            return Err(format!("{s}: each side must be 16 to 8192 pixels"));
        }
        Ok(FrameSize { width, height })
    }
}

impl FrameSize {
    pub fn apply(&self, frame: &RgbImage, spaces: Vec<PklotSpace>) -> (RgbImage, Vec<PklotSpace>) {
        let (fw, fh) = (f64::from(frame.width()), f64::from(frame.height()));
        let (tw, th) = (f64::from(self.width), f64::from(self.height));
        let (cw, ch) = if fw / fh > tw / th { (fh * tw / th, fh) } else { (fw, fw * th / tw) };
        let (x0, y0) = (((fw - cw) / 2.0).floor(), ((fh - ch) / 2.0).floor());
        let crop =
            image::imageops::crop_imm(frame, x0 as u32, y0 as u32, cw.round() as u32, ch.round() as u32).to_image();
        let scaled = image::imageops::resize(&crop, self.width, self.height, image::imageops::FilterType::Triangle);
        let (sx, sy) = (tw / cw, th / ch);
        let spaces = spaces
            .into_iter()
            .filter_map(|s| {
                let inside =
                    s.polygon.points().iter().all(|p| p[0] >= x0 && p[1] >= y0 && p[0] <= x0 + cw && p[1] <= y0 + ch);
                let points = s.polygon.points().iter().map(|p| [(p[0] - x0) * sx, (p[1] - y0) * sy]).collect();
                let polygon = Polygon::new(points).ok()?;
                inside.then_some(PklotSpace { polygon, ..s })
            })
            .collect();
        (scaled, spaces)
    }
}

/// An annotated frame read, decoded and (with a frame size) reframed; `lot` is the annotation's
/// `<parking id>`, else the name of the folder holding `frames/`. The time is the decoding's.
pub fn load(
    frame: &Annotated,
    size: Option<FrameSize>,
) -> anyhow::Result<(String, RgbImage, Vec<PklotSpace>, Duration)> {
    let xml = &frame.xml;
    let text = std::fs::read_to_string(xml).with_context(|| format!("reading {}", xml.display()))?;
    let file = pklot::parse_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", xml.display()))?;
    let lot = file.lot.unwrap_or_else(|| {
        let folder = frame.sequence.parent().and_then(|p| p.file_name());
        folder.map_or_else(|| "lot".to_string(), |n| n.to_string_lossy().into_owned())
    });
    let bytes = std::fs::read(&frame.image).with_context(|| format!("reading {}", frame.image.display()))?;
    let t0 = Instant::now();
    let rgb = decode(&bytes).with_context(|| frame.image.display().to_string())?;
    let decoding = t0.elapsed();
    Ok(match size {
        Some(size) => {
            let (rgb, spaces) = size.apply(&rgb, file.spaces);
            (lot, rgb, spaces, decoding)
        }
        None => (lot, rgb, file.spaces, decoding),
    })
}

pub fn run(
    models: &mut Models,
    rule: &OccupancyParams,
    roots: &[PathBuf],
    size: Option<FrameSize>,
    mut progress: impl FnMut(String),
) -> anyhow::Result<Report> {
    let frames = annotated_sets(roots)?;
    let mut overall = Confusion::default();
    let mut lots: BTreeMap<String, (Confusion, usize)> = BTreeMap::new();
    let mut timings = ModelTimings::default();
    let mut other = Duration::ZERO;
    for frame in &frames {
        let (lot, rgb, spaces, decoding) = load(frame, size)?;
        other += decoding;
        let polygons: Vec<Polygon> = spaces.iter().map(|s| s.polygon.clone()).collect();
        let seen = models.see(&rgb, &polygons, &mut timings)?;
        let t1 = Instant::now();
        let evidence = evidence(&polygons, &seen, rule);
        other += t1.elapsed();
        let (confusion, count) = lots.entry(lot).or_default();
        *count += 1;
        let mut wrong = 0;
        for (space, e) in spaces.iter().zip(&evidence) {
            if let Some(truth) = space.occupied {
                overall.add(e.occupied, truth);
                confusion.add(e.occupied, truth);
                wrong += usize::from(e.occupied != truth);
            }
        }
        progress(format!(
            "{}: {} vehicles, {} of {} spaces wrong",
            frame.image.display(),
            seen.boxes.len(),
            wrong,
            spaces.len()
        ));
    }
    let per_frame = |d: Duration| d.as_secs_f64() * 1000.0 / frames.len() as f64;
    Ok(Report {
        overall: overall.figures(frames.len()),
        ms_per_frame: per_frame(timings.total() + other),
        patches_ms_per_frame: per_frame(timings.classifier.patches),
        classifier_ms_per_frame: per_frame(timings.classifier.inference),
        lots: lots.into_iter().map(|(lot, (c, n))| (lot, c.figures(n))).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_figures() {
        let mut c = Confusion::default();
        for (p, t) in [(true, true), (true, true), (true, false), (false, false), (false, true), (false, false)] {
            c.add(p, t);
        }
        let r = c.figures(2);
        assert_eq!(r.spaces, 6);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert!((r.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(Confusion::default().figures(0).accuracy, 0.0);
    }

    #[test]
    fn finds_frames_at_any_depth() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("lot/day1/frames");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(dir.path().join("lot/day1/bounding_boxes")).unwrap();
        std::fs::write(a.join("f1.jpg"), b"x").unwrap();
        std::fs::write(a.join("f2.png"), b"x").unwrap();
        std::fs::write(a.join("notes.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("lot/day1/bounding_boxes/f1.xml"), b"x").unwrap();
        let found = annotated_frames(dir.path()).unwrap();
        assert_eq!(found.len(), 1, "a frame without its annotation is skipped");
        assert!(found[0].image.ends_with("frames/f1.jpg"));
        assert!(found[0].sequence.ends_with("day1/frames"));
        assert!(annotated_sets(&[dir.path().join("lot"), dir.path().join("lot/day1/frames")]).is_err());
    }

    #[test]
    fn a_frame_size_takes_the_middle_and_scales_the_spaces_with_it() {
        let frame = RgbImage::from_fn(1280, 720, |x, _| image::Rgb([(x / 5) as u8, 0, 0]));
        let space = |label: &str, x: f64| PklotSpace {
            label: label.into(),
            polygon: Polygon::new(vec![[x, 300.0], [x + 80.0, 300.0], [x + 80.0, 400.0], [x, 400.0]]).unwrap(),
            occupied: Some(true),
        };
        // 4:3 from 16:9: the middle 960 x 720, then scaled by 2/3.
        let size: FrameSize = "640x480".parse().unwrap();
        let (img, spaces) = size.apply(&frame, vec![space("edge", 20.0), space("middle", 600.0)]);
        assert_eq!(img.dimensions(), (640, 480));
        assert_eq!(spaces.len(), 1, "the space outside the middle part is dropped");
        let p = spaces[0].polygon.points()[0];
        assert!((p[0] - 880.0 / 3.0).abs() < 1e-9 && (p[1] - 200.0).abs() < 1e-9, "{p:?}");
        let (big, spaces) = "1920x1080".parse::<FrameSize>().unwrap().apply(&frame, vec![space("a", 20.0)]);
        assert_eq!(big.dimensions(), (1920, 1080));
        assert_eq!(spaces[0].polygon.points()[2], [150.0, 600.0]);
        for bad in ["1920", "0x10", "axb", "99999x10"] {
            assert!(bad.parse::<FrameSize>().is_err(), "{bad}");
        }
    }
}
