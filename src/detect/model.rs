//! A YOLO model exported to TorchScript by Ultralytics' tools: the module, its class names (from
//! the `config.txt` extra file) and which of the two output layouts it has.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use tch::{CModule, Device, IValue, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the model {path}: {why}")]
    Read { path: PathBuf, why: String },
    #[error("{path} is not a TorchScript archive with a config.txt extra file (export it with Ultralytics' `export format=torchscript`): {why}")]
    NoConfig { path: PathBuf, why: String },
    #[error("{path} is not a space classifier (`make models` trains one): {why}")]
    NotClassifier { path: PathBuf, why: String },
    #[error("libtorch cannot load {path}: {why}")]
    Load { path: PathBuf, why: String },
    #[error(
        "the model's output is {0}; expected YOLOv5 [B, N, 5+C] or YOLOv8/11 [B, 4+C(+masks), N] with C = {1} classes"
    )]
    Layout(String, usize),
    #[error("inference failed: {0}")]
    Inference(String),
}

/// How the model lays out its predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[B, N, 5 + C]`: cx, cy, w, h, objectness, class scores (YOLOv5).
    Anchors,
    /// `[B, 4 + C + M, N]`: cx, cy, w, h, class scores, then M mask coefficients (YOLOv8/11).
    Channels { masks: usize },
}

pub struct Model {
    module: CModule,
    pub device: Device,
    pub names: Vec<String>,
    pub stride: i64,
    layout: Option<Layout>,
    pub path: PathBuf,
}

/// What the export wrote beside the weights.
#[derive(serde::Deserialize)]
struct ExportConfig {
    names: Names,
    #[serde(default)]
    stride: Option<i64>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Names {
    List(Vec<String>),
    Map(BTreeMap<String, String>),
}

impl Names {
    fn into_vec(self) -> Result<Vec<String>, String> {
        match self {
            Names::List(v) => Ok(v),
            Names::Map(m) => {
                let mut pairs = m
                    .into_iter()
                    .map(|(k, v)| {
                        k.parse::<usize>().map(|i| (i, v)).map_err(|_| format!("class id {k:?} is not a number"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                pairs.sort();
                if pairs.iter().enumerate().any(|(i, (k, _))| i != *k) {
                    return Err("class ids are not 0..C".into());
                }
                Ok(pairs.into_iter().map(|(_, v)| v).collect())
            }
        }
    }
}

/// TorchScript files are zip archives; the extra files sit under `<archive>/extra/`. Reads
/// `extra/config.txt`, the JSON the exports describe their model with.
pub fn read_config_txt(path: &Path) -> Result<String, ModelError> {
    let no_config = |why: String| ModelError::NoConfig { path: path.to_path_buf(), why };
    let file =
        std::fs::File::open(path).map_err(|e| ModelError::Read { path: path.to_path_buf(), why: e.to_string() })?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| no_config(e.to_string()))?;
    let name = zip
        .file_names()
        .find(|n| n.ends_with("/extra/config.txt"))
        .map(str::to_string)
        .ok_or_else(|| no_config("no extra/config.txt in the archive".into()))?;
    let mut text = String::new();
    zip.by_name(&name)
        .map_err(|e| no_config(e.to_string()))?
        .read_to_string(&mut text)
        .map_err(|e| no_config(e.to_string()))?;
    Ok(text)
}

fn read_config(path: &Path) -> Result<ExportConfig, ModelError> {
    let text = read_config_txt(path)?;
    serde_json::from_str(&text)
        .map_err(|e| ModelError::NoConfig { path: path.to_path_buf(), why: format!("config.txt: {e}") })
}

impl Model {
    pub fn load(path: &Path, device: Device) -> Result<Model, ModelError> {
        // The profiling executor re-specialises the graph for every input shape it meets
        // (cameras differ in size, batches in length) and buys nothing for a network of oneDNN
        // convolutions on the CPU: without it inference measured about 6% faster here.
        tch::jit::set_profiling_mode(false);
        let config = read_config(path)?;
        let names = config.names.into_vec().map_err(|why| ModelError::NoConfig { path: path.to_path_buf(), why })?;
        let mut module = CModule::load_on_device(path, device)
            .map_err(|e| ModelError::Load { path: path.to_path_buf(), why: e.to_string() })?;
        module.set_eval();
        Ok(Model {
            module,
            device,
            names,
            stride: config.stride.unwrap_or(32).max(1),
            layout: None,
            path: path.to_path_buf(),
        })
    }

    /// The layout, known after the first forward pass.
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    /// Runs the module on a float batch `[B, 3, H, W]` in 0..1 and returns its predictions on the
    /// CPU, contiguous, as f32, with the layout they are in.
    pub fn forward(&mut self, input: &Tensor) -> Result<(Tensor, Layout), ModelError> {
        let output = tch::no_grad(|| self.module.forward_is(&[IValue::Tensor(input.shallow_clone())]))
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        // Segmentation models return (predictions, mask prototypes); detection exports may wrap
        // the predictions in a 1-tuple.
        let predictions =
            first_tensor(output).ok_or_else(|| ModelError::Layout("not a tensor".into(), self.names.len()))?;
        let layout = match self.layout {
            Some(l) => l,
            None => {
                let l = layout_of(&predictions.size(), self.names.len())?;
                self.layout = Some(l);
                l
            }
        };
        let predictions = predictions.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        Ok((predictions, layout))
    }
}

fn first_tensor(value: IValue) -> Option<Tensor> {
    match value {
        IValue::Tensor(t) => Some(t),
        IValue::Tuple(items) | IValue::GenericList(items) => items.into_iter().next().and_then(first_tensor),
        IValue::TensorList(items) => items.into_iter().next(),
        _ => None,
    }
}

/// Tells the layouts apart by the class count: a YOLOv5 row is 5 + C long, a YOLOv8/11 column
/// 4 + C plus any mask coefficients, and the anchor count is far larger than either.
pub fn layout_of(shape: &[i64], classes: usize) -> Result<Layout, ModelError> {
    let bad = || ModelError::Layout(format!("{shape:?}"), classes);
    let &[_, a, b] = shape else { return Err(bad()) };
    let c = classes as i64;
    if b == 5 + c && a > b {
        Ok(Layout::Anchors)
    } else if a >= 4 + c && b > a {
        Ok(Layout::Channels { masks: (a - 4 - c) as usize })
    } else {
        Err(bad())
    }
}

/// `auto` (CUDA when libtorch sees a GPU), `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device, String> {
    match s {
        "auto" => {
            load_cuda();
            Ok(Device::cuda_if_available())
        }
        "cpu" => Ok(Device::Cpu),
        other => {
            let n = match other {
                "cuda" => Some(0),
                _ => other.strip_prefix("cuda:").and_then(|n| n.parse().ok()),
            };
            let n = n.ok_or_else(|| format!("device {other:?} is not auto, cpu, cuda or cuda:N"))?;
            if !load_cuda() || !tch::Cuda::is_available() {
                return Err(format!("device {other:?}: libtorch sees no CUDA device"));
            }
            Ok(Device::Cuda(n))
        }
    }
}

/// The binary uses no symbol of libtorch_cuda, so the linker drops it and libtorch would never
/// register its CUDA backend. Loading it by hand (found through the binary's rpath) registers
/// it; on a machine without a GPU it loads and reports no device.
fn load_cuda() -> bool {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LOADED.get_or_init(|| {
        // SAFETY: dlopen of a library with a constant NUL-terminated name; the handle is kept
        // open for the life of the process on purpose.
        let handle = unsafe { libc::dlopen(c"libtorch_cuda.so".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if handle.is_null() {
            tracing::debug!("libtorch_cuda.so is not there: CPU only");
        }
        !handle.is_null()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_layouts_apart() {
        assert_eq!(layout_of(&[1, 57960, 85], 80).unwrap(), Layout::Anchors);
        assert_eq!(layout_of(&[2, 84, 8400], 80).unwrap(), Layout::Channels { masks: 0 });
        assert_eq!(layout_of(&[1, 42, 19320], 6).unwrap(), Layout::Channels { masks: 32 });
        assert!(layout_of(&[1, 84, 8400], 6).is_ok(), "extra channels count as masks");
        assert!(layout_of(&[1, 8400, 84], 80).is_err(), "a transposed v8 output is not a v5 one");
        assert!(layout_of(&[1, 85], 80).is_err());
        assert!(layout_of(&[1, 10, 10], 80).is_err());
    }

    #[test]
    fn devices_are_named_or_refused() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert!(parse_device("auto").is_ok());
        for bad in ["gpu", "cuda:x", "cuda:", ""] {
            assert!(parse_device(bad).is_err(), "{bad}");
        }
        if !tch::Cuda::is_available() {
            assert!(parse_device("cuda").unwrap_err().contains("no CUDA device"));
        }
    }

    #[test]
    fn reads_names_as_a_map_or_a_list() {
        let c: ExportConfig = serde_json::from_str(r#"{"names": {"1": "b", "0": "a", "10": "k", "2":"c","3":"d","4":"e","5":"f","6":"g","7":"h","8":"i","9":"j"}}"#).unwrap();
        assert_eq!(c.names.into_vec().unwrap()[10], "k");
        let c: ExportConfig = serde_json::from_str(r#"{"names": ["a", "b"], "stride": 32}"#).unwrap();
        assert_eq!(c.names.into_vec().unwrap(), vec!["a", "b"]);
        let c: ExportConfig = serde_json::from_str(r#"{"names": {"0": "a", "2": "c"}}"#).unwrap();
        assert!(c.names.into_vec().is_err());
    }
}
