//! The retention rules applied: what `captures::expired` lets go is deleted, images first.

use crate::metrics::Metrics;
use crate::storage::captures::{self, Retention};
use crate::storage::db::Db;
use crate::storage::images::ImageStore;

/// Captures one sweep looks at before it stops: a sweep is bounded, and the next one goes on.
const SWEEP_BATCH: i64 = 500;
const SWEEP_MAX_BATCHES: usize = 20;

pub struct Swept {
    pub deleted: usize,
    pub skipped: usize,
}

/// Deletes what the retention rules let go, in bounded batches, images first: a row without its
/// image would be a broken link, an image without its row is only space. An image the store
/// will not delete is skipped and counted (its row stays, so the next sweep tries again), and
/// does not stop the rest; a batch of which nothing could be deleted (the store is out) ends the
/// sweep.
pub async fn sweep(db: Db, store: ImageStore, rules: Retention, metrics: Metrics) -> Result<Swept, String> {
    let mut swept = Swept { deleted: 0, skipped: 0 };
    let mut skip: Vec<i64> = Vec::new();
    for _ in 0..SWEEP_MAX_BATCHES {
        let batch = {
            let mut conn = db.conn().await.map_err(|e| e.to_string())?;
            captures::expired(&mut conn, &rules, &skip, SWEEP_BATCH).await.map_err(|e| e.to_string())?
        };
        if batch.is_empty() {
            break;
        }
        let mut gone = Vec::with_capacity(batch.len());
        for (id, key) in &batch {
            match store.delete(key).await {
                Ok(()) => gone.push(*id),
                Err(e) => {
                    tracing::warn!(capture = id, key, error = %e, "a capture's image could not be deleted; skipped");
                    metrics.captures_undeletable.inc();
                    skip.push(*id);
                }
            }
        }
        swept.skipped = skip.len();
        if gone.is_empty() {
            break;
        }
        let mut conn = db.conn().await.map_err(|e| e.to_string())?;
        swept.deleted += captures::delete(&mut conn, &gone).await.map_err(|e| e.to_string())?;
    }
    Ok(swept)
}
