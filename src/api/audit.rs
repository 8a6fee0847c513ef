//! `/api/audit`: who did what. `note` is how handlers add to it.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cursor;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::auth::Principal;
use crate::storage::audit::{self, AuditRow};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// Records an action once it is done. The action has happened whatever becomes of its record,
/// so a failure to write it is logged (with everything the record would have said), not
/// answered to the client as if the action had failed.
pub async fn note(
    state: &AppState,
    who: &Principal,
    action: &str,
    target: impl std::fmt::Display,
    detail: serde_json::Value,
) {
    let (actor, target) = (who.actor(), target.to_string());
    let written = async {
        let mut conn = state.db.conn().await?;
        audit::record(&mut conn, &actor, action, &target, detail.clone()).await
    }
    .await;
    if let Err(e) = written {
        tracing::error!(error = %e, actor, action, target, %detail, "the audit record could not be written");
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRow>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/api/audit",
    tag = "auth",
    params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody))
)]
pub async fn list(state: web::Data<AppState>, q: web::Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    cursor::check_page(limit, MAX_LIMIT, None, None)?;
    let after = cursor::parse(q.cursor.as_deref())?;
    let mut conn = state.db.conn().await?;
    let mut items = audit::page(&mut conn, after, limit + 1).await?;
    let next_cursor = cursor::finish_page(&mut items, limit, |r| (r.at, r.id));
    Ok(HttpResponse::Ok().json(AuditPage { items, next_cursor }))
}
