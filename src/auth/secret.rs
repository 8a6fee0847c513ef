//! Secrets the server makes: session cookies, API tokens and first passwords. Each is 32
//! random bytes (URL-safe base64) from the operating system's seeded generator; only its
//! SHA-256 is stored, so a copy of the database opens nothing.

pub use crate::camera::registry::{new_token as new_secret, token_digest as digest};

/// A password for the first admin: 18 random bytes, 24 characters anyone can type.
pub fn random_password() -> String {
    use base64::Engine;
    let bytes: [u8; 18] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
