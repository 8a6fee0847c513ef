//! The dashboard: the web page's files, embedded in the binary and served at `/` and
//! `/dashboard/…`. The page uses relative URLs only, so it also works under a reverse proxy's
//! path prefix. `server.dashboard_dir` serves the same names from a directory instead, to work
//! on the page without rebuilding.

use std::path::PathBuf;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::api::error::ErrorBody;
use crate::config::Config;

struct Asset {
    path: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, body: include_bytes!($path) }),*]
    };
}

/// Every file of the page. A unit test checks that this list and the folder agree.
const ASSETS: &[Asset] = assets!(
    "index.html",
    "style.css",
    "js/api.js",
    "js/app.js",
    "js/auth.js",
    "js/camera.js",
    "js/charts.js",
    "js/dom.js",
    "js/editor.js",
    "js/format.js",
    "js/live.js",
    "js/overview.js",
    "js/polygon.js",
    "js/sessions.js",
    "js/signin.js",
    "js/spaces.js",
    "js/store.js",
    "js/thumbs.js",
    "js/users.js",
    "vendor/chart.umd.min.js",
    "vendor/chart.js-LICENSE.md",
);

/// A page that names only itself: scripts, styles, images and the WebSocket from this server.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' blob: data:; \
     style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// Validators for the embedded files, computed once: a browser revalidates each file (it may
/// have changed with the binary) and gets a 304 when it has not.
fn etags() -> &'static Vec<String> {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                format!("\"{}\"", digest[..12].iter().map(|b| format!("{b:02x}")).collect::<String>())
            })
            .collect()
    })
}

/// Where to read the files from instead of the binary.
pub struct Dir(Option<PathBuf>);

/// The files' settings; the routes themselves are in `api::routes`, with everything else's.
pub fn configure(cfg: &mut web::ServiceConfig, config: &Config) {
    cfg.app_data(web::Data::new(Dir(config.server.dashboard_dir.clone())));
}

pub async fn index(req: HttpRequest, dir: web::Data<Dir>) -> HttpResponse {
    serve(&req, &dir, "index.html")
}

pub async fn file(req: HttpRequest, dir: web::Data<Dir>, path: web::Path<String>) -> HttpResponse {
    serve(&req, &dir, &path)
}

fn serve(req: &HttpRequest, dir: &Dir, path: &str) -> HttpResponse {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return not_found(path);
    };
    let etag = &etags()[i];
    let mut res = if let Some(dir) = &dir.0 {
        match std::fs::read(dir.join(path)) {
            Ok(body) => with_headers(HttpResponse::Ok(), path).body(body),
            Err(e) => {
                tracing::warn!(path, error = %e, "dashboard_dir lacks a file of the page");
                return not_found(path);
            }
        }
    } else if fresh(req, etag) {
        HttpResponse::NotModified().insert_header((header::ETAG, etag.as_str())).finish()
    } else {
        with_headers(HttpResponse::Ok(), path).insert_header((header::ETAG, etag.as_str())).body(ASSETS[i].body)
    };
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    res
}

fn with_headers(mut res: actix_web::HttpResponseBuilder, path: &str) -> actix_web::HttpResponseBuilder {
    res.content_type(content_type(path)).insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if path.ends_with(".html") {
        res.insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::REFERRER_POLICY, "same-origin"));
    }
    res
}

fn fresh(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

fn not_found(path: &str) -> HttpResponse {
    HttpResponse::NotFound()
        .json(ErrorBody { error: "not_found".into(), detail: format!("the dashboard has no file {path}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file added to the folder but not to `ASSETS` would be missing from the binary.
    #[test]
    fn every_file_of_the_folder_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dashboard");
        let mut found = Vec::new();
        let mut todo = vec![root.clone()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    todo.push(p);
                } else if p.file_name() != Some("mod.rs".as_ref()) {
                    found.push(p.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        found.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        listed.sort();
        assert_eq!(found, listed);
    }

    #[test]
    fn types_and_validators() {
        assert_eq!(content_type("js/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(etags().len(), ASSETS.len());
        assert!(etags().iter().all(|e| e.len() == 26 && e.starts_with('"')));
    }
}
