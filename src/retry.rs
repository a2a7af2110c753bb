//! The one retry/backoff policy of cadkit: capped exponential backoff, with jitter.
//! Used by the git push loop (rejected pushes), webhook deliveries and registry requests,
//! so every retrying step computes its waits the same way.

use rand::Rng;
use std::time::Duration;

/// Capped exponential backoff: before retry `n` (1-based) the ceiling is
/// `d = min(max, base * 2^(n-1))`; [`delay`](Self::delay) waits a random time in `[0, d]`
/// (full jitter: racers spread out instead of colliding again in lockstep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling before the first retry.
    pub base: Duration,
    /// Largest ceiling, whatever the number of retries.
    pub max: Duration,
}

/// How much of the ceiling a wait may randomly drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// A random wait in `[0, d]`: for racers on one resource (git pushes).
    Full,
    /// A random wait in `[d/2, d]`: for a single client backing off a busy server.
    Half,
    /// Exactly `d`: for short, bounded retries of transient network errors.
    None,
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

    /// The ceiling before retry `n` (1-based), without jitter.
    pub fn ceiling(&self, n: u32) -> Duration {
        self.base
            .saturating_mul(1u32 << n.saturating_sub(1).min(20))
            .min(self.max)
    }

    /// The wait before retry `n` (1-based), with full jitter.
    pub fn delay(&self, n: u32) -> Duration {
        self.delay_with(n, Jitter::Full)
    }

    /// The wait before retry `n` (1-based), with the given jitter.
    pub fn delay_with(&self, n: u32, jitter: Jitter) -> Duration {
        let ceiling = self.ceiling(n);
        let factor: f64 = match jitter {
            Jitter::Full => rand::rng().random_range(0.0..=1.0),
            Jitter::Half => rand::rng().random_range(0.5..=1.0),
            Jitter::None => 1.0,
        };
        ceiling.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_and_are_capped_and_jitter_stays_in_its_range() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(200));
        assert_eq!(b.ceiling(3), Duration::from_millis(350));
        assert_eq!(b.ceiling(60), Duration::from_millis(350));
        assert_eq!(b.delay_with(2, Jitter::None), Duration::from_millis(200));
        for n in 1..6 {
            let d = b.ceiling(n);
            assert!(b.delay(n) <= d);
            let h = b.delay_with(n, Jitter::Half);
            assert!(h >= d / 2 && h <= d, "{h:?} outside [{:?}, {d:?}]", d / 2);
        }
        let unbounded = Backoff::new(Duration::from_millis(250), Duration::MAX);
        assert_eq!(unbounded.ceiling(4), Duration::from_secs(2));
    }
}
