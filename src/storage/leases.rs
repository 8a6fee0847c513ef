//! Replica rows and leases: who is alive, who runs which camera and the periodic jobs, and the
//! epoch that fences a replica's writes once it no longer holds what it wrote for.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Double, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;

use super::db::{Conn, DbError};

/// The lease that a camera's owner holds.
pub fn camera_lease(camera: &str) -> String {
    format!("camera:{camera}")
}

/// The lease of the periodic jobs that must run on one replica at a time.
pub const JOBS_LEASE: &str = "jobs";

/// What a write made because this replica owns something names: refused unless it is still the
/// holder and the epoch is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub holder: String,
    pub epoch: i64,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct ReplicaRow {
    #[diesel(sql_type = Text)]
    pub node: String,
    #[diesel(sql_type = Text)]
    pub advertise_url: String,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub expires_at: DateTime<Utc>,
    #[diesel(sql_type = Bool)]
    pub leaving: bool,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct LeaseRow {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub holder: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub epoch: i64,
    /// False once it lapsed or was let go: anyone may take it.
    #[diesel(sql_type = Bool)]
    pub live: bool,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub status: Option<serde_json::Value>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Epoch {
    #[diesel(sql_type = BigInt)]
    epoch: i64,
}

#[derive(QueryableByName)]
struct Leaving {
    #[diesel(sql_type = Bool)]
    leaving: bool,
}

/// A replica starting (again): present, and not leaving. Leases still held under its name are
/// an earlier life's (killed before it could let them go): they are let go now, not left to
/// lapse.
pub async fn register(conn: &mut Conn, node: &str, url: &str, ttl_s: f64) -> Result<(), DbError> {
    diesel::sql_query("UPDATE leases SET holder = NULL, expires_at = now(), status = NULL WHERE holder = $1")
        .bind::<Text, _>(node)
        .execute(conn)
        .await?;
    diesel::sql_query(
        "INSERT INTO replicas (node, advertise_url, started_at, seen_at, expires_at, leaving)
         VALUES ($1, $2, now(), now(), now() + make_interval(secs => $3), false)
         ON CONFLICT (node) DO UPDATE SET advertise_url = EXCLUDED.advertise_url, started_at = now(),
           seen_at = now(), expires_at = EXCLUDED.expires_at, leaving = false",
    )
    .bind::<Text, _>(node)
    .bind::<Text, _>(url)
    .bind::<Double, _>(ttl_s)
    .execute(conn)
    .await?;
    Ok(())
}

/// Renews the replica's own row; answers whether it has been asked to leave.
pub async fn heartbeat(conn: &mut Conn, node: &str, url: &str, ttl_s: f64) -> Result<bool, DbError> {
    let rows: Vec<Leaving> = diesel::sql_query(
        "INSERT INTO replicas (node, advertise_url, seen_at, expires_at)
         VALUES ($1, $2, now(), now() + make_interval(secs => $3))
         ON CONFLICT (node) DO UPDATE SET advertise_url = EXCLUDED.advertise_url, seen_at = now(),
           expires_at = EXCLUDED.expires_at
         RETURNING leaving",
    )
    .bind::<Text, _>(node)
    .bind::<Text, _>(url)
    .bind::<Double, _>(ttl_s)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().is_some_and(|r| r.leaving))
}

/// Replicas whose row has not lapsed, leaving ones included (they still answer relays).
pub async fn replicas(conn: &mut Conn) -> Result<Vec<ReplicaRow>, DbError> {
    Ok(diesel::sql_query(
        "SELECT node, advertise_url, started_at, expires_at, leaving FROM replicas
         WHERE expires_at > now() ORDER BY node",
    )
    .load(conn)
    .await?)
}

/// A replica going away on purpose: gone from the live ones at once.
pub async fn deregister(conn: &mut Conn, node: &str) -> Result<(), DbError> {
    diesel::sql_query("UPDATE replicas SET expires_at = now(), leaving = true WHERE node = $1")
        .bind::<Text, _>(node)
        .execute(conn)
        .await?;
    Ok(())
}

/// Asks a replica to hand over what it holds (`smartpark cluster leave`); false when no such
/// replica is alive.
pub async fn ask_to_leave(conn: &mut Conn, node: &str) -> Result<bool, DbError> {
    let n = diesel::sql_query("UPDATE replicas SET leaving = true WHERE node = $1 AND expires_at > now()")
        .bind::<Text, _>(node)
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// A lease row as `LeaseRow` reads it, with whether it is live now.
const LEASE_ROW: &str =
    "SELECT name, holder, epoch, (holder IS NOT NULL AND expires_at > now()) AS live, status FROM leases";

pub async fn leases(conn: &mut Conn) -> Result<Vec<LeaseRow>, DbError> {
    Ok(diesel::sql_query(format!("{LEASE_ROW} ORDER BY name")).load(conn).await?)
}

pub async fn lease(conn: &mut Conn, name: &str) -> Result<Option<LeaseRow>, DbError> {
    let rows: Vec<LeaseRow> =
        diesel::sql_query(format!("{LEASE_ROW} WHERE name = $1")).bind::<Text, _>(name).load(conn).await?;
    Ok(rows.into_iter().next())
}

/// How many leases `node` holds that have not lapsed.
pub async fn held_by(conn: &mut Conn, node: &str) -> Result<i64, DbError> {
    let rows: Vec<Epoch> = diesel::sql_query(
        "SELECT count(*)::int8 AS epoch FROM leases WHERE holder = $1 AND expires_at > now() AND name <> $2",
    )
    .bind::<Text, _>(node)
    .bind::<Text, _>(JOBS_LEASE)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map_or(0, |r| r.epoch))
}

/// Takes the lease if nobody holds it (or its holder let it lapse): the epoch goes up. Answers
/// the new epoch, or None when someone else holds it.
pub async fn claim(conn: &mut Conn, lease: &str, node: &str, ttl_s: f64) -> Result<Option<i64>, DbError> {
    let rows: Vec<Epoch> = diesel::sql_query(
        "INSERT INTO leases (name, holder, epoch, expires_at) VALUES ($1, $2, 1, now() + make_interval(secs => $3))
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, epoch = leases.epoch + 1,
           expires_at = EXCLUDED.expires_at, status = NULL
         WHERE leases.holder IS NULL OR leases.expires_at <= now()
         RETURNING epoch",
    )
    .bind::<Text, _>(lease)
    .bind::<Text, _>(node)
    .bind::<Double, _>(ttl_s)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map(|r| r.epoch))
}

/// Renews the leases `node` holds at those epochs, with each one's status; answers the ones
/// still held (a lease missing from the answer was taken over: the replica lost it).
pub async fn renew(
    conn: &mut Conn,
    node: &str,
    held: &[(String, i64, Option<serde_json::Value>)],
    ttl_s: f64,
) -> Result<Vec<String>, DbError> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = held.iter().map(|h| h.0.clone()).collect();
    let epochs: Vec<i64> = held.iter().map(|h| h.1).collect();
    let statuses: Vec<Option<serde_json::Value>> = held.iter().map(|h| h.2.clone()).collect();
    let rows: Vec<Name> = diesel::sql_query(
        "UPDATE leases l SET expires_at = now() + make_interval(secs => $4), status = COALESCE(u.status, l.status)
         FROM unnest($2::text[], $3::int8[], $5::jsonb[]) AS u(name, epoch, status)
         WHERE l.name = u.name AND l.epoch = u.epoch AND l.holder = $1
         RETURNING l.name",
    )
    .bind::<Text, _>(node)
    .bind::<Array<Text>, _>(names)
    .bind::<Array<BigInt>, _>(epochs)
    .bind::<Double, _>(ttl_s)
    .bind::<Array<Nullable<Jsonb>>, _>(statuses)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// Lets leases go so another replica may take them at once (the epoch stays; the next holder
/// raises it).
pub async fn release(conn: &mut Conn, node: &str, names: &[String]) -> Result<usize, DbError> {
    if names.is_empty() {
        return Ok(0);
    }
    Ok(diesel::sql_query(
        "UPDATE leases SET holder = NULL, expires_at = now(), status = NULL WHERE holder = $1 AND name = ANY($2)",
    )
    .bind::<Text, _>(node)
    .bind::<Array<Text>, _>(names.to_vec())
    .execute(conn)
    .await?)
}

/// The owner's view of its camera, stored only while it holds the lease at that epoch.
pub async fn set_status(conn: &mut Conn, fence: &Fence, status: serde_json::Value) -> Result<bool, DbError> {
    let n = diesel::sql_query(
        "UPDATE leases SET status = $4 WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()",
    )
    .bind::<Text, _>(&fence.lease)
    .bind::<Text, _>(&fence.holder)
    .bind::<BigInt, _>(fence.epoch)
    .bind::<Jsonb, _>(status)
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Inside a write's transaction: whether the fence still holds. The row is locked for share, so
/// no takeover can commit between this check and the write's commit.
pub async fn fence_holds(
    conn: &mut diesel_async::AsyncPgConnection,
    fence: &Fence,
) -> Result<bool, diesel::result::Error> {
    let rows: Vec<Epoch> = diesel::sql_query(
        "SELECT epoch FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now() FOR SHARE",
    )
    .bind::<Text, _>(&fence.lease)
    .bind::<Text, _>(&fence.holder)
    .bind::<BigInt, _>(fence.epoch)
    .load(conn)
    .await?;
    Ok(!rows.is_empty())
}

/// A camera deleted: its lease goes with it.
pub async fn forget(conn: &mut Conn, lease: &str) -> Result<(), DbError> {
    diesel::sql_query("DELETE FROM leases WHERE name = $1").bind::<Text, _>(lease).execute(conn).await?;
    Ok(())
}
