//! Frames pushed by cameras: `POST /api/cameras/{id}/frames` with a JPEG body, and the seed
//! design's `POST /api/capture` (camera id in a header or a form field). Each is authenticated
//! by the camera's device token before its body is read.

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::camera::feed::Origin;
use crate::camera::id::CameraId;
use crate::camera::jpeg;
use crate::camera::registry::{NotTaken, TokenCheck};
use crate::cluster::relay;

/// What the server made of a pushed frame.
#[derive(Debug, Serialize, ToSchema)]
pub struct FrameAccepted {
    pub camera_id: String,
    /// The frame's number among the camera's frames since the server started.
    pub seq: u64,
    pub taken_at: DateTime<Utc>,
    pub width: u16,
    pub height: u16,
    pub size_bytes: usize,
}

/// The token a board presents: `Authorization: Bearer <token>`.
fn bearer(req: &HttpRequest) -> Option<String> {
    crate::auth::bearer(req.headers())
}

fn authorize(state: &AppState, camera: &str, token: Option<&str>) -> Result<(), ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::Unauthorized("send the camera's device token as Authorization: Bearer <token>".into()));
    };
    match state.cameras.check_token(camera, token) {
        TokenCheck::Valid => Ok(()),
        TokenCheck::Invalid => Err(ApiError::Unauthorized(format!("wrong device token for camera {camera:?}"))),
        TokenCheck::NoSuchCamera => Err(ApiError::NotFound(format!("no camera with id {camera:?}"))),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!("a frame may be at most {limit} bytes"))
}

/// Refuses a declared length over the limit before reading anything.
fn check_declared_length(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let declared: Option<usize> =
        req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    match declared {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

async fn read_limited<S, E>(mut body: S, limit: usize) -> Result<Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad("invalid_body", format!("reading the upload: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn is_jpeg_type(content_type: Option<&str>) -> bool {
    match content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase()) {
        None => true,
        Some(t) => t.is_empty() || t == "image/jpeg" || t == "image/jpg" || t == "application/octet-stream",
    }
}

/// Checks the JPEG and makes it the camera's newest frame: here if this replica owns the
/// camera, else handed to the replica that does; a camera nobody owns (its owner just died) is
/// taken by this replica on the spot. `token` is the device token, which travels with a handed
/// frame.
async fn accept(
    state: &AppState,
    req: &HttpRequest,
    camera: &str,
    token: &str,
    data: Bytes,
) -> Result<HttpResponse, ApiError> {
    match take(state, camera, data.clone()) {
        Err(Refused::NotOwned) => {}
        Ok(answer) => return Ok(answer),
        Err(Refused::Api(e)) => return Err(e),
    }
    if let Some((node, url)) = state.cluster.owner_elsewhere(camera).filter(|_| !relay::was_relayed(req)) {
        match hand_over(camera, token, data.clone(), &url, &state.cluster.node).await {
            Ok(answer) => return Ok(answer),
            Err(e) => tracing::warn!(camera, owner = node, error = %e, "the camera's owner did not take the frame"),
        }
    }
    // Nobody (reachable) owns it: take it if its lease is free, else the owner is alive and
    // the camera should send again (to any replica).
    let moving = || ApiError::Unavailable(format!("camera {camera:?} is changing owner; send the frame again"));
    if state.keeper.claim_now(camera).await? {
        return take(state, camera, data).map_err(|why| match why {
            Refused::Api(e) => e,
            Refused::NotOwned => moving(),
        });
    }
    Err(moving())
}

/// The frame, as the device sent it (its token as a bearer), to the owner's push route.
async fn hand_over(
    camera: &str,
    token: &str,
    data: Bytes,
    owner_url: &str,
    node: &str,
) -> Result<HttpResponse, String> {
    let url = format!("{}/api/cameras/{camera}/frames", owner_url.trim_end_matches('/'));
    let answer = relay::client()
        .post(&url)
        .header(relay::RELAYED, node)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "image/jpeg")
        .body(data)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    // The owner stopping or losing the camera meanwhile: this replica tries itself.
    if status == 503 {
        return Err(format!("the owner answered {status}"));
    }
    let body = answer.bytes().await.map_err(|e| e.to_string())?;
    Ok(HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY),
    )
    .content_type("application/json")
    .body(body))
}

enum Refused {
    NotOwned,
    Api(ApiError),
}

/// Makes the JPEG the newest frame of a camera this replica runs.
fn take(state: &AppState, camera: &str, data: Bytes) -> Result<HttpResponse, Refused> {
    let info = jpeg::inspect(&data)
        .map_err(|e| {
            if e.is_not_jpeg() {
                ApiError::UnsupportedMediaType(format!("the body is not a JPEG: {e}"))
            } else {
                ApiError::bad("invalid_jpeg", format!("the JPEG is damaged: {e}"))
            }
        })
        .map_err(Refused::Api)?;
    let size_bytes = data.len();
    let frame =
        state.cameras.take(camera, |feed| feed.publish(data, info, Origin::Pushed)).map_err(|why| match why {
            NotTaken::Stopping => Refused::Api(ApiError::Stopping),
            NotTaken::NoSuchCamera => Refused::Api(ApiError::NotFound(format!("no camera with id {camera:?}"))),
            NotTaken::NotOwned => Refused::NotOwned,
        })?;
    Ok(HttpResponse::Accepted().json(FrameAccepted {
        camera_id: camera.to_string(),
        seq: frame.seq,
        taken_at: frame.taken_at,
        width: frame.width,
        height: frame.height,
        size_bytes,
    }))
}

#[utoipa::path(
    post, path = "/api/cameras/{id}/frames",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "one JPEG frame"),
    security(("device_token" = [])),
    responses(
        (status = 202, body = FrameAccepted, description = "the camera's newest frame now; kept as a capture when the archive rules say so"),
        (status = 400, body = ErrorBody, description = "a truncated or damaged JPEG"),
        (status = 401, body = ErrorBody, description = "no or wrong device token"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "not a JPEG"),
        (status = 503, body = ErrorBody, description = "the server is stopping: send it again (Retry-After), to another replica if there is one"),
    )
)]
pub async fn push(
    state: web::Data<AppState>,
    id: web::Path<CameraId>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !state.cameras.accepting() {
        return Err(ApiError::Stopping);
    }
    authorize(&state, &id, bearer(&req).as_deref())?;
    let limit = state.config.capture.max_frame_bytes;
    check_declared_length(&req, limit)?;
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok());
    if !is_jpeg_type(content_type) {
        return Err(ApiError::UnsupportedMediaType("send the frame as image/jpeg".into()));
    }
    let token = bearer(&req).unwrap_or_default();
    let data = read_limited(body, limit).await?;
    accept(&state, &req, &id, &token, data).await
}

#[utoipa::path(
    post, path = "/api/capture",
    tag = "cameras",
    params(("X-Camera-Id" = Option<CameraId>, Header, description = "the camera, unless sent as the form field `camera_id`")),
    request_body(
        content = Vec<u8>, content_type = "image/jpeg",
        description = "one JPEG; or multipart/form-data with fields `camera_id`, optionally `token`, and the JPEG as a file field"
    ),
    security(("device_token" = [])),
    responses(
        (status = 202, body = FrameAccepted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the server is stopping; retry after Retry-After"),
    )
)]
pub async fn capture(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !state.cameras.accepting() {
        return Err(ApiError::Stopping);
    }
    let limit = state.config.capture.max_frame_bytes;
    let header_camera = req.headers().get("x-camera-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if !content_type.to_ascii_lowercase().starts_with("multipart/form-data") {
        let camera = parse_camera(header_camera.as_deref())?;
        authorize(&state, &camera, bearer(&req).as_deref())?;
        check_declared_length(&req, limit)?;
        if !is_jpeg_type(Some(&content_type)) {
            return Err(ApiError::UnsupportedMediaType(
                "send the frame as image/jpeg, or as multipart/form-data".into(),
            ));
        }
        let data = read_limited(body, limit).await?;
        let token = bearer(&req).unwrap_or_default();
        return accept(&state, &req, &camera, &token, data).await;
    }
    // A form's fields may come in any order, so the token is checked once they are all read;
    // the whole form is bounded by the frame limit plus room for the small fields.
    check_declared_length(&req, limit + 64 * 1024)?;
    let mut form = Multipart::new(req.headers(), body);
    let (mut camera, mut token, mut image) = (header_camera, bearer(&req), None::<Bytes>);
    while let Some(field) = form.next().await {
        let field = field.map_err(|e| ApiError::bad("invalid_form", format!("reading the form: {e}")))?;
        let name = field.name().unwrap_or("").to_string();
        let is_file = field.content_disposition().and_then(|d| d.get_filename()).is_some();
        let ct = field.content_type().map(|m| m.essence_str().to_string());
        match name.as_str() {
            "camera_id" | "camera" if !is_file => camera = Some(text_field(field).await?),
            "token" if !is_file => token = Some(text_field(field).await?),
            _ if is_file || ct.as_deref().is_some_and(|c| c.starts_with("image/")) => {
                if image.is_some() {
                    return Err(ApiError::bad("invalid_form", "send one image per request"));
                }
                if !is_jpeg_type(ct.as_deref()) {
                    return Err(ApiError::UnsupportedMediaType(format!("the file field {name:?} is not a JPEG")));
                }
                image = Some(read_limited(field, limit).await?);
            }
            // Unknown small fields (a board's MAC address, say) are read and ignored.
            _ => drop(text_field(field).await?),
        }
    }
    let camera = parse_camera(camera.as_deref())?;
    authorize(&state, &camera, token.as_deref())?;
    let image = image.ok_or_else(|| ApiError::bad("invalid_form", "the form has no image file"))?;
    accept(&state, &req, &camera, token.as_deref().unwrap_or_default(), image).await
}

fn parse_camera(raw: Option<&str>) -> Result<CameraId, ApiError> {
    let raw = raw.ok_or_else(|| {
        ApiError::bad("missing_camera", "name the camera in the X-Camera-Id header or the camera_id form field")
    })?;
    raw.trim().parse().map_err(|e| ApiError::bad("invalid_camera_id", format!("{e}")))
}

async fn text_field(field: actix_multipart::Field) -> Result<String, ApiError> {
    let bytes = read_limited(field, 4096)
        .await
        .map_err(|_| ApiError::bad("invalid_form", "a text field is over 4096 bytes"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad("invalid_form", "a text field is not UTF-8"))
}
