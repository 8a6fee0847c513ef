//! The HTTP API: one module per resource, wired together here.

pub mod cameras;
pub mod captures;
pub mod cursor;
pub mod error;
pub mod frames;
pub mod health;
pub mod openapi;
pub mod overlay;
pub mod sessions;
pub mod slots;
pub mod stats;
pub mod streams;
pub mod text;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpResponse};

use actix::Addr;

use crate::camera::archive::Archive;
use crate::camera::registry::Cameras;
use crate::config::Config;
use crate::live::ws;
use crate::metrics::Metrics;
use crate::parking::lot::Lot;
use crate::storage::db::Db;
use crate::storage::images::ImageStore;
use error::ErrorBody;

/// What every handler can reach.
pub struct AppState {
    pub lot: Arc<Lot>,
    pub cameras: Arc<Cameras>,
    pub archive: Addr<Archive>,
    pub images: ImageStore,
    pub db: Db,
    pub metrics: Metrics,
    pub config: Arc<Config>,
    /// The vehicles of each camera's last analysed frame.
    pub sightings: crate::parking::watch::Sightings,
    /// Whether a detector runs (a model was found).
    pub detecting: bool,
}

/// Routes and extractor settings; the caller adds the state.
pub fn configure(cfg: &mut web::ServiceConfig, config: &Config) {
    cfg.app_data(web::JsonConfig::default().limit(config.server.json_limit_bytes).error_handler(error::json_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::PayloadConfig::new(config.server.xml_limit_bytes))
        // One resource per path: a known path with another method answers 405, not 404.
        .service(web::resource("/api/slots").get(slots::list).default_service(allow("GET")))
        .service(
            web::resource("/api/slots/{id}")
                .get(slots::get_one)
                .put(slots::set_state)
                .patch(slots::edit)
                .delete(slots::remove)
                .default_service(allow("GET, PUT, PATCH, DELETE")),
        )
        .service(web::resource("/api/slots/{id}/observations").post(slots::observe).default_service(allow("POST")))
        .service(
            web::resource("/api/cameras").get(cameras::list).post(cameras::create).default_service(allow("GET, POST")),
        )
        .service(
            web::resource("/api/cameras/{id}")
                .get(cameras::get_one)
                .put(cameras::update)
                .delete(cameras::remove)
                .default_service(allow("GET, PUT, DELETE")),
        )
        .service(
            web::resource("/api/cameras/{id}/slots")
                .get(cameras::list_slots)
                .post(cameras::create_slot)
                .default_service(allow("GET, POST")),
        )
        .service(
            web::resource("/api/cameras/{id}/import-pklot").post(cameras::import_pklot).default_service(allow("POST")),
        )
        .service(
            web::resource("/api/cameras/{id}/token").post(cameras::new_device_token).default_service(allow("POST")),
        )
        .service(web::resource("/api/cameras/{id}/frames").post(frames::push).default_service(allow("POST")))
        .service(web::resource("/api/capture").post(frames::capture).default_service(allow("POST")))
        .service(web::resource("/api/cameras/{id}/stream").get(streams::stream).default_service(allow("GET")))
        .service(web::resource("/api/cameras/{id}/snapshot.jpg").get(streams::snapshot).default_service(allow("GET")))
        .service(web::resource("/api/cameras/{id}/overlay.jpg").get(overlay::overlay).default_service(allow("GET")))
        .service(web::resource("/api/captures").get(captures::list).default_service(allow("GET")))
        .service(web::resource("/api/captures/{id}").get(captures::get_one).default_service(allow("GET")))
        .service(web::resource("/api/captures/{id}/image").get(captures::image).default_service(allow("GET")))
        .service(web::resource("/api/sessions").get(sessions::list).default_service(allow("GET")))
        .service(web::resource("/api/sessions/{id}").get(sessions::get_one).default_service(allow("GET")))
        .service(web::resource("/api/stats").get(stats::current).default_service(allow("GET")))
        .service(web::resource("/api/stats/history").get(stats::history).default_service(allow("GET")))
        .service(web::resource("/healthz").get(health::healthz).default_service(allow("GET")))
        .service(web::resource("/readyz").get(health::readyz).default_service(allow("GET")))
        .service(web::resource("/metrics").get(health::metrics).default_service(allow("GET")))
        .service(web::resource("/api/openapi.json").get(openapi::openapi_json).default_service(allow("GET")))
        .service(web::resource("/ws").get(ws::route).default_service(allow("GET")))
        .default_service(web::to(|| async {
            HttpResponse::NotFound().json(ErrorBody { error: "not_found".into(), detail: "no such route".into() })
        }));
}

/// The answer to a known path with a method it does not serve: 405 naming the ones it does.
pub(crate) fn allow(methods: &'static str) -> actix_web::Route {
    web::to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header(("Allow", methods))
            .json(ErrorBody { error: "method_not_allowed".into(), detail: format!("this path answers {methods}") })
    })
}

/// Any error answer that is not JSON yet (405, a body over the limit, a broken upload) is
/// rewritten into the `{"error", "detail"}` shape, so clients parse one kind of error.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_json = res
            .response()
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let detail = res
            .response()
            .error()
            .map(|e| e.to_string())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        let code = status.canonical_reason().unwrap_or("error").to_ascii_lowercase().replace(' ', "_");
        let (req, _) = res.into_parts();
        let body = HttpResponse::build(status).json(ErrorBody { error: code, detail });
        Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, body).map_into_right_body()))
    })
}

/// Counts and times every request by its route pattern (never by its raw path, which would
/// make one series per id).
pub fn record(req: &ServiceRequest, metrics: &Metrics) -> impl FnOnce(u16) + use<> {
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let timer = metrics.http_duration.with_label_values(&[&route]).start_timer();
    let counter = metrics.http_requests.clone();
    move |status: u16| {
        timer.observe_duration();
        counter.with_label_values(&[&method, &route, &status.to_string()]).inc();
    }
}
