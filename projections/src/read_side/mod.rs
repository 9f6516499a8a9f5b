//! The read side as the API uses it: connect to the stores named by the
//! configuration, run the projections, answer queries, report status, and
//! rebuild projections from position zero.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use qicoo_storage::redacted;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::archive::EventArchive;
use crate::changes::ChangeStream;
use crate::error::{ReadSideError, StoreError};
use crate::feed::{AppendNotifier, EventFeed};
use crate::leaderboard::{LeaderboardStore, LEADERBOARD};
use crate::queries::{ModelQueries, ReadQueries};
use crate::readmodel::{ReadModelStore, READ_MODEL};
use crate::runner::{Leadership, ProjectionStatus, StatusBoard, WorkerSettings, WorkerState};

mod bounded;
mod bulk_pass;
mod connect;
mod rebuild;
mod replay;
mod workers;

pub use bounded::QUERY_TIMEOUT;
pub use rebuild::{Fresh, Rebuildable};
use rebuild::{LeaderboardRebuild, ReadModelRebuild};
pub use replay::Replayed;

/// How long [`ReadSide::status`] waits for each store.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

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
    archive: Arc<dyn EventArchive>,
    notifier: AppendNotifier,
    model: Arc<dyn ReadModelStore>,
    leaderboard: Arc<dyn LeaderboardStore>,
    leaderboard_persists: bool,
    leadership: Leadership,
    settings: WorkerSettings,
    board: StatusBoard,
    /// The read-model worker's watermark, for waiters in this process.
    watermark: watch::Sender<i64>,
    queries: Arc<ModelQueries>,
    /// The same queries, each with a deadline: what the API is given.
    bounded: Arc<dyn ReadQueries>,
    /// Where the read model publishes what it changed.
    changes: Arc<dyn ChangeStream>,
    /// Every projection, in [`PROJECTIONS`] order, as a replay rebuilds it.
    rebuildables: Vec<Arc<dyn Rebuildable>>,
    /// True once the read model's migrations are applied: workers start
    /// only then.
    migrated: watch::Sender<bool>,
    /// The background migration of a read model that was down at start.
    background: TaskTracker,
    /// Stops the background migration.
    stop: CancellationToken,
}

impl ReadSide {
    /// Connects to the stores and applies the read-model migrations. The event
    /// store's own migrations are the write side's to run (before projectors
    /// start).
    pub async fn connect(config: ReadSideConfig) -> Result<Self, ReadSideError> {
        let read_side = Self::build(config).await?;
        read_side.model.migrate().await?;
        read_side.migrated.send_replace(true);
        Ok(read_side)
    }

    /// Like [`ReadSide::connect`], for a serving process: when the read model
    /// cannot be reached now, returns at once and migrates it in the
    /// background (retrying with backoff) as soon as it appears; the
    /// projection workers start after that. Meanwhile queries fail as
    /// unavailable and [`ReadSide::status`] says so.
    pub async fn open(config: ReadSideConfig) -> Result<Self, ReadSideError> {
        let read_side = Self::build(config).await?;
        match read_side.model.migrate().await {
            Ok(()) => {
                read_side.migrated.send_replace(true);
            }
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "the read model cannot be reached; serving without it until it can");
                read_side.background.spawn(migrate_when_reachable(
                    read_side.model.clone(),
                    read_side.migrated.clone(),
                    read_side.stop.clone(),
                ));
            }
            Err(e) => return Err(e),
        }
        read_side.background.close();
        Ok(read_side)
    }

    /// Like [`ReadSide::open`], for a process that does not own the schema
    /// (the migration Job does): checks, changing nothing, that the read
    /// model has every migration this binary carries. Until it has, the
    /// projection workers wait, [`ReadSide::migrated`] is false, and the check
    /// is repeated in the background, so that the process carries on as soon
    /// as the migration has run.
    pub async fn open_checked(config: ReadSideConfig) -> Result<Self, ReadSideError> {
        let read_side = Self::build(config).await?;
        match read_side.model.schema_status().await {
            Ok(status) if status.is_current() => {
                read_side.migrated.send_replace(true);
            }
            first => {
                report_schema(&first, true);
                read_side.background.spawn(wait_for_schema(
                    read_side.model.clone(),
                    read_side.migrated.clone(),
                    read_side.stop.clone(),
                ));
            }
        }
        read_side.background.close();
        Ok(read_side)
    }

    /// Whether the read model's migrations have been applied (by this
    /// process or, with [`ReadSide::open_checked`], by another).
    pub fn migrated(&self) -> bool {
        *self.migrated.borrow()
    }

    async fn build(config: ReadSideConfig) -> Result<Self, ReadSideError> {
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
            archive: stores.archive,
            notifier: stores.notifier,
            model: stores.model,
            leaderboard: stores.leaderboard,
            leaderboard_persists: stores.leaderboard_persists,
            leadership: stores.leadership,
            settings: config.worker,
            board: StatusBoard::default(),
            watermark,
            bounded: Arc::new(bounded::Bounded(queries.clone())),
            queries,
            changes: stores.changes,
            rebuildables,
            migrated: watch::channel(false).0,
            background: TaskTracker::new(),
            stop: CancellationToken::new(),
        })
    }

    /// Stops the read side's own background tasks (the feed's listener, a
    /// pending migration) and waits for them; the workers stop on the token
    /// they were spawned with.
    pub async fn close(&self) {
        self.stop.cancel();
        self.background.close();
        self.background.wait().await;
        self.feed.close().await;
    }

    /// The queries, each failing as unavailable after [`QUERY_TIMEOUT`]
    /// (beyond a wait for a position it was asked for).
    pub fn queries(&self) -> Arc<dyn ReadQueries> {
        self.bounded.clone()
    }

    /// The event store read per meetup (audit and export).
    pub fn archive(&self) -> Arc<dyn EventArchive> {
        self.archive.clone()
    }

    /// The event store in feed order (verification).
    pub fn feed(&self) -> Arc<dyn EventFeed> {
        self.feed.clone()
    }

    /// The read model itself (audit: chain links and verification).
    pub fn read_model(&self) -> Arc<dyn ReadModelStore> {
        self.model.clone()
    }

    /// The leaderboard store when it persists beyond this process (Redis);
    /// `None` for the in-memory one, which each serving process keeps for
    /// itself.
    pub fn stored_leaderboard(&self) -> Option<Arc<dyn LeaderboardStore>> {
        self.leaderboard_persists.then(|| self.leaderboard.clone())
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
    /// Each store is given [`STATUS_TIMEOUT`] to answer: a status is asked
    /// for by probes, which must not hang on a store that does not answer.
    pub async fn status(&self) -> Vec<ProjectionStatus> {
        let head = tokio::time::timeout(STATUS_TIMEOUT, self.feed.head())
            .await
            .ok()
            .and_then(Result::ok);
        let mut out = Vec::with_capacity(self.rebuildables.len());
        for projection in &self.rebuildables {
            let mut status = self.board.get(projection.name());
            if status.state == WorkerState::NotRunning {
                let stored =
                    tokio::time::timeout(STATUS_TIMEOUT, projection.stored_checkpoint()).await;
                match stored.unwrap_or_else(|_| {
                    Err(StoreError::Unavailable {
                        store: projection.name(),
                        message: format!("no answer within {STATUS_TIMEOUT:?}"),
                    })
                }) {
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

/// Says why the read model cannot be used yet: loudly the first time (an
/// operator must run the migration), quietly on each retry.
fn report_schema(check: &Result<qicoo_storage::SchemaStatus, StoreError>, first: bool) {
    match check {
        Ok(status) if status.is_current() => {}
        Ok(status) if first => tracing::error!(
            %status,
            "the read model's schema is older than this version of Qicoo needs; \
             run `qicoo migrate` (the migration Job): the read model is not used until then"
        ),
        Ok(status) => tracing::debug!(%status, "the read model's schema is still behind"),
        Err(e) if first => {
            tracing::warn!(error = %e, "cannot check the read model's schema; retrying")
        }
        Err(e) => tracing::debug!(error = %e, "cannot check the read model's schema yet"),
    }
}

/// Checks the read model's schema every second until it carries every
/// migration this binary needs (another process migrates it), or `stop`.
async fn wait_for_schema(
    model: Arc<dyn ReadModelStore>,
    migrated: watch::Sender<bool>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let check = tokio::select! {
            () = stop.cancelled() => return,
            check = model.schema_status() => check,
        };
        if matches!(&check, Ok(status) if status.is_current()) {
            tracing::info!("the read model's schema is current");
            migrated.send_replace(true);
            return;
        }
        report_schema(&check, false);
    }
}

/// Applies the read model's migrations once it answers, retrying with
/// backoff (at most a second apart, so that a returning database is used at
/// once) until it succeeds or `stop`.
async fn migrate_when_reachable(
    model: Arc<dyn ReadModelStore>,
    migrated: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            attempt = model.migrate() => attempt,
        };
        match attempt {
            Ok(()) => {
                tracing::info!("the read model is reachable and migrated");
                migrated.send_replace(true);
                return;
            }
            Err(e) if e.is_unavailable() => {
                tracing::debug!(error = %e, "the read model is still unreachable");
            }
            Err(e) => tracing::error!(error = %e, "migrating the read model failed; retrying"),
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}
