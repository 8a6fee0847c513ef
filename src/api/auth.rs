//! `/api/auth`: signing in and out, and who the caller is.

use std::time::Instant;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use crate::auth::limiter::Verdict;
use crate::auth::service::{Revoked, SESSION_COOKIE};
use crate::auth::{origin, password, secret, Auth, Principal, PrincipalKind, Role};
use crate::storage::accounts;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(example = "admin", max_length = 64)]
    username: String,
    #[schema(max_length = 1024)]
    password: String,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub username: String,
    pub role: Role,
    /// How the caller signed in: `session` (a person) or `token` (a machine).
    pub via: String,
}

fn session_cookie(req: &HttpRequest, value: String, max_age_s: i64) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(origin::is_https(req))
        .max_age(CookieDuration::seconds(max_age_s))
        .finish()
}

#[utoipa::path(
    post, path = "/api/auth/login",
    tag = "auth",
    request_body = LoginBody,
    security(()),
    responses(
        (status = 200, body = Me, description = "signed in: the `smartpark_session` cookie is set"),
        (status = 401, body = ErrorBody, description = "wrong user name or password (the same answer for both)"),
        (status = 429, body = ErrorBody, description = "too many failures from this address or for this user; see Retry-After")
    )
)]
pub async fn login(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let LoginBody { username, password } = body.into_inner();
    let started = Instant::now();
    let address = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let user_key = format!("user:{}", username.to_lowercase());
    let keys = [format!("ip:{address}"), user_key.clone()];
    let delay = match auth.limiter.verdict(&keys, started) {
        Verdict::Refuse(wait) => {
            let retry_after_s = wait.as_secs_f64().ceil() as u64;
            tracing::warn!(%address, "sign-in refused: too many failures");
            return Err(ApiError::TooManyRequests {
                detail: format!("too many failed sign-ins; try again in {retry_after_s} s"),
                retry_after_s,
            });
        }
        Verdict::Try(delay) => delay,
    };
    let user = if username.len() <= 64 {
        let mut conn = auth.db().conn().await?;
        accounts::get_user(&mut conn, &username).await?
    } else {
        None
    };
    // An unknown name is checked against a hash all the same, so both failures take as long.
    let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| auth.dummy_hash().to_string());
    let matches = web::block(move || password::verify(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(format!("password check: {e}")))?;
    actix_web::rt::time::sleep_until((started + delay).into()).await;
    let Some(user) = user.filter(|_| matches) else {
        auth.limiter.failed(&keys, Instant::now());
        tracing::info!(%address, "sign-in failed");
        return Err(ApiError::InvalidCredentials);
    };
    auth.limiter.succeeded(&user_key);
    let role: Role = user.role.parse().map_err(ApiError::Internal)?;
    let value = secret::new_secret();
    {
        let mut conn = auth.db().conn().await?;
        accounts::insert_session(&mut conn, &secret::digest(&value), &user.username).await?;
    }
    tracing::info!(user = user.username, %address, "signed in");
    let cookie = session_cookie(&req, value, auth.config.session_lifetime_s.min(i64::MAX as u64) as i64);
    Ok(HttpResponse::Ok().cookie(cookie).json(Me { username: user.username, role, via: "session".into() }))
}

#[utoipa::path(
    post, path = "/api/auth/logout",
    tag = "auth",
    responses((status = 204, description = "the session is ended and its cookie cleared"))
)]
pub async fn logout(req: HttpRequest, auth: web::Data<Auth>, who: Principal) -> Result<HttpResponse, ApiError> {
    if let PrincipalKind::User { session } = &who.kind {
        let mut conn = auth.db().conn().await?;
        accounts::delete_session(&mut conn, session).await?;
        auth.revoke(Revoked::Session(session.clone()));
    }
    Ok(HttpResponse::NoContent().cookie(session_cookie(&req, String::new(), 0)).finish())
}

#[utoipa::path(
    get, path = "/api/auth/me",
    tag = "auth",
    responses((status = 200, body = Me))
)]
pub async fn me(who: Principal) -> HttpResponse {
    HttpResponse::Ok().json(Me { via: who.via().into(), username: who.name, role: who.role })
}
