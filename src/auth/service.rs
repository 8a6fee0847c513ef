//! `Auth`: turns a request's credential into a caller. API tokens are kept in memory for a few
//! seconds (machines poll, and the guard must cost little); sessions are read from Postgres on
//! every request, so a sign-out or a removed user counts at once. Anything that revokes access
//! in this process clears the memory and wakes open WebSockets to check theirs again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::dev::ServiceRequest;
use chrono::Utc;
use parking_lot::RwLock;
use tokio::sync::broadcast;

use super::config::AuthConfig;
use super::limiter::LoginLimiter;
use super::{password, secret, Credential, Principal, PrincipalKind, Role};
use crate::storage::accounts;
use crate::storage::db::{Db, DbError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "smartpark_session";
/// How long a token's lookup is trusted. Revocations on any replica take effect at once (they are
/// announced); one made by `smartpark` commands on the database takes at most this long.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);
/// While the database is out, a caller verified this recently is still let in: the lot stays
/// readable as last known, and nothing can be revoked meanwhile (revoking needs the database).
const OUTAGE_GRACE: Duration = Duration::from_secs(300);
/// A session's and a token's last use is written at most this often.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

pub struct Auth {
    db: Db,
    pub config: AuthConfig,
    /// Origins besides the server's own whose pages may use it (`server.allowed_origins`).
    pub allowed_origins: Vec<String>,
    pub limiter: LoginLimiter,
    /// Read on every request by every worker, written every `TOKEN_CACHE_TTL` per token.
    tokens: RwLock<HashMap<String, (Principal, Instant)>>,
    /// Sessions last verified, read only while the database is out.
    sessions: RwLock<HashMap<String, (Principal, Instant)>>,
    revocations: broadcast::Sender<Revoked>,
    /// Verified against when the user does not exist, so a wrong name costs what a wrong
    /// password costs.
    dummy_hash: String,
    /// Tells the other replicas what was revoked here.
    cluster: Option<std::sync::Arc<crate::cluster::Cluster>>,
}

impl Auth {
    pub fn new(db: Db, config: AuthConfig, allowed_origins: Vec<String>) -> Auth {
        Auth {
            db,
            config,
            allowed_origins,
            limiter: LoginLimiter::default(),
            tokens: RwLock::default(),
            sessions: RwLock::default(),
            revocations: broadcast::channel(256).0,
            dummy_hash: password::hash(&secret::random_password()),
            cluster: None,
        }
    }

    /// Revocations made here reach the other replicas' caches and WebSockets too.
    pub fn with_cluster(mut self, cluster: std::sync::Arc<crate::cluster::Cluster>) -> Auth {
        self.cluster = Some(cluster);
        self
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn dummy_hash(&self) -> &str {
        &self.dummy_hash
    }

    /// The credential a request carries: `Authorization: Bearer <token>`, else the session
    /// cookie. A request with an `Authorization` header is judged by it alone.
    pub fn credential(req: &ServiceRequest) -> Option<Credential> {
        if req.headers().contains_key("authorization") {
            let token = super::bearer(req.headers()).filter(|t| !t.is_empty())?;
            return Some(Credential::Token(secret::digest(&token)));
        }
        let cookie = req.cookie(SESSION_COOKIE)?;
        (!cookie.value().is_empty()).then(|| Credential::Session(secret::digest(cookie.value())))
    }

    /// The caller a credential names, or none when it is unknown, expired or revoked.
    pub async fn authenticate(&self, credential: &Credential) -> Result<Option<Principal>, DbError> {
        let (result, known) = match credential {
            Credential::Token(digest) => (self.token(digest).await, &self.tokens),
            Credential::Session(digest) => {
                let result = self.session(digest).await;
                if let Ok(Some(p)) = &result {
                    let mut sessions = self.sessions.write();
                    // Only what the grace could still use is kept, pruned now and then.
                    if sessions.len() >= 1024 {
                        sessions.retain(|_, (_, at)| at.elapsed() < OUTAGE_GRACE);
                    }
                    sessions.insert(digest.clone(), (p.clone(), Instant::now()));
                }
                (result, &self.sessions)
            }
        };
        match result {
            Err(e) if e.is_outage() => {
                let digest = match credential {
                    Credential::Token(d) | Credential::Session(d) => d,
                };
                match known.read().get(digest) {
                    Some((p, at)) if at.elapsed() < OUTAGE_GRACE => Ok(Some(p.clone())),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    async fn token(&self, digest: &str) -> Result<Option<Principal>, DbError> {
        if let Some((p, at)) = self.tokens.read().get(digest) {
            if at.elapsed() < TOKEN_CACHE_TTL {
                return Ok(Some(p.clone()));
            }
        }
        let row = {
            let mut conn = self.db.conn().await?;
            accounts::token_by_digest(&mut conn, digest).await?
        };
        let Some(row) = row else {
            self.tokens.write().remove(digest);
            return Ok(None);
        };
        let Ok(role) = row.role.parse::<Role>() else { return Ok(None) };
        // Its last use is written when it is read from the database, off the request's path:
        // to the minute, at the cost of one write a minute per token in use.
        if row.last_used_at.is_none_or(|t| Utc::now() - t >= TOUCH_EVERY) {
            let (db, id) = (self.db.clone(), row.id);
            actix_web::rt::spawn(async move {
                if let Ok(mut conn) = db.conn().await {
                    let _ = accounts::touch_token(&mut conn, id).await;
                }
            });
        }
        let p = Principal { name: row.name, role, kind: PrincipalKind::Token { id: row.id, digest: digest.into() } };
        self.tokens.write().insert(digest.to_string(), (p.clone(), Instant::now()));
        Ok(Some(p))
    }

    async fn session(&self, digest: &str) -> Result<Option<Principal>, DbError> {
        let mut conn = self.db.conn().await?;
        let Some(s) = accounts::get_session(&mut conn, digest).await? else { return Ok(None) };
        let now = Utc::now();
        let expired = now - s.last_seen_at >= self.config.session_idle()
            || now - s.created_at >= self.config.session_lifetime()
            || s.created_at < s.user.password_changed_at;
        if expired {
            accounts::delete_session(&mut conn, digest).await?;
            return Ok(None);
        }
        if now - s.last_seen_at >= TOUCH_EVERY {
            accounts::touch_session(&mut conn, digest).await?;
        }
        let Ok(role) = s.user.role.parse::<Role>() else { return Ok(None) };
        Ok(Some(Principal { name: s.user.username, role, kind: PrincipalKind::User { session: digest.into() } }))
    }

    /// Something was revoked: forget what is cached and tell the open WebSockets of that
    /// caller to check it again (the others are not disturbed).
    pub fn revoke(&self, what: Revoked) {
        if let Some(cluster) = &self.cluster {
            let (mut user, mut session, mut token) = (None, None, None);
            match &what {
                Revoked::User(u) => user = Some(u.clone()),
                Revoked::Session(s) => session = Some(s.clone()),
                Revoked::Token(t) => token = Some(*t),
            }
            cluster.notify(crate::cluster::Notice::Revoked { user, session, token });
        }
        self.revoke_local(what);
    }

    /// A revocation in this process only (one another replica made, or this one's own).
    pub fn revoke_local(&self, what: Revoked) {
        self.forget_cached();
        // No receiver (no dashboard open) is not an error.
        let _ = self.revocations.send(what);
    }

    /// Forgets every cached credential: the next request of each caller is checked again.
    pub fn forget_cached(&self) {
        self.tokens.write().clear();
        self.sessions.write().clear();
    }

    pub fn revocations(&self) -> broadcast::Receiver<Revoked> {
        self.revocations.subscribe()
    }
}

/// What lost its access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// A user removed, or given another role or password: all their sessions.
    User(String),
    /// One signed-out session (its digest).
    Session(String),
    /// An API token (its id).
    Token(i64),
}

impl Revoked {
    /// Whether this touches the caller.
    pub fn concerns(&self, who: &Principal) -> bool {
        match (self, &who.kind) {
            (Revoked::User(name), PrincipalKind::User { .. }) => *name == who.name,
            (Revoked::Session(digest), PrincipalKind::User { session }) => digest == session,
            (Revoked::Token(id), PrincipalKind::Token { id: mine, .. }) => id == mine,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_concerns_only_its_callers() {
        let user = |name: &str, session: &str| Principal {
            name: name.into(),
            role: Role::Viewer,
            kind: PrincipalKind::User { session: session.into() },
        };
        let token = Principal {
            name: "sign".into(),
            role: Role::Viewer,
            kind: PrincipalKind::Token { id: 7, digest: "d".into() },
        };
        assert!(Revoked::User("vera".into()).concerns(&user("vera", "s1")));
        assert!(!Revoked::User("vera".into()).concerns(&user("otto", "s2")));
        assert!(!Revoked::User("sign".into()).concerns(&token), "a token named like a user is not that user");
        assert!(Revoked::Session("s1".into()).concerns(&user("vera", "s1")));
        assert!(!Revoked::Session("s1".into()).concerns(&user("vera", "s3")), "her other browser stays");
        assert!(Revoked::Token(7).concerns(&token));
        assert!(!Revoked::Token(8).concerns(&token));
    }
}
