//! Where a camera's frames come from: a stream the server pulls, a snapshot URL it polls, or
//! frames the camera pushes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Fastest and slowest snapshot polling a camera may ask for.
const MIN_INTERVAL_MS: u64 = 50;
const MAX_INTERVAL_MS: u64 = 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum CameraSource {
    /// An MJPEG (`multipart/x-mixed-replace`) stream, such as an ESP32-CAM's `:81/stream`.
    Mjpeg {
        #[schema(example = "http://gate-cam.local:81/stream")]
        url: String,
    },
    /// A URL answering one JPEG per request, polled every `interval_ms`.
    Snapshot {
        #[schema(example = "http://gate-cam.local/capture")]
        url: String,
        #[schema(minimum = 50, maximum = 3600000)]
        interval_ms: u64,
    },
    /// The camera posts JPEGs to `/api/cameras/{id}/frames` with its device token.
    // A struct variant (not a unit one) so that stray fields are refused like the others'.
    Push {},
}

impl Default for CameraSource {
    fn default() -> Self {
        CameraSource::Push {}
    }
}

impl CameraSource {
    /// The reason this source cannot work, for a 400 answer or a config error.
    pub fn check(&self) -> Result<(), String> {
        match self {
            CameraSource::Mjpeg { url } => check_url(url),
            CameraSource::Snapshot { url, interval_ms } => {
                check_url(url)?;
                if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(interval_ms) {
                    return Err(format!("interval_ms must be from {MIN_INTERVAL_MS} to {MAX_INTERVAL_MS}"));
                }
                Ok(())
            }
            CameraSource::Push {} => Ok(()),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            CameraSource::Mjpeg { .. } => "mjpeg",
            CameraSource::Snapshot { .. } => "snapshot",
            CameraSource::Push {} => "push",
        }
    }

    /// The source as anyone may see it: passwords in the URL masked.
    pub fn redacted(&self) -> CameraSource {
        match self {
            CameraSource::Mjpeg { url } => CameraSource::Mjpeg { url: redact_url(url) },
            CameraSource::Snapshot { url, interval_ms } => {
                CameraSource::Snapshot { url: redact_url(url), interval_ms: *interval_ms }
            }
            CameraSource::Push {} => CameraSource::Push {},
        }
    }

    /// True when the server fetches the frames (and so must reconnect when they stop).
    pub fn is_pulled(&self) -> bool {
        !matches!(self, CameraSource::Push {})
    }
}

/// Query parameters cheap cameras take credentials in (`/snapshot.cgi?user=admin&pwd=…`).
const SECRET_PARAMS: &[&str] = &["pass", "pwd", "token", "key", "secret", "auth", "sig"];

/// A URL with its password (or a lone user part, often a token) and any credential-like query
/// values replaced by `***`; kept as it was when it does not parse.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else { return url.to_string() };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    } else if !parsed.username().is_empty() {
        let _ = parsed.set_username("***");
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let lower = k.to_ascii_lowercase();
                let secret = SECRET_PARAMS.iter().any(|s| lower.contains(s));
                (k.into_owned(), if secret { "***".to_string() } else { v.into_owned() })
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

fn check_url(url: &str) -> Result<(), String> {
    if url.len() > 2048 {
        return Err("url is longer than 2048 characters".into());
    }
    let uri: awc::http::Uri = url.parse().map_err(|e| format!("url {url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("url {url:?} must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("url {url:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_masked() {
        assert_eq!(redact_url("http://admin:hunter22@cam.local:81/stream"), "http://admin:***@cam.local:81/stream");
        assert_eq!(redact_url("http://s3cr3t@cam.local/stream"), "http://***@cam.local/stream");
        assert_eq!(
            redact_url("http://cam/snapshot.cgi?user=admin&pwd=hunter22&res=1"),
            "http://cam/snapshot.cgi?user=admin&pwd=***&res=1"
        );
        assert_eq!(redact_url("http://cam.local:81/stream"), "http://cam.local:81/stream");
        let s = CameraSource::Mjpeg { url: "http://a:b@cam/stream".into() };
        assert_eq!(s.redacted(), CameraSource::Mjpeg { url: "http://a:***@cam/stream".into() });
    }

    #[test]
    fn sources_parse_in_the_documented_shape_and_are_checked() {
        let s: CameraSource =
            serde_json::from_str(r#"{"kind": "mjpeg", "url": "http://gate-cam.local:81/stream"}"#).unwrap();
        assert_eq!(s, CameraSource::Mjpeg { url: "http://gate-cam.local:81/stream".into() });
        assert!(s.check().is_ok());
        let s: CameraSource =
            serde_json::from_str(r#"{"kind": "snapshot", "url": "http://cam/capture", "interval_ms": 1000}"#).unwrap();
        assert!(s.check().is_ok());
        assert_eq!(serde_json::from_str::<CameraSource>(r#"{"kind": "push"}"#).unwrap(), CameraSource::Push {});
        for bad in [
            r#"{"kind": "mjpeg", "url": "ftp://cam/stream"}"#,
            r#"{"kind": "mjpeg", "url": "not a url"}"#,
            r#"{"kind": "mjpeg", "url": "http:///stream"}"#,
            r#"{"kind": "snapshot", "url": "http://cam/capture", "interval_ms": 1}"#,
        ] {
            let s: CameraSource = serde_json::from_str(bad).unwrap();
            assert!(s.check().is_err(), "{bad} accepted");
        }
        assert!(serde_json::from_str::<CameraSource>(r#"{"kind": "rtsp", "url": "rtsp://cam"}"#).is_err());
        assert!(serde_json::from_str::<CameraSource>(r#"{"kind": "push", "url": "x"}"#).is_err());
    }
}
