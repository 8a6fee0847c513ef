//! Rows as diesel reads and writes them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{cameras, captures, parking_sessions, slot_events, slots};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cameras)]
pub struct CameraRow {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub source: serde_json::Value,
    pub token_sha256: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = cameras)]
pub struct NewCamera<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub source: serde_json::Value,
    pub token_sha256: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = captures)]
pub struct CaptureRow {
    pub id: i64,
    pub camera_id: String,
    pub storage_key: String,
    pub taken_at: DateTime<Utc>,
    pub size_bytes: i64,
    pub width: i32,
    pub height: i32,
    pub sha256: String,
    pub reason: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = captures)]
pub struct NewCapture<'a> {
    pub camera_id: &'a str,
    pub storage_key: &'a str,
    pub taken_at: DateTime<Utc>,
    pub size_bytes: i64,
    pub width: i32,
    pub height: i32,
    pub sha256: &'a str,
    pub reason: &'a str,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = slots)]
pub struct SlotRow {
    pub id: i64,
    pub camera_id: String,
    pub label: String,
    pub polygon: serde_json::Value,
    pub state: String,
    pub since: DateTime<Utc>,
    pub source: Option<String>,
    pub actor: Option<String>,
    pub version: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = slots)]
pub struct NewSlot<'a> {
    pub camera_id: &'a str,
    pub label: &'a str,
    pub polygon: serde_json::Value,
    pub state: &'a str,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = parking_sessions)]
pub struct SessionRow {
    pub id: i64,
    pub slot_id: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub source: String,
    pub end_source: Option<String>,
    pub entry_capture_id: Option<i64>,
    pub exit_capture_id: Option<i64>,
    /// The user or token that opened (closed) the stay, for manual changes and sensor reports.
    pub started_by: Option<String>,
    pub ended_by: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = parking_sessions)]
pub struct NewSession<'a> {
    pub slot_id: i64,
    pub started_at: DateTime<Utc>,
    pub source: &'a str,
    pub entry_capture_id: Option<i64>,
    pub started_by: Option<&'a str>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = slot_events)]
pub struct NewSlotEvent<'a> {
    pub slot_id: i64,
    pub at: DateTime<Utc>,
    pub from_state: &'a str,
    pub to_state: &'a str,
    pub source: &'a str,
    pub confidence: Option<f32>,
    pub capture_id: Option<i64>,
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
}
