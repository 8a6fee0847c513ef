//! A request for a camera this replica does not run, carried to the replica that does (its
//! advertised URL): viewers' streams, snapshots and overlays, and pushed frames. The caller's
//! credentials travel with it and the owner checks them again (sessions, tokens and device
//! tokens live in the shared database). A relayed request is marked, so it is never relayed on.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::TryStreamExt;

/// Marks a request one replica relayed to another.
pub const RELAYED: &str = "x-smartpark-relayed";

/// Headers that travel to the owner: who is calling, and what the body is.
const FORWARDED: [&str; 6] = ["authorization", "cookie", "content-type", "x-camera-id", "accept", "user-agent"];
/// Headers of the owner's answer that travel back.
const RETURNED: [&str; 7] =
    ["content-type", "cache-control", "last-modified", "x-frame-seq", "x-analysed", "retry-after", "x-accel-buffering"];

pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a client without TLS settings builds")
    })
}

/// Whether this request was relayed here by another replica.
pub fn was_relayed(req: &HttpRequest) -> bool {
    req.headers().contains_key(RELAYED)
}

#[derive(Debug, thiserror::Error)]
#[error("the camera's owner at {url} cannot be reached: {detail}")]
pub struct Unreachable {
    pub url: String,
    pub detail: String,
}

/// Sends `req` (with `body`) to the same path on `owner_url` and streams the answer back.
pub async fn relay(
    req: &HttpRequest,
    body: Option<Bytes>,
    owner_url: &str,
    node: &str,
) -> Result<HttpResponse, Unreachable> {
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("{}{path}", owner_url.trim_end_matches('/'));
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut out = client().request(method, &url).header(RELAYED, node);
    for name in FORWARDED {
        for value in req.headers().get_all(name) {
            out = out.header(name, value.as_bytes());
        }
    }
    if let Some(body) = body {
        out = out.body(body);
    }
    let answer = out.send().await.map_err(|e| Unreachable { url: owner_url.to_string(), detail: e.to_string() })?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut res = HttpResponse::build(status);
    for name in RETURNED {
        if let Some(v) = answer.headers().get(name) {
            res.insert_header((name, v.as_bytes()));
        }
    }
    let stream = answer.bytes_stream().map_err(actix_web::error::ErrorBadGateway);
    Ok(res.streaming(stream))
}
