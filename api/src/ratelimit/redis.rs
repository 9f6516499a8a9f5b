//! The Redis rate limiter: the same GCRA as in memory, decided in one Lua
//! script on the Redis server (by its clock), so that every API node sharing
//! the Redis shares each limit. Keys are `<prefix>rl:<group>:<subject>` and
//! expire once their allowance is full again.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Decision, LimiterError, Quota, RateLimiter};

/// How long a check may wait for Redis before it is given up (and the request
/// let through): a limiter must not become the slow part of every command.
const CHECK_TIMEOUT: Duration = Duration::from_millis(300);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// GCRA over a theoretical arrival time (TAT) in microseconds of the server's
/// clock. KEYS[1]: the bucket; ARGV[1]: the interval between requests, ARGV[2]:
/// the burst. Returns `{1, 0}` when allowed, `{0, µs to wait}` when not.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allowed_at = tat - tolerance
if now < allowed_at then
  return {0, allowed_at - now}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
";

/// Rate limits kept in Redis, shared by the API nodes that use it.
pub struct RedisLimiter {
    conn: ConnectionManager,
    prefix: String,
    script: redis::Script,
}

impl RedisLimiter {
    /// A limiter at `url` with keys under `prefix`. Connects lazily: a Redis
    /// that is down only lets requests through until it is back.
    pub fn new(url: &str, prefix: &str) -> Result<Self, LimiterError> {
        let client = redis::Client::open(url).map_err(|e| LimiterError(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CHECK_TIMEOUT));
        let conn = client
            .get_connection_manager_lazy(config)
            .map_err(|e| LimiterError(e.to_string()))?;
        Ok(Self {
            conn,
            prefix: format!("{prefix}rl:"),
            script: redis::Script::new(GCRA),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, LimiterError> {
        let interval = u64::try_from(quota.interval().as_micros()).unwrap_or(u64::MAX);
        let mut conn = self.conn.clone();
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation.arg(interval.max(1)).arg(quota.burst().get());
        let answer = tokio::time::timeout(
            CHECK_TIMEOUT,
            invocation.invoke_async::<(i64, i64)>(&mut conn),
        )
        .await
        .map_err(|_| LimiterError(format!("Redis did not answer within {CHECK_TIMEOUT:?}")))?
        .map_err(|e| LimiterError(e.to_string()))?;
        Ok(match answer {
            (1, _) => Decision::Allowed,
            (_, wait) => Decision::Limited {
                retry_after: Duration::from_micros(u64::try_from(wait).unwrap_or(0)),
            },
        })
    }
}
