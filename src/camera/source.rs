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

    /// True when the server fetches the frames (and so must reconnect when they stop).
    pub fn is_pulled(&self) -> bool {
        !matches!(self, CameraSource::Push {})
    }
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
