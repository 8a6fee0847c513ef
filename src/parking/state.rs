//! What a space is and what is said about it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::geometry::Polygon;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SlotState {
    Free,
    Occupied,
    Unknown,
}

impl SlotState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Free => "free",
            SlotState::Occupied => "occupied",
            SlotState::Unknown => "unknown",
        }
    }
}

impl fmt::Display for SlotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SlotState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(SlotState::Free),
            "occupied" => Ok(SlotState::Occupied),
            "unknown" => Ok(SlotState::Unknown),
            other => Err(format!("unknown slot state {other:?}")),
        }
    }
}

/// Who said a space changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An operator, through `PUT /api/slots/{id}` or the dashboard.
    Manual,
    /// An external sensor, through `POST /api/slots/{id}/observations`.
    Sensor,
    /// The camera detector.
    Detector,
    /// The camera itself: it delivered no usable frame for `occupancy.stale_after_s`, so its
    /// spaces are unknown.
    Camera,
}

impl FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "manual" => Ok(Source::Manual),
            "sensor" => Ok(Source::Sensor),
            "detector" => Ok(Source::Detector),
            "camera" => Ok(Source::Camera),
            other => Err(format!("unknown source {other:?}")),
        }
    }
}

impl Source {
    /// What the camera saw waits for the database while it is out; a person or a sensor is
    /// told it is out instead.
    pub fn may_wait(self) -> bool {
        matches!(self, Source::Detector | Source::Camera)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Manual => "manual",
            Source::Sensor => "sensor",
            Source::Detector => "detector",
            Source::Camera => "camera",
        }
    }
}

/// A space as clients see it (`GET /api/slots`, WebSocket `slot` events).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SlotView {
    pub id: i64,
    pub camera_id: String,
    pub label: String,
    pub state: SlotState,
    /// When the space entered its current state.
    pub since: DateTime<Utc>,
    /// Who set the current state: `manual` (by hand, which holds against the detector until the
    /// camera sees the space change), `sensor`, `detector` or `camera`; null before the first.
    pub source: Option<Source>,
    /// The user or token that set it, for a manual change or a sensor report.
    pub actor: Option<String>,
    pub polygon: Polygon,
    /// The open parking session in this space, if a car is parked there.
    pub session_id: Option<i64>,
    /// When that parking session started.
    pub session_started_at: Option<DateTime<Utc>>,
    /// Only while the database is out: the state the camera has seen since, held to be stored
    /// (with its own time) when the database returns. `state` is the last one stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<SlotState>,
    /// The row's version: a change is stored only from the version it was decided on, and a
    /// replica adopts a newer one it hears of.
    #[serde(skip)]
    pub version: i64,
}

/// Postgres keeps microseconds; times are cut to that before they are stored, so what the API
/// answers now equals what it answers after a restart.
pub fn to_db_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(t)
}
