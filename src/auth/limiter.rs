//! Failed sign-ins, counted per client address and per user name over the last minute: a few
//! are answered more and more slowly, and from the tenth on the next attempt is refused (429)
//! until the oldest failure is a minute old. Kept in memory: a restart forgets them, which
//! costs an attacker a restart's worth of guesses, not a way in.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub const WINDOW: Duration = Duration::from_secs(60);
/// Failures within the window after which attempts are refused.
pub const MAX_FAILURES: usize = 10;
/// Failures answered at full speed; each one after adds `STEP` to the answer.
const FREE_FAILURES: usize = 3;
const STEP: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(2);
/// Beyond this many tracked keys, keys with no recent failure are forgotten.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// What to do with an attempt before its password is checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Check it, answering no sooner than after this delay.
    Try(Duration),
    /// Refuse it; the client may try again after this long.
    Refuse(Duration),
}

impl LoginLimiter {
    pub fn verdict(&self, keys: &[String], now: Instant) -> Verdict {
        let mut map = self.failures.lock();
        let mut worst = 0;
        let mut retry = Duration::ZERO;
        for key in keys {
            let Some(q) = map.get_mut(key) else { continue };
            while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                q.pop_front();
            }
            worst = worst.max(q.len());
            if q.len() >= MAX_FAILURES {
                // Attempts are allowed again once enough of the failures have aged out.
                let pivot = q[q.len() - MAX_FAILURES];
                retry = retry.max(WINDOW.saturating_sub(now.duration_since(pivot)));
            }
        }
        if worst >= MAX_FAILURES {
            return Verdict::Refuse(retry.max(Duration::from_secs(1)));
        }
        let extra = worst.saturating_sub(FREE_FAILURES) as u32;
        Verdict::Try((STEP * extra).min(MAX_DELAY))
    }

    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.failures.lock();
        if map.len() > MAX_KEYS {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        for key in keys {
            let q = map.entry(key.clone()).or_default();
            q.push_back(now);
            while q.len() > MAX_FAILURES * 2 {
                q.pop_front();
            }
        }
    }

    /// A successful sign-in clears the user's count (not the address's: one right password
    /// must not reset guesses at other names).
    pub fn succeeded(&self, user_key: &str) {
        self.failures.lock().remove(user_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_slow_then_refuse_until_they_age_out() {
        let l = LoginLimiter::default();
        let keys = ["ip:10.0.0.1".to_string(), "user:admin".to_string()];
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            match l.verdict(&keys, t0) {
                Verdict::Try(d) => assert_eq!(d, (STEP * i.saturating_sub(FREE_FAILURES) as u32).min(MAX_DELAY)),
                v => panic!("attempt {} refused: {v:?}", i + 1),
            }
            l.failed(&keys, t0 + Duration::from_secs(i as u64));
        }
        // The eleventh attempt within the minute is refused until the first failure is a minute old.
        let now = t0 + Duration::from_secs(20);
        assert_eq!(l.verdict(&keys, now), Verdict::Refuse(Duration::from_secs(40)));
        // Another name from the same address is refused too; the same name from elsewhere as well.
        assert!(matches!(l.verdict(&["ip:10.0.0.1".into(), "user:bob".into()], now), Verdict::Refuse(_)));
        assert!(matches!(l.verdict(&["ip:10.0.0.2".into(), "user:admin".into()], now), Verdict::Refuse(_)));
        assert!(matches!(l.verdict(&keys, t0 + Duration::from_secs(61)), Verdict::Try(_)));
    }

    #[test]
    fn success_clears_the_name_but_not_the_address() {
        let l = LoginLimiter::default();
        let keys = ["ip:10.0.0.1".to_string(), "user:admin".to_string()];
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            l.failed(&keys, t0);
        }
        l.succeeded("user:admin");
        assert!(matches!(l.verdict(&["ip:10.0.0.9".into(), "user:admin".into()], t0), Verdict::Try(_)));
        assert!(matches!(l.verdict(&keys, t0), Verdict::Refuse(_)));
    }
}
