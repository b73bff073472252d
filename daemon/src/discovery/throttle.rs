//! One log line per window for a warning that untrusted input can repeat at will: a discovery
//! service (or anyone who knows the cluster id) can send thousands of undecodable affiliates a
//! second, and each used to write a WARN line — megabytes of log in seconds. A [`Throttle`] lets
//! the first occurrence through, then at most one per [`WARN_WINDOW`], carrying how many were
//! suppressed in between, so the log says "and 23,599 more" instead of repeating itself.

use std::time::Duration;

use tokio::time::Instant;

/// At most one line per kind of warning in this window.
pub const WARN_WINDOW: Duration = Duration::from_secs(60);

/// See the module doc. Pure: the caller passes the time.
#[derive(Debug, Default, Clone)]
pub struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// Whether to log now: `Some(n)` with the number of occurrences suppressed since the last
    /// line, `None` to stay quiet (counted).
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < WARN_WINDOW)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_passes_then_one_per_window_with_the_count() {
        let start = Instant::now();
        let mut t = Throttle::default();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let seen: Vec<Option<u64>> = [0, 1, 2, 59, 60, 61, 200]
            .into_iter()
            .map(|s| t.admit(at(s)))
            .collect();
        assert_eq!(
            seen,
            [Some(0), None, None, None, Some(3), None, Some(1)],
            "first, 3 suppressed, at 60 s the next line with the count, …"
        );
    }
}
