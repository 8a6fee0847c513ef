//! `/api/cameras`: the cameras and the spaces drawn on each.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::text::{check_label, check_name};
use super::AppState;
use crate::camera::id::CameraId;
use crate::parking::geometry::Polygon;
use crate::parking::pklot;
use crate::parking::state::SlotView;
use crate::storage::cameras;
use crate::storage::models::CameraRow;

#[derive(Debug, Serialize, ToSchema)]
pub struct Camera {
    pub id: String,
    pub name: String,
    /// How many spaces are drawn on this camera.
    pub slots: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Camera {
    fn from_row(row: CameraRow, slots: i64) -> Camera {
        Camera { id: row.id, name: row.name, slots, created_at: row.created_at, updated_at: row.updated_at }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCameraBody {
    /// 1 to 64 of letters, digits, `_`, `-` and `.`, starting with a letter or digit.
    id: CameraId,
    #[schema(
        example = "Gate",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraEdit {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
}

/// The camera as answered, with the number of spaces the lot has on it now.
fn with_slot_count(state: &AppState, row: CameraRow) -> Camera {
    let n = state.lot.board().list().iter().filter(|v| v.camera_id == row.id).count() as i64;
    Camera::from_row(row, n)
}

fn no_camera(id: &str) -> ApiError {
    ApiError::NotFound(format!("no camera with id {id:?}"))
}

#[utoipa::path(get, path = "/api/cameras", tag = "cameras", responses((status = 200, body = Vec<Camera>)))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let rows = cameras::list(&mut conn).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(|(r, n)| Camera::from_row(r, n)).collect::<Vec<_>>()))
}

#[utoipa::path(
    post, path = "/api/cameras",
    tag = "cameras",
    request_body = NewCameraBody,
    responses((status = 201, body = Camera), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody))
)]
pub async fn create(state: web::Data<AppState>, body: web::Json<NewCameraBody>) -> Result<HttpResponse, ApiError> {
    check_name(&body.name)?;
    let mut conn = state.db.conn().await?;
    let row = cameras::insert(&mut conn, &body.id, &body.name).await.map_err(|e| match e.violation() {
        Some(diesel::result::DatabaseErrorKind::UniqueViolation) => {
            ApiError::Conflict(format!("a camera with id {:?} exists already", body.id))
        }
        _ => e.into(),
    })?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/cameras/{}", row.id)))
        .json(Camera::from_row(row, 0)))
}

#[utoipa::path(
    get, path = "/api/cameras/{id}",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    responses((status = 200, body = Camera), (status = 404, body = ErrorBody))
)]
pub async fn get_one(state: web::Data<AppState>, id: web::Path<CameraId>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let row = cameras::get(&mut conn, &id).await?.ok_or_else(|| no_camera(&id))?;
    Ok(HttpResponse::Ok().json(with_slot_count(&state, row)))
}

#[utoipa::path(
    put, path = "/api/cameras/{id}",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    request_body = CameraEdit,
    responses((status = 200, body = Camera), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn update(
    state: web::Data<AppState>,
    id: web::Path<CameraId>,
    body: web::Json<CameraEdit>,
) -> Result<HttpResponse, ApiError> {
    check_name(&body.name)?;
    let mut conn = state.db.conn().await?;
    let row = cameras::rename(&mut conn, &id, &body.name).await?.ok_or_else(|| no_camera(&id))?;
    Ok(HttpResponse::Ok().json(with_slot_count(&state, row)))
}

#[utoipa::path(
    delete, path = "/api/cameras/{id}",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    responses((status = 204, description = "deleted with its spaces and their history"), (status = 404, body = ErrorBody))
)]
pub async fn remove(state: web::Data<AppState>, id: web::Path<CameraId>) -> Result<HttpResponse, ApiError> {
    if state.lot.delete_camera(&id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(no_camera(&id))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSlotBody {
    #[schema(
        example = "A1",
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    label: String,
    polygon: Polygon,
}

#[utoipa::path(
    get, path = "/api/cameras/{id}/slots",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    responses((status = 200, body = Vec<SlotView>), (status = 404, body = ErrorBody))
)]
pub async fn list_slots(state: web::Data<AppState>, id: web::Path<CameraId>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    cameras::get(&mut conn, &id).await?.ok_or_else(|| no_camera(&id))?;
    let views: Vec<_> = state.lot.board().list().into_iter().filter(|v| v.camera_id == id.as_str()).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[utoipa::path(
    post, path = "/api/cameras/{id}/slots",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    request_body = NewSlotBody,
    responses(
        (status = 201, body = SlotView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "label taken")
    )
)]
pub async fn create_slot(
    state: web::Data<AppState>,
    id: web::Path<CameraId>,
    body: web::Json<NewSlotBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_label(&body.label)?;
    let view = state.lot.create_slot(&id, &body.label, body.polygon).await?;
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/slots/{}", view.id))).json(view.as_ref()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// Spaces the file added.
    created: usize,
    /// Spaces whose label existed and now have the file's polygon.
    updated: usize,
    slots: Vec<SlotView>,
}

#[utoipa::path(
    post, path = "/api/cameras/{id}/import-pklot",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    request_body(content = String, content_type = "application/xml", description = "a PKLot annotation file"),
    responses(
        (status = 200, body = ImportResult), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)
    )
)]
pub async fn import_pklot(
    state: web::Data<AppState>,
    id: web::Path<CameraId>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config.server.xml_limit_bytes;
    if body.len() > limit {
        return Err(ApiError::PayloadTooLarge(format!("the file is over {limit} bytes")));
    }
    let ct = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !(ct.is_empty() || ct.contains("xml") || ct.starts_with("text/plain")) {
        return Err(ApiError::UnsupportedMediaType("send the PKLot file as application/xml".into()));
    }
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad("invalid_xml", "the file is not UTF-8 text"))?;
    let spaces = pklot::parse(text).map_err(|e| ApiError::bad("invalid_pklot", e.to_string()))?;
    let before: std::collections::HashSet<i64> =
        state.lot.board().list().iter().filter(|v| v.camera_id == id.as_str()).map(|v| v.id).collect();
    let views = state.lot.import(&id, spaces).await?;
    let created = views.iter().filter(|v| !before.contains(&v.id)).count();
    Ok(HttpResponse::Ok().json(ImportResult {
        created,
        updated: views.len() - created,
        slots: views.iter().map(|v| (**v).clone()).collect(),
    }))
}
