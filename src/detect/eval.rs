//! `smartpark eval`: the detector and the occupancy rule against annotated frames. Every frame
//! is judged on its own (no debounce), as the ground truth is per frame.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::preprocess::decode;
use super::yolo::{Timings, Yolo};
use crate::parking::occupancy::{self, OccupancyParams, VehicleBox};
use crate::parking::pklot;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub frames: usize,
    /// Space observations judged (spaces × frames, for spaces with ground truth).
    pub spaces: usize,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Decode, detection and occupancy, per frame.
    pub ms_per_frame: f64,
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

    pub fn report(&self, frames: usize, ms_per_frame: f64) -> Report {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let n = self.tp + self.fp + self.tn + self.fn_;
        let precision = ratio(self.tp, self.tp + self.fp);
        let recall = ratio(self.tp, self.tp + self.fn_);
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        Report { frames, spaces: n, accuracy: ratio(self.tp + self.tn, n), precision, recall, f1, ms_per_frame }
    }
}

/// Every `frames/<stem>.(jpg|jpeg|png)` under `root` with a `bounding_boxes/<stem>.xml` beside
/// it, in path order.
pub fn annotated_frames(root: &Path) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
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
                        out.push((f, xml));
                    }
                }
            } else {
                dirs.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

pub fn run(
    yolo: &mut Yolo,
    rule: &OccupancyParams,
    root: &Path,
    mut progress: impl FnMut(String),
) -> anyhow::Result<Report> {
    let frames = annotated_frames(root)?;
    anyhow::ensure!(
        !frames.is_empty(),
        "no annotated frames under {} (frames/ beside bounding_boxes/)",
        root.display()
    );
    let mut confusion = Confusion::default();
    let mut timings = Timings::default();
    let mut occupancy_time = std::time::Duration::ZERO;
    for (image, xml) in &frames {
        let spaces = pklot::parse(&std::fs::read_to_string(xml).with_context(|| format!("reading {}", xml.display()))?)
            .with_context(|| xml.display().to_string())?;
        let bytes = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
        let t0 = Instant::now();
        let frame = decode(&bytes).with_context(|| image.display().to_string())?;
        timings.decode += t0.elapsed();
        let found = yolo.detect(&[&frame], &mut timings)?.remove(0);
        let t1 = Instant::now();
        let boxes: Vec<VehicleBox> = found.iter().map(VehicleBox::from).collect();
        let polygons: Vec<_> = spaces.iter().map(|s| s.polygon.clone()).collect();
        let evidence = occupancy::assess(&polygons, &boxes, rule);
        occupancy_time += t1.elapsed();
        let mut wrong = 0;
        for (space, e) in spaces.iter().zip(&evidence) {
            if let Some(truth) = space.occupied {
                confusion.add(e.occupied, truth);
                wrong += usize::from(e.occupied != truth);
            }
        }
        progress(format!("{}: {} vehicles, {} of {} spaces wrong", image.display(), boxes.len(), wrong, spaces.len()));
    }
    let total = timings.total() + occupancy_time;
    Ok(confusion.report(frames.len(), total.as_secs_f64() * 1000.0 / frames.len() as f64))
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
        let r = c.report(2, 10.0);
        assert_eq!(r.spaces, 6);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert!((r.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(Confusion::default().report(0, 0.0).accuracy, 0.0);
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
        assert!(found[0].0.ends_with("frames/f1.jpg"));
    }
}
