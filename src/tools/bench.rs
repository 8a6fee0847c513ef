//! `smartpark bench detect`: this pipeline and the Python reference (the `yolov5` package's own
//! predict steps, `scripts/reference_yolo.py bench`) on the same images, size and threads.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::detect::classifier::{ClassifierTimings, SpaceClassifier};
use crate::detect::preprocess::decode;
use crate::detect::yolo::{Timings, Yolo};
use crate::parking::geometry::Polygon;

pub struct Setup {
    pub images: PathBuf,
    pub reference_weights: PathBuf,
    pub python: PathBuf,
    pub passes: usize,
    pub threads: i32,
    /// Alternating rounds of both pipelines; each side's best counts.
    pub rounds: usize,
    /// With the space classifier: the spaces it reads in every frame.
    pub spaces: Vec<Polygon>,
}

/// Milliseconds per frame of what the space classifier adds: cutting each space's patch, and
/// its inference (all the frame's spaces in one pass).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ClassifierStages {
    pub spaces: usize,
    pub patches: f64,
    pub inference: f64,
}

/// Milliseconds per frame by stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stages {
    pub decode: f64,
    pub preprocess: f64,
    pub inference: f64,
    pub postprocess: f64,
}

impl Stages {
    fn total(&self) -> f64 {
        self.decode + self.preprocess + self.inference + self.postprocess
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub frames: usize,
    pub imgsz: u32,
    pub threads: i32,
    pub rounds: usize,
    pub stages: Stages,
    pub reference_stages: Stages,
    pub ms_per_frame: f64,
    pub reference_ms_per_frame: f64,
    /// The detector against the reference, which runs the same model.
    pub ratio_vs_reference: f64,
    /// With the space classifier, what it adds per frame, and everything against the reference.
    pub classifier: Option<ClassifierStages>,
    pub ratio_with_classifier_vs_reference: Option<f64>,
}

fn jpegs(dir: &PathBuf) -> anyhow::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"))
        })
        .collect();
    out.sort();
    if out.is_empty() {
        bail!("no JPEG images in {}", dir.display());
    }
    Ok(out)
}

/// Runs both pipelines in alternating rounds and keeps each one's best round: both see the same
/// machine conditions, and a round slowed by something else running does not decide the figure.
pub fn run(
    yolo: &mut Yolo,
    classifier: Option<&SpaceClassifier>,
    setup: &Setup,
    mut say: impl FnMut(String),
) -> anyhow::Result<Report> {
    let images = jpegs(&setup.images)?;
    let files: Vec<Vec<u8>> = images.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    // Warm-up, as the reference does: the first passes pay for allocations and kernel choices.
    let mut scratch = Timings::default();
    for bytes in files.iter().take(2) {
        yolo.detect(&[&decode(bytes)?], &mut scratch)?;
    }
    let imgsz = yolo.params().imgsz;
    let passes = setup.passes.max(1);
    let frames = files.len() * passes;
    let mut best: Option<Stages> = None;
    let mut best_reference: Option<Stages> = None;
    let mut best_classifier: Option<ClassifierStages> = None;
    let classifier = classifier.filter(|_| !setup.spaces.is_empty());
    for round in 1..=setup.rounds.max(1) {
        if let Some(c) = classifier {
            let stages = classify(c, &files, &setup.spaces, passes)?;
            say(format!(
                "round {round} classifier {frames} frames, {} spaces each: patches {:.1} ms, inference {:.1} ms per frame",
                stages.spaces, stages.patches, stages.inference
            ));
            if best_classifier.is_none_or(|b| stages.patches + stages.inference < b.patches + b.inference) {
                best_classifier = Some(stages);
            }
        }
        let ours = ours(yolo, &files, passes)?;
        say(format!(
            "round {round} smartpark  {frames} frames at {imgsz} px, {} threads: {}",
            setup.threads,
            describe(&ours)
        ));
        let theirs = reference(yolo, setup, &images, imgsz, passes)?;
        say(format!(
            "round {round} reference  {frames} frames at {imgsz} px, {} threads: {}",
            setup.threads,
            describe(&theirs)
        ));
        if best.is_none_or(|b| ours.total() < b.total()) {
            best = Some(ours);
        }
        if best_reference.is_none_or(|b| theirs.total() < b.total()) {
            best_reference = Some(theirs);
        }
    }
    let (stages, reference) = (best.unwrap_or_default(), best_reference.unwrap_or_default());
    let (ms, reference_ms) = (stages.total(), reference.total());
    Ok(Report {
        frames,
        imgsz,
        threads: setup.threads,
        rounds: setup.rounds.max(1),
        stages,
        reference_stages: reference,
        ms_per_frame: ms,
        reference_ms_per_frame: reference_ms,
        ratio_vs_reference: ms / reference_ms,
        classifier: best_classifier,
        ratio_with_classifier_vs_reference: best_classifier.map(|c| (ms + c.patches + c.inference) / reference_ms),
    })
}

fn classify(
    classifier: &SpaceClassifier,
    files: &[Vec<u8>],
    spaces: &[Polygon],
    passes: usize,
) -> anyhow::Result<ClassifierStages> {
    let frames: Vec<image::RgbImage> = files.iter().map(|b| decode(b)).collect::<Result<_, _>>()?;
    let mut timings = ClassifierTimings::default();
    for _ in 0..passes {
        for frame in &frames {
            classifier.classify(&[(frame, spaces)], &mut timings)?;
        }
    }
    let n = (frames.len() * passes) as f64;
    Ok(ClassifierStages {
        spaces: spaces.len(),
        patches: timings.patches.as_secs_f64() * 1000.0 / n,
        inference: timings.inference.as_secs_f64() * 1000.0 / n,
    })
}

fn ours(yolo: &mut Yolo, files: &[Vec<u8>], passes: usize) -> anyhow::Result<Stages> {
    let mut timings = Timings::default();
    let mut frames = 0;
    for _ in 0..passes {
        for bytes in files {
            let t0 = Instant::now();
            let frame = decode(bytes)?;
            timings.decode += t0.elapsed();
            yolo.detect(&[&frame], &mut timings)?;
            frames += 1;
        }
    }
    let per = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / frames as f64;
    Ok(Stages {
        decode: per(timings.decode),
        preprocess: per(timings.preprocess),
        inference: per(timings.inference),
        postprocess: per(timings.postprocess),
    })
}

fn reference(yolo: &Yolo, setup: &Setup, images: &[PathBuf], imgsz: u32, passes: usize) -> anyhow::Result<Stages> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/reference_yolo.py");
    let out = Command::new(&setup.python)
        .arg(&script)
        .args(["bench", "--weights"])
        .arg(&setup.reference_weights)
        .args(["--imgsz", &imgsz.to_string(), "--threads", &setup.threads.to_string()])
        .args(["--conf", &yolo.params().confidence.to_string(), "--iou", &yolo.params().iou.to_string()])
        .args(["--passes", &passes.to_string()])
        .args(images)
        .output()
        .with_context(|| format!("running the Python reference with {}", setup.python.display()))?;
    if !out.status.success() {
        bail!("the Python reference failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().context("the Python reference printed nothing")?;
    serde_json::from_str(last).with_context(|| format!("reading the reference's figures: {last}"))
}

fn describe(s: &Stages) -> String {
    format!(
        "decode {:.1} ms, preprocess {:.1} ms, inference {:.1} ms, postprocess {:.1} ms, total {:.1} ms per frame",
        s.decode,
        s.preprocess,
        s.inference,
        s.postprocess,
        s.total()
    )
}
