//! The change stream: after a read-model batch commits, the rows it changed are
//! published with the read model's position, and every API node reads them to
//! push them to its WebSocket clients.
//!
//! Two adapters, side by side: [`InProcessChanges`] (a tokio broadcast, for the
//! embedded default) and [`RedisChanges`] (a Redis Stream), which every API
//! node tails with one reader. Entries are keyed by position, which only grows,
//! so a reader resumes exactly where it stopped; a reader that fell behind what
//! the stream retains is told so with a [`ChangeGap`], never left with a hole.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qicoo_domain::{MeetupId, QuestionId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::error::StoreError;
use crate::queries::{MeetupView, QuestionView};

mod in_process;
mod redis;

pub use in_process::InProcessChanges;
pub use redis::{RedisChanges, REDIS_RETAINED};

/// One changed row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A question's full current row, whatever its status (the consumer decides
    /// what each client may see).
    Question { question: QuestionView },
    /// A meetup's full current row.
    Meetup { meetup: MeetupView },
}

impl Change {
    /// The meetup the change belongs to.
    pub fn meetup_id(&self) -> MeetupId {
        match self {
            Self::Question { question } => question.meetup_id,
            Self::Meetup { meetup } => meetup.id,
        }
    }

    /// The question it is about, if any.
    pub fn question_id(&self) -> Option<QuestionId> {
        match self {
            Self::Question { question } => Some(question.id),
            Self::Meetup { .. } => None,
        }
    }
}

/// What one published entry carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeBatch {
    /// The read model's position once these rows were written: every event up
    /// to it is reflected. Strictly increasing from one batch to the next.
    pub position: i64,
    /// When the newest event behind these changes was committed (its
    /// `recorded_at`; the time of publication for a batch without events),
    /// so that every later stage can tell how long after the commit it ran.
    pub committed_at: DateTime<Utc>,
    /// The changed rows. Empty with `resync`.
    pub changes: Vec<Change>,
    /// Changes may have been lost (the publisher restarted between a commit and
    /// its publication, or could not read the changed rows back): consumers
    /// must refresh from the read model.
    pub resync: bool,
}

/// Records how long after `committed_at` (the newest event's commit) a change
/// reached `stage` of the way to live clients, in `qicoo_live_stage_seconds`
/// {stage}: `read` (the read-model worker has the event), `applied` (its
/// batch committed to the read model), `published` (on the change stream),
/// `received` (an API node read it off the stream), `flushed` (its room made
/// the frame); `qicoo_websocket_commit_to_send_seconds` is the last step.
pub fn record_stage(stage: &'static str, committed_at: DateTime<Utc>) {
    let seconds = (Utc::now() - committed_at)
        .to_std()
        .unwrap_or_default()
        .as_secs_f64();
    metrics::histogram!("qicoo_live_stage_seconds", "stage" => stage).record(seconds);
}

/// What a subscriber receives.
pub type ChangeItem = Result<ChangeBatch, ChangeGap>;

/// The subscriber missed entries (it fell behind the retained window); it must
/// refresh from the read model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the change stream skipped entries")]
pub struct ChangeGap;

/// Publishes and delivers change batches.
#[async_trait]
pub trait ChangeStream: Send + Sync {
    /// Publishes a batch (after its read-model transaction committed).
    /// Publishing a position again is harmless: the stream keeps the first.
    async fn publish(&self, batch: &ChangeBatch) -> Result<(), StoreError>;

    /// The position of the last published batch, if the stream remembers one.
    async fn last_position(&self) -> Result<Option<i64>, StoreError>;

    /// Batches published after `after`, in order, until the subscription is
    /// closed or dropped. Transient store errors are retried inside.
    fn subscribe(&self, after: i64) -> Subscription;
}

/// A subscriber's end of the change stream: the items, and the task that
/// reads them, which stops when the subscription is closed or dropped.
pub struct Subscription {
    items: mpsc::Receiver<ChangeItem>,
    stop: CancellationToken,
    /// Cancels the reader if the subscription is dropped without `close`.
    _stop_on_drop: DropGuard,
    reader: JoinHandle<()>,
}

impl Subscription {
    /// Starts `read`, which sends items until `stop` fires or the receiver
    /// goes away. For adapters, and for test doubles of [`ChangeStream`].
    pub fn spawn<F, Fut>(read: F) -> Self
    where
        F: FnOnce(mpsc::Sender<ChangeItem>, CancellationToken) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (out, items) = mpsc::channel(64);
        let stop = CancellationToken::new();
        let reader = tokio::spawn(read(out, stop.clone()));
        Self {
            items,
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
            reader,
        }
    }

    /// The next item; `None` once the reader has stopped.
    pub async fn recv(&mut self) -> Option<ChangeItem> {
        self.items.recv().await
    }

    /// Stops the reader and waits until it has finished.
    pub async fn close(self) {
        self.stop.cancel();
        drop(self.items);
        if let Err(e) = self.reader.await {
            tracing::error!(error = %e, "the change-stream reader panicked");
        }
    }
}
