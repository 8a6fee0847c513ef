//! `Auth`: turns a request's credential into a caller. API tokens are kept in memory for a few
//! seconds (machines poll, and the guard must cost little); sessions are read from Postgres on
//! every request, so a sign-out or a removed user counts at once. Anything that revokes access
//! in this process clears the memory and wakes open WebSockets to check theirs again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderMap;
use chrono::Utc;
use parking_lot::RwLock;
use tokio::sync::watch;

use super::config::AuthConfig;
use super::limiter::LoginLimiter;
use super::{password, secret, Credential, Principal, PrincipalKind, Role};
use crate::storage::accounts;
use crate::storage::db::{Db, DbError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "smartpark_session";
/// How long a token's lookup is trusted. Revocations in this process take effect at once; one
/// made by `smartpark` commands on the database takes at most this long.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);
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
    revocations: watch::Sender<u64>,
    /// Verified against when the user does not exist, so a wrong name costs what a wrong
    /// password costs.
    dummy_hash: String,
}

impl Auth {
    pub fn new(db: Db, config: AuthConfig, allowed_origins: Vec<String>) -> Auth {
        Auth {
            db,
            config,
            allowed_origins,
            limiter: LoginLimiter::default(),
            tokens: RwLock::default(),
            revocations: watch::channel(0).0,
            dummy_hash: password::hash(&secret::random_password()),
        }
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

    /// The credential a request carries: `Authorization: Bearer <token>`, else the session cookie.
    pub fn credential(headers: &HeaderMap) -> Option<Credential> {
        if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
            let (scheme, token) = value.trim().split_once(' ')?;
            let token = token.trim();
            return (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
                .then(|| Credential::Token(secret::digest(token)));
        }
        for cookie_header in headers.get_all("cookie") {
            let Ok(text) = cookie_header.to_str() else { continue };
            for pair in text.split(';') {
                if let Some((name, value)) = pair.trim().split_once('=') {
                    if name == SESSION_COOKIE && !value.is_empty() {
                        return Some(Credential::Session(secret::digest(value)));
                    }
                }
            }
        }
        None
    }

    /// The caller a credential names, or none when it is unknown, expired or revoked.
    pub async fn authenticate(&self, credential: &Credential) -> Result<Option<Principal>, DbError> {
        match credential {
            Credential::Token(digest) => self.token(digest).await,
            Credential::Session(digest) => self.session(digest).await,
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
        let seconds = |s: u64| chrono::Duration::seconds(s.min(i64::MAX as u64 / 1000) as i64);
        let expired = now - s.last_seen_at >= seconds(self.config.session_idle_timeout_s)
            || now - s.created_at >= seconds(self.config.session_lifetime_s)
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

    /// Something was revoked (a token, a user, a password, a session): forget what is cached
    /// and tell open WebSockets to check their caller again.
    pub fn revoked(&self) {
        self.tokens.write().clear();
        self.revocations.send_modify(|n| *n += 1);
    }

    pub fn revocations(&self) -> watch::Receiver<u64> {
        self.revocations.subscribe()
    }
}
