//! smartpark: a real-time parking monitor. See docs/architecture.md for the map.

pub mod api;
pub mod app;
pub mod auth;
pub mod camera;
pub mod config;
pub mod dashboard;
pub mod detect;
pub mod live;
pub mod metrics;
pub mod parking;
pub mod storage;
