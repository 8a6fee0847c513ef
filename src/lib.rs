//! smartpark: a real-time parking monitor. See docs/architecture.md for the map.
//!
//! The data path, a stage per folder: `camera` (frames in) → `analysis` (each camera's
//! analyses, with the models of `detect`) → `parking` (spaces, their states and stays) → `live`
//! (dashboards); `archive` keeps frames beside it. `stages` builds them and stops them in
//! reverse. Around them: `api` and `auth` (HTTP), `storage` (PostgreSQL, images), `tools` (the
//! commands that are not the server).

pub mod analysis;
pub mod api;
pub mod app;
pub mod archive;
pub mod auth;
pub mod camera;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod detect;
pub mod live;
pub mod metrics;
pub mod parking;
pub mod stages;
pub mod storage;
pub mod tools;
