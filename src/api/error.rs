//! Every error a client can cause is a 4xx with `{"error": code, "detail": explanation}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::parking::lot::LotError;
use crate::parking::slot::SlotError;
use crate::storage::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("wrong user name or password")]
    InvalidCredentials,
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after_s: u64 },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("the server is stopping and takes no more frames; send it again shortly")]
    Stopping,
    #[error("{0}")]
    Internal(String),
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: `not_found`, `invalid_json`, `invalid_polygon`, `conflict`, …
    #[schema(example = "not_found")]
    pub error: String,
    /// What went wrong, for a person.
    #[schema(example = "no space with id 42")]
    pub detail: String,
}

impl ApiError {
    pub fn bad(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest { code, detail: detail.into() }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::TooManyRequests { .. } => "too_many_attempts",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Stopping => "stopping",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) | ApiError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if self.status_code().is_server_error() && !matches!(self, ApiError::Stopping) {
            tracing::error!(error = %self, "request failed");
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized(_) => {
                res.insert_header(("WWW-Authenticate", "Bearer realm=\"smartpark\""));
            }
            ApiError::TooManyRequests { retry_after_s, .. } => {
                res.insert_header(("Retry-After", retry_after_s.to_string()));
            }
            // A stop takes seconds; by then a restarted pod (or another replica) takes frames.
            ApiError::Stopping => {
                res.insert_header(("Retry-After", "5"));
            }
            _ => {}
        }
        res.json(ErrorBody { error: self.code().into(), detail: self.to_string() })
    }
}

impl From<DbError> for ApiError {
    /// The database's own words (table, constraint and column names, values) stay in the log;
    /// the client is told what kind of failure it was.
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable("the database cannot be reached; nothing changed".into())
            }
            _ if e.violation().is_some() => {
                tracing::info!(error = %e, "refused by a database constraint");
                ApiError::Conflict(
                    "the change conflicts with what is stored (a duplicate or a missing reference)".into(),
                )
            }
            DbError::Query(_) if e.is_outage() => {
                tracing::warn!(error = %e, "database connection lost");
                ApiError::Unavailable("the database connection was lost; nothing changed".into())
            }
            other => {
                tracing::error!(error = %other, "database query failed");
                ApiError::Internal("the database failed the request; the server's log says why".into())
            }
        }
    }
}

impl From<SlotError> for ApiError {
    fn from(e: SlotError) -> Self {
        match e {
            SlotError::Db(db) => db.into(),
            SlotError::Stale { .. } => ApiError::Conflict(e.to_string()),
            SlotError::LabelTaken(_) | SlotError::Fenced => ApiError::Conflict(e.to_string()),
            SlotError::Busy => ApiError::Unavailable(e.to_string()),
            SlotError::Gone => ApiError::NotFound(e.to_string()),
            SlotError::Corrupt(_) => {
                tracing::error!(error = %e, "stored data unreadable");
                ApiError::Internal("stored data is unreadable; the server's log says why".into())
            }
        }
    }
}

impl From<LotError> for ApiError {
    fn from(e: LotError) -> Self {
        match e {
            LotError::NoSuchSlot(_) | LotError::NoSuchCamera(_) => ApiError::NotFound(e.to_string()),
            LotError::Slot(s) => s.into(),
            LotError::Db(d) => d.into(),
            LotError::ActorGone => ApiError::Unavailable(e.to_string()),
            LotError::Corrupt(_) => {
                tracing::error!(error = %e, "stored data unreadable");
                ApiError::Internal("stored data is unreadable; the server's log says why".into())
            }
        }
    }
}

/// Turns actix's own extractor failures (bad JSON, bad query, bad path) into the same body.
pub fn json_error(err: actix_web::error::JsonPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match &err {
        J::OverflowKnownLength { .. } | J::Overflow { .. } => ApiError::PayloadTooLarge(err.to_string()),
        J::ContentType => ApiError::UnsupportedMediaType("send JSON with Content-Type: application/json".into()),
        J::Deserialize(e) if e.is_data() => ApiError::bad("invalid_body", e.to_string()),
        _ => ApiError::bad("invalid_json", err.to_string()),
    };
    api.into()
}

pub fn query_error(err: actix_web::error::QueryPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::bad("invalid_query", err.to_string()).into()
}

pub fn path_error(err: actix_web::error::PathError, _: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::NotFound(format!("no such resource: {err}")).into()
}
