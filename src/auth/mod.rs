//! Who may do what: accounts and roles, sign-in sessions, API tokens, and the one guard every
//! route passes. A route declares the access it needs where it is registered
//! (`api::routes`); the guard refuses whatever is not declared.

pub mod cli;
pub mod config;
pub mod guard;
pub mod limiter;
pub mod origin;
pub mod password;
pub mod secret;
pub mod service;
pub mod setup;

use std::fmt;
use std::future::{ready, Ready};
use std::str::FromStr;

use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde::{Deserialize, Serialize};

pub use service::Auth;

/// What a person or a machine may do. Each role may do everything the one before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything (lot, spaces, stays, statistics, cameras, streams, captures) and the
    /// live WebSocket.
    Viewer,
    /// A viewer who may also correct spaces.
    Operator,
    /// Everything else: cameras, spaces, imports, device tokens, users, API tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?} (viewer, operator or admin)")),
        }
    }
}

/// The token of `Authorization: Bearer <token>`: an API token, or a camera's device token on
/// the push routes.
pub fn bearer(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health probes, the dashboard's files, the sign-in itself.
    Public,
    /// A camera with its own device token, checked by the handler against the camera in the path.
    Device,
    /// A signed-in user or an API token with at least this role.
    Role(Role),
}

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The session cookie's secret, as its SHA-256.
    Session(String),
    /// An API token's secret, as its SHA-256.
    Token(String),
}

/// The caller of a request that passed the guard.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's name, or the token's name.
    pub name: String,
    pub role: Role,
    pub kind: PrincipalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    User {
        session: String,
    },
    Token {
        id: i64,
        digest: String,
    },
    /// `auth.enabled = false`: everybody is this one admin.
    Open,
}

impl Principal {
    /// How the audit record and a space's history name the caller: a user by name, a token as
    /// `token:<name>`.
    pub fn actor(&self) -> String {
        match self.kind {
            PrincipalKind::Token { .. } => format!("token:{}", self.name),
            _ => self.name.clone(),
        }
    }

    pub fn via(&self) -> &'static str {
        match self.kind {
            PrincipalKind::User { .. } => "session",
            PrincipalKind::Token { .. } => "token",
            PrincipalKind::Open => "open",
        }
    }

    /// The credential to check again later (an open WebSocket re-checks it when one is revoked).
    pub fn credential(&self) -> Option<Credential> {
        match &self.kind {
            PrincipalKind::User { session } => Some(Credential::Session(session.clone())),
            PrincipalKind::Token { digest, .. } => Some(Credential::Token(digest.clone())),
            PrincipalKind::Open => None,
        }
    }
}

/// Handlers behind the guard take the caller as an argument.
impl FromRequest for Principal {
    type Error = crate::api::error::ApiError;
    type Future = Ready<Result<Principal, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Principal>()
                .cloned()
                .ok_or_else(|| crate::api::error::ApiError::Unauthorized("sign in first".into())),
        )
    }
}
