//! Cameras: where frames come from (pulled MJPEG or snapshots, or pushed), the capture actors
//! that take them, the feeds that hand them out, and the archive that keeps some.

pub mod archive;
pub mod backoff;
pub mod capture;
pub mod feed;
pub mod id;
pub mod jpeg;
pub mod mjpeg;
pub mod network;
pub mod registry;
pub mod sim;
pub mod source;
