//! Reconnect backoff, as Sidero's discovery client configures `cenkalti/backoff`: the interval
//! starts at 0.5 s and grows ×1.5 per failure up to 60 s; each wait is the interval ±50 % at
//! random (so a service restart does not bring every node back in the same instant), also capped
//! at 60 s. A successful refresh resets it.
//!
//! ```text
//! failure:   1      2      3      4      5    …  12+
//! interval:  0.5s   0.75s  1.13s  1.69s  2.53s   60s
//! wait:      interval × [0.5, 1.5), ≤ 60s
//! ```

use std::time::Duration;

/// First interval.
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(500);
/// Growth per failure.
pub const BACKOFF_MULTIPLIER: f64 = 1.5;
/// Each wait is the interval × (1 ± this) at random.
pub const BACKOFF_JITTER: f64 = 0.5;
/// Longest interval and longest wait.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Reconnect backoff state.
#[derive(Debug, Clone)]
pub struct Backoff {
    interval: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// A fresh backoff (next wait around [`BACKOFF_INITIAL`]).
    pub fn new() -> Backoff {
        Backoff {
            interval: BACKOFF_INITIAL,
        }
    }

    /// Back to the initial interval, after a success.
    pub fn reset(&mut self) {
        self.interval = BACKOFF_INITIAL;
    }

    /// The next wait, with a random jitter.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(rand::random::<f64>())
    }

    /// The next wait for a jitter draw `unit` in [0, 1): 0 gives the shortest wait, 1 the longest.
    pub fn next_delay_with(&mut self, unit: f64) -> Duration {
        let unit = unit.clamp(0.0, 1.0);
        let factor = 1.0 - BACKOFF_JITTER + 2.0 * BACKOFF_JITTER * unit;
        let wait = self.interval.mul_f64(factor).min(BACKOFF_MAX);
        self.interval = self.interval.mul_f64(BACKOFF_MULTIPLIER).min(BACKOFF_MAX);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_bounds() {
        let mut mid = Backoff::new();
        let waits: Vec<u128> = (0..6)
            .map(|_| mid.next_delay_with(0.5).as_millis())
            .collect();
        assert_eq!(waits, [500, 750, 1125, 1687, 2531, 3796]);
        for _ in 0..20 {
            mid.next_delay_with(0.5);
        }
        assert_eq!(mid.next_delay_with(0.5), BACKOFF_MAX);
        // The jitter never pushes a wait past the cap.
        assert_eq!(mid.next_delay_with(1.0), BACKOFF_MAX);
        assert_eq!(mid.next_delay_with(0.0), BACKOFF_MAX / 2);

        let mut low = Backoff::new();
        assert_eq!(low.next_delay_with(0.0), Duration::from_millis(250));
        let mut high = Backoff::new();
        assert_eq!(high.next_delay_with(1.0), Duration::from_millis(750));
    }

    #[test]
    fn random_waits_stay_in_bounds_and_reset_works() {
        let mut b = Backoff::new();
        let mut interval = BACKOFF_INITIAL;
        for _ in 0..40 {
            let wait = b.next_delay();
            assert!(
                wait >= interval.mul_f64(0.5) && wait <= interval.mul_f64(1.5).min(BACKOFF_MAX)
            );
            interval = interval.mul_f64(BACKOFF_MULTIPLIER).min(BACKOFF_MAX);
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(750));
    }
}
