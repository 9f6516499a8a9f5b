//! The read side as the API uses it: connect to the stores named by the
//! configuration, run the projections, answer queries, report status, and
//! rebuild projections from position zero.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use qicoo_storage::redacted;
use tokio::sync::watch;

use crate::changes::ChangeStream;
use crate::error::{ReadSideError, StoreError};
use crate::feed::{AppendNotifier, EventFeed};
use crate::leaderboard::{LeaderboardStore, LEADERBOARD};
use crate::queries::{ModelQueries, ReadQueries};
use crate::readmodel::{ReadModelStore, READ_MODEL};
use crate::runner::{Leadership, ProjectionStatus, StatusBoard, WorkerSettings, WorkerState};

mod connect;
mod rebuild;
mod replay;
mod workers;

pub use rebuild::{Fresh, Rebuildable};
use rebuild::{LeaderboardRebuild, ReadModelRebuild};
pub use replay::Replayed;

/// The projections, by name.
pub const PROJECTIONS: [&str; 2] = [READ_MODEL, LEADERBOARD];

/// Where the read side's stores are.
#[derive(Clone)]
pub struct ReadSideConfig {
    /// `postgres://…`, `postgresql://…` or `sqlite://path`.
    pub event_store_url: String,
    /// `mysql://…` or `sqlite://…`; `None`: the event store's SQLite file.
    pub read_model_url: Option<String>,
    /// `redis://…`; `None`: an in-memory leaderboard.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (for example `qicoo:`).
    pub redis_prefix: String,
    /// Worker tuning.
    pub worker: WorkerSettings,
    /// Connections per database pool (`QICOO_DB_MAX_CONNECTIONS`).
    pub max_connections: u32,
}

impl ReadSideConfig {
    /// The embedded default around an event store: read model in the same
    /// SQLite file, leaderboard in memory.
    pub fn new(event_store_url: impl Into<String>) -> Self {
        Self {
            event_store_url: event_store_url.into(),
            read_model_url: None,
            redis_url: None,
            redis_prefix: "qicoo:".to_owned(),
            worker: WorkerSettings::default(),
            max_connections: 10,
        }
    }
}

/// Shows where the stores are without the credentials in their URLs.
impl fmt::Debug for ReadSideConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadSideConfig")
            .field("event_store_url", &redacted(&self.event_store_url))
            .field(
                "read_model_url",
                &self.read_model_url.as_deref().map(redacted),
            )
            .field("redis_url", &self.redis_url.as_deref().map(redacted))
            .field("redis_prefix", &self.redis_prefix)
            .field("worker", &self.worker)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// The read side: feed, read model, leaderboard, workers' status.
pub struct ReadSide {
    feed: Arc<dyn EventFeed>,
    notifier: AppendNotifier,
    model: Arc<dyn ReadModelStore>,
    leaderboard: Arc<dyn LeaderboardStore>,
    leadership: Leadership,
    settings: WorkerSettings,
    board: StatusBoard,
    /// The read-model worker's watermark, for waiters in this process.
    watermark: watch::Sender<i64>,
    queries: Arc<ModelQueries>,
    /// Where the read model publishes what it changed.
    changes: Arc<dyn ChangeStream>,
    /// Every projection, in [`PROJECTIONS`] order, as a replay rebuilds it.
    rebuildables: Vec<Arc<dyn Rebuildable>>,
}

impl ReadSide {
    /// Connects to the stores and applies the read-model migrations. The event
    /// store's own migrations are the write side's to run (before projectors
    /// start).
    pub async fn connect(config: ReadSideConfig) -> Result<Self, ReadSideError> {
        let stores = connect::open(&config).await?;
        let (watermark, watermark_rx) = watch::channel(0);
        let queries = Arc::new(ModelQueries::new(
            stores.model.clone(),
            stores.leaderboard.clone(),
            watermark_rx,
        ));
        let rebuildables: Vec<Arc<dyn Rebuildable>> = vec![
            Arc::new(ReadModelRebuild(stores.model.clone())),
            Arc::new(LeaderboardRebuild {
                store: stores.leaderboard.clone(),
                persists: stores.leaderboard_persists,
            }),
        ];
        Ok(Self {
            feed: stores.feed,
            notifier: stores.notifier,
            model: stores.model,
            leaderboard: stores.leaderboard,
            leadership: stores.leadership,
            settings: config.worker,
            board: StatusBoard::default(),
            watermark,
            queries,
            changes: stores.changes,
            rebuildables,
        })
    }

    /// Stops the read side's own background tasks (the feed's listener) and
    /// waits for them; the workers stop on the token they were spawned with.
    pub async fn close(&self) {
        self.feed.close().await;
    }

    /// The queries.
    pub fn queries(&self) -> Arc<dyn ReadQueries> {
        self.queries.clone()
    }

    /// The change stream the read-model projection publishes to (for the
    /// API's live stream).
    pub fn changes(&self) -> Arc<dyn ChangeStream> {
        self.changes.clone()
    }

    /// Call `notify()` on it after appending events, to start projecting at
    /// once rather than at the next poll (useful with the SQLite store; the
    /// Postgres one also listens for the insert trigger).
    pub fn append_notifier(&self) -> AppendNotifier {
        self.notifier.clone()
    }

    /// Each projection's state here, checkpoint and lag. Projections whose
    /// worker runs elsewhere report `NotRunning` with their stored checkpoint.
    pub async fn status(&self) -> Vec<ProjectionStatus> {
        let head = self.feed.head().await.ok();
        let mut out = Vec::with_capacity(self.rebuildables.len());
        for projection in &self.rebuildables {
            let mut status = self.board.get(projection.name());
            if status.state == WorkerState::NotRunning {
                match projection.stored_checkpoint().await {
                    Ok(cp) => {
                        status.checkpoint = cp.map(|c| c.max_position);
                        status.watermark = cp.map(|c| c.watermark);
                    }
                    Err(e) => status.error = Some(e.to_string()),
                }
            }
            status.lag = head.map(|h| (h - status.checkpoint.unwrap_or(0)).max(0));
            out.push(status);
        }
        out
    }

    /// True when some projection in this process has stopped on an error
    /// that needs an operator (for readiness).
    pub fn any_failed(&self) -> bool {
        PROJECTIONS
            .iter()
            .any(|name| self.board.get(name).state == WorkerState::Failed)
    }

    /// How far the leaderboard reflects the event store: every event up to the
    /// returned position is ranked (0 before anything was).
    pub async fn leaderboard_position(&self) -> Result<i64, StoreError> {
        Ok(self
            .leaderboard
            .checkpoint()
            .await?
            .map_or(0, |c| c.watermark))
    }

    /// Waits until the leaderboard reaches `position` or `timeout` passes;
    /// returns the position reached either way. The leaderboard is a projection
    /// of its own and may trail the read model.
    pub async fn wait_for_leaderboard(
        &self,
        position: i64,
        timeout: Duration,
    ) -> Result<i64, StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let reached = self.leaderboard_position().await?;
            if reached >= position || tokio::time::Instant::now() >= deadline {
                return Ok(reached);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
