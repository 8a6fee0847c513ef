//! The models: a YOLO vehicle detector and the space classifier through libtorch, on their own
//! threads behind one queue. It knows frames and polygons, nothing of cameras or spaces' states.

pub mod actor;
pub mod classifier;
pub mod model;
pub mod nms;
pub mod patch;
pub mod preprocess;
pub mod yolo;
