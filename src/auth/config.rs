//! The `[auth]` section.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Role;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Off only behind a proxy that authenticates every request itself: then anyone who
    /// reaches the port is an admin.
    pub enabled: bool,
    /// The first admin's password, used only when the database has no user at all. Without it
    /// (and without `admin_password_file`) a random one is printed once at that start.
    pub admin_password: Option<Secret>,
    /// A file holding that password (a mounted Kubernetes Secret).
    pub admin_password_file: Option<PathBuf>,
    /// A signed-in session ends after this long without a request.
    pub session_idle_timeout_s: u64,
    /// ... and this long after the sign-in, whatever happens.
    pub session_lifetime_s: u64,
    /// API tokens kept in step with this list at every start (Prometheus's, a sign's).
    pub tokens: Vec<DeclaredToken>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            admin_password: None,
            admin_password_file: None,
            session_idle_timeout_s: 12 * 3600,
            session_lifetime_s: 7 * 24 * 3600,
            tokens: Vec::new(),
        }
    }
}

impl AuthConfig {
    /// `session_idle_timeout_s` as a duration (the guard and the sweep judge by the same one).
    pub fn session_idle(&self) -> chrono::Duration {
        seconds(self.session_idle_timeout_s)
    }

    /// `session_lifetime_s` as a duration.
    pub fn session_lifetime(&self) -> chrono::Duration {
        seconds(self.session_lifetime_s)
    }

    pub fn check(&self) -> Result<(), String> {
        if self.session_idle_timeout_s == 0 || self.session_lifetime_s == 0 {
            return Err("auth.session_idle_timeout_s and auth.session_lifetime_s must be at least 1".into());
        }
        for t in &self.tokens {
            if t.name.is_empty() || t.name.len() > 64 {
                return Err(format!("auth.tokens: name {:?} must have 1 to 64 characters", t.name));
            }
        }
        Ok(())
    }
}

/// Seconds as a duration; beyond what a duration holds, the longest one.
fn seconds(s: u64) -> chrono::Duration {
    chrono::Duration::seconds(s.min(i64::MAX as u64 / 1000) as i64)
}

/// An API token whose secret is in a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredToken {
    pub name: String,
    pub role: Role,
    /// Holds the token (at least 32 characters), e.g. a mounted Kubernetes Secret.
    pub token_file: PathBuf,
}

/// A value that is never printed: `Debug` shows asterisks.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}
