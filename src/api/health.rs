//! Liveness, readiness and metrics for the orchestrator and Prometheus.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::AppState;
use crate::parking::state::SlotState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health, description = "the process answers")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

#[utoipa::path(
    get, path = "/readyz",
    tag = "health",
    responses((status = 200, body = Health, description = "the database answers and this replica knows its cameras"), (status = 503, body = ErrorBody))
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // Not before the lease loop has run once: until then this replica does not know which
    // cameras it owns, and a rolling update must not take the next pod down yet.
    if !state.cluster.ready() {
        return HttpResponse::ServiceUnavailable()
            .json(ErrorBody { error: "starting".into(), detail: "the lease loop has not run yet".into() });
    }
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(Health { status: "ready" }),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(ErrorBody { error: "database_unavailable".into(), detail: e.to_string() }),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, content_type = "text/plain", body = String, description = "Prometheus text format")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let (counts, _) = state.lot.board().counts();
    for (s, n) in
        [(SlotState::Free, counts.free), (SlotState::Occupied, counts.occupied), (SlotState::Unknown, counts.unknown)]
    {
        state.metrics.slots.with_label_values(&[s.as_str()]).set(n as i64);
    }
    let (size, available) = state.db.pool_status();
    state.metrics.db_connections.with_label_values(&["open"]).set(size as i64);
    state.metrics.db_connections.with_label_values(&["idle"]).set(available as i64);
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}
