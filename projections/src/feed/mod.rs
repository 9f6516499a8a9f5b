//! The event feed: every stored event, in an order in which no event is ever
//! skipped, from any position onwards.
//!
//! Two adapters: [`PostgresFeed`] reads by `(transaction_id, global_position)`
//! below the oldest running transaction, so an event whose transaction commits
//! late is still delivered after the ones that committed before it;
//! [`SqliteFeed`] reads by `global_position`, which is commit order because
//! SQLite serializes writers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::event::{Checkpoint, FeedPosition, StoredEvent};

pub(crate) mod postgres;
pub(crate) mod sqlite;

pub use postgres::PostgresFeed;
pub use sqlite::SqliteFeed;

/// Reads the event store in feed order.
#[async_trait]
pub trait EventFeed: Send + Sync {
    /// Up to `limit` events after `after`, in feed order. Never returns an
    /// event that could be followed, later, by one that belongs before it.
    async fn read(&self, after: FeedPosition, limit: usize)
        -> Result<Vec<StoredEvent>, StoreError>;

    /// The read-your-writes watermark of a projection at `applied`: the largest
    /// `W` such that every event with `global_position <= W` is at or before
    /// `applied.feed` in feed order (and so applied). Conservative: it may be
    /// lower than the truth, never higher.
    async fn watermark(&self, applied: &Checkpoint) -> Result<i64, StoreError>;

    /// The largest global position stored (0 when empty), for lag reports.
    async fn head(&self) -> Result<i64, StoreError>;

    /// How many events lie after `after`, for progress reports.
    async fn count_after(&self, after: FeedPosition) -> Result<u64, StoreError>;

    /// Whether events after `after` are stored that [`EventFeed::read`] does
    /// not return yet (an older transaction is still running, and may still
    /// add events before them): worth reading again soon, since no wake-up
    /// comes when that transaction ends. False by default.
    async fn held_back(&self, _after: FeedPosition) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// A handle that wakes when events may have been appended.
    fn wakeups(&self) -> Wakeups;

    /// Stops the feed's background work, if it has any, and waits for it.
    async fn close(&self) {}
}

/// Wakes a feed reader when new events may be there. Wake-ups may be lost or
/// spurious; readers also poll.
#[derive(Debug)]
pub struct Wakeups(watch::Receiver<u64>);

impl Wakeups {
    /// Waits for a wake-up or `timeout`, whichever comes first.
    pub async fn wait(&mut self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.0.changed()).await;
    }
}

/// Tells readers in this process that events were appended (the embedded
/// write side calls it after each commit, so projections start at once
/// instead of at the next poll).
#[derive(Clone, Debug)]
pub struct AppendNotifier(Arc<watch::Sender<u64>>);

impl AppendNotifier {
    pub(crate) fn new() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }

    /// Wakes every reader.
    pub fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> Wakeups {
        Wakeups(self.0.subscribe())
    }
}

/// Turns a stored metadata object into string pairs; non-string values keep
/// their JSON text.
pub(crate) fn metadata_map(value: serde_json::Value) -> std::collections::HashMap<String, String> {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        _ => Default::default(),
    }
}
