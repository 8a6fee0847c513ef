//! The record of who did what: manual changes and every admin action.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::db::{Conn, DbError};
use super::schema::audit_log;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// A user's name, or `token:<name>` for an API token.
    pub actor: String,
    /// Such as `camera.create`, `slot.set_state`, `user.delete`, `token.create`.
    pub action: String,
    /// What it was done to: a camera id, a space id, a user name, a token id.
    pub target: String,
    /// What changed (never a secret).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

pub async fn record(
    conn: &mut Conn,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), DbError> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor.eq(actor),
            audit_log::action.eq(action),
            audit_log::target.eq(target),
            audit_log::detail.eq(detail),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Newest first, after the (time, id) of the previous page's last row.
pub async fn page(conn: &mut Conn, after: Option<(DateTime<Utc>, i64)>, limit: i64) -> Result<Vec<AuditRow>, DbError> {
    let mut q = audit_log::table.select(AuditRow::as_select()).into_boxed();
    if let Some((t, id)) = after {
        q = q.filter(audit_log::at.lt(t).or(audit_log::at.eq(t).and(audit_log::id.lt(id))));
    }
    Ok(q.order((audit_log::at.desc(), audit_log::id.desc())).limit(limit).load(conn).await?)
}
