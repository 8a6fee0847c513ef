//! Vehicle detection: a YOLO model through libtorch, and what feeds it.

pub mod actor;
pub mod bench;
pub mod classifier;
pub mod eval;
pub mod model;
pub mod motion;
pub mod nms;
pub mod overlay;
pub mod patch;
pub mod preprocess;
pub mod replay;
pub mod yolo;
