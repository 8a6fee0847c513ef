//! The space classifier: from each space's own patch, how likely it is occupied. It sees the
//! cars the detector misses (packed side by side, seen from above, small and far), and it is the
//! per-space evidence the occupancy rule weighs together with the detector's boxes.
//!
//! The model is a TorchScript file written by `scripts/train_space_classifier.py` (`make
//! models`): `[N, 3, S, S]` RGB in 0..1 → `[N]` logits, with a `config.txt` extra file giving S
//! and the context the patches are cut with.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::RgbImage;
use tch::{CModule, Device, IValue, Kind, Tensor};

use super::model::{read_config_txt, ModelError};
use super::patch::Window;
use crate::parking::geometry::Polygon;

#[derive(serde::Deserialize)]
struct Config {
    input_size: usize,
    context: f64,
}

pub struct SpaceClassifier {
    module: CModule,
    device: Device,
    size: usize,
    context: f64,
    pub path: PathBuf,
}

/// Time spent cutting patches and running the classifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ClassifierTimings {
    pub patches: Duration,
    pub inference: Duration,
    /// Spaces classified.
    pub spaces: usize,
}

fn read_config(path: &Path) -> Result<Config, ModelError> {
    let wrong = |why: String| ModelError::NotClassifier { path: path.to_path_buf(), why };
    let text = read_config_txt(path).map_err(|e| wrong(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| wrong(format!("config.txt: {e}")))?;
    if value.get("kind").and_then(|k| k.as_str()) != Some("space-classifier") {
        return Err(wrong(format!(
            "its config.txt says kind {}",
            value.get("kind").unwrap_or(&serde_json::Value::Null)
        )));
    }
    let config: Config = serde_json::from_value(value).map_err(|e| wrong(format!("config.txt: {e}")))?;
    let in_range = (8..=512).contains(&config.input_size) && (0.5..=4.0).contains(&config.context);
    if !in_range {
        return Err(wrong(format!(
            "config.txt: input_size {} or context {} is out of range",
            config.input_size, config.context
        )));
    }
    Ok(config)
}

impl SpaceClassifier {
    pub fn load(path: &Path, device: Device) -> Result<SpaceClassifier, ModelError> {
        let config = read_config(path)?;
        let mut module = CModule::load_on_device(path, device)
            .map_err(|e| ModelError::Load { path: path.to_path_buf(), why: e.to_string() })?;
        module.set_eval();
        let classifier = SpaceClassifier {
            module,
            device,
            size: config.input_size,
            context: config.context,
            path: path.to_path_buf(),
        };
        // A file that loads but does not answer one number per patch is refused now, not at the
        // first frame.
        let probe = Tensor::zeros([2, 3, classifier.size as i64, classifier.size as i64], (Kind::Float, Device::Cpu));
        let out = classifier.forward(&probe)?;
        if out.len() != 2 {
            return Err(ModelError::Inference(format!(
                "{}: the classifier answered {} numbers for 2 patches",
                path.display(),
                out.len()
            )));
        }
        Ok(classifier)
    }

    fn forward(&self, input: &Tensor) -> Result<Vec<f32>, ModelError> {
        let input = if self.device == Device::Cpu { input.shallow_clone() } else { input.to_device(self.device) };
        let out = tch::no_grad(|| self.module.forward_is(&[IValue::Tensor(input)]))
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        let IValue::Tensor(logits) = out else {
            return Err(ModelError::Inference("the classifier did not answer a tensor".into()));
        };
        let logits = logits.to_device(Device::Cpu).to_kind(Kind::Float).contiguous().view([-1]);
        Vec::<f32>::try_from(&logits).map_err(|e| ModelError::Inference(e.to_string()))
    }

    /// For each frame, the probability that each of its spaces is occupied: every space of every
    /// frame in one forward pass.
    pub fn classify(
        &self,
        frames: &[(&RgbImage, &[Polygon])],
        timings: &mut ClassifierTimings,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let total: usize = frames.iter().map(|(_, s)| s.len()).sum();
        if total == 0 {
            return Ok(frames.iter().map(|_| Vec::new()).collect());
        }
        let t0 = Instant::now();
        let per = self.size * self.size * 3;
        let side = self.size as i64;
        let input = Tensor::empty([total as i64, side, side, 3], (Kind::Float, Device::Cpu));
        // SAFETY: a fresh contiguous f32 tensor of exactly total * per elements, owned here.
        let buf: &mut [f32] = unsafe { std::slice::from_raw_parts_mut(input.data_ptr() as *mut f32, total * per) };
        let mut chunks = buf.chunks_exact_mut(per);
        for (frame, spaces) in frames {
            for space in spaces.iter() {
                if let Some(chunk) = chunks.next() {
                    Window::of(space, self.context).cut(frame, self.size, chunk);
                }
            }
        }
        let t1 = Instant::now();
        let logits = self.forward(&input.permute([0, 3, 1, 2]))?;
        timings.patches += t1 - t0;
        timings.inference += t1.elapsed();
        timings.spaces += total;
        if logits.len() != total {
            return Err(ModelError::Inference(format!("{} answers for {total} spaces", logits.len())));
        }
        let mut probabilities = logits.into_iter().map(|z| 1.0 / (1.0 + (-z).exp()));
        Ok(frames.iter().map(|(_, s)| probabilities.by_ref().take(s.len()).collect()).collect())
    }
}
