//! `/api/users`: the people who may sign in, managed by an admin.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::note;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::auth::service::Revoked;
use crate::auth::{password, Auth, Principal, Role};
use crate::storage::accounts::{self, UserChangeError, UserRow};

#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = ApiError;
    fn try_from(r: UserRow) -> Result<User, ApiError> {
        Ok(User { role: r.role.parse().map_err(ApiError::Internal)?, username: r.username, created_at: r.created_at })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(example = "alice", pattern = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")]
    username: String,
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
    role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserEdit {
    /// A new password: the user's sessions end.
    #[schema(min_length = 8, max_length = 1024)]
    password: Option<String>,
    role: Option<Role>,
}

/// The names `users.username` accepts.
pub fn check_username(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(
            "invalid_username",
            "a user name has 1 to 64 letters, digits or _.@- and starts with a letter or digit",
        ))
    }
}

async fn hash(password: String) -> Result<String, ApiError> {
    password::check(&password).map_err(|e| ApiError::bad("invalid_password", e))?;
    web::block(move || password::hash(&password)).await.map_err(|e| ApiError::Internal(format!("hashing: {e}")))
}

fn no_user(name: &str) -> ApiError {
    ApiError::NotFound(format!("no user {name:?}"))
}

fn change_error(e: UserChangeError) -> ApiError {
    match e {
        UserChangeError::Db(d) => d.into(),
        UserChangeError::LastAdmin(name) => {
            ApiError::Conflict(format!("{name} is the last admin: make another admin first"))
        }
    }
}

#[utoipa::path(get, path = "/api/users", tag = "auth", responses((status = 200, body = Vec<User>)))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let users =
        accounts::list_users(&mut conn).await?.into_iter().map(User::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(users))
}

#[utoipa::path(
    post, path = "/api/users",
    tag = "auth",
    request_body = NewUser,
    responses((status = 201, body = User), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody))
)]
pub async fn create(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let NewUser { username, password, role } = body.into_inner();
    check_username(&username)?;
    let hash = hash(password).await?;
    let row = {
        let mut conn = state.db.conn().await?;
        accounts::insert_user(&mut conn, &username, &hash, role.as_str()).await.map_err(|e| match e.violation() {
            Some(diesel::result::DatabaseErrorKind::UniqueViolation) => {
                ApiError::Conflict(format!("a user {username:?} exists already"))
            }
            _ => e.into(),
        })?
    };
    note(&state, &who, "user.create", &username, json!({ "role": role })).await;
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/users/{username}"))).json(User::try_from(row)?))
}

#[utoipa::path(
    patch, path = "/api/users/{username}",
    tag = "auth",
    params(("username" = String, Path)),
    request_body = UserEdit,
    responses(
        (status = 200, body = User), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "it would leave no admin")
    )
)]
pub async fn edit(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    who: Principal,
    name: web::Path<String>,
    body: web::Json<UserEdit>,
) -> Result<HttpResponse, ApiError> {
    let UserEdit { password, role } = body.into_inner();
    let name = name.into_inner();
    if password.is_none() && role.is_none() {
        return Err(ApiError::bad("invalid_body", "say what changes: password, role or both"));
    }
    let hash = match password {
        Some(p) => Some(hash(p).await?),
        None => None,
    };
    let mut conn = state.db.conn().await?;
    let mut row = accounts::get_user(&mut conn, &name).await?.ok_or_else(|| no_user(&name))?;
    if let Some(role) = role {
        row = accounts::set_role(&mut conn, &name, role.as_str())
            .await
            .map_err(change_error)?
            .ok_or_else(|| no_user(&name))?;
    }
    if let Some(hash) = &hash {
        row = accounts::set_password(&mut conn, &name, hash).await?.ok_or_else(|| no_user(&name))?;
    }
    drop(conn);
    // A new role or password counts from the next request, on every open connection too.
    auth.revoke(Revoked::User(name.clone()));
    let mut detail = serde_json::Map::new();
    if let Some(role) = role {
        detail.insert("role".into(), json!(role));
    }
    if hash.is_some() {
        detail.insert("password_changed".into(), json!(true));
    }
    let detail = serde_json::Value::Object(detail);
    note(&state, &who, "user.update", &name, detail).await;
    Ok(HttpResponse::Ok().json(User::try_from(row)?))
}

#[utoipa::path(
    delete, path = "/api/users/{username}",
    tag = "auth",
    params(("username" = String, Path)),
    responses(
        (status = 204, description = "removed; their sessions end at once"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the last admin")
    )
)]
pub async fn remove(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    who: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let removed = {
        let mut conn = state.db.conn().await?;
        accounts::delete_user(&mut conn, &name).await.map_err(change_error)?
    };
    if !removed {
        return Err(no_user(&name));
    }
    auth.revoke(Revoked::User(name.clone()));
    note(&state, &who, "user.delete", &name, json!({})).await;
    Ok(HttpResponse::NoContent().finish())
}
