//! The per-client-IP rate limit: a token bucket per IP ([`RATE_LIMIT_PER_SECOND`] refill,
//! [`RATE_LIMIT_BURST`] capacity), as Sidero's service has. A request over the limit *waits* for
//! its token, up to its own deadline and at most [`RATE_LIMIT_MAX_WAIT`]; when the token would
//! come later than that, it fails at once with ResourceExhausted instead of waiting in vain.
//!
//! Like Go's `rate.Limiter.Wait`, a request reserves a future token (the bucket goes negative),
//! so waiting requests are served in arrival order at the refill rate:
//!
//! ```text
//! burst 60, 15/s:  61st request at t=0 → tokens -1 → waits 1/15 s
//!                  62nd request at t=0 → tokens -2 → waits 2/15 s …
//! ```
//!
//! The clock is tokio's, so tests run with paused time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::limits::{
    MAX_RATE_LIMIT_BUCKETS, RATE_LIMIT_BURST, RATE_LIMIT_MAX_WAIT, RATE_LIMIT_PER_SECOND,
};

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    /// The next token comes after the request's deadline (or the wait cap).
    #[error("rate limit exceeds request timeout")]
    Timeout,
    /// Too many client IPs are being tracked (see [`MAX_RATE_LIMIT_BUCKETS`]).
    #[error("rate limiter is tracking too many clients")]
    TooManyClients,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// May be negative: tokens already promised to waiting requests.
    tokens: f64,
    updated: Instant,
}

/// Token buckets keyed by client IP.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    max_buckets: usize,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(
            f64::from(RATE_LIMIT_PER_SECOND),
            f64::from(RATE_LIMIT_BURST),
            MAX_RATE_LIMIT_BUCKETS,
        )
    }
}

impl RateLimiter {
    /// A limiter refilling `rate` tokens per second up to `burst`, tracking at most
    /// `max_buckets` IPs.
    pub fn new(rate: f64, burst: f64, max_buckets: usize) -> RateLimiter {
        RateLimiter {
            rate,
            burst,
            max_buckets,
            buckets: Mutex::default(),
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
    }

    /// Takes a token for `ip` now or reserves the next one, returning how long to wait for it;
    /// refuses (taking nothing) when that wait would exceed `max_wait`.
    pub fn reserve(
        &self,
        ip: IpAddr,
        now: Instant,
        max_wait: Duration,
    ) -> Result<Duration, RateLimitError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&ip) && buckets.len() >= self.max_buckets {
            self.collect(&mut buckets, now);
            if buckets.len() >= self.max_buckets {
                return Err(RateLimitError::TooManyClients);
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        self.refill(bucket, now);
        let after = bucket.tokens - 1.0;
        let wait = if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-after / self.rate)
        };
        if wait > max_wait {
            return Err(RateLimitError::Timeout);
        }
        bucket.tokens = after;
        Ok(wait)
    }

    /// Waits for `ip`'s next token, at most until `deadline` (the request's own timeout, if it
    /// has one) and never longer than [`RATE_LIMIT_MAX_WAIT`].
    pub async fn acquire(
        &self,
        ip: IpAddr,
        deadline: Option<Duration>,
    ) -> Result<(), RateLimitError> {
        let max_wait = deadline.map_or(RATE_LIMIT_MAX_WAIT, |d| d.min(RATE_LIMIT_MAX_WAIT));
        let wait = self.reserve(ip, Instant::now(), max_wait)?;
        // A request cancelled while waiting keeps its reserved token spent: the client asked
        // and the bucket should say so.
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Drops the buckets that are full again (clients idle long enough to be like new ones);
    /// returns how many were dropped.
    pub fn gc(&self, now: Instant) -> usize {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        self.collect(&mut buckets, now)
    }

    fn collect(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) -> usize {
        let before = buckets.len();
        buckets.retain(|_, b| {
            self.refill(b, now);
            b.tokens < self.burst
        });
        if buckets.capacity() > 1024 && buckets.capacity() > 4 * buckets.len() {
            buckets.shrink_to_fit();
        }
        before - buckets.len()
    }

    /// IPs tracked now.
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no IP is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[tokio::test(start_paused = true)]
    async fn burst_then_waits_at_the_refill_rate() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        for _ in 0..RATE_LIMIT_BURST {
            limiter.acquire(A, None).await.expect("burst");
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst does not wait");
        // The next 15 take one second in all (paused time advances while sleeping).
        for _ in 0..RATE_LIMIT_PER_SECOND {
            limiter.acquire(A, None).await.expect("waits");
        }
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(999) && waited <= Duration::from_millis(1001),
            "{waited:?}"
        );
        // Another IP has its own bucket.
        let t = Instant::now();
        limiter.acquire(B, None).await.expect("other ip");
        assert_eq!(t.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn fails_at_once_when_the_token_comes_after_the_deadline() {
        let limiter = RateLimiter::default();
        let now = Instant::now();
        for _ in 0..RATE_LIMIT_BURST {
            limiter.reserve(A, now, Duration::ZERO).expect("burst");
        }
        // The next token is 1/15 s away.
        assert_eq!(
            limiter.reserve(A, now, Duration::from_millis(50)),
            Err(RateLimitError::Timeout)
        );
        let t = Instant::now();
        assert_eq!(
            limiter.acquire(A, Some(Duration::from_millis(10))).await,
            Err(RateLimitError::Timeout)
        );
        assert_eq!(t.elapsed(), Duration::ZERO, "no pointless wait");
        // A refused request took nothing: the next one still waits only 1/15 s.
        let wait = limiter
            .reserve(A, now, Duration::from_secs(1))
            .expect("reserve");
        assert!((wait.as_secs_f64() - 1.0 / 15.0).abs() < 1e-6, "{wait:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_is_capped_without_a_deadline() {
        let limiter = RateLimiter::default();
        let now = Instant::now();
        // Reserve RATE_LIMIT_MAX_WAIT worth of future tokens.
        let future = RATE_LIMIT_PER_SECOND as u64 * RATE_LIMIT_MAX_WAIT.as_secs();
        for _ in 0..u64::from(RATE_LIMIT_BURST) + future {
            limiter
                .reserve(A, now, RATE_LIMIT_MAX_WAIT)
                .expect("within cap");
        }
        assert_eq!(limiter.acquire(A, None).await, Err(RateLimitError::Timeout));
        assert_eq!(
            limiter.acquire(A, Some(Duration::from_secs(3600))).await,
            Err(RateLimitError::Timeout)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gc_drops_full_buckets_only() {
        let limiter = RateLimiter::default();
        let now = Instant::now();
        limiter.reserve(A, now, Duration::ZERO).expect("a");
        for _ in 0..RATE_LIMIT_BURST {
            limiter.reserve(B, now, Duration::ZERO).expect("b");
        }
        assert_eq!(limiter.len(), 2);
        // A is full again after 1/15 s; B needs 4 s.
        assert_eq!(limiter.gc(now + Duration::from_millis(100)), 1);
        assert_eq!(limiter.len(), 1);
        assert_eq!(limiter.gc(now + Duration::from_secs(3)), 0);
        assert_eq!(limiter.gc(now + Duration::from_secs(4)), 1);
        assert!(limiter.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_count_is_bounded() {
        let limiter = RateLimiter::new(15.0, 60.0, 2);
        let now = Instant::now();
        limiter.reserve(A, now, Duration::ZERO).expect("a");
        limiter.reserve(B, now, Duration::ZERO).expect("b");
        let c = IpAddr::from([192, 0, 2, 3]);
        assert_eq!(
            limiter.reserve(c, now, Duration::ZERO),
            Err(RateLimitError::TooManyClients)
        );
        // Once a bucket is full again it is collected to make room.
        limiter
            .reserve(c, now + Duration::from_secs(1), Duration::ZERO)
            .expect("room after inline collection");
    }
}
