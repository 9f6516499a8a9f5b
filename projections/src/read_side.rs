//! The read side as the API uses it: connect to the stores named by the
//! configuration, run the projections, answer queries, report status, and
//! rebuild projections from position zero.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::changes::{ChangeStream, InProcessChanges, RedisChanges};
use crate::error::{ReadSideError, StoreError};
use crate::event::Checkpoint;
use crate::feed::{AppendNotifier, EventFeed, PostgresFeed, SqliteFeed};
use crate::leaderboard::{
    LeaderboardProjection, LeaderboardStore, MemoryLeaderboard, RedisLeaderboard, LEADERBOARD,
};
use crate::publishing::PublishingReadModel;
use crate::queries::{ReadQueries, SqlQueries};
use crate::readmodel::{sql_err, SqlReadModel, READ_MODEL};
use crate::runner::{
    step, Leadership, Projection, ProjectionStatus, StatusBoard, Step, StepError, Worker,
    WorkerSettings, WorkerState,
};

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
            .finish()
    }
}

/// A URL with any `user:password@` replaced.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Opens a SQLite file the way both sides of Qicoo do: created if missing,
/// write-ahead log, and a generous busy timeout because the write side and
/// the projections share it.
fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, ReadSideError> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| ReadSideError::Config(format!("invalid SQLite URL: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10)))
}

async fn open_sqlite(url: &str, store: &'static str) -> Result<SqlitePool, ReadSideError> {
    SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(sqlite_options(url)?)
        .await
        .map_err(|e| StoreError::from_sqlx(store, e).into())
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The read side: feed, read model, leaderboard, workers' status.
pub struct ReadSide {
    feed: Arc<dyn EventFeed>,
    notifier: AppendNotifier,
    model: SqlReadModel,
    leaderboard: Arc<dyn LeaderboardStore>,
    leadership: Leadership,
    settings: WorkerSettings,
    board: StatusBoard,
    /// The read-model worker's watermark, for waiters in this process.
    watermark: watch::Sender<i64>,
    queries: Arc<SqlQueries>,
    /// Where the read model publishes what it changed.
    changes: Arc<dyn ChangeStream>,
}

impl ReadSide {
    /// Connects to the stores and applies the read-model migrations. The event
    /// store's own migrations are the write side's to run (before projectors
    /// start).
    pub async fn connect(config: ReadSideConfig) -> Result<Self, ReadSideError> {
        let (feed, notifier, leadership, event_sqlite): (
            Arc<dyn EventFeed>,
            AppendNotifier,
            Leadership,
            Option<SqlitePool>,
        ) = if is_postgres(&config.event_store_url) {
            let pool = PgPoolOptions::new()
                .max_connections(5)
                .acquire_timeout(Duration::from_secs(5))
                .connect_lazy(&config.event_store_url)
                .map_err(|e| ReadSideError::Config(format!("invalid Postgres URL: {e}")))?;
            let options = Box::new(pool.connect_options().as_ref().clone());
            let feed = PostgresFeed::new(pool);
            let notifier = feed.notifier();
            (
                Arc::new(feed),
                notifier,
                Leadership::Postgres(options),
                None,
            )
        } else if config.event_store_url.starts_with("sqlite:") {
            let pool = open_sqlite(&config.event_store_url, "event store").await?;
            let feed = SqliteFeed::new(pool.clone());
            let notifier = feed.notifier();
            (Arc::new(feed), notifier, Leadership::InProcess, Some(pool))
        } else {
            return Err(ReadSideError::Config(
                "the event store URL must start with postgres://, postgresql:// or sqlite:".into(),
            ));
        };

        let model = match (&config.read_model_url, event_sqlite) {
            (None, Some(pool)) => SqlReadModel::sqlite(pool),
            (None, None) => {
                return Err(ReadSideError::Config(
                    "a Postgres event store needs a read model URL (mysql://… or sqlite://…)"
                        .into(),
                ))
            }
            (Some(url), _) if url.starts_with("mysql://") || url.starts_with("mariadb://") => {
                let pool = MySqlPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(url)
                    .await
                    .map_err(|e| StoreError::from_sqlx("read model", e))?;
                SqlReadModel::mysql(pool)
            }
            (Some(url), _) if url.starts_with("sqlite:") => {
                SqlReadModel::sqlite(open_sqlite(url, "read model").await?)
            }
            (Some(_), _) => {
                return Err(ReadSideError::Config(
                    "the read model URL must start with mysql:// or sqlite:".into(),
                ))
            }
        };
        model.migrate().await?;

        let leaderboard: Arc<dyn LeaderboardStore> = match &config.redis_url {
            Some(url) => Arc::new(RedisLeaderboard::new(url, &config.redis_prefix)?),
            None => Arc::new(MemoryLeaderboard::new()),
        };
        let changes: Arc<dyn ChangeStream> = match &config.redis_url {
            Some(url) => Arc::new(RedisChanges::new(url, &config.redis_prefix)?),
            None => Arc::new(InProcessChanges::default()),
        };
        let (watermark, watermark_rx) = watch::channel(0);
        let queries = Arc::new(SqlQueries::new(
            model.clone(),
            leaderboard.clone(),
            watermark_rx,
        ));
        Ok(Self {
            feed,
            notifier,
            model,
            leaderboard,
            leadership,
            settings: config.worker,
            board: StatusBoard::default(),
            watermark,
            queries,
            changes,
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

    /// Runs every projection's worker until `cancel`; the handle finishes once
    /// all of them have finished their batch and released their locks.
    pub fn spawn_projectors(&self, cancel: CancellationToken) -> JoinHandle<()> {
        let projections: [(Arc<dyn Projection>, watch::Sender<i64>); 2] = [
            (
                Arc::new(PublishingReadModel::new(
                    self.model.clone(),
                    self.queries.clone(),
                    self.changes.clone(),
                )),
                self.watermark.clone(),
            ),
            (
                Arc::new(LeaderboardProjection::new(self.leaderboard.clone())),
                // Only the read model's watermark answers read-your-writes.
                watch::channel(0).0,
            ),
        ];
        let handles: Vec<JoinHandle<()>> = projections
            .into_iter()
            .map(|(projection, watermark)| {
                let worker = Worker {
                    projection,
                    feed: self.feed.clone(),
                    leadership: self.leadership.clone(),
                    settings: self.settings,
                    board: self.board.clone(),
                    watermark,
                };
                tokio::spawn(worker.run(cancel.clone()))
            })
            .collect();
        tokio::spawn(async move {
            for handle in handles {
                if let Err(e) = handle.await {
                    tracing::error!(error = %e, "a projection worker panicked");
                }
            }
        })
    }

    /// Each projection's state here, checkpoint and lag. Projections whose
    /// worker runs elsewhere report `NotRunning` with their stored checkpoint.
    pub async fn status(&self) -> Vec<ProjectionStatus> {
        let head = self.feed.head().await.ok();
        let mut out = Vec::with_capacity(PROJECTIONS.len());
        for name in PROJECTIONS {
            let mut status = self.board.get(name);
            if status.state == WorkerState::NotRunning {
                match self.stored_checkpoint(name).await {
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

    async fn stored_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        if name == READ_MODEL {
            self.model.checkpoint().await
        } else {
            self.leaderboard.checkpoint().await
        }
    }

    /// Rebuilds `projection` (`None` or `"all"`: every one) from position zero
    /// into fresh tables / keys while the current ones keep serving, then
    /// swaps them in atomically. The running workers notice that their
    /// checkpoint moved and carry on from the rebuilt one. `progress` gets
    /// (projection, events done, events in total so far). Refuses to run while
    /// another replay runs.
    pub async fn replay(
        &self,
        projection: Option<&str>,
        mut progress: impl FnMut(&str, u64, u64) + Send,
        cancel: CancellationToken,
    ) -> Result<(), ReadSideError> {
        let names: Vec<&'static str> = match projection {
            None | Some("all") => PROJECTIONS.to_vec(),
            Some(name) => match PROJECTIONS.iter().find(|p| **p == name) {
                Some(p) => vec![*p],
                None => {
                    return Err(ReadSideError::Config(format!(
                        "no projection named {name:?} (known: {})",
                        PROJECTIONS.join(", ")
                    )))
                }
            },
        };
        let lock = ReplayLock::acquire(&self.model).await?;
        let mut result = Ok(());
        for name in names {
            result = self.replay_one(name, &lock, &mut progress, &cancel).await;
            if result.is_err() {
                break;
            }
        }
        lock.release().await;
        result
    }

    async fn replay_one(
        &self,
        name: &'static str,
        lock: &ReplayLock,
        progress: &mut (dyn FnMut(&str, u64, u64) + Send),
        cancel: &CancellationToken,
    ) -> Result<(), ReadSideError> {
        tracing::info!(projection = name, "replay started");
        let fresh: Arc<dyn Projection> = if name == READ_MODEL {
            let fresh = self.model.fresh();
            fresh.create_fresh_tables().await?;
            Arc::new(fresh)
        } else {
            let fresh = self.leaderboard.fresh();
            self.leaderboard.clear_fresh().await?;
            Arc::new(LeaderboardProjection::new(fresh))
        };
        let caught_up = self
            .catch_up(fresh.as_ref(), name, lock, progress, cancel)
            .await;
        match caught_up {
            Ok(()) => {
                self.swap_in(name).await?;
                tracing::info!(projection = name, "replay finished and swapped in");
                Ok(())
            }
            Err(e) => {
                let dropped = if name == READ_MODEL {
                    self.model.fresh().drop_fresh_tables().await
                } else {
                    self.leaderboard.clear_fresh().await
                };
                if let Err(d) = dropped {
                    tracing::warn!(projection = name, error = %d, "cannot drop the replay's fresh tables");
                }
                Err(e)
            }
        }
    }

    /// Swaps the fresh tables / keys in, retrying a few times when the
    /// store reports a passing error (a deadlock with a worker's batch, in
    /// MySQL, is one).
    async fn swap_in(&self, name: &str) -> Result<(), ReadSideError> {
        let mut attempt = 0;
        loop {
            let swapped = if name == READ_MODEL {
                self.model.swap_in_fresh().await
            } else {
                self.leaderboard.swap_in_fresh().await
            };
            match swapped {
                Err(e) if e.is_transient() && attempt < 5 => {
                    attempt += 1;
                    tracing::warn!(projection = name, error = %e, "swapping in the replay failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                other => return other.map_err(Into::into),
            }
        }
    }

    async fn catch_up(
        &self,
        projection: &dyn Projection,
        name: &str,
        lock: &ReplayLock,
        progress: &mut (dyn FnMut(&str, u64, u64) + Send),
        cancel: &CancellationToken,
    ) -> Result<(), ReadSideError> {
        let mut checkpoint = projection.load().await?;
        let mut total = self
            .feed
            .count_after(checkpoint.unwrap_or_default().feed)
            .await?;
        let mut done = 0_u64;
        let mut backoff = Duration::from_millis(100);
        progress(name, done, total);
        loop {
            if cancel.is_cancelled() {
                return Err(ReadSideError::Cancelled);
            }
            match step(
                projection,
                self.feed.as_ref(),
                &mut checkpoint,
                self.settings.batch_size,
            )
            .await
            {
                Ok(Step::Applied(n)) => {
                    backoff = Duration::from_millis(100);
                    done += n as u64;
                    total = total.max(done);
                    progress(name, done, total);
                    lock.renew().await?;
                    // A short batch means the head was reached. Waiting for an
                    // empty one could take forever while events keep coming;
                    // the live workers carry on from here after the swap.
                    if n < self.settings.batch_size {
                        return Ok(());
                    }
                }
                Ok(Step::Idle) => return Ok(()),
                Err(StepError::Transient(e)) => {
                    tracing::warn!(projection = name, error = %e, "store error during replay; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
                Err(StepError::Moved) => {
                    return Err(ReadSideError::Replay(
                        "something else wrote the replay's fresh tables".into(),
                    ))
                }
                Err(StepError::Fatal(reason)) => return Err(ReadSideError::Replay(reason)),
            }
        }
    }
}

/// The row in `replay_locks` that keeps a second replay from starting. A
/// lease: renewed while the replay makes progress, taken over when expired
/// (a replay that crashed).
struct ReplayLock {
    model: SqlReadModel,
    holder: String,
}

const REPLAY_LOCK: &str = "replay";
const REPLAY_LEASE_MS: i64 = 60_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl ReplayLock {
    async fn acquire(model: &SqlReadModel) -> Result<Self, ReadSideError> {
        let holder = uuid::Uuid::new_v4().to_string();
        let pool = model.pool();
        pool.execute(
            "DELETE FROM replay_locks WHERE name = ? AND expires_at < ?",
            vec![REPLAY_LOCK.into(), now_ms().into()],
        )
        .await
        .map_err(sql_err)?;
        let inserted = pool
            .execute(
                &format!(
                    "{} INTO replay_locks (name, holder, expires_at) VALUES (?, ?, ?)",
                    pool.dialect().insert_ignore()
                ),
                vec![
                    REPLAY_LOCK.into(),
                    holder.clone().into(),
                    (now_ms() + REPLAY_LEASE_MS).into(),
                ],
            )
            .await
            .map_err(sql_err)?;
        if inserted != 1 {
            return Err(ReadSideError::ReplayRunning);
        }
        Ok(Self {
            model: model.clone(),
            holder,
        })
    }

    async fn renew(&self) -> Result<(), ReadSideError> {
        let renewed = self
            .model
            .pool()
            .execute(
                "UPDATE replay_locks SET expires_at = ? WHERE name = ? AND holder = ?",
                vec![
                    (now_ms() + REPLAY_LEASE_MS).into(),
                    REPLAY_LOCK.into(),
                    self.holder.clone().into(),
                ],
            )
            .await
            .map_err(sql_err)?;
        if renewed != 1 {
            return Err(ReadSideError::ReplayRunning);
        }
        Ok(())
    }

    async fn release(self) {
        let released = self
            .model
            .pool()
            .execute(
                "DELETE FROM replay_locks WHERE name = ? AND holder = ?",
                vec![REPLAY_LOCK.into(), self.holder.clone().into()],
            )
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "cannot release the replay lock; it expires by itself");
        }
    }
}
