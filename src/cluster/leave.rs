//! `smartpark cluster leave`: what a pod's `preStop` runs. It marks the replica as leaving in the
//! database; the replica's own lease loop then hands its cameras and jobs to the others, and
//! this waits until it holds none (or the wait is up), so SIGTERM finds nothing to hand over.

use std::time::{Duration, Instant};

use crate::storage::db::{Db, DbError};
use crate::storage::leases;

pub async fn leave(db: &Db, node: &str, wait: Duration) -> Result<String, DbError> {
    let started = Instant::now();
    {
        let mut conn = db.conn().await?;
        if !leases::ask_to_leave(&mut conn, node).await? {
            return Ok(format!("no live replica named {node:?}: nothing to hand over"));
        }
    }
    loop {
        let held = {
            let mut conn = db.conn().await?;
            leases::held_by(&mut conn, node).await?
        };
        if held == 0 {
            return Ok(format!("{node} handed its cameras over in {:.1} s", started.elapsed().as_secs_f64()));
        }
        if started.elapsed() >= wait {
            return Ok(format!("{node} still holds {held} camera(s) after {} s; stopping anyway", wait.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
