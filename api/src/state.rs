//! What every handler can reach: a cheap `Clone` of `Arc`s.

use std::sync::Arc;

use qicoo_commands::CommandService;
use qicoo_projections::{ReadQueries, ReadSide};

use crate::auth::{HasSigner, Signer};
use crate::config::Role;
use crate::live::{LiveGate, LiveHub};

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
    /// This node's end of the live stream.
    pub live: Arc<LiveHub>,
    /// The live stream's connection cap and allowed origins.
    pub live_gate: LiveGate,
}

/// What `/readyz` checks.
#[derive(Clone, Copy, Debug)]
pub struct HealthSettings {
    pub role: Role,
    /// An API node with a read model further behind than this is not ready.
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

impl HasSigner for AppState {
    fn signer(&self) -> &Signer {
        &self.signer
    }
}
