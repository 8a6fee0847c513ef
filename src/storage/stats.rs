//! Figures over parking sessions: today's stays and occupancy over time.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use super::db::{Conn, DbError};

#[derive(Debug, Clone, Copy, Default, PartialEq, QueryableByName)]
pub struct DayFigures {
    /// Stays that started today (UTC).
    #[diesel(sql_type = BigInt)]
    pub sessions_today: i64,
    /// Mean length of the stays that ended today, in seconds.
    #[diesel(sql_type = Nullable<Double>)]
    pub average_stay_s: Option<f64>,
}

pub async fn today(conn: &mut Conn) -> Result<DayFigures, DbError> {
    Ok(diesel::sql_query(
        "SELECT
           (SELECT count(*) FROM parking_sessions
             WHERE started_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS sessions_today,
           (SELECT avg(extract(epoch FROM ended_at - started_at))::float8 FROM parking_sessions
             WHERE ended_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS average_stay_s",
    )
    .get_result(conn)
    .await?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Bucket {
    #[diesel(sql_type = Timestamptz)]
    pub start: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub end: DateTime<Utc>,
    /// Car-seconds parked within the bucket, summed over every space.
    #[diesel(sql_type = Double)]
    pub occupied_s: f64,
    #[diesel(sql_type = BigInt)]
    pub arrivals: i64,
    #[diesel(sql_type = BigInt)]
    pub departures: i64,
    /// Mean length of the stays that ended in the bucket; none ended: null.
    #[diesel(sql_type = diesel::sql_types::Nullable<Double>)]
    pub average_stay_s: Option<f64>,
}

/// Buckets of `step` ("1 hour", "1 day", …) from `from` (truncated to `unit`) to `to`. The
/// parked time of every stay is cut to each bucket it overlaps; a stay still open counts up to now.
pub async fn history(
    conn: &mut Conn,
    unit: &str,
    step: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Bucket>, DbError> {
    Ok(diesel::sql_query(
        "WITH buckets AS (
           SELECT b AS start, b + $2::interval AS \"end\"
           FROM generate_series(date_trunc($1, $3 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', $4, $2::interval) AS b
           WHERE b < $4
         )
         SELECT buckets.start, buckets.\"end\",
           coalesce(sum(extract(epoch FROM
               least(coalesce(s.ended_at, now()), buckets.\"end\") - greatest(s.started_at, buckets.start)
             )) FILTER (WHERE s.id IS NOT NULL AND coalesce(s.ended_at, now()) > buckets.start), 0)::float8 AS occupied_s,
           count(s.id) FILTER (WHERE s.started_at >= buckets.start)::int8 AS arrivals,
           count(s.id) FILTER (WHERE s.ended_at >= buckets.start AND s.ended_at < buckets.\"end\")::int8 AS departures,
           (avg(extract(epoch FROM s.ended_at - s.started_at))
             FILTER (WHERE s.ended_at >= buckets.start AND s.ended_at < buckets.\"end\"))::float8 AS average_stay_s
         FROM buckets
         LEFT JOIN parking_sessions s
           ON s.started_at < buckets.\"end\" AND (s.ended_at IS NULL OR s.ended_at >= buckets.start)
         GROUP BY buckets.start, buckets.\"end\"
         ORDER BY buckets.start",
    )
    .bind::<Text, _>(unit)
    .bind::<Text, _>(step)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .get_results(conn)
    .await?)
}
