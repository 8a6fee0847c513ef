//! Users, their sign-in sessions and API tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::db::{Conn, DbError};
use super::schema::{api_tokens, auth_sessions, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub token_sha256: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub declared: bool,
}

/// A session with the user it belongs to.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub user: UserRow,
}

pub async fn count_users(conn: &mut Conn) -> Result<i64, DbError> {
    Ok(users::table.count().get_result(conn).await?)
}

pub async fn list_users(conn: &mut Conn) -> Result<Vec<UserRow>, DbError> {
    Ok(users::table.select(UserRow::as_select()).order(users::username).load(conn).await?)
}

pub async fn get_user(conn: &mut Conn, name: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table.find(name).select(UserRow::as_select()).first(conn).await.optional()?)
}

pub async fn insert_user(conn: &mut Conn, name: &str, hash: &str, role: &str) -> Result<UserRow, DbError> {
    Ok(diesel::insert_into(users::table)
        .values((users::username.eq(name), users::password_hash.eq(hash), users::role.eq(role)))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await?)
}

/// The first admin, only if there is no user at all (two replicas starting together make one).
pub async fn insert_first_user(conn: &mut Conn, name: &str, hash: &str) -> Result<bool, DbError> {
    let n = diesel::sql_query(
        "INSERT INTO users (username, password_hash, role) SELECT $1, $2, 'admin' \
         WHERE NOT EXISTS (SELECT 1 FROM users) ON CONFLICT DO NOTHING",
    )
    .bind::<diesel::sql_types::Text, _>(name)
    .bind::<diesel::sql_types::Text, _>(hash)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// A new password: the user's sessions end with it.
pub async fn set_password(conn: &mut Conn, name: &str, hash: &str) -> Result<Option<UserRow>, DbError> {
    conn.transaction::<_, DbError, _>(async move |conn| {
        let row = diesel::update(users::table.find(name))
            .set((users::password_hash.eq(hash), users::password_changed_at.eq(diesel::dsl::now)))
            .returning(UserRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        diesel::delete(auth_sessions::table.filter(auth_sessions::username.eq(name))).execute(conn).await?;
        Ok(row)
    })
    .await
}

/// What would leave the lot without an admin is refused inside the same transaction, so two
/// admins removing each other at once cannot both succeed.
#[derive(Debug, thiserror::Error)]
pub enum UserChangeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0} is the last admin")]
    LastAdmin(String),
}

impl From<diesel::result::Error> for UserChangeError {
    fn from(e: diesel::result::Error) -> Self {
        UserChangeError::Db(e.into())
    }
}

/// Refuses a change that takes `name` out of the admins when it is the only one. Locks the
/// admins' rows, so concurrent changes to admins take turns.
async fn refuse_last_admin(conn: &mut Conn, name: &str) -> Result<(), UserChangeError> {
    let admins: Vec<String> =
        users::table.filter(users::role.eq("admin")).select(users::username).for_update().load(conn).await?;
    if admins == [name] {
        return Err(UserChangeError::LastAdmin(name.to_string()));
    }
    Ok(())
}

pub async fn set_role(conn: &mut Conn, name: &str, role: &str) -> Result<Option<UserRow>, UserChangeError> {
    let (name, role) = (name.to_string(), role.to_string());
    conn.transaction::<_, UserChangeError, _>(async move |conn| {
        if role != "admin" {
            refuse_last_admin(conn, &name).await?;
        }
        Ok(diesel::update(users::table.find(&name))
            .set(users::role.eq(&role))
            .returning(UserRow::as_returning())
            .get_result(conn)
            .await
            .optional()?)
    })
    .await
}

/// Removes the user and (by cascade) their sessions; false when there was none.
pub async fn delete_user(conn: &mut Conn, name: &str) -> Result<bool, UserChangeError> {
    let name = name.to_string();
    conn.transaction::<_, UserChangeError, _>(async move |conn| {
        refuse_last_admin(conn, &name).await?;
        Ok(diesel::delete(users::table.find(&name)).execute(conn).await? == 1)
    })
    .await
}

pub async fn insert_session(conn: &mut Conn, digest: &str, name: &str) -> Result<(), DbError> {
    diesel::insert_into(auth_sessions::table)
        .values((auth_sessions::token_sha256.eq(digest), auth_sessions::username.eq(name)))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_session(conn: &mut Conn, digest: &str) -> Result<Option<SessionRecord>, DbError> {
    let row: Option<(DateTime<Utc>, DateTime<Utc>, UserRow)> = auth_sessions::table
        .inner_join(users::table)
        .filter(auth_sessions::token_sha256.eq(digest))
        .select((auth_sessions::created_at, auth_sessions::last_seen_at, UserRow::as_select()))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(created_at, last_seen_at, user)| SessionRecord { created_at, last_seen_at, user }))
}

pub async fn touch_session(conn: &mut Conn, digest: &str) -> Result<(), DbError> {
    diesel::update(auth_sessions::table.find(digest))
        .set(auth_sessions::last_seen_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_session(conn: &mut Conn, digest: &str) -> Result<(), DbError> {
    diesel::delete(auth_sessions::table.find(digest)).execute(conn).await?;
    Ok(())
}

/// Sessions past either limit are deleted (they are refused anyway; this keeps the table small).
pub async fn delete_expired_sessions(
    conn: &mut Conn,
    idle: chrono::Duration,
    lifetime: chrono::Duration,
) -> Result<usize, DbError> {
    let now = Utc::now();
    // A limit longer than the calendar reaches back ends no session.
    let before = |d: chrono::Duration| now.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let (idle, life) = (before(idle), before(lifetime));
    Ok(diesel::delete(
        auth_sessions::table.filter(auth_sessions::last_seen_at.lt(idle).or(auth_sessions::created_at.lt(life))),
    )
    .execute(conn)
    .await?)
}

pub async fn list_tokens(conn: &mut Conn) -> Result<Vec<TokenRow>, DbError> {
    Ok(api_tokens::table.select(TokenRow::as_select()).order(api_tokens::id).load(conn).await?)
}

pub async fn token_by_digest(conn: &mut Conn, digest: &str) -> Result<Option<TokenRow>, DbError> {
    Ok(api_tokens::table
        .filter(api_tokens::token_sha256.eq(digest))
        .select(TokenRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn insert_token(
    conn: &mut Conn,
    name: &str,
    role: &str,
    digest: &str,
    created_by: &str,
) -> Result<TokenRow, DbError> {
    Ok(diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::name.eq(name),
            api_tokens::role.eq(role),
            api_tokens::token_sha256.eq(digest),
            api_tokens::created_by.eq(created_by),
        ))
        .returning(TokenRow::as_returning())
        .get_result(conn)
        .await?)
}

/// A token from the configuration: created, or given the file's secret and the role.
pub async fn upsert_declared_token(conn: &mut Conn, name: &str, role: &str, digest: &str) -> Result<(), DbError> {
    let updated =
        diesel::update(api_tokens::table.filter(api_tokens::declared.eq(true).and(api_tokens::name.eq(name))))
            .set((api_tokens::role.eq(role), api_tokens::token_sha256.eq(digest)))
            .execute(conn)
            .await?;
    if updated == 0 {
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::name.eq(name),
                api_tokens::role.eq(role),
                api_tokens::token_sha256.eq(digest),
                api_tokens::created_by.eq("config"),
                api_tokens::declared.eq(true),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Declared tokens no longer in the configuration stop working.
pub async fn delete_undeclared(conn: &mut Conn, keep: &[String]) -> Result<usize, DbError> {
    Ok(diesel::delete(api_tokens::table.filter(api_tokens::declared.eq(true).and(api_tokens::name.ne_all(keep))))
        .execute(conn)
        .await?)
}

/// Deletes a token made through the API; a declared one stays (the configuration owns it).
pub async fn delete_token(conn: &mut Conn, id: i64) -> Result<Option<TokenRow>, DbError> {
    Ok(diesel::delete(api_tokens::table.find(id).filter(api_tokens::declared.eq(false)))
        .returning(TokenRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

pub async fn token_exists(conn: &mut Conn, id: i64) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(api_tokens::table.find(id))).get_result(conn).await?)
}

pub async fn touch_token(conn: &mut Conn, id: i64) -> Result<(), DbError> {
    diesel::update(api_tokens::table.find(id)).set(api_tokens::last_used_at.eq(diesel::dsl::now)).execute(conn).await?;
    Ok(())
}
