//! Keyset cursors for newest-first pages: an opaque token for the (time, id) of the last row
//! a page held, so the next page continues after it however many rows arrive meanwhile.

use base64::Engine;
use chrono::{DateTime, Utc};

use super::error::ApiError;

pub fn encode(t: DateTime<Utc>, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{id}", t.timestamp_micros()))
}

fn decode(c: &str) -> Option<(DateTime<Utc>, i64)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (micros, id) = text.split_once(':')?;
    Some((DateTime::from_timestamp_micros(micros.parse().ok()?)?, id.parse().ok()?))
}

/// The position a `cursor` query parameter names; none for an absent or empty one.
pub fn parse(cursor: Option<&str>) -> Result<Option<(DateTime<Utc>, i64)>, ApiError> {
    match cursor.filter(|c| !c.is_empty()) {
        Some(c) => {
            decode(c).map(Some).ok_or_else(|| ApiError::bad("invalid_cursor", "cursor is not one this server gave"))
        }
        None => Ok(None),
    }
}

/// Ends a page read with one row more than `limit`: drops that row and answers the cursor of
/// the page's last row when there was one (more rows follow), none on the last page.
pub fn finish_page<T>(rows: &mut Vec<T>, limit: i64, key: impl Fn(&T) -> (DateTime<Utc>, i64)) -> Option<String> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    if more {
        rows.last().map(|r| {
            let (t, id) = key(r);
            encode(t, id)
        })
    } else {
        None
    }
}

/// Checks a page size and a time range, the two things every page query has.
pub fn check_page(
    limit: i64,
    max: i64,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    if !(1..=max).contains(&limit) {
        return Err(ApiError::bad("invalid_query", format!("limit must be from 1 to {max}")));
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::bad("invalid_query", "from is after to"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let t = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        assert_eq!(decode(&encode(t, 42)), Some((t, 42)));
        assert_eq!(decode("not a cursor"), None);
        assert_eq!(decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x:1")), None);
        assert!(parse(Some("")).unwrap().is_none());
        assert!(parse(Some("garbage!")).is_err());
    }
}
