//! The rule for the free text a person gives (camera names, space labels): printable, not only
//! white space, and short. The OpenAPI document states it as a pattern on each such field.

use super::error::ApiError;

pub const MAX_NAME_LEN: usize = 200;
pub const MAX_LABEL_LEN: usize = 64;

/// `what` names the field in the answer ("name", "label"); its code is `invalid_<what>`.
pub fn check_printable(code: &'static str, what: &str, value: &str, max_chars: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > max_chars || value.chars().any(char::is_control) {
        return Err(ApiError::bad(code, format!("a {what} is 1 to {max_chars} printable characters")));
    }
    Ok(())
}

pub fn check_name(name: &str) -> Result<(), ApiError> {
    check_printable("invalid_name", "name", name, MAX_NAME_LEN)
}

pub fn check_label(label: &str) -> Result<(), ApiError> {
    check_printable("invalid_label", "label", label, MAX_LABEL_LEN)
}
