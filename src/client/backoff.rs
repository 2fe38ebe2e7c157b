//! The one exponential backoff of the client: the delays between retries of a call
//! ([`RetryPolicy`](super::RetryPolicy), with full jitter) and between polls of an operation
//! ([`WaitOptions`](super::WaitOptions), without).

use std::time::Duration;

use rand::Rng as _;

/// Delays that grow from `initial` by `multiplier` each step, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backoff {
    /// The first delay (step 0).
    pub(crate) initial: Duration,
    /// The largest delay.
    pub(crate) max: Duration,
    /// The growth per step; values below 1, and NaN or infinite ones, count as 1.
    pub(crate) multiplier: f64,
}

impl Backoff {
    /// The delay of step `n` (0-based): `initial * multiplier^n`, at most `max`.
    pub(crate) fn delay(&self, n: u32) -> Duration {
        let multiplier = if self.multiplier.is_finite() {
            self.multiplier.max(1.0)
        } else {
            1.0
        };
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * multiplier.powi(exp);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs.max(0.0))
        }
    }

    /// A delay drawn uniformly from zero to [`delay(n)`](Self::delay) (full jitter).
    pub(crate) fn jittered(&self, n: u32) -> Duration {
        let cap = self.delay(n);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn backoff(initial_ms: u32, max_ms: u32, multiplier: f64) -> Backoff {
        Backoff {
            initial: MS * initial_ms,
            max: MS * max_ms,
            multiplier,
        }
    }

    #[test]
    fn grows_by_the_multiplier_up_to_the_max() {
        let b = backoff(100, 10_000, 2.0);
        let delays: Vec<_> = (0..10).map(|n| b.delay(n)).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000].map(|ms| MS * ms)
        );
        assert_eq!(backoff(1000, 30_000, 1.5).delay(2), MS * 2250);
    }

    #[test]
    fn odd_multipliers_and_huge_steps() {
        for m in [0.5, -3.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let b = backoff(100, 10_000, m);
            assert_eq!(b.delay(0), MS * 100, "{m}");
            assert_eq!(b.delay(50), MS * 100, "{m}");
        }
        let b = backoff(100, 10_000, 2.0);
        assert_eq!(b.delay(u32::MAX), MS * 10_000);
        // A max below the initial delay wins.
        assert_eq!(backoff(500, 200, 2.0).delay(0), MS * 200);
        assert_eq!(backoff(0, 200, 2.0).delay(7), Duration::ZERO);
    }

    #[test]
    fn jitter_stays_within_the_delay() {
        let b = backoff(100, 10_000, 2.0);
        for n in 0..12 {
            for _ in 0..50 {
                assert!(b.jittered(n) <= b.delay(n));
            }
        }
        assert_eq!(backoff(0, 0, 2.0).jittered(3), Duration::ZERO);
    }
}
