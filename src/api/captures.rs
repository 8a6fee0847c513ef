//! `/api/captures`: the frames kept in the image store, newest first, and their images.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cursor;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::camera::id::CameraId;
use crate::storage::captures::{self, CaptureFilter};
use crate::storage::models::CaptureRow;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Serialize, ToSchema)]
pub struct Capture {
    pub id: i64,
    pub camera_id: String,
    pub taken_at: DateTime<Utc>,
    pub size_bytes: i64,
    pub width: i32,
    pub height: i32,
    /// SHA-256 of the JPEG, hex.
    pub sha256: String,
    /// Why it was kept: `push`, `interval` or `evidence`.
    pub reason: String,
    /// Where the image is in the store.
    pub storage_key: String,
    /// Where to fetch the image from this server.
    pub image_url: String,
}

impl From<CaptureRow> for Capture {
    fn from(r: CaptureRow) -> Self {
        Capture {
            image_url: format!("/api/captures/{}/image", r.id),
            id: r.id,
            camera_id: r.camera_id,
            taken_at: r.taken_at,
            size_bytes: r.size_bytes,
            width: r.width,
            height: r.height,
            sha256: r.sha256,
            reason: r.reason,
            storage_key: r.storage_key,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CapturePage {
    pub items: Vec<Capture>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CapturesQuery {
    /// Only this camera's captures.
    #[param(value_type = Option<CameraId>)]
    camera: Option<CameraId>,
    /// Taken at or after this time (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Taken before this time (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/api/captures",
    tag = "captures",
    params(CapturesQuery),
    responses((status = 200, body = CapturePage), (status = 400, body = ErrorBody))
)]
pub async fn list(state: web::Data<AppState>, q: web::Query<CapturesQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    cursor::check_page(limit, MAX_LIMIT, q.from, q.to)?;
    let after = cursor::parse(q.cursor.as_deref())?;
    let filter =
        CaptureFilter { camera_id: q.camera.map(String::from), from: q.from, to: q.to, after, limit: limit + 1 };
    let mut conn = state.db.conn().await?;
    let mut rows = captures::list(&mut conn, &filter).await?;
    let next_cursor = cursor::finish_page(&mut rows, limit, |r| (r.taken_at, r.id));
    Ok(HttpResponse::Ok().json(CapturePage { items: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

async fn find(state: &AppState, id: i64) -> Result<CaptureRow, ApiError> {
    let mut conn = state.db.conn().await?;
    captures::get(&mut conn, id).await?.ok_or_else(|| ApiError::NotFound(format!("no capture with id {id}")))
}

#[utoipa::path(
    get, path = "/api/captures/{id}",
    tag = "captures",
    params(("id" = i64, Path, description = "capture id")),
    responses((status = 200, body = Capture), (status = 404, body = ErrorBody))
)]
pub async fn get_one(state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(Capture::from(find(&state, id.into_inner()).await?)))
}

#[utoipa::path(
    get, path = "/api/captures/{id}/image",
    tag = "captures",
    params(("id" = i64, Path, description = "capture id")),
    responses(
        (status = 200, content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, body = ErrorBody, description = "no such capture, or its image is gone from the store"),
        (status = 503, body = ErrorBody, description = "the image store is out")
    )
)]
pub async fn image(state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let row = find(&state, id.into_inner()).await?;
    let data = state.images.get(&row.storage_key).await.map_err(|e| {
        if e.is_transient() {
            ApiError::Unavailable(format!("the image store is out: {e}"))
        } else {
            ApiError::Internal(format!("reading {}: {e}", row.storage_key))
        }
    })?;
    let data = data.ok_or_else(|| ApiError::NotFound(format!("capture {}'s image is gone from the store", row.id)))?;
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        // A capture never changes: its address names one image for good.
        .insert_header(("Cache-Control", "private, max-age=86400, immutable"))
        .insert_header(("ETag", format!("\"{}\"", row.sha256)))
        .body(data))
}
