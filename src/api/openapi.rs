//! The OpenAPI document, generated from the handlers' own annotations so it cannot drift.

use actix_web::HttpResponse;
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{cameras, captures, error, frames, health, overlay, sessions, slots, stats, streams};

#[derive(OpenApi)]
#[openapi(
    info(title = "smartpark", description = "Real-time parking monitor: spaces, parking sessions, statistics. Live changes on the WebSocket at /ws.", license(name = "Apache-2.0")),
    paths(
        slots::list, slots::get_one, slots::set_state, slots::observe, slots::edit, slots::remove,
        cameras::list, cameras::create, cameras::get_one, cameras::update, cameras::remove,
        cameras::list_slots, cameras::create_slot, cameras::import_pklot, cameras::new_device_token,
        frames::push, frames::capture, streams::stream, streams::snapshot, overlay::overlay,
        captures::list, captures::get_one, captures::image,
        sessions::list, sessions::get_one,
        stats::current, stats::history,
        health::healthz, health::readyz, health::metrics,
        openapi_json,
    ),
    components(schemas(error::ErrorBody, stats::BucketSize)),
    modifiers(&CommonResponses, &DeviceTokenAuth)
)]
pub struct ApiDoc;

/// Cameras push frames with a bearer token of their own.
struct DeviceTokenAuth;

impl Modify for DeviceTokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "device_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the camera's device token, from POST /api/cameras or /api/cameras/{id}/token"))
                    .build(),
            ),
        );
    }
}

/// Answers every route can give, added in one place rather than on each handler: a body that is
/// too large or of the wrong type, and a database that cannot be reached.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                if op.request_body.is_some() {
                    responses
                        .entry("413".into())
                        .or_insert_with(|| error("the body is over the configured limit").into());
                    responses
                        .entry("415".into())
                        .or_insert_with(|| error("the body's Content-Type is not the one expected").into());
                    responses.entry("400".into()).or_insert_with(|| error("the body is malformed").into());
                }
                if path.starts_with("/api/") && path != "/api/openapi.json" {
                    responses
                        .entry("503".into())
                        .or_insert_with(|| error("the database cannot be reached; nothing changed").into());
                }
            }
        }
    }
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", responses((status = 200, description = "this document")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
