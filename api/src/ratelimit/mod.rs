//! Rate limits per route group: question posts and likes per participant;
//! participant tokens, meetup creation and live-stream connections per client
//! address. Over the limit a request is refused with 429 and `Retry-After`,
//! and counted in `qicoo_rate_limited_total{group}`.
//!
//! The decision is a [`RateLimiter`]: in memory (the embedded default, per
//! process) or in Redis (when `QICOO_REDIS_URL` is set, shared by every API
//! node). When the limiter itself fails (Redis down), requests are let through
//! — a limiter must not take the service down with it — and the failure is
//! logged and counted in `qicoo_rate_limiter_errors_total{group}`.

pub mod client;
#[cfg(test)]
mod contract;
pub mod memory;
pub mod quota;
pub mod redis;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use qicoo_domain::ParticipantId;

pub use client::{ClientAddr, ClientAddressRule, ForwardedHeader, TrustedProxy};
pub use quota::{Limit, Quota};

use crate::state::AppState;

/// What a limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit: the same request would be allowed after `retry_after`.
    Limited {
        retry_after: Duration,
    },
}

/// The limiter could not decide (its store is unreachable).
#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(pub String);

/// Takes one request's worth of allowance from the bucket `key` under
/// `quota`, or says how long until there is some.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, LimiterError>;
}

/// The route groups that have a limit of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// `POST /meetups/{id}/questions`, per participant.
    Questions,
    /// `PUT` and `DELETE /questions/{id}/vote`, per participant.
    Likes,
    /// `POST /participants`, per client address.
    Participants,
    /// `POST /meetups`, per client address.
    Meetups,
    /// WebSocket upgrades of `GET /meetups/{id}/live`, per client address.
    Live,
}

impl Group {
    /// The group's name in keys and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Questions => "questions",
            Self::Likes => "likes",
            Self::Participants => "participants",
            Self::Meetups => "meetups",
            Self::Live => "live",
        }
    }
}

/// The quota of each group; `None`: no limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quotas {
    pub questions: Option<Quota>,
    pub likes: Option<Quota>,
    pub participants: Option<Quota>,
    pub meetups: Option<Quota>,
    pub live: Option<Quota>,
}

impl Quotas {
    fn of(&self, group: Group) -> Option<Quota> {
        match group {
            Group::Questions => self.questions,
            Group::Likes => self.likes,
            Group::Participants => self.participants,
            Group::Meetups => self.meetups,
            Group::Live => self.live,
        }
    }
}

/// A refused request: over its group's limit.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("over the {} rate limit", group.name())]
pub struct RateLimited {
    pub group: Group,
    pub retry_after: Duration,
}

/// Whose allowance a request spends.
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    Participant(ParticipantId),
    Client(ClientAddr),
}

/// The limits of this node: a limiter and each group's quota.
pub struct RateLimits {
    limiter: Arc<dyn RateLimiter>,
    quotas: Quotas,
    /// When a limiter failure was last logged (Unix seconds), so that an
    /// outage logs once in a while, not once per request.
    last_failure_log: AtomicU64,
}

/// A limiter outage is logged at most this often (it is counted every time).
const FAILURE_LOG_EVERY_SECS: u64 = 10;

impl RateLimits {
    pub fn new(limiter: Arc<dyn RateLimiter>, quotas: Quotas) -> Self {
        Self {
            limiter,
            quotas,
            last_failure_log: AtomicU64::new(0),
        }
    }

    /// No limits at all.
    pub fn off() -> Self {
        Self::new(Arc::new(memory::MemoryLimiter::new()), Quotas::default())
    }

    /// Spends one request of `group` from `subject`'s bucket (already hashed
    /// or otherwise made a key), or refuses it.
    pub async fn check(&self, group: Group, subject: &str) -> Result<(), RateLimited> {
        let Some(quota) = self.quotas.of(group) else {
            return Ok(());
        };
        let key = format!("{}:{subject}", group.name());
        match self.limiter.check(&key, quota).await {
            Ok(Decision::Allowed) => Ok(()),
            Ok(Decision::Limited { retry_after }) => {
                metrics::counter!("qicoo_rate_limited_total", "group" => group.name()).increment(1);
                Err(RateLimited { group, retry_after })
            }
            Err(e) => {
                metrics::counter!("qicoo_rate_limiter_errors_total", "group" => group.name())
                    .increment(1);
                self.log_failure(group, &e);
                Ok(())
            }
        }
    }

    fn log_failure(&self, group: Group, error: &LimiterError) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_failure_log.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= FAILURE_LOG_EVERY_SECS
            && self
                .last_failure_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(group = group.name(), %error, "rate limiter failed; letting requests through");
        }
    }
}

impl AppState {
    /// Spends one request of `group` from `subject`'s allowance, or refuses
    /// it. Client addresses are keyed by their salted hash, so no raw address
    /// is written to Redis.
    pub async fn rate_limit(&self, group: Group, subject: Subject) -> Result<(), RateLimited> {
        let key = match subject {
            Subject::Participant(id) => format!("p:{}", id.as_uuid().simple()),
            Subject::Client(ClientAddr(Some(ip))) => format!("a:{}", self.client_key(ip)),
            // Served without connect info: no address to tell clients apart.
            Subject::Client(ClientAddr(None)) => "a:unknown".to_owned(),
        };
        self.rate_limits.check(group, &key).await
    }

    fn client_key(&self, ip: IpAddr) -> String {
        self.signer.client_hash(&ip.to_string())
    }
}

/// The limits `qicoo serve` was configured with: in Redis when it has one
/// (shared by every API node), in memory otherwise (this process only).
pub fn from_args(
    args: &crate::config::RateLimitArgs,
    redis: &crate::config::LeaderboardArgs,
) -> Result<RateLimits, LimiterError> {
    use secrecy::ExposeSecret;

    let limiter: Arc<dyn RateLimiter> = match &redis.redis_url {
        Some(url) => Arc::new(redis::RedisLimiter::new(
            url.expose_secret(),
            &redis.redis_prefix,
        )?),
        None => Arc::new(memory::MemoryLimiter::new()),
    };
    Ok(RateLimits::new(limiter, args.quotas()))
}
