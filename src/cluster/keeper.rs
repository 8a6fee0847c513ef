//! The lease loop. Every third of `cluster.lease_ttl_s` each replica renews its own row and the
//! leases it holds (with its cameras' status), gives up what it finds taken over, and deals the
//! cameras: each live replica's share is the count divided by the replicas, one more for the
//! first few by name until none is left over; it releases what it holds beyond (a replica
//! joined) and takes free or lapsed leases, in its own order of preference, up to it. Every take
//! raises the lease's epoch, which fences the old holder's writes. One lease more, `jobs`, says
//! which replica runs the periodic jobs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{preference, Cluster, Notice, Roster};
use crate::camera::feed::CameraStatus;
use crate::camera::id::CameraId;
use crate::camera::registry::Cameras;
use crate::camera::source::CameraSource;
use crate::live::feed::ChangeFeed;
use crate::metrics::Metrics;
use crate::storage::cameras;
use crate::storage::db::{Db, DbError};
use crate::storage::leases::{self, camera_lease, JOBS_LEASE};

pub struct Keeper {
    pub cluster: Arc<Cluster>,
    pub cameras: Arc<Cameras>,
    pub changes: ChangeFeed,
    pub db: Db,
    pub metrics: Metrics,
    /// Set when the server stops: leases are only renewed (the drain still writes under them)
    /// until `release_all`.
    pub stopping: AtomicBool,
    /// Held while leases are taken or let go, so a round and a pushed frame's claim never race
    /// each other for the same lease.
    dealing: tokio::sync::Mutex<()>,
    /// Whether a local image store was already said to be per replica.
    warned_local_store: AtomicBool,
    local_store: bool,
}

fn camera_of(lease: &str) -> Option<&str> {
    lease.strip_prefix("camera:")
}

impl Keeper {
    pub fn new(
        cluster: Arc<Cluster>,
        cameras: Arc<Cameras>,
        changes: ChangeFeed,
        db: Db,
        metrics: Metrics,
        local_store: bool,
    ) -> Arc<Keeper> {
        Arc::new(Keeper {
            cluster,
            cameras,
            changes,
            db,
            metrics,
            stopping: AtomicBool::new(false),
            dealing: tokio::sync::Mutex::new(()),
            warned_local_store: AtomicBool::new(false),
            local_store,
        })
    }

    /// Registers the replica and runs the rounds until the server stops.
    pub async fn run(self: Arc<Self>) {
        let ttl = self.cluster.ttl.as_secs_f64();
        let every = self.cluster.ttl / 3;
        let mut announced = false;
        loop {
            if !announced {
                let registered = async {
                    let mut conn = self.db.conn().await?;
                    leases::register(&mut conn, &self.cluster.node, &self.cluster.advertise_url(), ttl).await
                };
                match registered.await {
                    Ok(()) => {
                        announced = true;
                        tracing::info!(node = %self.cluster.node, url = %self.cluster.advertise_url(), "replica joined");
                        self.cluster.notify(Notice::Replicas);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot register this replica yet"),
                }
            }
            if announced {
                if let Err(e) = self.round().await {
                    tracing::warn!(error = %e, "lease round failed; the leases held are kept until they lapse");
                }
            }
            if self.stopping.load(Ordering::Acquire) && self.cluster.held().is_empty() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.cluster.wake.notified() => {}
            }
        }
    }

    async fn round(&self) -> Result<(), DbError> {
        let _dealing = self.dealing.lock().await;
        let c = &self.cluster;
        let ttl = c.ttl.as_secs_f64();
        let stopping = self.stopping.load(Ordering::Acquire);
        let mut conn = self.db.conn().await?;
        let leaving = leases::heartbeat(&mut conn, &c.node, &c.advertise_url(), ttl).await? || stopping;
        let rows: Vec<crate::storage::models::CameraRow> =
            cameras::list(&mut conn).await?.into_iter().map(|(r, _)| r).collect();
        self.sync_registry(&mut conn, &rows).await?;
        let all: Vec<String> = rows.into_iter().map(|r| r.id).collect();

        // Renew what is held; what did not renew was taken over while this replica was away.
        let held = c.held();
        let renewing: Vec<(String, i64, Option<serde_json::Value>)> = held
            .iter()
            .map(|(name, epoch)| {
                let status =
                    camera_of(name).and_then(|id| self.cameras.status(id)).and_then(|s| serde_json::to_value(s).ok());
                (name.clone(), *epoch, status)
            })
            .collect();
        let renewed: HashSet<String> = leases::renew(&mut conn, &c.node, &renewing, ttl).await?.into_iter().collect();
        for name in held.keys().filter(|n| !renewed.contains(*n)) {
            c.drop_lease(name);
            self.metrics.leases_lost.inc();
            match camera_of(name) {
                Some(id) => {
                    self.cameras.disown(id);
                    tracing::warn!(camera = id, "lease lost: another replica owns the camera now; giving it up");
                }
                None => tracing::warn!(lease = name, "lease lost"),
            }
        }

        let replicas = leases::replicas(&mut conn).await?;
        if !stopping {
            // The periodic jobs: whoever finds the lease free.
            if leaving {
                if c.drop_lease(JOBS_LEASE) {
                    leases::release(&mut conn, &c.node, &[JOBS_LEASE.to_string()]).await?;
                }
            } else if !c.runs_jobs() {
                if let Some(epoch) = leases::claim(&mut conn, JOBS_LEASE, &c.node, ttl).await? {
                    c.hold(JOBS_LEASE.to_string(), epoch);
                    tracing::info!("this replica runs the periodic jobs");
                }
            }
            self.balance(&mut conn, &all, &replicas, leaving).await?;
        }

        let lease_rows = leases::leases(&mut conn).await?;
        let mut roster = Roster { replicas: replicas.clone(), ..Roster::default() };
        for row in lease_rows.iter().filter(|r| r.live) {
            let Some(holder) = &row.holder else { continue };
            let Some(id) = camera_of(&row.name) else { continue };
            roster.owners.insert(id.to_string(), holder.clone());
            if holder != &c.node {
                if let Some(status) = row.status.clone().and_then(|s| serde_json::from_value::<CameraStatus>(s).ok()) {
                    roster.statuses.insert(id.to_string(), status);
                }
            }
        }
        c.set_roster(roster);
        if self.local_store && replicas.len() > 1 && !self.warned_local_store.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                replicas = replicas.len(),
                "several replicas with the local image store: each keeps the captures of the cameras it owns on its own disk, \
                 and a capture is readable only there; use an S3 store (storage.kind = \"s3\") for one archive"
            );
        }
        c.set_ready();
        Ok(())
    }

    /// Holds this replica's share of the cameras: releases the surplus (least preferred first)
    /// and takes free ones (most preferred first) up to it.
    async fn balance(
        &self,
        conn: &mut crate::storage::db::Conn,
        all: &[String],
        replicas: &[leases::ReplicaRow],
        leaving: bool,
    ) -> Result<(), DbError> {
        let c = &self.cluster;
        let ttl = c.ttl.as_secs_f64();
        let share = if leaving { 0 } else { share(all.len(), replicas, &c.node) };
        let mut mine: Vec<String> = c
            .held()
            .keys()
            .filter_map(|n| camera_of(n))
            .filter(|id| all.iter().any(|a| a == id))
            .map(String::from)
            .collect();
        if mine.len() > share {
            mine.sort_by_key(|id| preference(&c.node, id));
            let surplus: Vec<String> = mine[..mine.len() - share].to_vec();
            let names: Vec<String> = surplus.iter().map(|id| camera_lease(id)).collect();
            // The capture stops before the lease goes, so the next owner is the only one.
            for id in &surplus {
                self.cameras.disown(id);
                c.drop_lease(&camera_lease(id));
            }
            leases::release(conn, &c.node, &names).await?;
            tracing::info!(cameras = ?surplus, share, "cameras handed over");
            // The others take them now rather than at their next round.
            c.notify(Notice::Replicas);
            return Ok(());
        }
        if mine.len() == share {
            return Ok(());
        }
        let rows = leases::leases(conn).await?;
        let taken: HashSet<&str> = rows.iter().filter(|r| r.live).filter_map(|r| camera_of(&r.name)).collect();
        let mut free: Vec<&String> = all.iter().filter(|id| !taken.contains(id.as_str())).collect();
        free.sort_by_key(|id| std::cmp::Reverse(preference(&c.node, id)));
        let mut took = false;
        for id in free.into_iter().take(share - mine.len()) {
            if let Some(epoch) = leases::claim(conn, &camera_lease(id), &c.node, ttl).await? {
                c.hold(camera_lease(id), epoch);
                self.cameras.own(id);
                took = true;
                tracing::info!(camera = %id, epoch, "camera taken: this replica owns it");
            }
        }
        if took {
            // The others learn the new owner (for relays and `owner`) now, not at their next round.
            c.notify(Notice::Replicas);
        }
        Ok(())
    }

    /// Cameras created or deleted on other replicas whose notice this one missed. One missing
    /// from `rows` is asked for again before it is forgotten: it may have been created here
    /// after `rows` were read.
    async fn sync_registry(
        &self,
        conn: &mut crate::storage::db::Conn,
        rows: &[crate::storage::models::CameraRow],
    ) -> Result<(), DbError> {
        let present: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        for row in rows.iter().filter(|r| !self.cameras.knows(&r.id)) {
            register(&self.cameras, row);
        }
        for id in self.cameras.known().into_iter().filter(|id| !present.contains(id.as_str())) {
            if cameras::get(conn, &id).await?.is_none() {
                self.release_local(&id);
                self.cameras.remove(&id);
            }
        }
        Ok(())
    }

    fn release_local(&self, id: &str) {
        self.cameras.disown(id);
        self.cluster.drop_lease(&camera_lease(id));
    }

    /// Takes `camera` now if nobody holds it (a frame pushed here for a camera whose owner is
    /// gone). True when this replica owns it afterwards.
    pub async fn claim_now(&self, camera: &str) -> Result<bool, DbError> {
        let _dealing = self.dealing.lock().await;
        if self.cluster.owns(camera) {
            return Ok(true);
        }
        if self.stopping.load(Ordering::Acquire) {
            return Ok(false);
        }
        let mut conn = self.db.conn().await?;
        match leases::claim(&mut conn, &camera_lease(camera), &self.cluster.node, self.cluster.ttl.as_secs_f64())
            .await?
        {
            Some(epoch) => {
                self.cluster.hold(camera_lease(camera), epoch);
                self.cameras.own(camera);
                tracing::info!(camera, epoch, "camera taken on a pushed frame: it had no owner");
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The server stops: what is held is let go at once (the others take it in their next
    /// round, not after a lease's length), and the replica leaves the live ones.
    pub async fn release_all(&self) {
        self.stopping.store(true, Ordering::Release);
        let _dealing = self.dealing.lock().await;
        let held: Vec<String> = self.cluster.held().into_keys().collect();
        let released = async {
            let mut conn = self.db.conn().await?;
            let n = leases::release(&mut conn, &self.cluster.node, &held).await?;
            leases::deregister(&mut conn, &self.cluster.node).await?;
            Ok::<_, DbError>(n)
        };
        match released.await {
            Ok(n) => {
                for name in &held {
                    self.cluster.drop_lease(name);
                }
                tracing::info!(leases = n, "leases released for the other replicas");
                self.cluster.notify(Notice::Replicas);
            }
            Err(e) => tracing::warn!(error = %e, "leases not released; they lapse after cluster.lease_ttl_s"),
        }
    }

    /// Reads a camera row back after another replica changed it; false when it was deleted.
    pub async fn reload_camera(&self, id: &str) -> Result<bool, DbError> {
        let row = {
            let mut conn = self.db.conn().await?;
            cameras::get(&mut conn, id).await?
        };
        match row {
            Some(row) => {
                register(&self.cameras, &row);
                Ok(true)
            }
            None => {
                self.release_local(id);
                self.cameras.remove(id);
                Ok(false)
            }
        }
    }

    /// Every other replica's camera status, for this one's dashboards.
    pub async fn reload_statuses(&self) -> Result<(), DbError> {
        let rows = {
            let mut conn = self.db.conn().await?;
            leases::leases(&mut conn).await?
        };
        for row in rows.into_iter().filter(|r| r.live && r.holder.as_deref() != Some(self.cluster.node.as_str())) {
            let Some(status) = row.status.and_then(|s| serde_json::from_value::<CameraStatus>(s).ok()) else {
                continue;
            };
            self.cluster.set_status(status.clone());
            self.changes.camera_reported(status);
        }
        Ok(())
    }

    /// Another replica's camera changed health: read its status back for this one's dashboards.
    pub async fn reload_status(&self, id: &str) -> Result<(), DbError> {
        if self.cluster.owns(id) {
            return Ok(());
        }
        let row = {
            let mut conn = self.db.conn().await?;
            leases::lease(&mut conn, &camera_lease(id)).await?
        };
        if let Some(status) =
            row.filter(|r| r.live).and_then(|r| r.status).and_then(|s| serde_json::from_value::<CameraStatus>(s).ok())
        {
            self.cluster.set_status(status.clone());
            self.changes.camera_reported(status);
        }
        Ok(())
    }
}

/// How many of `cameras` the replica `node` should hold among the live (not leaving) replicas:
/// shares differ by one at most and add up to all.
fn share(cameras: usize, replicas: &[leases::ReplicaRow], node: &str) -> usize {
    let mut live: Vec<&str> = replicas.iter().filter(|r| !r.leaving).map(|r| r.node.as_str()).collect();
    live.sort_unstable();
    let Some(rank) = live.iter().position(|n| *n == node) else { return 0 };
    let k = live.len();
    cameras / k + usize::from(rank < cameras % k)
}

fn register(registry: &Cameras, row: &crate::storage::models::CameraRow) {
    let id: CameraId = match row.id.parse() {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(camera = row.id, error = %e, "stored camera id is invalid; not run");
            return;
        }
    };
    match serde_json::from_value::<CameraSource>(row.source.clone()) {
        Ok(source) => registry.run(&id, source, row.token_sha256.clone()),
        Err(e) => tracing::error!(camera = %id, error = %e, "stored camera source is unreadable; not run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(node: &str, leaving: bool) -> leases::ReplicaRow {
        leases::ReplicaRow {
            node: node.into(),
            advertise_url: String::new(),
            started_at: chrono::Utc::now(),
            expires_at: chrono::Utc::now(),
            leaving,
        }
    }

    #[test]
    fn shares_add_up_and_differ_by_one_at_most() {
        let three = [replica("b", false), replica("a", false), replica("c", false)];
        for n in 0..20 {
            let shares: Vec<usize> = ["a", "b", "c"].iter().map(|r| share(n, &three, r)).collect();
            assert_eq!(shares.iter().sum::<usize>(), n, "{shares:?}");
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1, "{shares:?}");
        }
        assert_eq!(share(4, &three, "a"), 2);
        assert_eq!(share(4, &three, "c"), 1);
    }

    #[test]
    fn a_leaving_or_unknown_replica_gets_nothing() {
        let two = [replica("a", false), replica("b", true)];
        assert_eq!(share(5, &two, "a"), 5);
        assert_eq!(share(5, &two, "b"), 0);
        assert_eq!(share(5, &two, "z"), 0);
    }
}
