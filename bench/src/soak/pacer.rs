//! The soak's open-loop pacer: a token bucket that says how many likes are due
//! now, whatever happened to the earlier ones. Its capacity bounds the burst
//! after the load generator itself was held up (a busy core), so a stall turns
//! into likes sent late, not into an unbounded catch-up spike.

use std::time::{Duration, Instant};

/// Tokens accrue at `rate` per second up to `capacity`; each token is one like.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A bucket that starts empty at `now`, holding at most `burst` worth of
    /// tokens (at least one).
    pub fn new(rate: f64, burst: Duration, now: Instant) -> Self {
        let rate = rate.max(0.0);
        Self {
            rate,
            capacity: (rate * burst.as_secs_f64()).max(1.0),
            tokens: 0.0,
            last: now,
        }
    }

    /// How many whole tokens are ready at `now`; they are taken.
    pub fn take_ready(&mut self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        let ready = self.tokens.floor();
        self.tokens -= ready;
        ready as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_hands_out_the_rate_over_time_in_whole_likes() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(500.0, Duration::from_millis(200), start);
        let mut sent = 0;
        for ms in 1..=1000 {
            sent += bucket.take_ready(start + Duration::from_millis(ms));
        }
        assert_eq!(sent, 500);
    }

    #[test]
    fn a_stall_is_made_up_only_up_to_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(500.0, Duration::from_millis(200), start);
        assert_eq!(bucket.take_ready(start + Duration::from_secs(3)), 100);
        assert_eq!(bucket.take_ready(start + Duration::from_secs(3)), 0);
    }

    #[test]
    fn a_slow_rate_still_sends_one_like_at_a_time() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, Duration::from_millis(100), start);
        assert_eq!(bucket.take_ready(start + Duration::from_millis(400)), 0);
        assert_eq!(bucket.take_ready(start + Duration::from_millis(600)), 1);
        assert_eq!(bucket.take_ready(start + Duration::from_secs(5)), 1);
    }
}
