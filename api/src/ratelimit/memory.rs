//! The in-memory rate limiter (the embedded default): `governor`'s keyed GCRA,
//! one limiter per distinct quota. Its counts are this process's only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use governor::clock::Clock;
use governor::DefaultKeyedRateLimiter;

use super::{Decision, LimiterError, Quota, RateLimiter};

/// Every so many checks of a limiter, keys whose allowance is full again are
/// forgotten, so memory follows the clients of the last minutes only.
const SWEEP_EVERY: u32 = 4096;

struct Keyed {
    limiter: DefaultKeyedRateLimiter<String>,
    checks: AtomicU32,
}

/// Rate limits kept in this process.
#[derive(Default)]
pub struct MemoryLimiter {
    limiters: Mutex<HashMap<Quota, Arc<Keyed>>>,
}

impl MemoryLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    fn limiter(&self, quota: Quota) -> Result<Arc<Keyed>, LimiterError> {
        let mut limiters = self
            .limiters
            .lock()
            .map_err(|_| LimiterError("the in-memory limiter's lock is poisoned".into()))?;
        if let Some(keyed) = limiters.get(&quota) {
            return Ok(keyed.clone());
        }
        let gcra = governor::Quota::with_period(quota.interval())
            .ok_or_else(|| LimiterError(format!("quota {quota} has no period")))?
            .allow_burst(quota.burst());
        let keyed = Arc::new(Keyed {
            limiter: governor::RateLimiter::keyed(gcra),
            checks: AtomicU32::new(0),
        });
        limiters.insert(quota, keyed.clone());
        Ok(keyed)
    }
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, LimiterError> {
        let keyed = self.limiter(quota)?;
        if keyed.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            keyed.limiter.retain_recent();
            keyed.limiter.shrink_to_fit();
        }
        let decision = match keyed.limiter.check_key(&key.to_owned()) {
            Ok(()) => Decision::Allowed,
            Err(not_until) => Decision::Limited {
                retry_after: not_until.wait_time_from(keyed.limiter.clock().now()),
            },
        };
        Ok(decision)
    }
}
