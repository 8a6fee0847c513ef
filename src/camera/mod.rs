//! Cameras: what identifies one today; capture actors and streams come with the cameras work.

pub mod id;
