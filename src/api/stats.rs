//! `/api/stats`: how full the lot is now, and over time.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::live::events::Stats;
use crate::storage::stats;

const MAX_BUCKETS: i64 = 2000;

#[utoipa::path(get, path = "/api/stats", tag = "stats", responses((status = 200, body = Stats), (status = 503, body = ErrorBody)))]
pub async fn current(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let day = stats::today(&mut conn).await?;
    Ok(HttpResponse::Ok().json(Stats::new(state.lot.board(), day)))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BucketSize {
    Minute,
    Hour,
    Day,
}

impl BucketSize {
    fn unit(self) -> &'static str {
        match self {
            BucketSize::Minute => "minute",
            BucketSize::Hour => "hour",
            BucketSize::Day => "day",
        }
    }

    fn length(self) -> Duration {
        match self {
            BucketSize::Minute => Duration::minutes(1),
            BucketSize::Hour => Duration::hours(1),
            BucketSize::Day => Duration::days(1),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// `minute`, `hour` (default) or `day`.
    bucket: Option<BucketSize>,
    /// Start (RFC 3339); default: 23 whole buckets before the one holding `to`.
    from: Option<DateTime<Utc>>,
    /// End (RFC 3339); default: now.
    to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryBucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Mean share of the lot's spaces that were occupied during the bucket.
    pub occupancy: f64,
    /// Mean number of cars parked during the bucket.
    pub occupied_avg: f64,
    /// Stays that began in the bucket.
    pub arrivals: i64,
    /// Stays that ended in the bucket.
    pub departures: i64,
    /// Mean length in seconds of the stays that ended in the bucket; null when none did.
    pub average_stay_s: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// Spaces in the lot now; occupancy is relative to this.
    pub total: usize,
    pub buckets: Vec<HistoryBucket>,
}

#[utoipa::path(
    get, path = "/api/stats/history",
    tag = "stats",
    params(HistoryQuery),
    responses((status = 200, body = History), (status = 400, body = ErrorBody))
)]
pub async fn history(state: web::Data<AppState>, q: web::Query<HistoryQuery>) -> Result<HttpResponse, ApiError> {
    let bucket = q.bucket.unwrap_or(BucketSize::Hour);
    let to = q.to.unwrap_or_else(Utc::now);
    // By default the last 24 buckets, the newest being the one that holds `to`.
    let from = match q.from {
        Some(f) => f,
        None => {
            to.duration_trunc(bucket.length()).map_err(|e| ApiError::bad("invalid_query", e.to_string()))?
                - bucket.length() * 23
        }
    };
    if from >= to {
        return Err(ApiError::bad("invalid_query", "from must be before to"));
    }
    if (to - from).num_seconds() / bucket.length().num_seconds() > MAX_BUCKETS {
        return Err(ApiError::bad("invalid_query", format!("at most {MAX_BUCKETS} buckets; use a larger bucket")));
    }
    let step = format!("1 {}", bucket.unit());
    let mut conn = state.db.conn().await?;
    let rows = stats::history(&mut conn, bucket.unit(), &step, from, to).await?;
    let total = state.lot.board().counts().0.total;
    let now = Utc::now();
    let buckets = rows
        .into_iter()
        .map(|b| {
            // Parked time runs up to now at most, so the bucket now under way is averaged over
            // its part gone by (a full lot six minutes into an hour is a full hour so far).
            let secs = ((b.end.min(now) - b.start).num_milliseconds() as f64 / 1000.0).max(1.0);
            let occupied_avg = b.occupied_s / secs;
            HistoryBucket {
                start: b.start,
                end: b.end,
                occupancy: if total == 0 { 0.0 } else { (occupied_avg / total as f64).min(1.0) },
                occupied_avg,
                arrivals: b.arrivals,
                departures: b.departures,
                average_stay_s: b.average_stay_s,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(History { total, buckets }))
}
