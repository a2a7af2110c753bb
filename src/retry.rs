//! The one retry/backoff policy of cadkit: capped exponential backoff with full jitter.
//! Used by the git push loop (rejected pushes), webhook deliveries and registry requests,
//! so every retrying step waits the same way and is tuned the same way.

use std::time::Duration;

/// Capped exponential backoff with full jitter: before retry `n` (1-based) wait a random time
/// in `[0, d]` with `d = min(max, base * 2^(n-1))` (racers spread out instead of colliding
/// again in lockstep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(250),
            max: Duration::from_secs(8),
        }
    }
}

impl Backoff {
    /// A policy starting at `base` and capped at `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max }
    }

    /// The wait before retry `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        use rand::Rng;
        let exp = self
            .base
            .saturating_mul(1u32 << n.saturating_sub(1).min(20))
            .min(self.max);
        let factor: f64 = rand::rng().random_range(0.0..=1.0);
        exp.mul_f64(factor)
    }
}
