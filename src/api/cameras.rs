//! `/api/cameras`: the cameras and the spaces drawn on each.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use serde_json::json;

use super::audit::note;
use super::error::{ApiError, ErrorBody};
use super::text::{check_label, check_name};
use super::AppState;
use crate::archive::Forget;
use crate::auth::Principal;
use crate::camera::feed::CameraLive;
use crate::camera::id::CameraId;
use crate::camera::registry::{new_token, token_digest};
use crate::camera::source::redact_url;
use crate::camera::source::CameraSource;
use crate::parking::geometry::Polygon;
use crate::parking::pklot;
use crate::parking::state::SlotView;
use crate::storage::cameras;
use crate::storage::models::{CameraRow, NewCamera};

#[derive(Debug, Serialize, ToSchema)]
pub struct Camera {
    pub id: String,
    pub name: String,
    pub source: CameraSource,
    /// How many spaces are drawn on this camera.
    pub slots: i64,
    /// Whether the camera has a device token to push frames with.
    pub has_token: bool,
    /// Health and figures of the capture, as its owner reports them (`offline` and zeros while
    /// no replica runs it).
    #[serde(flatten)]
    pub live: CameraLive,
    /// The replica (`cluster.node`) that owns the camera: captures and analyses it. Null for a
    /// moment while it changes hands.
    pub owner: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A camera as created, with its device token: shown this once, stored only as a digest.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraWithToken {
    #[serde(flatten)]
    pub camera: Camera,
    /// Send as `Authorization: Bearer <token>` when pushing frames.
    pub token: String,
}

impl Camera {
    fn new(state: &AppState, row: CameraRow, slots: i64) -> Result<Camera, ApiError> {
        let source: CameraSource = serde_json::from_value(row.source)
            .map_err(|e| ApiError::Internal(format!("camera {}: stored source unreadable: {e}", row.id)))?;
        let live =
            state.cameras.status(&row.id).or_else(|| state.cluster.status(&row.id)).map(|s| s.live).unwrap_or_default();
        Ok(Camera {
            owner: state.cluster.owner(&row.id),
            name: row.name,
            source: source.redacted(),
            slots,
            has_token: row.token_sha256.is_some(),
            live,
            created_at: row.created_at,
            updated_at: row.updated_at,
            id: row.id,
        })
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
    /// Where the frames come from; a camera that pushes when absent.
    #[serde(default)]
    source: CameraSource,
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
    /// A new source; the current one is kept when absent.
    source: Option<CameraSource>,
}

/// The camera as answered, with the number of spaces the lot has on it now.
fn with_slot_count(state: &AppState, row: CameraRow) -> Result<Camera, ApiError> {
    let n = state.lot.board().list().iter().filter(|v| v.camera_id == row.id).count() as i64;
    Camera::new(state, row, n)
}

/// The other replicas read the camera back; the lease loop deals it (a new one at once).
fn announce(state: &AppState, id: &str) {
    state.cluster.notify(crate::cluster::Notice::Camera { id: id.to_string() });
    state.cluster.wake.notify_one();
}

fn no_camera(id: &str) -> ApiError {
    ApiError::NotFound(format!("no camera with id {id:?}"))
}

async fn check_source(state: &AppState, source: &CameraSource) -> Result<(), ApiError> {
    source.check().map_err(|e| ApiError::bad("invalid_source", e))?;
    let url = match source {
        CameraSource::Mjpeg { url } | CameraSource::Snapshot { url, .. } => url,
        CameraSource::Push {} => return Ok(()),
    };
    state
        .cameras
        .network()
        .check_name(url)
        .await
        .map_err(|e| ApiError::bad("forbidden_address", format!("url {}: {e}", redact_url(url))))
}

#[utoipa::path(get, path = "/api/cameras", tag = "cameras", responses((status = 200, body = Vec<Camera>)))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let rows = cameras::list(&mut conn).await?;
    let items = rows.into_iter().map(|(r, n)| Camera::new(&state, r, n)).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(items))
}

#[utoipa::path(
    post, path = "/api/cameras",
    tag = "cameras",
    request_body = NewCameraBody,
    responses(
        (status = 201, body = CameraWithToken, description = "created; the device token is shown this once"),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<NewCameraBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_name(&body.name)?;
    check_source(&state, &body.source).await?;
    let token = new_token();
    let digest = token_digest(&token);
    let source_json = serde_json::to_value(&body.source).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut conn = state.db.conn().await?;
    let new = NewCamera { id: &body.id, name: &body.name, source: source_json, token_sha256: Some(&digest) };
    let row = cameras::insert(&mut conn, &new).await.map_err(|e| match e.violation() {
        Some(diesel::result::DatabaseErrorKind::UniqueViolation) => {
            ApiError::Conflict(format!("a camera with id {:?} exists already", body.id))
        }
        _ => e.into(),
    })?;
    let detail = json!({ "name": body.name, "source": body.source.redacted() });
    state.cameras.run(&body.id, body.source, Some(digest));
    announce(&state, &body.id);
    note(&state, &who, "camera.create", &body.id, detail).await;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/cameras/{}", row.id)))
        .json(CameraWithToken { camera: Camera::new(&state, row, 0)?, token }))
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
    Ok(HttpResponse::Ok().json(with_slot_count(&state, row)?))
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
    who: Principal,
    id: web::Path<CameraId>,
    body: web::Json<CameraEdit>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_name(&body.name)?;
    if let Some(source) = &body.source {
        check_source(&state, source).await?;
    }
    let detail = json!({ "name": body.name, "source": body.source.as_ref().map(CameraSource::redacted) });
    let mut conn = state.db.conn().await?;
    let current = cameras::get(&mut conn, &id).await?.ok_or_else(|| no_camera(&id))?;
    let source_json = match &body.source {
        Some(s) => serde_json::to_value(s).map_err(|e| ApiError::Internal(e.to_string()))?,
        None => current.source,
    };
    let row = cameras::update(&mut conn, &id, &body.name, &source_json).await?.ok_or_else(|| no_camera(&id))?;
    if let Some(source) = body.source {
        state.cameras.run(&id, source, row.token_sha256.clone());
    }
    announce(&state, &id);
    note(&state, &who, "camera.update", &*id, detail).await;
    Ok(HttpResponse::Ok().json(with_slot_count(&state, row)?))
}

#[utoipa::path(
    delete, path = "/api/cameras/{id}",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    responses(
        (status = 204, description = "deleted with its spaces, their history and its captures"),
        (status = 404, body = ErrorBody)
    )
)]
pub async fn remove(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<CameraId>,
) -> Result<HttpResponse, ApiError> {
    let keys = {
        let mut conn = state.db.conn().await?;
        crate::storage::captures::keys_of_camera(&mut conn, &id).await?
    };
    if state.lot.delete_camera(&id).await? {
        state.cluster.drop_lease(&crate::storage::leases::camera_lease(&id));
        state.cameras.remove(&id);
        announce(&state, &id);
        state.archive.do_send(Forget(keys));
        note(&state, &who, "camera.delete", &*id, json!({})).await;
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(no_camera(&id))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceToken {
    /// Send as `Authorization: Bearer <token>` when pushing frames; the previous token stops working.
    pub token: String,
}

#[utoipa::path(
    post, path = "/api/cameras/{id}/token",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    responses(
        (status = 200, body = DeviceToken, description = "a new device token, shown this once"),
        (status = 404, body = ErrorBody)
    )
)]
pub async fn new_device_token(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<CameraId>,
) -> Result<HttpResponse, ApiError> {
    let token = new_token();
    let digest = token_digest(&token);
    let mut conn = state.db.conn().await?;
    if !cameras::set_token(&mut conn, &id, &digest).await? {
        return Err(no_camera(&id));
    }
    state.cameras.set_token(&id, Some(digest));
    drop(conn);
    announce(&state, &id);
    note(&state, &who, "camera.rotate_token", &*id, json!({})).await;
    Ok(HttpResponse::Ok().json(DeviceToken { token }))
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
    who: Principal,
    id: web::Path<CameraId>,
    body: web::Json<NewSlotBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_label(&body.label)?;
    let view = state.lot.create_slot(&id, &body.label, body.polygon).await?;
    note(&state, &who, "slot.create", view.id, json!({ "camera_id": &*id, "label": view.label })).await;
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
    who: Principal,
    id: web::Path<CameraId>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config.server.xml_limit_bytes;
    if body.len() > limit {
        return Err(ApiError::PayloadTooLarge(format!("the file is over {limit} bytes")));
    }
    let ct = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(mime.as_str(), "application/xml" | "text/xml") {
        return Err(ApiError::UnsupportedMediaType(
            "send the PKLot file with Content-Type: application/xml (or text/xml)".into(),
        ));
    }
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad("invalid_xml", "the file is not UTF-8 text"))?;
    let spaces = pklot::parse(text).map_err(|e| ApiError::bad("invalid_pklot", e.to_string()))?;
    let before: std::collections::HashSet<i64> =
        state.lot.board().list().iter().filter(|v| v.camera_id == id.as_str()).map(|v| v.id).collect();
    let views = state.lot.import(&id, spaces).await?;
    let created = views.iter().filter(|v| !before.contains(&v.id)).count();
    note(&state, &who, "camera.import_pklot", &*id, json!({ "created": created, "updated": views.len() - created }))
        .await;
    Ok(HttpResponse::Ok().json(ImportResult {
        created,
        updated: views.len() - created,
        slots: views.iter().map(|v| (**v).clone()).collect(),
    }))
}
