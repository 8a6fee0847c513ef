//! Cameras, the first stage: where frames come from (pulled MJPEG or snapshots, or pushed), the
//! capture actors that take them and the feeds that hand them out. The archive and the analyses
//! read the feeds; the cameras call neither.

pub mod backoff;
pub mod capture;
pub mod feed;
pub mod id;
pub mod jpeg;
pub mod mjpeg;
pub mod network;
pub mod registry;
pub mod source;
