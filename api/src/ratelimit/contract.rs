//! The contract every [`RateLimiter`] adapter passes: in memory, and Redis
//! (under its own key prefix, dropped afterwards; skipped when Redis is down,
//! except under `CI=true`, where it fails).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::memory::MemoryLimiter;
use super::redis::RedisLimiter;
use super::{Decision, Quota, RateLimiter};

fn quota(count: u32, per: Duration, burst: u32) -> Quota {
    Quota::with_burst(
        NonZeroU32::new(count).expect("a count"),
        per,
        NonZeroU32::new(burst).expect("a burst"),
    )
    .expect("a quota")
}

fn key(name: &str) -> String {
    format!("{name}:{}", uuid::Uuid::new_v4().simple())
}

async fn decide(limiter: &dyn RateLimiter, key: &str, quota: Quota) -> Decision {
    limiter
        .check(key, quota)
        .await
        .expect("the limiter decides")
}

async fn a_fresh_bucket_allows_its_burst_then_says_how_long_to_wait(limiter: Arc<dyn RateLimiter>) {
    let quota = quota(3, Duration::from_secs(60), 3);
    let bucket = key("burst");
    for n in 0..3 {
        assert_eq!(
            decide(&*limiter, &bucket, quota).await,
            Decision::Allowed,
            "request {n}"
        );
    }
    match decide(&*limiter, &bucket, quota).await {
        Decision::Limited { retry_after } => {
            assert!(retry_after > Duration::ZERO, "{retry_after:?}");
            assert!(retry_after <= Duration::from_secs(20), "{retry_after:?}");
        }
        Decision::Allowed => panic!("the fourth request of a burst of three was allowed"),
    }
}

async fn a_burst_smaller_than_the_rate_is_what_comes_at_once(limiter: Arc<dyn RateLimiter>) {
    let quota = quota(60, Duration::from_secs(60), 2);
    let bucket = key("small-burst");
    assert_eq!(decide(&*limiter, &bucket, quota).await, Decision::Allowed);
    assert_eq!(decide(&*limiter, &bucket, quota).await, Decision::Allowed);
    assert!(matches!(
        decide(&*limiter, &bucket, quota).await,
        Decision::Limited { retry_after } if retry_after <= Duration::from_secs(1)
    ));
}

async fn one_exhausted_bucket_leaves_the_others_alone(limiter: Arc<dyn RateLimiter>) {
    let quota = quota(1, Duration::from_secs(60), 1);
    let (a, b) = (key("a"), key("b"));
    assert_eq!(decide(&*limiter, &a, quota).await, Decision::Allowed);
    assert!(matches!(
        decide(&*limiter, &a, quota).await,
        Decision::Limited { .. }
    ));
    assert_eq!(decide(&*limiter, &b, quota).await, Decision::Allowed);
}

async fn allowance_comes_back_after_the_interval(limiter: Arc<dyn RateLimiter>) {
    let quota = quota(10, Duration::from_secs(1), 1);
    let bucket = key("refill");
    assert_eq!(decide(&*limiter, &bucket, quota).await, Decision::Allowed);
    let Decision::Limited { retry_after } = decide(&*limiter, &bucket, quota).await else {
        panic!("a second request within the interval was allowed");
    };
    assert!(retry_after <= Duration::from_millis(100), "{retry_after:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while decide(&*limiter, &bucket, quota).await != Decision::Allowed {
        assert!(Instant::now() < deadline, "the allowance never came back");
        tokio::task::yield_now().await;
    }
}

async fn concurrent_requests_get_exactly_the_burst(limiter: Arc<dyn RateLimiter>) {
    let quota = quota(10, Duration::from_secs(3600), 10);
    let bucket = key("race");
    let checks = (0..40).map(|_| {
        let limiter = limiter.clone();
        let bucket = bucket.clone();
        tokio::spawn(async move { decide(&*limiter, &bucket, quota).await })
    });
    let decisions = futures::future::join_all(checks).await;
    let allowed = decisions
        .into_iter()
        .filter(|d| matches!(d, Ok(Decision::Allowed)))
        .count();
    assert_eq!(allowed, 10);
}

/// Runs each scenario against an adapter made by `$make` (an async block
/// giving `Option<(Arc<dyn RateLimiter>, cleanup)>`).
macro_rules! contract {
    ($adapter:ident, $make:expr) => {
        mod $adapter {
            use super::*;

            contract!(@one $make, a_fresh_bucket_allows_its_burst_then_says_how_long_to_wait);
            contract!(@one $make, a_burst_smaller_than_the_rate_is_what_comes_at_once);
            contract!(@one $make, one_exhausted_bucket_leaves_the_others_alone);
            contract!(@one $make, allowance_comes_back_after_the_interval);
            contract!(@one $make, concurrent_requests_get_exactly_the_burst);
        }
    };
    (@one $make:expr, $scenario:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            let Some((limiter, cleanup)) = $make.await else {
                return;
            };
            super::$scenario(limiter).await;
            cleanup.await;
        }
    };
}

async fn memory() -> Option<(Arc<dyn RateLimiter>, futures::future::Ready<()>)> {
    Some((Arc::new(MemoryLimiter::new()), futures::future::ready(())))
}

async fn in_redis_server() -> Option<(
    Arc<dyn RateLimiter>,
    futures::future::BoxFuture<'static, ()>,
)> {
    let prefix = qicoo_testkit::RedisTestPrefix::create().await?;
    let limiter = RedisLimiter::new(&prefix.url, &prefix.prefix).expect("a Redis URL");
    Some((
        Arc::new(limiter),
        Box::pin(async move { prefix.drop_keys().await }),
    ))
}

contract!(in_memory, memory());
contract!(in_redis, in_redis_server());

#[tokio::test]
async fn the_redis_limiter_keeps_its_buckets_under_the_configured_prefix() {
    let Some(prefix) = qicoo_testkit::RedisTestPrefix::create().await else {
        return;
    };
    let limiter = RedisLimiter::new(&prefix.url, &prefix.prefix).expect("a Redis URL");
    let quota = quota(5, Duration::from_secs(60), 5);
    assert_eq!(
        decide(&limiter, "questions:p:someone", quota).await,
        Decision::Allowed
    );
    let client = redis::Client::open(prefix.url.as_str()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}rl:questions:p:someone", prefix.prefix))
        .query_async(&mut conn)
        .await
        .expect("PTTL");
    // One request's worth of allowance (12 s) comes back before it expires.
    assert!(ttl > 0 && ttl <= 12_001, "{ttl}");
    prefix.drop_keys().await;
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_decision() {
    // Nothing listens on port 1.
    let limiter = RedisLimiter::new("redis://127.0.0.1:1", "qicoo_test_down:").expect("a URL");
    let quota = quota(5, Duration::from_secs(60), 5);
    assert!(limiter.check("questions:p:x", quota).await.is_err());
}
