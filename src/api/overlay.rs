//! `GET /api/cameras/{id}/overlay.jpg`: the newest analysed frame with its vehicle boxes and each
//! space coloured by its state, to see at a glance what the detector sees. The boxes are drawn
//! on the frame they were found in, never on a later one where the cars may have moved.

use actix_web::{web, HttpResponse};

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::analysis::overlay::{draw, encode_jpeg, OverlayBox, OverlaySpace, SpaceShade};
use crate::camera::id::CameraId;
use crate::detect::preprocess::decode;
use crate::parking::state::SlotState;

#[utoipa::path(
    get, path = "/api/cameras/{id}/overlay.jpg",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    responses(
        (status = 200, content_type = "image/jpeg", body = Vec<u8>,
         description = "the newest analysed frame (before any analysis, the newest frame) with its vehicle boxes in yellow; spaces green (free), red (occupied) or grey (unknown)"),
        (status = 404, body = ErrorBody, description = "no such camera, or no frame from it yet"),
        (status = 500, body = ErrorBody, description = "the newest frame cannot be decoded"),
        (status = 503, body = ErrorBody, description = "the camera is changing owner; try again")
    )
)]
pub async fn overlay(
    state: web::Data<AppState>,
    id: web::Path<CameraId>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let feed = match super::streams::local_feed(&state, &id, &req).await? {
        super::streams::Local::Here(feed) => feed,
        super::streams::Local::Relayed(answer) => return Ok(answer),
    };
    let sighting = state.sightings.read().get(id.as_str()).cloned();
    let frame = match &sighting {
        Some(s) => s.frame.clone(),
        None => feed.latest().ok_or_else(|| ApiError::NotFound(format!("camera {:?} has sent no frame yet", *id)))?,
    };
    let spaces: Vec<_> = state.lot.board().list().into_iter().filter(|v| v.camera_id == id.as_str()).collect();
    let analysed = sighting.is_some();
    let jpeg = frame.jpeg.clone();
    // Decoding, drawing and encoding a 720p frame take tens of milliseconds: off the workers.
    let body = web::block(move || {
        let mut rgb = decode(&jpeg).map_err(|e| e.to_string())?;
        let shaded: Vec<OverlaySpace> = spaces
            .iter()
            .map(|v| OverlaySpace {
                points: v.polygon.points(),
                shade: match v.state {
                    SlotState::Free => SpaceShade::Free,
                    SlotState::Occupied => SpaceShade::Occupied,
                    SlotState::Unknown => SpaceShade::Unknown,
                },
            })
            .collect();
        let boxes: Vec<OverlayBox> = sighting
            .iter()
            .flat_map(|s| s.boxes.iter())
            .map(|d| OverlayBox { x1: d.x1, y1: d.y1, x2: d.x2, y2: d.y2, score: d.score })
            .collect();
        draw(&mut rgb, &shaded, &boxes);
        encode_jpeg(&rgb, 80).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::Internal)?;
    let mut res = HttpResponse::Ok();
    res.content_type("image/jpeg")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Seq", frame.seq.to_string()))
        .insert_header(("Last-Modified", frame.taken_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()));
    if analysed {
        res.insert_header(("X-Analysed", "true"));
    }
    Ok(res.body(body))
}
