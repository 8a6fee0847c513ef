//! `smartpark detect`: the vehicle boxes the model finds in images, one JSON line per image.

use std::path::PathBuf;

use anyhow::Context;

use crate::detect::preprocess::decode;
use crate::detect::yolo::{Timings, Yolo};

/// Prints `{"image", "boxes": [[x1, y1, x2, y2, score, class]]}` for each image, in frame pixels.
pub fn run(yolo: &mut Yolo, images: &[PathBuf]) -> anyhow::Result<()> {
    let mut timings = Timings::default();
    for path in images {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let frame = decode(&bytes).with_context(|| path.display().to_string())?;
        let found = yolo.detect(&[&frame], &mut timings)?.remove(0);
        let boxes: Vec<[f32; 6]> = found.iter().map(|d| [d.x1, d.y1, d.x2, d.y2, d.score, d.class as f32]).collect();
        println!("{}", serde_json::json!({ "image": path, "boxes": boxes }));
    }
    Ok(())
}
