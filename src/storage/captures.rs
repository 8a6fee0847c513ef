//! Capture rows: which JPEGs were kept, where in the image store, and what they show.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::db::{Conn, DbError};
use super::leases::{self, Fence};
use super::models::{CaptureRow, NewCapture};
use super::schema::captures;

#[derive(Debug, Default, Clone)]
pub struct CaptureFilter {
    pub camera_id: Option<String>,
    /// Taken at or after.
    pub from: Option<DateTime<Utc>>,
    /// Taken before.
    pub to: Option<DateTime<Utc>>,
    /// Continue after this (taken_at, id), exclusive, newest first.
    pub after: Option<(DateTime<Utc>, i64)>,
    pub limit: i64,
}

/// Records a stored image kept because this replica owns its camera (the evidence of a
/// change), only while `fence` holds; None when the lease has passed to another replica.
pub async fn insert_fenced(
    conn: &mut Conn,
    new: &NewCapture<'_>,
    fence: &Fence,
) -> Result<Option<CaptureRow>, DbError> {
    use diesel_async::AsyncConnection;
    let out = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            if !leases::fence_holds(conn, fence).await? {
                return Ok(None);
            }
            Ok(Some(insert_row(conn, new).await?))
        })
        .await?;
    Ok(out)
}

/// Records a stored image; a second record of the same key returns the first one's row.
pub async fn insert(conn: &mut Conn, new: &NewCapture<'_>) -> Result<CaptureRow, DbError> {
    Ok(insert_row(conn, new).await?)
}

async fn insert_row(
    conn: &mut diesel_async::AsyncPgConnection,
    new: &NewCapture<'_>,
) -> Result<CaptureRow, diesel::result::Error> {
    let inserted = diesel::insert_into(captures::table)
        .values(new)
        .on_conflict(captures::storage_key)
        .do_nothing()
        .returning(CaptureRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    match inserted {
        Some(row) => Ok(row),
        None => Ok(captures::table
            .filter(captures::storage_key.eq(new.storage_key))
            .select(CaptureRow::as_select())
            .first(conn)
            .await?),
    }
}

pub async fn list(conn: &mut Conn, f: &CaptureFilter) -> Result<Vec<CaptureRow>, DbError> {
    let mut q = captures::table.select(CaptureRow::as_select()).into_boxed();
    if let Some(camera) = &f.camera_id {
        q = q.filter(captures::camera_id.eq(camera.clone()));
    }
    if let Some(from) = f.from {
        q = q.filter(captures::taken_at.ge(from));
    }
    if let Some(to) = f.to {
        q = q.filter(captures::taken_at.lt(to));
    }
    if let Some((t, id)) = f.after {
        q = q.filter(captures::taken_at.lt(t).or(captures::taken_at.eq(t).and(captures::id.lt(id))));
    }
    Ok(q.order((captures::taken_at.desc(), captures::id.desc())).limit(f.limit).load(conn).await?)
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<CaptureRow>, DbError> {
    Ok(captures::table.find(id).select(CaptureRow::as_select()).first(conn).await.optional()?)
}

/// Storage keys of every capture of a camera (to delete its images along with it).
pub async fn keys_of_camera(conn: &mut Conn, camera_id: &str) -> Result<Vec<String>, DbError> {
    Ok(captures::table.filter(captures::camera_id.eq(camera_id)).select(captures::storage_key).load(conn).await?)
}

#[derive(QueryableByName)]
struct Expired {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    storage_key: String,
}

/// What the retention rules say, as cut-off times and counts.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Captures taken before this go (None: kept regardless of age).
    pub older_than: Option<DateTime<Utc>>,
    /// Each camera keeps this many routine captures, the newest (0: no limit).
    pub per_camera: u64,
    /// Evidence (a capture a space change or a stay refers to) is kept until this, and while
    /// its stay is open, whatever the rules above say.
    pub evidence_until: DateTime<Utc>,
}

/// Up to `limit` captures the retention rules let go, oldest first, leaving out `skip` (those a
/// sweep already failed to delete). Routine frames count against the per-camera limit; evidence
/// neither counts nor goes by it, and goes by age only past the evidence cut-off too.
pub async fn expired(
    conn: &mut Conn,
    rules: &Retention,
    skip: &[i64],
    limit: i64,
) -> Result<Vec<(i64, String)>, DbError> {
    let per_camera = if rules.per_camera == 0 { i64::MAX } else { rules.per_camera.min(i64::MAX as u64) as i64 };
    let rows: Vec<Expired> = diesel::sql_query(
        "SELECT id, storage_key FROM (
             SELECT id, storage_key, taken_at, evidence, open_stay,
                    row_number() OVER (PARTITION BY camera_id, evidence ORDER BY taken_at DESC, id DESC) AS rank
             FROM (
                 SELECT c.id, c.storage_key, c.taken_at, c.camera_id,
                        EXISTS (SELECT 1 FROM slot_events e WHERE e.capture_id = c.id)
                        OR EXISTS (SELECT 1 FROM parking_sessions p WHERE p.entry_capture_id = c.id)
                        OR EXISTS (SELECT 1 FROM parking_sessions p WHERE p.exit_capture_id = c.id) AS evidence,
                        EXISTS (SELECT 1 FROM parking_sessions p
                                WHERE p.entry_capture_id = c.id AND p.ended_at IS NULL) AS open_stay
                 FROM captures c
             ) marked
         ) ranked
         WHERE NOT open_stay AND id <> ALL($4)
           AND CASE WHEN evidence THEN taken_at < LEAST(COALESCE($2, '-infinity'::timestamptz), $5)
                    ELSE rank > $1 OR taken_at < COALESCE($2, '-infinity'::timestamptz) END
         ORDER BY taken_at
         LIMIT $3",
    )
    .bind::<diesel::sql_types::BigInt, _>(per_camera)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>, _>(rules.older_than)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(skip)
    .bind::<diesel::sql_types::Timestamptz, _>(rules.evidence_until)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.storage_key)).collect())
}

pub async fn delete(conn: &mut Conn, ids: &[i64]) -> Result<usize, DbError> {
    Ok(diesel::delete(captures::table.filter(captures::id.eq_any(ids))).execute(conn).await?)
}
