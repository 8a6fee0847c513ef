//! The analyses, the second stage: each camera's newest frame on a schedule, the motion gate,
//! the models (`detect`), the occupancy rule, the memory of still spaces and the debouncer; what
//! they confirm goes to `parking` with its evidence kept by the `archive`.

mod analyse;
pub mod camera_loop;
pub mod motion;
pub mod occupancy;
pub mod overlay;
mod report;
pub mod watch;
