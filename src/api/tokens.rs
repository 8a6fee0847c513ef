//! `/api/tokens`: API tokens for machines (monitoring, scripts, signs), managed by an admin.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit::note;
use super::error::{ApiError, ErrorBody};
use super::text::check_name;
use super::AppState;
use crate::auth::service::Revoked;
use crate::auth::{secret, Auth, Principal, Role};
use crate::storage::accounts::{self, TokenRow};

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Who made it (`config` for a token declared in `auth.tokens`).
    pub created_by: String,
    /// Its last use, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Declared in the configuration (`auth.tokens`): changed there, not here.
    pub declared: bool,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = ApiError;
    fn try_from(r: TokenRow) -> Result<ApiToken, ApiError> {
        Ok(ApiToken {
            id: r.id,
            role: r.role.parse().map_err(ApiError::Internal)?,
            name: r.name,
            created_at: r.created_at,
            created_by: r.created_by,
            last_used_at: r.last_used_at,
            declared: r.declared,
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schema(
        example = "prometheus",
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    role: Role,
}

/// A new token: the secret is in this answer and nowhere else, ever.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewTokenAnswer {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Send it as `Authorization: Bearer <token>`.
    pub token: String,
}

#[utoipa::path(get, path = "/api/tokens", tag = "auth", responses((status = 200, body = Vec<ApiToken>)))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let tokens =
        accounts::list_tokens(&mut conn).await?.into_iter().map(ApiToken::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(tokens))
}

#[utoipa::path(
    post, path = "/api/tokens",
    tag = "auth",
    request_body = NewToken,
    responses((status = 201, body = NewTokenAnswer, description = "the token, shown this once"), (status = 400, body = ErrorBody))
)]
pub async fn create(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let NewToken { name, role } = body.into_inner();
    if name.chars().count() > 64 {
        return Err(ApiError::bad("invalid_name", "a token's name may have at most 64 characters"));
    }
    check_name(&name)?;
    let token = secret::new_secret();
    let row = {
        let mut conn = state.db.conn().await?;
        accounts::insert_token(&mut conn, &name, role.as_str(), &secret::digest(&token), &who.actor()).await?
    };
    note(&state, &who, "token.create", row.id, json!({ "name": name, "role": role })).await;
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/tokens/{}", row.id))).json(NewTokenAnswer {
        id: row.id,
        name: row.name,
        role,
        token,
    }))
}

#[utoipa::path(
    delete, path = "/api/tokens/{id}",
    tag = "auth",
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "revoked: it stops working at once"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "declared in the configuration")
    )
)]
pub async fn remove(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = {
        let mut conn = state.db.conn().await?;
        match accounts::delete_token(&mut conn, id).await? {
            Some(row) => row,
            // Not deleted: a declared token, or none at all.
            None if accounts::token_exists(&mut conn, id).await? => {
                return Err(ApiError::Conflict(format!(
                    "token {id} is declared in the configuration (auth.tokens): remove it there, or replace its file"
                )))
            }
            None => return Err(ApiError::NotFound(format!("no token with id {id}"))),
        }
    };
    auth.revoke(Revoked::Token(id));
    note(&state, &who, "token.delete", id, json!({ "name": row.name })).await;
    Ok(HttpResponse::NoContent().finish())
}
