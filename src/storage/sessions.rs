//! Parking-session queries: newest first, with a keyset cursor that stays stable while rows arrive.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::db::{Conn, DbError};
use super::models::SessionRow;
use super::schema::{parking_sessions, slots};

#[derive(Debug, Default, Clone)]
pub struct SessionFilter {
    pub slot_id: Option<i64>,
    pub camera_id: Option<String>,
    /// Stays that overlap [from, to): still parked at `from`, or arrived before `to`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub open: Option<bool>,
    /// Continue after this (started_at, id), exclusive.
    pub after: Option<(DateTime<Utc>, i64)>,
    pub limit: i64,
}

/// A session with the labels a person reads it by.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub row: SessionRow,
    pub camera_id: String,
    pub slot_label: String,
}

pub async fn list(conn: &mut Conn, f: &SessionFilter) -> Result<Vec<SessionRecord>, DbError> {
    let mut q = parking_sessions::table
        .inner_join(slots::table)
        .select((SessionRow::as_select(), slots::camera_id, slots::label))
        .into_boxed();
    if let Some(slot) = f.slot_id {
        q = q.filter(parking_sessions::slot_id.eq(slot));
    }
    if let Some(camera) = &f.camera_id {
        q = q.filter(slots::camera_id.eq(camera.clone()));
    }
    if let Some(from) = f.from {
        q = q.filter(parking_sessions::ended_at.is_null().or(parking_sessions::ended_at.ge(from)));
    }
    if let Some(to) = f.to {
        q = q.filter(parking_sessions::started_at.lt(to));
    }
    match f.open {
        Some(true) => q = q.filter(parking_sessions::ended_at.is_null()),
        Some(false) => q = q.filter(parking_sessions::ended_at.is_not_null()),
        None => {}
    }
    if let Some((t, id)) = f.after {
        q = q.filter(
            parking_sessions::started_at.lt(t).or(parking_sessions::started_at.eq(t).and(parking_sessions::id.lt(id))),
        );
    }
    let rows: Vec<(SessionRow, String, String)> =
        q.order((parking_sessions::started_at.desc(), parking_sessions::id.desc())).limit(f.limit).load(conn).await?;
    Ok(rows.into_iter().map(|(row, camera_id, slot_label)| SessionRecord { row, camera_id, slot_label }).collect())
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<SessionRecord>, DbError> {
    let row: Option<(SessionRow, String, String)> = parking_sessions::table
        .inner_join(slots::table)
        .filter(parking_sessions::id.eq(id))
        .select((SessionRow::as_select(), slots::camera_id, slots::label))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(row, camera_id, slot_label)| SessionRecord { row, camera_id, slot_label }))
}
