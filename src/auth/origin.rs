//! Cross-site checks. A browser sends the session cookie with any request to this server,
//! whichever page made it; `Origin` and `Sec-Fetch-Site` tell where the request came from, so
//! a cookie-authenticated change, or a WebSocket, from another site's page is refused.

use actix_web::dev::ServiceRequest;
use actix_web::http::Method;

/// Whether the request came over TLS, directly or through a proxy that says so.
pub fn is_https(req: &actix_web::HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
        || req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

/// This server's origin as the browser sees it: scheme and the `Host` it was asked for.
fn own_origin(req: &ServiceRequest) -> Option<String> {
    let host = req.headers().get("host").and_then(|v| v.to_str().ok())?;
    let scheme = if is_https(req.request()) { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

/// True when the request's `Origin`, if it has one, is this server or one of `allowed`.
/// Clients that are not browsers send no `Origin` and pass.
pub fn origin_allowed(req: &ServiceRequest, allowed: &[String]) -> bool {
    let Some(origin) = req.headers().get("origin") else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let origin = origin.trim_end_matches('/');
    own_origin(req).is_some_and(|own| own.eq_ignore_ascii_case(origin))
        || allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// A method that changes something.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Why a cookie-authenticated request must be refused as cross-site, if it must. A listed
/// origin (`server.allowed_origins`) passes although the browser calls it cross-site.
pub fn cross_site(req: &ServiceRequest, allowed: &[String]) -> Option<&'static str> {
    if req.headers().contains_key("origin") {
        return (!origin_allowed(req, allowed))
            .then_some("the request's Origin is neither this server nor an allowed origin");
    }
    // No Origin (older browsers on some requests): the fetch metadata still tells. `same-site`
    // is a sibling subdomain, another origin all the same.
    let fetch_site = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
    fetch_site
        .is_some_and(|s| !matches!(s, "same-origin" | "none"))
        .then_some("Sec-Fetch-Site says another site made this request")
}
