//! What start-up does for accounts: the first admin, the declared API tokens, and the sweep of
//! ended sessions.

use std::time::Duration;

use super::config::AuthConfig;
use super::{password, secret};
use crate::storage::accounts;
use crate::storage::db::{Db, DbError};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Config(String),
}

/// The first admin's name.
pub const FIRST_ADMIN: &str = "admin";

/// The admin made at this start, when the database had no user.
pub struct FirstAdmin {
    /// Shown once on standard output when it was generated; a configured one is not repeated.
    pub generated_password: Option<String>,
}

/// The configured first password: `auth.admin_password`, else the file's first line.
fn configured_password(config: &AuthConfig) -> Result<Option<String>, SetupError> {
    if let Some(p) = &config.admin_password {
        return Ok(Some(p.0.clone()));
    }
    match &config.admin_password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SetupError::Config(format!("auth.admin_password_file {}: {e}", path.display())))?;
            Ok(Some(text.lines().next().unwrap_or("").trim_end_matches('\r').to_string()))
        }
        None => Ok(None),
    }
}

pub async fn first_admin(db: &Db, config: &AuthConfig) -> Result<Option<FirstAdmin>, SetupError> {
    {
        let mut conn = db.conn().await?;
        if accounts::count_users(&mut conn).await? > 0 {
            return Ok(None);
        }
    }
    let (password, generated) = match configured_password(config)? {
        Some(p) => {
            password::check(&p).map_err(|e| SetupError::Config(format!("auth.admin_password: {e}")))?;
            (p, false)
        }
        None => (secret::random_password(), true),
    };
    let hash = {
        let p = password.clone();
        tokio::task::spawn_blocking(move || password::hash(&p))
            .await
            .map_err(|e| SetupError::Config(format!("hashing the first password: {e}")))?
    };
    let mut conn = db.conn().await?;
    if !accounts::insert_first_user(&mut conn, FIRST_ADMIN, &hash).await? {
        // Another process made the first user meanwhile.
        return Ok(None);
    }
    Ok(Some(FirstAdmin { generated_password: generated.then_some(password) }))
}

/// Creates or updates the tokens of `auth.tokens` and removes declared ones no longer listed.
pub async fn declare_tokens(db: &Db, config: &AuthConfig) -> Result<usize, SetupError> {
    let mut conn = db.conn().await?;
    for t in &config.tokens {
        let text = std::fs::read_to_string(&t.token_file)
            .map_err(|e| SetupError::Config(format!("auth.tokens {:?}: {}: {e}", t.name, t.token_file.display())))?;
        let token = text.trim();
        if token.len() < 32 {
            return Err(SetupError::Config(format!(
                "auth.tokens {:?}: {} holds {} characters; an API token needs at least 32",
                t.name,
                t.token_file.display(),
                token.len()
            )));
        }
        accounts::upsert_declared_token(&mut conn, &t.name, t.role.as_str(), &secret::digest(token)).await?;
    }
    let names: Vec<String> = config.tokens.iter().map(|t| t.name.clone()).collect();
    let removed = accounts::delete_undeclared(&mut conn, &names).await?;
    if removed > 0 {
        tracing::info!(removed, "declared API tokens no longer in auth.tokens were removed");
    }
    Ok(config.tokens.len())
}

/// Deletes ended sessions now and then (they are refused anyway; this keeps the table small).
/// On the replica that holds the jobs lease only.
pub fn sweep_sessions(db: Db, config: &AuthConfig, cluster: std::sync::Arc<crate::cluster::Cluster>) {
    let (idle, life) = (config.session_idle(), config.session_lifetime());
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if !cluster.runs_jobs() {
                continue;
            }
            let result = async {
                let mut conn = db.conn().await?;
                accounts::delete_expired_sessions(&mut conn, idle, life).await
            }
            .await;
            match result {
                Ok(0) => {}
                Ok(n) => tracing::debug!(sessions = n, "ended sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "ended sessions could not be deleted; trying later"),
            }
        }
    });
}
