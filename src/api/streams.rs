//! A camera's frames out: `GET /api/cameras/{id}/stream` re-serves it as MJPEG to any number of
//! viewers from the one capture, and `GET /api/cameras/{id}/snapshot.jpg` answers its newest
//! frame. A viewer's stream is written only as fast as its socket takes it and always with the
//! newest frame, so a slow viewer skips frames and never holds anyone else up.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::camera::feed::{CameraFeed, Frame};
use crate::camera::id::CameraId;
use crate::cluster::relay;

/// The boundary ESP32-CAM boards use, so clients written for the boards read this stream too.
pub const BOUNDARY: &str = "123456789000000000000987654321";

/// One multipart part: the delimiter, headers like the board's, and the JPEG.
pub fn part(frame: &Frame) -> Bytes {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {}.{:06}\r\n\r\n",
        frame.jpeg.len(),
        frame.taken_at.timestamp(),
        frame.taken_at.timestamp_subsec_micros()
    );
    let mut buf = BytesMut::with_capacity(head.len() + frame.jpeg.len() + 2);
    buf.put_slice(head.as_bytes());
    buf.put_slice(&frame.jpeg);
    buf.put_slice(b"\r\n");
    buf.freeze()
}

pub enum Local {
    /// This replica runs the camera.
    Here(Arc<CameraFeed>),
    /// Another does: its answer, relayed.
    Relayed(HttpResponse),
}

/// The camera's feed here, or the request carried to the replica that owns it (one upstream
/// connection to the camera in the whole cluster).
pub async fn local_feed(state: &AppState, id: &CameraId, req: &HttpRequest) -> Result<Local, ApiError> {
    if let Some(feed) = state.cameras.feed(id) {
        return Ok(Local::Here(feed));
    }
    if !state.cameras.knows(id) {
        return Err(ApiError::NotFound(format!("no camera with id {:?}", id.as_str())));
    }
    let moving = || ApiError::Unavailable(format!("camera {:?} is changing owner; try again", id.as_str()));
    match state.cluster.owner_elsewhere(id) {
        Some((node, url)) if !relay::was_relayed(req) => {
            relay::relay(req, None, &url, &state.cluster.node).await.map(Local::Relayed).map_err(|e| {
                tracing::warn!(camera = id.as_str(), owner = node, error = %e, "relay to the camera's owner failed");
                moving()
            })
        }
        Some(_) => Err(moving()),
        // Nobody owns it (just created, or its owner just died): this replica takes it if it
        // is free, as a pushed frame would.
        None => match state.keeper.claim_now(id).await? {
            true => state.cameras.feed(id).map(Local::Here).ok_or_else(moving),
            false => Err(moving()),
        },
    }
}

/// Counts a viewer for as long as its stream lives.
struct Viewer(prometheus::IntGauge);

impl Viewer {
    fn new(gauge: prometheus::IntGauge) -> Viewer {
        gauge.inc();
        Viewer(gauge)
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[utoipa::path(
    get, path = "/api/cameras/{id}/stream",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    responses(
        (status = 200, content_type = "multipart/x-mixed-replace", description = "the camera's frames as MJPEG, newest first, until the camera is removed"),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the camera is changing owner; try again")
    )
)]
pub async fn stream(
    state: web::Data<AppState>,
    id: web::Path<CameraId>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let feed = match local_feed(&state, &id, &req).await? {
        Local::Here(feed) => feed,
        Local::Relayed(answer) => return Ok(answer),
    };
    let mut rx = feed.subscribe();
    drop(feed);
    // A viewer starts with the newest frame at once, if there is one.
    rx.mark_changed();
    let viewer = Viewer::new(state.metrics.stream_viewers.clone());
    let frames = stream::unfold((rx, viewer), |(mut rx, viewer)| async move {
        loop {
            // Fails once the camera is removed: the stream ends.
            rx.changed().await.ok()?;
            let frame: Option<Arc<Frame>> = rx.borrow_and_update().clone();
            if let Some(frame) = frame {
                return Some((Ok::<_, actix_web::Error>(part(&frame)), (rx, viewer)));
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(format!("multipart/x-mixed-replace;boundary={BOUNDARY}"))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(frames))
}

#[utoipa::path(
    get, path = "/api/cameras/{id}/snapshot.jpg",
    tag = "cameras",
    params(("id" = CameraId, Path, description = "camera id")),
    responses(
        (status = 200, content_type = "image/jpeg", body = Vec<u8>, description = "the newest frame"),
        (status = 404, body = ErrorBody, description = "no such camera, or no frame from it yet"),
        (status = 503, body = ErrorBody, description = "the camera is changing owner; try again")
    )
)]
pub async fn snapshot(
    state: web::Data<AppState>,
    id: web::Path<CameraId>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let feed = match local_feed(&state, &id, &req).await? {
        Local::Here(feed) => feed,
        Local::Relayed(answer) => return Ok(answer),
    };
    let frame = feed.latest().ok_or_else(|| ApiError::NotFound(format!("camera {:?} has sent no frame yet", *id)))?;
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Last-Modified", frame.taken_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()))
        .insert_header(("X-Frame-Seq", frame.seq.to_string()))
        .body(frame.jpeg.clone()))
}
