//! The JSON messages dashboards receive on `/ws`, each with a `type` field.

use std::collections::BTreeMap;

use bytestring::ByteString;
use serde::Serialize;

use crate::camera::feed::CameraStatus;
use crate::parking::board::{Counts, SlotBoard};
use crate::parking::state::SlotView;
use crate::storage::stats::DayFigures;

/// Lot figures: the same object in `GET /api/stats` and in `snapshot` and `stats` events.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stats {
    #[serde(flatten)]
    pub counts: Counts,
    /// Parking sessions that started today (UTC).
    pub sessions_today: i64,
    /// Mean length in seconds of the stays that ended today; null before the first.
    pub average_stay_s: Option<f64>,
    /// The same counts for each camera's spaces.
    pub cameras: BTreeMap<String, Counts>,
}

impl Stats {
    pub fn new(board: &SlotBoard, day: DayFigures) -> Stats {
        let (counts, cameras) = board.counts();
        Stats { counts, sessions_today: day.sessions_today, average_stay_s: day.average_stay_s, cameras }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event<'a> {
    /// The whole lot: the first message on every connection.
    Snapshot {
        slots: Vec<&'a SlotView>,
        stats: &'a Stats,
        cameras: Vec<&'a CameraStatus>,
        /// False while the database cannot be reached: the lot is shown as last stored.
        database_up: bool,
    },
    Slot {
        slot: &'a SlotView,
    },
    SlotRemoved {
        id: i64,
    },
    Stats {
        stats: &'a Stats,
    },
    /// A camera's health changed, or its figures (fps, newest frame) moved.
    Camera {
        camera: &'a CameraStatus,
    },
    CameraRemoved {
        id: &'a str,
    },
    /// The database became unreachable (the lot shown is the last stored; the camera's changes
    /// are held) or reachable again.
    Database {
        up: bool,
    },
}

impl Event<'_> {
    /// Serialised once and shared by every connection.
    pub fn to_frame(&self) -> ByteString {
        // These types hold nothing serde can fail on (no maps with non-string keys).
        ByteString::from(
            serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"type\":\"error\",\"detail\":\"{e}\"}}")),
        )
    }
}
