//! Exponential backoff with jitter for reconnecting to cameras: a camera that keeps failing is
//! asked less and less often, and cameras that failed together (a Wi-Fi outage) do not all come
//! back in the same instant.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait before retry number `attempt` (0 for the first retry): the exponential step,
    /// capped, then drawn uniformly from its upper half ("equal jitter"), so it never collapses
    /// to zero and never exceeds the cap.
    pub fn delay(&self, attempt: u32) -> Duration {
        let step = self.initial.saturating_mul(2u32.saturating_pow(attempt.min(20))).min(self.max);
        let half = step / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_are_jittered() {
        let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(5) };
        for attempt in 0..40 {
            let step = (100u64 << attempt.min(20)).min(5000);
            let d = b.delay(attempt).as_millis() as u64;
            assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d} ms outside [{}, {step}]", step / 2);
        }
        let draws: std::collections::HashSet<Duration> = (0..50).map(|_| b.delay(10)).collect();
        assert!(draws.len() > 10, "jitter spreads retries");
    }
}
