//! Several replicas on one PostgreSQL: the seam beside the data path that says which replica
//! owns which camera (`keeper.rs`, leases with an epoch), tells every replica what the others
//! changed (`listener.rs`, `LISTEN/NOTIFY`), and carries a request for a camera to its owner
//! (`relay.rs`). One replica alone is the same code with every lease its own.

pub mod keeper;
pub mod leave;
pub mod listener;
pub mod relay;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::camera::feed::CameraStatus;
use crate::metrics::Metrics;
use crate::storage::db::Db;
use crate::storage::leases::{self, camera_lease, Fence, ReplicaRow};

/// What a replica tells the others; ids only, the rows are read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Notice {
    /// A space's state, shape, creation or deletion.
    Slot { id: i64 },
    /// A camera created, re-sourced, renamed, deleted or given a new device token.
    Camera { id: String },
    /// A camera's health as its owner sees it.
    Status { id: String },
    /// Access revoked: a user's sessions, one session (its digest) or an API token.
    Revoked {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<i64>,
    },
    /// A replica joined or is leaving: the leases are dealt again.
    Replicas,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub from: String,
    #[serde(flatten)]
    pub notice: Notice,
}

/// A replica as the others see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Replica {
    pub node: String,
    pub advertise_url: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Handing its cameras over before it stops.
    pub leaving: bool,
    /// The cameras it owns.
    pub cameras: Vec<String>,
    /// Whether it runs the periodic jobs (retention, session sweep).
    pub jobs: bool,
}

/// Who owns what, as of the last lease round (or notice).
#[derive(Debug, Default, Clone)]
pub struct Roster {
    pub replicas: Vec<ReplicaRow>,
    /// Camera id → its owner's node.
    pub owners: HashMap<String, String>,
    /// Camera id → its owner's view of it.
    pub statuses: HashMap<String, CameraStatus>,
}

pub struct Cluster {
    pub node: String,
    pub ttl: Duration,
    db: Db,
    metrics: Metrics,
    url: RwLock<String>,
    /// Leases this replica holds: name → epoch.
    held: RwLock<HashMap<String, i64>>,
    roster: RwLock<Roster>,
    /// The lease loop has run once: this replica knows what it owns.
    ready: AtomicBool,
    /// Wakes the lease loop before its next round (a replica joined, a camera was created).
    pub wake: tokio::sync::Notify,
}

impl Cluster {
    pub fn new(node: String, ttl: Duration, db: Db, metrics: Metrics) -> Arc<Cluster> {
        Arc::new(Cluster {
            node,
            ttl,
            db,
            metrics,
            url: RwLock::new(String::new()),
            held: RwLock::default(),
            roster: RwLock::default(),
            ready: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
        })
    }

    pub fn advertise_url(&self) -> String {
        self.url.read().clone()
    }

    pub fn set_advertise_url(&self, url: String) {
        *self.url.write() = url;
    }

    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// The fence for a write made because this replica owns `camera`; None when it does not.
    pub fn fence(&self, camera: &str) -> Option<Fence> {
        let lease = camera_lease(camera);
        let epoch = *self.held.read().get(&lease)?;
        Some(Fence { lease, holder: self.node.clone(), epoch })
    }

    pub fn owns(&self, camera: &str) -> bool {
        self.held.read().contains_key(&camera_lease(camera))
    }

    /// Whether this replica runs the periodic jobs that must run once (retention, sweeps).
    pub fn runs_jobs(&self) -> bool {
        self.held.read().contains_key(leases::JOBS_LEASE)
    }

    pub(crate) fn held(&self) -> HashMap<String, i64> {
        self.held.read().clone()
    }

    pub(crate) fn hold(&self, lease: String, epoch: i64) {
        self.held.write().insert(lease, epoch);
    }

    pub fn drop_lease(&self, lease: &str) -> bool {
        self.held.write().remove(lease).is_some()
    }

    pub(crate) fn set_roster(&self, roster: Roster) {
        *self.roster.write() = roster;
    }

    /// The owner of `camera` other than this replica, with where it is reached.
    pub fn owner_elsewhere(&self, camera: &str) -> Option<(String, String)> {
        if self.owns(camera) {
            return None;
        }
        let roster = self.roster.read();
        let node = roster.owners.get(camera)?;
        let replica = roster.replicas.iter().find(|r| &r.node == node)?;
        Some((node.clone(), replica.advertise_url.clone()))
    }

    /// The node that owns `camera`, as far as this replica knows.
    pub fn owner(&self, camera: &str) -> Option<String> {
        if self.owns(camera) {
            return Some(self.node.clone());
        }
        self.roster.read().owners.get(camera).cloned()
    }

    /// A camera's status as its owner last stored it (for cameras this replica does not run).
    pub fn status(&self, camera: &str) -> Option<CameraStatus> {
        self.roster.read().statuses.get(camera).cloned()
    }

    pub(crate) fn set_status(&self, status: CameraStatus) {
        self.roster.write().statuses.insert(status.id.clone(), status);
    }

    /// The payload of `notice` from this replica.
    pub fn payload(&self, notice: Notice) -> String {
        serde_json::to_string(&Envelope { from: self.node.clone(), notice }).unwrap_or_default()
    }

    /// Tells the other replicas, after the write it follows has committed. A notice lost to a
    /// database outage is made up for by the listener's full re-read when it reconnects.
    pub fn notify(&self, notice: Notice) {
        let (db, payload) = (self.db.clone(), self.payload(notice));
        actix::spawn(async move {
            let sent = async {
                let mut conn = db.conn().await?;
                crate::storage::notify::send(&mut conn, &payload).await?;
                Ok::<_, crate::storage::db::DbError>(())
            };
            if let Err(e) = sent.await {
                tracing::warn!(error = %e, payload, "could not tell the other replicas");
            }
        });
    }

    /// The owner's view of a camera that changed health: stored with the lease (so a replica
    /// that was not listening finds it) and announced.
    pub fn publish_status(self: &Arc<Self>, status: CameraStatus) {
        let Some(fence) = self.fence(&status.id) else { return };
        let this = self.clone();
        actix::spawn(async move {
            let id = status.id.clone();
            let stored = async {
                let json = serde_json::to_value(&status).unwrap_or_default();
                let mut conn = this.db.conn().await?;
                leases::set_status(&mut conn, &fence, json).await
            };
            match stored.await {
                Ok(true) => this.notify(Notice::Status { id }),
                Ok(false) => {
                    this.metrics.fenced_writes.inc();
                    tracing::warn!(camera = id, "camera status refused: this replica's lease on it has passed");
                }
                Err(e) => tracing::warn!(camera = id, error = %e, "camera status not stored"),
            }
        });
    }
}

/// The default advertised URL: the listen address, with the host name when it listens on all.
pub fn default_url(host: &str, port: u16, node: &str) -> String {
    let host = match host {
        "0.0.0.0" | "::" | "[::]" | "" => node.to_string(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_string(),
    };
    format!("http://{host}:{port}")
}

/// Each camera's place in a replica's order of preference (rendezvous hashing): replicas prefer
/// different cameras, so they rarely race for the same one.
pub fn preference(node: &str, camera: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (node, camera).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_with_their_sender() {
        for notice in [
            Notice::Slot { id: 7 },
            Notice::Camera { id: "gate".into() },
            Notice::Status { id: "gate".into() },
            Notice::Revoked { user: Some("ann".into()), session: None, token: None },
            Notice::Revoked { user: None, session: None, token: Some(3) },
            Notice::Replicas,
        ] {
            let text = serde_json::to_string(&Envelope { from: "a".into(), notice: notice.clone() }).unwrap();
            let back: Envelope = serde_json::from_str(&text).unwrap();
            assert_eq!(back.notice, notice, "{text}");
            assert_eq!(back.from, "a");
        }
        assert_eq!(
            serde_json::to_string(&Envelope { from: "a".into(), notice: Notice::Slot { id: 7 } }).unwrap(),
            r#"{"from":"a","k":"slot","id":7}"#
        );
    }

    #[test]
    fn the_default_url_names_a_reachable_host() {
        assert_eq!(default_url("127.0.0.1", 8080, "n"), "http://127.0.0.1:8080");
        assert_eq!(default_url("0.0.0.0", 8080, "pod-1"), "http://pod-1:8080");
        assert_eq!(default_url("::1", 80, "n"), "http://[::1]:80");
    }
}
