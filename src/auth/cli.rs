//! `smartpark user add|passwd|remove|list`: accounts managed from the shell, straight on the
//! database (for the first steps, scripts, and an admin who is locked out).

use std::io::{BufRead, IsTerminal};

use super::{password, secret, Role};
use crate::storage::accounts::{self, UserChangeError};
use crate::storage::db::Db;

pub enum UserCommand {
    Add { username: String, role: Role, password_stdin: bool },
    Passwd { username: String, password_stdin: bool },
    Remove { username: String },
    List,
}

/// The password to set: the first line of standard input with `--password-stdin`, otherwise a
/// new random one, printed once.
fn new_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let p = line.trim_end_matches(['\n', '\r']).to_string();
        password::check(&p).map_err(anyhow::Error::msg)?;
        Ok((p, false))
    } else {
        if std::io::stdin().is_terminal() {
            eprintln!("(no --password-stdin: a random password is made)");
        }
        Ok((secret::random_password(), true))
    }
}

/// The audit record of what the shell did (its actor is `shell`: the database has no user here).
async fn note(
    conn: &mut crate::storage::db::Conn,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), crate::storage::db::DbError> {
    crate::storage::audit::record(conn, "shell", action, target, detail).await
}

pub async fn run(db: &Db, command: UserCommand) -> anyhow::Result<String> {
    let mut conn = db.conn().await?;
    match command {
        UserCommand::List => {
            let users = accounts::list_users(&mut conn).await?;
            Ok(users
                .iter()
                .map(|u| format!("{}\t{}\t{}", u.username, u.role, u.created_at.to_rfc3339()))
                .collect::<Vec<_>>()
                .join("\n"))
        }
        UserCommand::Add { username, role, password_stdin } => {
            crate::api::users::check_username(&username).map_err(|e| anyhow::anyhow!("{e}"))?;
            let (p, generated) = new_password(password_stdin)?;
            let hash = password::hash(&p);
            accounts::insert_user(&mut conn, &username, &hash, role.as_str()).await.map_err(|e| {
                match e.violation() {
                    Some(_) => anyhow::anyhow!("a user {username:?} exists already"),
                    None => e.into(),
                }
            })?;
            note(&mut conn, "user.create", &username, serde_json::json!({ "role": role })).await?;
            Ok(if generated {
                format!("user {username} ({role}) added; password {p} (shown this once)")
            } else {
                format!("user {username} ({role}) added")
            })
        }
        UserCommand::Passwd { username, password_stdin } => {
            let (p, generated) = new_password(password_stdin)?;
            let hash = password::hash(&p);
            if accounts::set_password(&mut conn, &username, &hash).await?.is_none() {
                anyhow::bail!("no user {username:?}");
            }
            note(&mut conn, "user.update", &username, serde_json::json!({ "password_changed": true })).await?;
            Ok(if generated {
                format!("user {username}: new password {p} (shown this once); their sessions have ended")
            } else {
                format!("user {username}: password changed; their sessions have ended")
            })
        }
        UserCommand::Remove { username } => match accounts::delete_user(&mut conn, &username).await {
            Ok(true) => {
                note(&mut conn, "user.delete", &username, serde_json::json!({})).await?;
                Ok(format!("user {username} removed"))
            }
            Ok(false) => anyhow::bail!("no user {username:?}"),
            Err(UserChangeError::LastAdmin(_)) => {
                anyhow::bail!("{username} is the last admin: add another admin first")
            }
            Err(UserChangeError::Db(e)) => Err(e.into()),
        },
    }
}
