//! A camera's id: what its URLs, its spaces and its captures are keyed by.

use std::fmt;

use serde::{Deserialize, Serialize};

pub const MAX_LEN: usize = 64;

/// 1 to 64 of ASCII letters, digits, `_`, `-` and `.`, starting with a letter or digit: safe in a
/// URL path, a storage key and a log line without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CameraId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a camera id is 1 to {MAX_LEN} of letters, digits, '_', '-' and '.', starting with a letter or digit")]
pub struct InvalidCameraId;

impl CameraId {
    pub fn new(id: impl Into<String>) -> Result<CameraId, InvalidCameraId> {
        let id = id.into();
        let mut chars = id.chars();
        let ok = id.len() <= MAX_LEN
            && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok {
            Ok(CameraId(id))
        } else {
            Err(InvalidCameraId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CameraId {
    type Error = InvalidCameraId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CameraId::new(s)
    }
}

impl std::str::FromStr for CameraId {
    type Err = InvalidCameraId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CameraId::new(s)
    }
}

impl From<CameraId> for String {
    fn from(id: CameraId) -> String {
        id.0
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for CameraId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for CameraId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"))
            .examples([serde_json::json!("gate")])
            .into()
    }
}

impl utoipa::ToSchema for CameraId {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_url_safe_ids_only() {
        for ok in ["gate", "ufpr05", "A", "north-1.cam_2", &"x".repeat(64)] {
            assert!(CameraId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-gate", ".x", "has space", "a/b", "é", "nul\0", &"x".repeat(65)] {
            assert_eq!(CameraId::new(bad), Err(InvalidCameraId), "{bad:?}");
        }
        assert!(serde_json::from_str::<CameraId>("\"a b\"").is_err());
    }
}
