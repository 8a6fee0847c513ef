//! `/api/slots`: the spaces, their state, manual changes and sensor observations.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use serde_json::json;

use super::audit::note;
use super::error::{ApiError, ErrorBody};
use super::text::check_label;
use super::AppState;
use crate::auth::Principal;
use crate::parking::geometry::Polygon;
use crate::parking::slot::Observe;
use crate::parking::state::{SlotState, SlotView, Source};

/// Observations further ahead than this are refused: the sender's clock is wrong. Within it, an
/// observation counts as made now (never as a state that begins in the future).
const MAX_CLOCK_SKEW: Duration = Duration::seconds(2);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SlotsQuery {
    /// Only the spaces of this camera.
    camera: Option<String>,
    /// Only spaces in this state.
    state: Option<SlotState>,
}

#[utoipa::path(
    get, path = "/api/slots",
    tag = "slots",
    params(SlotsQuery),
    responses((status = 200, body = Vec<SlotView>), (status = 400, body = ErrorBody))
)]
pub async fn list(state: web::Data<AppState>, q: web::Query<SlotsQuery>) -> HttpResponse {
    let q = q.into_inner();
    if q.camera.is_none() && q.state.is_none() {
        return HttpResponse::Ok().content_type("application/json").body(state.lot.board().all_json());
    }
    let views: Vec<_> = state
        .lot
        .board()
        .list()
        .into_iter()
        .filter(|v| q.camera.as_ref().is_none_or(|c| &v.camera_id == c) && q.state.is_none_or(|s| v.state == s))
        .collect();
    HttpResponse::Ok().json(views)
}

#[utoipa::path(
    get, path = "/api/slots/{id}",
    tag = "slots",
    params(("id" = i64, Path, description = "space id")),
    responses((status = 200, body = SlotView), (status = 404, body = ErrorBody))
)]
pub async fn get_one(state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let view = state.lot.board().get(id).ok_or_else(|| ApiError::NotFound(format!("no space with id {id}")))?;
    Ok(HttpResponse::Ok().json(view.as_ref()))
}

/// A manual change: an operator says the space is free or occupied.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualChange {
    state: ManualState,
}

/// What an operator can say of a space; `unknown` is for sensors and cameras.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ManualState {
    Free,
    Occupied,
}

impl From<ManualState> for SlotState {
    fn from(s: ManualState) -> SlotState {
        match s {
            ManualState::Free => SlotState::Free,
            ManualState::Occupied => SlotState::Occupied,
        }
    }
}

#[utoipa::path(
    put, path = "/api/slots/{id}",
    tag = "slots",
    params(("id" = i64, Path, description = "space id")),
    request_body = ManualChange,
    responses(
        (status = 200, body = SlotView, description = "the space after the change"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)
    )
)]
pub async fn set_state(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<i64>,
    body: web::Json<ManualChange>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let observed = state
        .lot
        .observe(
            id,
            Observe {
                state: body.state.into(),
                source: Source::Manual,
                confidence: None,
                at: Utc::now(),
                capture_id: None,
                actor: Some(who.actor()),
                reason: None,
                reported_time: false,
                fence: None,
            },
        )
        .await?;
    if observed.changed {
        note(&state, &who, "slot.set_state", id, json!({ "state": observed.view.state })).await;
    }
    Ok(HttpResponse::Ok().json(observed.view.as_ref()))
}

/// What an external sensor saw.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    state: SlotState,
    /// How sure the sensor is, from 0 to 1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    confidence: Option<f32>,
    /// When it was seen; now when absent.
    observed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObservationResult {
    slot: SlotView,
    /// False when the space was already in that state.
    changed: bool,
}

#[utoipa::path(
    post, path = "/api/slots/{id}/observations",
    tag = "slots",
    params(("id" = i64, Path, description = "space id")),
    request_body = Observation,
    responses(
        (status = 200, body = ObservationResult),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "older than the space's current state")
    )
)]
pub async fn observe(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<i64>,
    body: web::Json<Observation>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if let Some(c) = body.confidence {
        if !(0.0..=1.0).contains(&c) {
            return Err(ApiError::bad("invalid_confidence", format!("confidence must be between 0 and 1, got {c}")));
        }
    }
    let now = Utc::now();
    let at = body.observed_at.unwrap_or(now);
    if at > now + MAX_CLOCK_SKEW {
        return Err(ApiError::bad(
            "invalid_time",
            format!("observed_at {at} is in the future (this server's time is {now}); check the sender's clock"),
        ));
    }
    let observed = state
        .lot
        .observe(
            id.into_inner(),
            Observe {
                state: body.state,
                source: Source::Sensor,
                confidence: body.confidence,
                at,
                capture_id: None,
                actor: Some(who.actor()),
                reason: None,
                reported_time: body.observed_at.is_some(),
                fence: None,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(ObservationResult { slot: (*observed.view).clone(), changed: observed.changed }))
}

/// A new label or polygon for a space; what is absent stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotEdit {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    label: Option<String>,
    polygon: Option<Polygon>,
}

#[utoipa::path(
    patch, path = "/api/slots/{id}",
    tag = "slots",
    params(("id" = i64, Path, description = "space id")),
    request_body = SlotEdit,
    responses((status = 200, body = SlotView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
pub async fn edit(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<i64>,
    body: web::Json<SlotEdit>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if let Some(l) = &body.label {
        check_label(l)?;
    }
    let id = id.into_inner();
    let detail = json!({ "label": body.label, "polygon": body.polygon });
    let view = state.lot.reshape(id, body.label, body.polygon).await?;
    note(&state, &who, "slot.update", id, detail).await;
    Ok(HttpResponse::Ok().json(view.as_ref()))
}

#[utoipa::path(
    delete, path = "/api/slots/{id}",
    tag = "slots",
    params(("id" = i64, Path, description = "space id")),
    responses((status = 204, description = "deleted with its parking sessions"), (status = 404, body = ErrorBody))
)]
pub async fn remove(state: web::Data<AppState>, who: Principal, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state.lot.delete_slot(id).await?;
    note(&state, &who, "slot.delete", id, json!({})).await;
    Ok(HttpResponse::NoContent().finish())
}
