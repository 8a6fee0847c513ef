//! The guard every request passes, deny by default: the route's declared access
//! (`api::routes`) decides; a route the table does not declare is refused.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};

use super::{origin, Access, Auth, Principal, PrincipalKind, Role};
use crate::api::error::ErrorBody;
use crate::api::routes::{policy, Declared};

fn refuse(
    req: ServiceRequest,
    status: actix_web::http::StatusCode,
    code: &str,
    detail: &str,
) -> ServiceResponse<BoxBody> {
    let mut res = HttpResponse::build(status);
    if status == actix_web::http::StatusCode::UNAUTHORIZED {
        // Machines are told how to authenticate; people get the dashboard's sign-in page.
        res.insert_header(("WWW-Authenticate", "Bearer realm=\"smartpark\""));
    }
    let body = res.json(ErrorBody { error: code.into(), detail: detail.into() });
    req.into_response(body)
}

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    use actix_web::http::StatusCode as S;
    let access = match req.match_pattern() {
        // Nothing answers there but the 404.
        None => return next.call(req).await.map(ServiceResponse::map_into_boxed_body),
        Some(pattern) => match policy().lookup(&pattern, req.method()) {
            Declared::Access(a) => a,
            Declared::OtherMethod => return next.call(req).await.map(ServiceResponse::map_into_boxed_body),
            Declared::Undeclared => {
                tracing::error!(route = pattern, "a route with no declared access was called; refused");
                return Ok(refuse(req, S::FORBIDDEN, "forbidden", "this route declares no access"));
            }
        },
    };
    let needed = match access {
        Access::Public | Access::Device => return next.call(req).await.map(ServiceResponse::map_into_boxed_body),
        Access::Role(r) => r,
    };
    let Some(auth) = req.app_data::<web::Data<Auth>>().cloned() else {
        return Ok(refuse(req, S::INTERNAL_SERVER_ERROR, "internal", "no authentication configured"));
    };
    // A WebSocket is opened by whatever page the browser shows: only this server's pages (and
    // the configured ones) may, whoever is signed in.
    let upgrade =
        req.headers().get("upgrade").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade && !origin::origin_allowed(&req, &auth.allowed_origins) {
        return Ok(refuse(req, S::FORBIDDEN, "forbidden_origin", "a WebSocket from another site's page is refused"));
    }
    let principal = if !auth.enabled() {
        Principal { name: "anonymous".into(), role: Role::Admin, kind: PrincipalKind::Open }
    } else {
        let Some(credential) = Auth::credential(&req) else {
            return Ok(refuse(
                req,
                S::UNAUTHORIZED,
                "unauthorized",
                "sign in (POST /api/auth/login) or send Authorization: Bearer <API token>",
            ));
        };
        let found = match auth.authenticate(&credential).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check a caller: the database is unavailable");
                return Ok(refuse(
                    req,
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database cannot be reached to check who you are",
                ));
            }
        };
        let Some(principal) = found else {
            return Ok(refuse(
                req,
                S::UNAUTHORIZED,
                "unauthorized",
                "the session has ended or the token is not valid; sign in again",
            ));
        };
        if matches!(principal.kind, PrincipalKind::User { .. }) && origin::is_unsafe(req.method()) {
            if let Some(why) = origin::cross_site(&req, &auth.allowed_origins) {
                return Ok(refuse(req, S::FORBIDDEN, "cross_site", why));
            }
        }
        principal
    };
    if principal.role < needed {
        let detail = format!("this needs the {needed} role; {} has {}", principal.actor(), principal.role);
        return Ok(refuse(req, S::FORBIDDEN, "forbidden", &detail));
    }
    req.extensions_mut().insert(principal);
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
mod tests {
    use actix_web::{middleware::from_fn, test, App, HttpResponse};

    /// A route registered by hand, outside the table, is refused by the guard; the table's
    /// public routes pass, and a known path's other methods still get their 405.
    #[actix_web::test]
    async fn a_route_outside_the_table_is_refused() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(super::guard))
                .configure(crate::api::routes::register)
                .route("/api/sneaky", actix_web::web::get().to(HttpResponse::Ok)),
        )
        .await;
        let res = test::call_service(&app, test::TestRequest::get().uri("/api/sneaky").to_request()).await;
        assert_eq!(res.status(), 403);
        let res = test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
        assert_eq!(res.status(), 200);
        let res = test::call_service(&app, test::TestRequest::delete().uri("/healthz").to_request()).await;
        assert_eq!(res.status(), 405);
    }
}
