//! Slot rows, and the one transaction that records a change of state.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::db::{Conn, DbError};
use super::leases::{self, Fence};
use super::models::{NewSession, NewSlot, NewSlotEvent, SessionRow, SlotRow};
use super::notify;
use super::schema::{parking_sessions, slot_events, slots};
use crate::parking::state::{SlotState, Source};

/// Every slot with its open parking session, if any: what the slot actors start from.
pub async fn load_all(conn: &mut Conn) -> Result<Vec<(SlotRow, Option<SessionRow>)>, DbError> {
    let rows: Vec<SlotRow> = slots::table.select(SlotRow::as_select()).order(slots::id).load(conn).await?;
    let open: Vec<SessionRow> = parking_sessions::table
        .filter(parking_sessions::ended_at.is_null())
        .select(SessionRow::as_select())
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let session = open.iter().find(|s| s.slot_id == r.id).cloned();
            (r, session)
        })
        .collect())
}

pub async fn insert(
    conn: &mut Conn,
    camera_id: &str,
    label: &str,
    polygon: serde_json::Value,
) -> Result<SlotRow, DbError> {
    Ok(diesel::insert_into(slots::table)
        .values(NewSlot { camera_id, label, polygon, state: SlotState::Unknown.as_str(), since: Utc::now() })
        .returning(SlotRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Creates the slot, or moves the one with that label to the new polygon (re-importing a file).
pub async fn upsert_by_label(
    conn: &mut Conn,
    camera_id: &str,
    label: &str,
    polygon: serde_json::Value,
) -> Result<(SlotRow, bool), DbError> {
    let existing: Option<i64> = slots::table
        .filter(slots::camera_id.eq(camera_id).and(slots::label.eq(label)))
        .select(slots::id)
        .first(conn)
        .await
        .optional()?;
    match existing {
        Some(id) => Ok((update_geometry(conn, id, None, Some(polygon)).await?, false)),
        None => Ok((insert(conn, camera_id, label, polygon).await?, true)),
    }
}

pub async fn update_geometry(
    conn: &mut Conn,
    id: i64,
    label: Option<&str>,
    polygon: Option<serde_json::Value>,
) -> Result<SlotRow, DbError> {
    let q = diesel::update(slots::table.find(id));
    let row = match (label, polygon) {
        (Some(l), Some(p)) => {
            q.set((slots::label.eq(l), slots::polygon.eq(p), slots::version.eq(slots::version + 1)))
                .returning(SlotRow::as_returning())
                .get_result(conn)
                .await?
        }
        (Some(l), None) => {
            q.set((slots::label.eq(l), slots::version.eq(slots::version + 1)))
                .returning(SlotRow::as_returning())
                .get_result(conn)
                .await?
        }
        (None, Some(p)) => {
            q.set((slots::polygon.eq(p), slots::version.eq(slots::version + 1)))
                .returning(SlotRow::as_returning())
                .get_result(conn)
                .await?
        }
        (None, None) => slots::table.find(id).select(SlotRow::as_select()).first(conn).await?,
    };
    Ok(row)
}

pub async fn delete(conn: &mut Conn, id: i64) -> Result<bool, DbError> {
    Ok(diesel::delete(slots::table.find(id)).execute(conn).await? > 0)
}

/// A change of state as the slot actor decided it.
#[derive(Debug, Clone)]
pub struct Change {
    pub slot_id: i64,
    pub at: DateTime<Utc>,
    pub from: SlotState,
    pub to: SlotState,
    pub source: Source,
    pub confidence: Option<f32>,
    pub capture_id: Option<i64>,
    /// The user or token behind a manual change or a sensor report.
    pub actor: Option<String>,
    /// Why, when the source alone does not say (a camera gone dark).
    pub reason: Option<String>,
    /// The row's version the change was decided on: stored only if the row still has it.
    pub version: i64,
    /// For a change the camera's owner makes (detector, camera): its lease, which must still
    /// hold when the change commits.
    pub fence: Option<Fence>,
    /// What the other replicas are told once it commits.
    pub notice: String,
}

/// What became of a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Stored: the row's new version and the open stay after it.
    Stored { version: i64, open: Option<(i64, DateTime<Utc>)> },
    /// The row moved on since (another replica changed it): nothing was written.
    Moved,
    /// The change came from owning a camera whose lease this replica no longer holds.
    Fenced,
}

enum Refusal {
    Moved,
    Fenced,
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Refusal {
    fn from(e: diesel::result::Error) -> Self {
        Refusal::Db(e)
    }
}

/// Writes the event, the slot's new state and the parking session it opens or closes, all or
/// nothing, and only from the version the change was decided on (a compare-and-set, so two
/// replicas can never both apply a change from the same state). The open stay is read in the
/// same transaction, under the row's lock.
///
/// A stay survives `unknown` (a camera outage does not mean the car left): it opens when the
/// space becomes occupied with none open, and closes when the space is seen free.
pub async fn record_change(conn: &mut Conn, change: Change) -> Result<Recorded, DbError> {
    let outcome = conn
        .transaction::<_, Refusal, _>(async move |conn| {
            if let Some(fence) = &change.fence {
                if !leases::fence_holds(conn, fence).await? {
                    return Err(Refusal::Fenced);
                }
            }
            let version: Option<i64> =
                diesel::update(slots::table.find(change.slot_id).filter(slots::version.eq(change.version)))
                    .set((
                        slots::state.eq(change.to.as_str()),
                        slots::since.eq(change.at),
                        slots::source.eq(change.source.as_str()),
                        slots::actor.eq(change.actor.as_deref()),
                        slots::version.eq(slots::version + 1),
                    ))
                    .returning(slots::version)
                    .get_result(conn)
                    .await
                    .optional()?;
            let Some(version) = version else { return Err(Refusal::Moved) };
            diesel::insert_into(slot_events::table)
                .values(NewSlotEvent {
                    slot_id: change.slot_id,
                    at: change.at,
                    from_state: change.from.as_str(),
                    to_state: change.to.as_str(),
                    source: change.source.as_str(),
                    confidence: change.confidence,
                    capture_id: change.capture_id,
                    actor: change.actor.as_deref(),
                    reason: change.reason.as_deref(),
                })
                .execute(conn)
                .await?;
            let open: Option<(i64, DateTime<Utc>)> = parking_sessions::table
                .filter(parking_sessions::slot_id.eq(change.slot_id).and(parking_sessions::ended_at.is_null()))
                .select((parking_sessions::id, parking_sessions::started_at))
                .first(conn)
                .await
                .optional()?;
            let open = match (change.to, open) {
                (SlotState::Occupied, None) => {
                    let id: i64 = diesel::insert_into(parking_sessions::table)
                        .values(NewSession {
                            slot_id: change.slot_id,
                            started_at: change.at,
                            source: change.source.as_str(),
                            entry_capture_id: change.capture_id,
                            started_by: change.actor.as_deref(),
                        })
                        .returning(parking_sessions::id)
                        .get_result(conn)
                        .await?;
                    Some((id, change.at))
                }
                (SlotState::Free, Some((id, _))) => {
                    diesel::update(parking_sessions::table.find(id))
                        .set((
                            parking_sessions::ended_at.eq(change.at),
                            parking_sessions::end_source.eq(change.source.as_str()),
                            parking_sessions::exit_capture_id.eq(change.capture_id),
                            parking_sessions::ended_by.eq(change.actor.as_deref()),
                        ))
                        .execute(conn)
                        .await?;
                    None
                }
                (_, open) => open,
            };
            notify::send(conn, &change.notice).await?;
            Ok(Recorded::Stored { version, open })
        })
        .await;
    match outcome {
        Ok(r) => Ok(r),
        Err(Refusal::Moved) => Ok(Recorded::Moved),
        Err(Refusal::Fenced) => Ok(Recorded::Fenced),
        Err(Refusal::Db(e)) => Err(e.into()),
    }
}

/// One slot with its open stay, as `load_all` reads them; None when it is gone.
pub async fn load_one(conn: &mut Conn, id: i64) -> Result<Option<(SlotRow, Option<SessionRow>)>, DbError> {
    let Some(row) = slots::table.find(id).select(SlotRow::as_select()).first(conn).await.optional()? else {
        return Ok(None);
    };
    let open: Option<SessionRow> = parking_sessions::table
        .filter(parking_sessions::slot_id.eq(id).and(parking_sessions::ended_at.is_null()))
        .select(SessionRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(Some((row, open)))
}
