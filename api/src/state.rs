//! What every handler can reach: a cheap `Clone` of `Arc`s.

use std::sync::Arc;

use qicoo_commands::CommandService;
use qicoo_projections::{ReadQueries, ReadSide, WorkerState};

use crate::auth::{HasSigner, Signer};
use crate::config::Role;
use crate::live::{LiveGate, LiveHub};
use crate::ratelimit::{ClientAddressRule, RateLimits};

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    /// The write side.
    pub commands: Arc<CommandService>,
    /// The read side's queries (read model and leaderboards).
    pub queries: Arc<dyn ReadQueries>,
    /// The read side itself, for projection status.
    pub read_side: Arc<ReadSide>,
    /// Signs participant tokens and hashes client addresses.
    pub signer: Signer,
    /// Settings that decide health and readiness.
    pub health: HealthSettings,
    /// The cached, time-boxed checks behind `/readyz`, and the event store's
    /// schema state.
    pub readiness: Arc<crate::readiness::Readiness>,
    /// This node's end of the live stream.
    pub live: Arc<LiveHub>,
    /// The live stream's connection cap and allowed origins.
    pub live_gate: LiveGate,
    /// Each route group's rate limit.
    pub rate_limits: Arc<RateLimits>,
    /// Which address a request comes from (forwarding headers of trusted
    /// proxies only).
    pub client_addresses: Arc<ClientAddressRule>,
}

/// What `/readyz` checks.
#[derive(Clone, Copy, Debug)]
pub struct HealthSettings {
    pub role: Role,
    /// Beyond this many events behind the event store, the read model is
    /// reported as lagging (a header on answers, a field in `/readyz`).
    pub max_lag: i64,
}

impl AppState {
    /// Publishes the database pools' use as gauges (called at each scrape).
    pub fn record_pool_gauges(&self) {
        let (size, idle) = self.commands.store().pool_usage();
        let in_use = size.saturating_sub(idle);
        metrics::gauge!("qicoo_db_pool_connections", "pool" => "event_store", "state" => "in_use")
            .set(f64::from(in_use));
        metrics::gauge!("qicoo_db_pool_connections", "pool" => "event_store", "state" => "idle")
            .set(f64::from(idle));
    }
}

impl AppState {
    /// Publishes each projection's state as gauges (called at each scrape): its
    /// checkpoint, watermark, lag in events and in seconds, whether this process
    /// holds its lock, whether it failed. Standbys report `lock_held` 0, so the
    /// sum over processes is 1 when all is well.
    pub async fn record_projection_gauges(&self) {
        for status in self.read_side.status().await {
            let name = status.name.clone();
            let gauge = |metric: &'static str, value: f64| {
                metrics::gauge!(metric, "projection" => name.clone()).set(value);
            };
            if let Some(checkpoint) = status.checkpoint {
                gauge("qicoo_projection_checkpoint", checkpoint as f64);
            }
            if let Some(watermark) = status.watermark {
                gauge("qicoo_projection_watermark", watermark as f64);
                let behind = self
                    .commands
                    .store()
                    .first_recorded_after(watermark)
                    .await
                    .ok()
                    .flatten()
                    .map(|at| (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0);
                gauge("qicoo_projection_lag_seconds", behind.unwrap_or(0.0));
            }
            if let Some(lag) = status.lag {
                gauge("qicoo_projection_lag_events", lag as f64);
            }
            let held = status.state == WorkerState::Active;
            gauge("qicoo_projection_lock_held", if held { 1.0 } else { 0.0 });
            let failed = status.state == WorkerState::Failed;
            gauge("qicoo_projection_failed", if failed { 1.0 } else { 0.0 });
        }
    }
}

impl HasSigner for AppState {
    fn signer(&self) -> &Signer {
        &self.signer
    }
}
