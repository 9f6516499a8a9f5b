//! Projection workers: each tails the feed from its projection's checkpoint
//! and applies batches, while it holds the projection's leadership.
//!
//! A batch and its checkpoint are written together by the projection (one
//! transaction, or one MULTI/EXEC), with a compare-and-set on the checkpoint,
//! so a crash at any instant neither loses nor double-counts an event, and a
//! worker that lost its place (a replay swapped tables, a second worker ran)
//! reloads instead of writing over it. Store errors that may pass are retried
//! with backoff; an event that cannot be applied stops the projection and is
//! reported in its status.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::{ApplyError, StoreError};
use crate::event::{advance, decode_batch, Checkpoint, DomainEvent, StoredEvent};
use crate::feed::EventFeed;

/// Something built from the events, with its checkpoint in its own store.
#[async_trait]
pub trait Projection: Send + Sync {
    /// The projection's name (status, locks, replay).
    fn name(&self) -> &'static str;

    /// Reads the stored checkpoint (and whatever the projection keeps in
    /// memory). `None`: nothing applied yet, start from position zero.
    async fn load(&self) -> Result<Option<Checkpoint>, StoreError>;

    /// Applies `events` and stores `next`, atomically, provided the stored
    /// checkpoint is still `expected`. `events` may be empty (only the
    /// watermark moves).
    async fn apply(
        &self,
        expected: Option<&Checkpoint>,
        events: &[(&StoredEvent, DomainEvent)],
        next: &Checkpoint,
    ) -> Result<(), ApplyError>;

    /// Called when the worker has caught up and waits for events: a chance
    /// to finish work that a failure postponed. Nothing by default.
    async fn idle(&self) {}
}

/// What a projection's worker in this process is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// No worker for this projection runs in this process.
    NotRunning,
    /// Waiting for the leadership another process holds.
    Standby,
    /// Applying events.
    Active,
    /// Stopped on an event it cannot apply or a store error that will not
    /// pass; needs an operator.
    Failed,
    /// Stopped on request.
    Stopped,
}

/// A projection's state, for `/readyz` and operators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProjectionStatus {
    pub name: String,
    pub state: WorkerState,
    /// Largest global position applied.
    pub checkpoint: Option<i64>,
    /// Every event up to this position is applied.
    pub watermark: Option<i64>,
    /// Events stored beyond the checkpoint (by position), when known.
    pub lag: Option<i64>,
    /// Why the worker failed, or the last transient error while retrying.
    pub error: Option<String>,
}

impl ProjectionStatus {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            state: WorkerState::NotRunning,
            checkpoint: None,
            watermark: None,
            lag: None,
            error: None,
        }
    }
}

/// The statuses of this process's workers, shared with whoever reports them.
#[derive(Clone, Default)]
pub(crate) struct StatusBoard(Arc<Mutex<BTreeMap<String, ProjectionStatus>>>);

impl StatusBoard {
    pub(crate) fn update(&self, name: &str, f: impl FnOnce(&mut ProjectionStatus)) {
        // A panic elsewhere while holding this lock cannot corrupt a status.
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(map
            .entry(name.to_owned())
            .or_insert_with(|| ProjectionStatus::new(name)));
    }

    pub(crate) fn get(&self, name: &str) -> ProjectionStatus {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(name)
            .cloned()
            .unwrap_or_else(|| ProjectionStatus::new(name))
    }
}

/// How a worker becomes the one active worker of its projection.
#[derive(Clone)]
pub(crate) enum Leadership {
    /// The embedded default: one process, so the worker is always the leader.
    InProcess,
    /// A session advisory lock held on a dedicated connection to the event
    /// store; the server drops it when the holder's connection dies.
    Postgres(Box<PgConnectOptions>),
}

/// How long taking or giving up a projection lock may take: an event store
/// that accepts connections but does not answer must not hold a worker.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// High 16 bits of the leadership lock keys (`'QP'`).
const LEADER_TAG: i64 = 0x5150;

/// The advisory-lock key of a projection's leadership: the tag and a stable
/// 48-bit hash (FNV-1a) of the name.
pub(crate) fn leader_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (LEADER_TAG << 48) | i64::try_from(hash & 0xffff_ffff_ffff).unwrap_or(0)
}

/// Proof of leadership: the connection that holds the lock, if any.
struct Leader {
    conn: Option<PgConnection>,
    key: i64,
}

impl Leader {
    /// Whether the lock is still held (its connection still answers).
    async fn alive(&mut self) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return true;
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(5), conn.ping()).await,
            Ok(Ok(()))
        )
    }

    /// Unlocks, or (when the connection does not answer in time) drops the
    /// connection, which the server unlocks with once it notices.
    async fn release(self) {
        if let Some(mut conn) = self.conn {
            let unlocked = tokio::time::timeout(LOCK_TIMEOUT, async {
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(self.key)
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
            .await;
            if !matches!(unlocked, Ok(Ok(()))) {
                tracing::warn!(
                    "cannot release the projection lock cleanly; dropping its connection"
                );
            }
        }
    }
}

impl Leadership {
    /// Waits until this worker leads its projection (retrying about once a
    /// second), or `None` when cancelled first.
    async fn acquire(
        &self,
        name: &str,
        cancel: &CancellationToken,
        board: &StatusBoard,
    ) -> Option<Leader> {
        let options = match self {
            Self::InProcess => return Some(Leader { conn: None, key: 0 }),
            Self::Postgres(options) => options,
        };
        let key = leader_key(name);
        // One connection for all attempts while standing by; replaced only
        // when it fails.
        let mut standby: Option<PgConnection> = None;
        loop {
            let attempt = async {
                let mut conn = match standby.take() {
                    Some(conn) => conn,
                    None => tokio::time::timeout(LOCK_TIMEOUT, options.connect())
                        .await
                        .map_err(|_| sqlx::Error::PoolTimedOut)??,
                };
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(&mut conn)
                    .await?;
                Ok::<_, sqlx::Error>((got, conn))
            };
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return None,
                outcome = attempt => outcome,
            };
            match outcome {
                Ok((true, conn)) => {
                    return Some(Leader {
                        conn: Some(conn),
                        key,
                    })
                }
                Ok((false, conn)) => {
                    standby = Some(conn);
                    board.update(name, |s| {
                        s.state = WorkerState::Standby;
                        s.error = None;
                    });
                }
                Err(e) => {
                    tracing::warn!(projection = name, error = %e, "cannot reach the event store to take the projection lock");
                    board.update(name, |s| {
                        s.state = WorkerState::Standby;
                        s.error = Some(e.to_string());
                    });
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Tuning of a worker.
#[derive(Clone, Copy, Debug)]
pub struct WorkerSettings {
    /// Most events per batch (and per transaction).
    pub batch_size: usize,
    /// How often to look for events when no wake-up arrives.
    pub poll_interval: Duration,
    /// Longest wait between retries of a failing store.
    pub max_backoff: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_millis(500),
            // A store that returns is used again within a second.
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// The first wait before reading again events that an older transaction
/// held back; it doubles while they stay held, up to the poll interval.
const HELD_BACK_FIRST_RETRY: Duration = Duration::from_millis(2);

/// How one step of catching up ended.
pub(crate) enum Step {
    /// Applied this many events.
    Applied(usize),
    /// Nothing new (the watermark may have moved).
    Idle,
}

/// Why a step failed.
pub(crate) enum StepError {
    /// Retry after a pause.
    Transient(StoreError),
    /// Another writer moved the checkpoint: reload and go on.
    Moved,
    /// Stop the projection.
    Fatal(String),
}

impl From<ApplyError> for StepError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Store(e) if e.is_transient() => Self::Transient(e),
            ApplyError::Store(e) => Self::Fatal(e.to_string()),
            ApplyError::CheckpointMoved { .. } => Self::Moved,
            e @ ApplyError::BadEvent { .. } => Self::Fatal(e.to_string()),
        }
    }
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        ApplyError::Store(e).into()
    }
}

/// Reads and applies the next batch after `checkpoint`, updating it.
pub(crate) async fn step(
    projection: &dyn Projection,
    feed: &dyn EventFeed,
    checkpoint: &mut Option<Checkpoint>,
    batch_size: usize,
) -> Result<Step, StepError> {
    let current = checkpoint.unwrap_or_default();
    let events = feed.read(current.feed, batch_size).await?;
    if events.is_empty() {
        // A transaction that announced low positions and then rolled back
        // leaves no event behind: the watermark must move without one.
        let watermark = feed.watermark(&current).await?;
        if watermark > current.watermark {
            let next = Checkpoint {
                watermark,
                ..current
            };
            projection.apply(checkpoint.as_ref(), &[], &next).await?;
            *checkpoint = Some(next);
        }
        return Ok(Step::Idle);
    }
    let (decoded, bad) = decode_batch(&events);
    let applied: Vec<&StoredEvent> = decoded.iter().map(|(e, _)| *e).collect();
    let mut next = advance(&current, &applied, current.watermark);
    // The watermark as of the state after this batch, computed before it is
    // committed: conservative either way.
    next.watermark = feed.watermark(&next).await?.max(current.watermark);
    if !decoded.is_empty() {
        projection
            .apply(checkpoint.as_ref(), &decoded, &next)
            .await?;
        *checkpoint = Some(next);
    }
    if let Some((position, reason)) = bad {
        return Err(StepError::Fatal(
            ApplyError::BadEvent { position, reason }.to_string(),
        ));
    }
    Ok(Step::Applied(decoded.len()))
}

/// Runs one projection until cancelled: takes the leadership, catches up,
/// follows the feed.
pub(crate) struct Worker {
    pub projection: Arc<dyn Projection>,
    pub feed: Arc<dyn EventFeed>,
    pub leadership: Leadership,
    pub settings: WorkerSettings,
    pub board: StatusBoard,
    /// Publishes the watermark after each commit, for read-your-writes waits.
    pub watermark: watch::Sender<i64>,
}

/// Why a worker stopped leading.
enum Stop {
    Cancelled,
    LostLeadership,
    Failed(String),
}

impl Worker {
    /// Works until `cancel`; on cancellation finishes the current batch and
    /// releases the leadership.
    pub(crate) async fn run(self, cancel: CancellationToken) {
        let name = self.projection.name();
        loop {
            self.board.update(name, |s| s.state = WorkerState::Standby);
            let Some(mut leader) = self.leadership.acquire(name, &cancel, &self.board).await else {
                break;
            };
            tracing::info!(projection = name, "projection worker is active");
            self.board.update(name, |s| {
                s.state = WorkerState::Active;
                s.error = None;
            });
            let stop = self.lead(&mut leader, &cancel).await;
            leader.release().await;
            match stop {
                Stop::Cancelled => break,
                Stop::LostLeadership => {
                    tracing::warn!(projection = name, "lost the projection lock; standing by");
                }
                Stop::Failed(reason) => {
                    tracing::error!(projection = name, %reason, "projection stopped: it needs an operator (fix, then replay or restart)");
                    self.board.update(name, |s| {
                        s.state = WorkerState::Failed;
                        s.error = Some(reason);
                    });
                    // Stay failed (and visible) until shutdown; a standby in
                    // another process will meet the same event.
                    cancel.cancelled().await;
                    return;
                }
            }
        }
        self.board.update(name, |s| s.state = WorkerState::Stopped);
    }

    async fn lead(&self, leader: &mut Leader, cancel: &CancellationToken) -> Stop {
        let name = self.projection.name();
        let mut wakeups = self.feed.wakeups();
        let mut backoff = Duration::from_millis(100);
        let mut held_back = HELD_BACK_FIRST_RETRY;
        let mut checkpoint: Option<Option<Checkpoint>> = None;
        loop {
            if cancel.is_cancelled() {
                return Stop::Cancelled;
            }
            if !leader.alive().await {
                return Stop::LostLeadership;
            }
            let outcome = match checkpoint.as_mut() {
                None => match self.projection.load().await {
                    Ok(loaded) => {
                        checkpoint = Some(loaded);
                        self.report(loaded.as_ref());
                        continue;
                    }
                    Err(e) => Err(StepError::from(e)),
                },
                Some(cp) => {
                    let outcome = step(
                        self.projection.as_ref(),
                        self.feed.as_ref(),
                        cp,
                        self.settings.batch_size,
                    )
                    .await;
                    // Also after a failure: a batch may have applied the
                    // events before a bad one, and the status must say so.
                    self.report(cp.as_ref());
                    outcome
                }
            };
            match &outcome {
                Ok(Step::Applied(events)) => {
                    metrics::counter!("qicoo_projection_batches_total", "projection" => name)
                        .increment(1);
                    metrics::counter!("qicoo_projection_events_total", "projection" => name)
                        .increment(*events as u64);
                }
                Err(StepError::Transient(_)) => {
                    metrics::counter!("qicoo_projection_errors_total", "projection" => name, "kind" => "transient")
                        .increment(1);
                }
                Err(StepError::Fatal(_)) => {
                    metrics::counter!("qicoo_projection_errors_total", "projection" => name, "kind" => "fatal")
                        .increment(1);
                }
                _ => {}
            }
            match outcome {
                Ok(Step::Applied(_)) => {
                    backoff = Duration::from_millis(100);
                    held_back = HELD_BACK_FIRST_RETRY;
                }
                Ok(Step::Idle) => {
                    backoff = Duration::from_millis(100);
                    self.projection.idle().await;
                    let after = checkpoint.flatten().unwrap_or_default().feed;
                    // Events held back by an older transaction become readable
                    // when it ends, which wakes nobody: look again soon,
                    // sooner the more recently they were held.
                    let wait = match self.feed.held_back(after).await {
                        Ok(true) => {
                            let wait = held_back.min(self.settings.poll_interval);
                            held_back = (held_back * 2).min(self.settings.poll_interval);
                            wait
                        }
                        Ok(false) | Err(_) => {
                            held_back = HELD_BACK_FIRST_RETRY;
                            self.settings.poll_interval
                        }
                    };
                    tokio::select! {
                        _ = cancel.cancelled() => return Stop::Cancelled,
                        _ = wakeups.wait(wait) => {}
                    }
                }
                Err(StepError::Moved) => {
                    tracing::info!(
                        projection = name,
                        "checkpoint moved under the worker; reloading"
                    );
                    checkpoint = None;
                }
                Err(StepError::Fatal(reason)) => return Stop::Failed(reason),
                Err(StepError::Transient(e)) => {
                    tracing::warn!(projection = name, error = %e, retry_in = ?backoff, "store error; retrying");
                    self.board.update(name, |s| s.error = Some(e.to_string()));
                    tokio::select! {
                        _ = cancel.cancelled() => return Stop::Cancelled,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
            }
        }
    }

    fn report(&self, checkpoint: Option<&Checkpoint>) {
        let name = self.projection.name();
        let watermark = checkpoint.map_or(0, |c| c.watermark);
        self.watermark.send_if_modified(|w| {
            let moved = *w != watermark;
            *w = watermark;
            moved
        });
        self.board.update(name, |s| {
            s.checkpoint = checkpoint.map(|c| c.max_position);
            s.watermark = checkpoint.map(|c| c.watermark);
            s.error = None;
        });
    }
}
