//! Hears what the other replicas changed (`LISTEN` on one connection of its own) and reads the
//! rows back: spaces, cameras, camera status, revoked access, replicas joining or leaving. On
//! every (re)connection it re-reads everything, since notices sent while it was not listening
//! are lost; so is a notice that could not be read.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;

use super::keeper::Keeper;
use super::{Cluster, Envelope, Notice};
use crate::auth::service::{Auth, Revoked};
use crate::metrics::Metrics;
use crate::parking::lot::Lot;
use crate::storage::notify::CHANNEL;

pub struct Listener {
    pub url: String,
    pub cluster: Arc<Cluster>,
    pub keeper: Arc<Keeper>,
    pub lot: Arc<Lot>,
    pub auth: web::Data<Auth>,
    pub metrics: Metrics,
}

/// How long the listening connection may be silent before it is asked whether it is alive.
const QUIET: Duration = Duration::from_secs(5);

impl Listener {
    pub async fn run(self) {
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.listen().await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the other replicas' notices; listening again, then re-reading everything");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn listen(&self) -> Result<(), String> {
        let mut conn = AsyncPgConnection::establish(&self.url).await.map_err(|e| e.to_string())?;
        diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn).await.map_err(|e| e.to_string())?;
        self.resync().await;
        loop {
            let next = {
                let mut notices = std::pin::pin!(conn.notifications_stream());
                tokio::time::timeout(QUIET, notices.next()).await
            };
            match next {
                Ok(Some(Ok(n))) => self.apply(&n.payload).await,
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(None) => return Err("the listening connection closed".into()),
                Err(_) => {
                    diesel::sql_query("SELECT 1").execute(&mut conn).await.map_err(|e| e.to_string())?;
                }
            }
        }
    }

    /// After notices may have been missed: every space, camera and status read again, and
    /// cached credentials forgotten.
    async fn resync(&self) {
        match self.lot.resync().await {
            Ok(n) => tracing::debug!(spaces = n, "spaces re-read"),
            Err(e) => tracing::warn!(error = %e, "spaces could not be re-read"),
        }
        if let Err(e) = self.keeper.reload_statuses().await {
            tracing::warn!(error = %e, "camera statuses could not be re-read");
        }
        self.auth.forget_cached();
        self.cluster.wake.notify_one();
    }

    async fn apply(&self, payload: &str) {
        let envelope: Envelope = match serde_json::from_str(payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(payload, error = %e, "an unreadable notice; ignored");
                return;
            }
        };
        if envelope.from == self.cluster.node {
            return;
        }
        self.metrics.notices.inc();
        let done = match envelope.notice {
            Notice::Slot { id } => self.lot.refresh(id).await.map_err(|e| e.to_string()),
            Notice::Camera { id } => match self.keeper.reload_camera(&id).await {
                Ok(true) => {
                    self.cluster.wake.notify_one();
                    Ok(())
                }
                Ok(false) => {
                    self.lot.forget_camera(&id).await;
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            },
            Notice::Status { id } => self.keeper.reload_status(&id).await.map_err(|e| e.to_string()),
            Notice::Revoked { user, session, token } => {
                for what in [user.map(Revoked::User), session.map(Revoked::Session), token.map(Revoked::Token)]
                    .into_iter()
                    .flatten()
                {
                    self.auth.revoke_local(what);
                }
                Ok(())
            }
            Notice::Replicas => {
                self.cluster.wake.notify_one();
                Ok(())
            }
        };
        if let Err(e) = done {
            tracing::warn!(payload, error = %e, "a notice could not be applied; re-reading everything");
            self.resync().await;
        }
    }
}
