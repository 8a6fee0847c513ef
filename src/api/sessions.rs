//! `/api/sessions`: every stay in every space, newest first, page by page.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cursor;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::camera::id::CameraId;
use crate::storage::sessions::{self, SessionFilter, SessionRecord};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Serialize, ToSchema)]
pub struct ParkingSession {
    pub id: i64,
    pub slot_id: i64,
    pub slot_label: String,
    pub camera_id: String,
    pub started_at: DateTime<Utc>,
    /// Null while the car is still parked.
    pub ended_at: Option<DateTime<Utc>>,
    /// Length of the stay in seconds; null while it lasts.
    pub duration_s: Option<f64>,
    /// What opened the stay: `manual`, `sensor` or `detector`.
    pub source: String,
    pub end_source: Option<String>,
    pub entry_capture_id: Option<i64>,
    pub exit_capture_id: Option<i64>,
    /// The user (or `token:<name>`) whose manual change or sensor report opened the stay.
    pub started_by: Option<String>,
    /// ... and ended it.
    pub ended_by: Option<String>,
}

impl From<SessionRecord> for ParkingSession {
    fn from(r: SessionRecord) -> Self {
        let s = r.row;
        ParkingSession {
            id: s.id,
            slot_id: s.slot_id,
            slot_label: r.slot_label,
            camera_id: r.camera_id,
            started_at: s.started_at,
            ended_at: s.ended_at,
            duration_s: s.ended_at.map(|e| (e - s.started_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6),
            source: s.source,
            end_source: s.end_source,
            entry_capture_id: s.entry_capture_id,
            exit_capture_id: s.exit_capture_id,
            started_by: s.started_by,
            ended_by: s.ended_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    pub items: Vec<ParkingSession>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SessionsQuery {
    /// Only this space's stays.
    slot: Option<i64>,
    /// Only stays in this camera's spaces.
    #[param(value_type = Option<CameraId>)]
    camera: Option<CameraId>,
    /// Stays still going at or ending after this time (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Stays that started before this time (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// true: only stays still going; false: only finished ones.
    open: Option<bool>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/api/sessions",
    tag = "sessions",
    params(SessionsQuery),
    responses((status = 200, body = SessionPage), (status = 400, body = ErrorBody))
)]
pub async fn list(state: web::Data<AppState>, q: web::Query<SessionsQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    cursor::check_page(limit, MAX_LIMIT, q.from, q.to)?;
    let after = cursor::parse(q.cursor.as_deref())?;
    let filter = SessionFilter {
        slot_id: q.slot,
        camera_id: q.camera.map(String::from),
        from: q.from,
        to: q.to,
        open: q.open,
        after,
        limit: limit + 1,
    };
    let mut conn = state.db.conn().await?;
    let mut rows = sessions::list(&mut conn, &filter).await?;
    let next_cursor = cursor::finish_page(&mut rows, limit, |r| (r.row.started_at, r.row.id));
    Ok(HttpResponse::Ok().json(SessionPage { items: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

#[utoipa::path(
    get, path = "/api/sessions/{id}",
    tag = "sessions",
    params(("id" = i64, Path, description = "parking session id")),
    responses((status = 200, body = ParkingSession), (status = 404, body = ErrorBody))
)]
pub async fn get_one(state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mut conn = state.db.conn().await?;
    let rec = sessions::get(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no parking session with id {id}")))?;
    Ok(HttpResponse::Ok().json(ParkingSession::from(rec)))
}
