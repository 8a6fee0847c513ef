//! The OpenAPI document, generated from the handlers' own annotations so it cannot drift.

use actix_web::{get, HttpResponse};
use utoipa::OpenApi;

use super::{cameras, error, health, sessions, slots, stats};

#[derive(OpenApi)]
#[openapi(
    info(title = "smartpark", description = "Real-time parking monitor: spaces, parking sessions, statistics. Live changes on the WebSocket at /ws.", license(name = "Apache-2.0")),
    paths(
        slots::list, slots::get_one, slots::set_state, slots::observe, slots::edit, slots::remove,
        cameras::list, cameras::create, cameras::get_one, cameras::update, cameras::remove,
        cameras::list_slots, cameras::create_slot, cameras::import_pklot,
        sessions::list, sessions::get_one,
        stats::current, stats::history,
        health::healthz, health::readyz, health::metrics,
        openapi_json,
    ),
    components(schemas(error::ErrorBody))
)]
pub struct ApiDoc;

#[utoipa::path(tag = "meta", responses((status = 200, description = "this document")))]
#[get("/api/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
