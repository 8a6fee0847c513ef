//! The HTTP API: one module per resource, wired together here.

pub mod audit;
pub mod auth;
pub mod cameras;
pub mod captures;
pub mod cluster;
pub mod cursor;
pub mod error;
pub mod frames;
pub mod health;
pub mod openapi;
pub mod overlay;
pub mod routes;
pub mod sessions;
pub mod slots;
pub mod stats;
pub mod streams;
pub mod text;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpResponse};

use actix::Addr;

use crate::archive::Archive;
use crate::camera::registry::Cameras;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::parking::lot::Lot;
use crate::storage::db::Db;
use crate::storage::images::ImageStore;
use error::ErrorBody;

/// What every handler can reach.
pub struct AppState {
    /// Which replica owns which camera, and where the others are.
    pub cluster: Arc<crate::cluster::Cluster>,
    pub keeper: Arc<crate::cluster::keeper::Keeper>,
    pub lot: Arc<Lot>,
    pub cameras: Arc<Cameras>,
    pub archive: Addr<Archive>,
    pub images: ImageStore,
    pub db: Db,
    pub metrics: Metrics,
    pub config: Arc<Config>,
    /// The vehicles of each camera's last analysed frame.
    pub sightings: crate::analysis::watch::Sightings,
    /// Whether a detector runs (a model was found).
    pub detecting: bool,
}

/// Routes and extractor settings; the caller adds the state.
pub fn configure(cfg: &mut web::ServiceConfig, config: &Config) {
    cfg.app_data(web::JsonConfig::default().limit(config.server.json_limit_bytes).error_handler(error::json_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::PayloadConfig::new(config.server.xml_limit_bytes))
        .configure(routes::register)
        .default_service(web::to(|| async {
            HttpResponse::NotFound().json(ErrorBody { error: "not_found".into(), detail: "no such route".into() })
        }));
}

/// The answer to a known path with a method it does not serve: 405 naming the ones it does.
pub(crate) fn allow(methods: String) -> actix_web::Route {
    web::to(move || {
        let methods = methods.clone();
        async move {
            HttpResponse::MethodNotAllowed()
                .insert_header(("Allow", methods.clone()))
                .json(ErrorBody { error: "method_not_allowed".into(), detail: format!("this path answers {methods}") })
        }
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
