//! Spaces: their geometry, their state and the parking sessions that happen in them.

pub mod board;
pub mod camera_loop;
pub mod geometry;
pub mod lot;
pub mod occupancy;
pub mod pklot;
pub mod slot;
pub mod state;
pub mod watch;
