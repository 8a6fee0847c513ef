//! The OpenAPI document, generated from the handlers' own annotations so it cannot drift.

use actix_web::HttpResponse;
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    audit, auth, cameras, captures, cluster, error, frames, health, overlay, sessions, slots, stats, streams, tokens,
    users,
};
use crate::auth::Access;

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
        auth::login, auth::logout, auth::me,
        users::list, users::create, users::edit, users::remove,
        tokens::list, tokens::create, tokens::remove,
        audit::list,
        cluster::view,
    ),
    components(schemas(error::ErrorBody, stats::BucketSize)),
    modifiers(&CommonResponses, &Security)
)]
pub struct ApiDoc;

/// How callers authenticate, and what each operation needs, read from the route table the
/// guard enforces: people by the session cookie, machines by an API token, cameras by their
/// device token. `x-required-role` names the least role an operation needs.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::extensions::ExtensionsBuilder;
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API token from POST /api/tokens (its role applies)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::service::SESSION_COOKIE,
                "set by POST /api/auth/login; changes need a same-origin request",
            ))),
        );
        components.add_security_scheme(
            "device_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the camera's device token, from POST /api/cameras or /api/cameras/{id}/token"))
                    .build(),
            ),
        );
        let policy = super::routes::policy();
        for (path, item) in openapi.paths.paths.iter_mut() {
            use actix_web::http::Method;
            let ops = [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::PATCH, &mut item.patch),
                (Method::DELETE, &mut item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                // utoipa names an operation after its handler, and several modules have a
                // `list` or a `remove`: tools that link operations by id must not mix them up.
                let id: String = format!("{} {path}", method.as_str().to_ascii_lowercase())
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                op.operation_id = Some(id.split('_').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("_"));
                let access = match policy.lookup(path, &method) {
                    super::routes::Declared::Access(a) => a,
                    _ => panic!("{method} {path} is documented but not in the route table"),
                };
                match access {
                    Access::Public => op.security = Some(vec![SecurityRequirement::default()]),
                    Access::Device => {
                        op.security = Some(vec![SecurityRequirement::new("device_token", Vec::<String>::new())]);
                    }
                    Access::Role(role) => {
                        op.security = Some(vec![
                            SecurityRequirement::new("api_token", Vec::<String>::new()),
                            SecurityRequirement::new("session", Vec::<String>::new()),
                        ]);
                        let ext = ExtensionsBuilder::new().add("x-required-role", role.as_str()).build();
                        op.extensions.get_or_insert_with(Default::default).merge(ext);
                        op.responses.responses.entry("401".into()).or_insert_with(|| {
                            error_body("not signed in, or the token or session is not valid").into()
                        });
                        op.responses.responses.entry("403".into()).or_insert_with(|| {
                            error_body("the caller's role is too low, or the request came from another site").into()
                        });
                    }
                }
            }
        }
    }
}

/// An error answer with its description: the `{"error", "detail"}` body every error has.
fn error_body(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
        .build()
}

/// Answers every route can give, added in one place rather than on each handler: a body that is
/// too large or of the wrong type, and a database that cannot be reached.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                if op.request_body.is_some() {
                    responses
                        .entry("413".into())
                        .or_insert_with(|| error_body("the body is over the configured limit").into());
                    responses
                        .entry("415".into())
                        .or_insert_with(|| error_body("the body's Content-Type is not the one expected").into());
                    responses.entry("400".into()).or_insert_with(|| error_body("the body is malformed").into());
                }
                if path.starts_with("/api/") && path != "/api/openapi.json" {
                    responses
                        .entry("503".into())
                        .or_insert_with(|| error_body("the database cannot be reached; nothing changed").into());
                }
            }
        }
    }
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", responses((status = 200, description = "this document")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
