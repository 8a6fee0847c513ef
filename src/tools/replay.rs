//! `smartpark eval --replay`: annotated sequences played through the live loop — motion gating,
//! the memory of what is still, the debouncer — as a camera analysed every `detect.interval_s`
//! would deliver them, and the spaces' live states compared with the annotation after every
//! analysis. A sequence is one `frames/` folder in name (time) order; each frame stays in front
//! of the camera for `hold` analyses, as a scene stays for a while between the moments PKLot
//! annotated.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Serialize;

use super::eval::{annotated_sets, evidence, load, FrameSize, ModelTimings, Models};
use crate::analysis::camera_loop::CameraLoop;
use crate::config::{DetectConfig, OccupancyConfig};
use crate::parking::geometry::Polygon;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub sequences: usize,
    pub frames: usize,
    /// Analyses of a frame, including those the motion gate answered without the models.
    pub analyses: usize,
    /// Analyses that ran the models.
    pub model_runs: usize,
    /// Space observations judged: spaces with ground truth × analyses.
    pub spaces: usize,
    /// Share of observations whose live state was the annotated one (unknown counts as wrong).
    pub accuracy: f64,
    /// The same, at the last analysis of each frame only: once the loop had time to settle.
    pub settled_accuracy: f64,
    /// Share of observations still unknown (the first analyses, before the debouncer agrees).
    pub unknown: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub overall: Figures,
    pub hold: usize,
    pub confirm: usize,
    pub lots: BTreeMap<String, Figures>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    sequences: usize,
    frames: usize,
    analyses: usize,
    model_runs: usize,
    spaces: usize,
    right: usize,
    settled: usize,
    settled_right: usize,
    unknown: usize,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.sequences += o.sequences;
        self.frames += o.frames;
        self.analyses += o.analyses;
        self.model_runs += o.model_runs;
        self.spaces += o.spaces;
        self.right += o.right;
        self.settled += o.settled;
        self.settled_right += o.settled_right;
        self.unknown += o.unknown;
    }

    fn figures(&self) -> Figures {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Figures {
            sequences: self.sequences,
            frames: self.frames,
            analyses: self.analyses,
            model_runs: self.model_runs,
            spaces: self.spaces,
            accuracy: ratio(self.right, self.spaces),
            settled_accuracy: ratio(self.settled_right, self.settled),
            unknown: ratio(self.unknown, self.spaces),
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sequences, {} frames, {} analyses ({} ran the models), {} space observations: accuracy {:.4}, settled {:.4}, unknown {:.4}",
            self.sequences, self.frames, self.analyses, self.model_runs, self.spaces, self.accuracy, self.settled_accuracy, self.unknown
        )
    }
}

pub fn run(
    models: &mut Models,
    detect: &DetectConfig,
    occupancy: &OccupancyConfig,
    roots: &[PathBuf],
    size: Option<FrameSize>,
    hold: usize,
    mut progress: impl FnMut(String),
) -> anyhow::Result<Report> {
    let frames = annotated_sets(roots)?;
    let hold = hold.max(1);
    // Analyses since the models last ran after which they must run again, as `max_interval_s`.
    let force_after = (detect.max_interval_s / detect.interval_s).floor().max(1.0) as usize;
    let mut lots: BTreeMap<String, Counts> = BTreeMap::new();
    let mut timings = ModelTimings::default();
    let mut sequences: Vec<(&PathBuf, Vec<_>)> = Vec::new();
    for f in &frames {
        match sequences.last_mut() {
            Some((seq, list)) if *seq == &f.sequence => list.push(f),
            _ => sequences.push((&f.sequence, vec![f])),
        }
    }
    for (sequence, list) in sequences {
        let mut looping: CameraLoop = CameraLoop::new(detect.motion.clone(), occupancy.confirm);
        let mut ids: HashMap<String, i64> = HashMap::new();
        let mut states: HashMap<i64, Option<bool>> = HashMap::new();
        // Intervals since the models last ran, as of the previous analysis.
        let mut since_models: Option<usize> = None;
        let mut counts = Counts { sequences: 1, ..Counts::default() };
        let mut lot_name = String::new();
        for frame in list {
            let (lot, rgb, spaces, _) = load(frame, size)?;
            lot_name = lot;
            counts.frames += 1;
            let regions: Vec<(i64, Polygon)> = spaces
                .iter()
                .map(|s| {
                    let next = ids.len() as i64;
                    (*ids.entry(s.label.clone()).or_insert(next), s.polygon.clone())
                })
                .collect();
            let polygons: Vec<Polygon> = spaces.iter().map(|s| s.polygon.clone()).collect();
            // The same picture gives the same answer: the models run on it once.
            let mut seen = None;
            looping.set_spaces(regions.clone(), rgb.dimensions());
            let picture = looping.shrink(&rgb);
            for k in 0..hold {
                let small = picture.clone();
                let elapsed = since_models.map(|n| n + 1);
                let forced = elapsed.is_none_or(|n| n >= force_after);
                counts.analyses += 1;
                let current: Vec<Option<bool>> =
                    regions.iter().map(|(id, _)| states.get(id).copied().flatten()).collect();
                let changes = if !detect.motion_gating || forced || looping.needs_models(&small) {
                    if seen.is_none() {
                        seen = Some(models.see(&rgb, &polygons, &mut timings)?);
                    }
                    let seen = seen.as_ref().expect("just set");
                    counts.model_runs += 1;
                    since_models = Some(0);
                    looping.conclude(small, &current, &evidence(&polygons, seen, &occupancy.rule), &())
                } else {
                    since_models = elapsed;
                    looping.unchanged(&current, &())
                };
                for change in changes {
                    states.insert(change.slot, Some(change.occupied));
                }
                let last = k + 1 == hold;
                for ((id, _), space) in regions.iter().zip(&spaces) {
                    let Some(truth) = space.occupied else { continue };
                    let state = states.get(id).copied().flatten();
                    let right = state == Some(truth);
                    counts.spaces += 1;
                    counts.right += usize::from(right);
                    counts.unknown += usize::from(state.is_none());
                    if last {
                        counts.settled += 1;
                        counts.settled_right += usize::from(right);
                    }
                }
            }
        }
        progress(format!("{} ({lot_name}): {}", sequence.display(), counts.figures()));
        lots.entry(lot_name).or_default().add(&counts);
    }
    let mut overall = Counts::default();
    for c in lots.values() {
        overall.add(c);
    }
    Ok(Report {
        overall: overall.figures(),
        hold,
        confirm: occupancy.confirm,
        lots: lots.into_iter().map(|(k, c)| (k, c.figures())).collect(),
    })
}
