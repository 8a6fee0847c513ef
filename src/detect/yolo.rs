//! The whole detection of a batch of frames, stage by stage: letterbox into one input tensor,
//! the model, the layout's confidence filter, suppression, and boxes back in frame pixels.

use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use super::model::{Layout, Model, ModelError};
use super::nms::{self, Detection};
use super::preprocess::{fill, Letterbox};

/// What decides which boxes come out (from `[detect]` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectParams {
    /// The longer side of the model's input, in pixels (640 to 1280; a multiple of 32).
    pub imgsz: u32,
    /// Boxes scoring at or below this are dropped.
    pub confidence: f32,
    /// Boxes of one class overlapping a better one by more than this are dropped.
    pub iou: f32,
    pub max_detections: usize,
    /// Which of the model's class names are vehicles; names the model lacks are ignored, and
    /// an empty list keeps every class.
    pub classes: Vec<String>,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            imgsz: 1280,
            // Low on purpose: with a nano model a far or half-hidden car scores 0.05–0.25, and the
            // occupancy rule weighs boxes by where they stand, so stray low boxes rarely count.
            confidence: 0.05,
            iou: 0.45,
            max_detections: 300,
            classes: ["car", "truck", "bus", "motorcycle", "van", "lorry"].map(String::from).to_vec(),
        }
    }
}

impl DetectParams {
    pub fn check(&self) -> Result<(), String> {
        if !(32..=4096).contains(&self.imgsz) || !self.imgsz.is_multiple_of(32) {
            return Err(format!("detect.imgsz must be a multiple of 32 between 32 and 4096, got {}", self.imgsz));
        }
        if !(0.0..1.0).contains(&self.confidence) {
            return Err(format!("detect.confidence must be in [0, 1), got {}", self.confidence));
        }
        if !(0.0..=1.0).contains(&self.iou) {
            return Err(format!("detect.iou must be in [0, 1], got {}", self.iou));
        }
        if self.max_detections == 0 {
            return Err("detect.max_detections must be at least 1".into());
        }
        Ok(())
    }
}

/// Time spent per stage, summed over the frames given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    pub decode: Duration,
    pub preprocess: Duration,
    pub inference: Duration,
    pub postprocess: Duration,
}

impl Timings {
    pub fn total(&self) -> Duration {
        self.decode + self.preprocess + self.inference + self.postprocess
    }
}

pub struct Yolo {
    model: Model,
    params: DetectParams,
    wanted: Vec<bool>,
}

impl Yolo {
    pub fn new(model: Model, params: DetectParams) -> Result<Yolo, String> {
        params.check()?;
        let wanted: Vec<bool> = if params.classes.is_empty() {
            vec![true; model.names.len()]
        } else {
            model.names.iter().map(|n| params.classes.iter().any(|c| c.eq_ignore_ascii_case(n))).collect()
        };
        if !wanted.iter().any(|&w| w) {
            return Err(format!(
                "none of the vehicle classes {:?} is a class of {} (it has: {})",
                params.classes,
                model.path.display(),
                model.names.join(", ")
            ));
        }
        Ok(Yolo { model, params, wanted })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn params(&self) -> &DetectParams {
        &self.params
    }

    /// The vehicle class names this detector keeps.
    pub fn vehicle_classes(&self) -> Vec<&str> {
        self.model.names.iter().zip(&self.wanted).filter(|(_, &w)| w).map(|(n, _)| n.as_str()).collect()
    }

    pub fn letterbox(&self, frame: &RgbImage) -> Letterbox {
        Letterbox::new(frame.width(), frame.height(), self.params.imgsz, self.model.stride as u32, true)
    }

    /// Boxes in frame pixels for each frame. Frames whose letterboxed sizes match share one
    /// forward pass.
    pub fn detect(&mut self, frames: &[&RgbImage], timings: &mut Timings) -> Result<Vec<Vec<Detection>>, ModelError> {
        let boxes: Vec<Letterbox> = frames.iter().map(|f| self.letterbox(f)).collect();
        let mut out = vec![Vec::new(); frames.len()];
        let mut done = vec![false; frames.len()];
        for first in 0..frames.len() {
            if done[first] {
                continue;
            }
            let lb = boxes[first];
            let group: Vec<usize> = (first..frames.len())
                .filter(|&i| !done[i] && (boxes[i].width, boxes[i].height) == (lb.width, lb.height))
                .collect();
            for &i in &group {
                done[i] = true;
            }
            let t0 = Instant::now();
            let input = self.input(&group.iter().map(|&i| (frames[i], boxes[i])).collect::<Vec<_>>());
            let t1 = Instant::now();
            let (pred, layout) = self.model.forward(&input)?;
            let t2 = Instant::now();
            let per_frame = pred.numel() / group.len();
            // SAFETY: `forward` returns a contiguous f32 CPU tensor, alive until the end of this
            // iteration, and nothing writes to it meanwhile.
            let all: &[f32] = unsafe { std::slice::from_raw_parts(pred.data_ptr() as *const f32, pred.numel()) };
            for (k, &i) in group.iter().enumerate() {
                let slice = &all[k * per_frame..(k + 1) * per_frame];
                out[i] = self.postprocess(slice, layout, &boxes[i], frames[i]);
            }
            let t3 = Instant::now();
            timings.preprocess += t1 - t0;
            timings.inference += t2 - t1;
            timings.postprocess += t3 - t2;
        }
        Ok(out)
    }

    /// One `[B, 3, H, W]` tensor whose memory is `[B, H, W, 3]` (channels last): the layout
    /// the frames already have, and the one oneDNN's convolutions run fastest on.
    fn input(&self, frames: &[(&RgbImage, Letterbox)]) -> Tensor {
        let (w, h) = (frames[0].1.width as i64, frames[0].1.height as i64);
        let t = Tensor::empty([frames.len() as i64, h, w, 3], (Kind::Float, Device::Cpu));
        let per = (w * h * 3) as usize;
        // SAFETY: a fresh contiguous f32 tensor of exactly frames.len() * per elements, owned here.
        let buf: &mut [f32] = unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, per * frames.len()) };
        for ((frame, lb), chunk) in frames.iter().zip(buf.chunks_exact_mut(per)) {
            fill(chunk, frame, lb);
        }
        let t = t.permute([0, 3, 1, 2]);
        if self.model.device == Device::Cpu {
            t
        } else {
            t.to_device(self.model.device)
        }
    }

    fn postprocess(&self, pred: &[f32], layout: Layout, lb: &Letterbox, frame: &RgbImage) -> Vec<Detection> {
        let wanted = |c: usize| self.wanted.get(c).copied().unwrap_or(false);
        let classes = self.model.names.len();
        let conf = self.params.confidence;
        let candidates = match layout {
            Layout::Anchors => nms::candidates_anchors(pred, classes, conf, &wanted),
            Layout::Channels { masks } => nms::candidates_channels(pred, classes, masks, conf, &wanted),
        };
        let (fw, fh) = (frame.width() as f32, frame.height() as f32);
        nms::suppress(candidates, self.params.iou, self.params.max_detections)
            .into_iter()
            .map(|d| {
                let (x1, y1) = lb.to_frame(d.x1, d.y1);
                let (x2, y2) = lb.to_frame(d.x2, d.y2);
                Detection {
                    x1: x1.clamp(0.0, fw),
                    y1: y1.clamp(0.0, fh),
                    x2: x2.clamp(0.0, fw),
                    y2: y2.clamp(0.0, fh),
                    ..d
                }
            })
            .collect()
    }
}
