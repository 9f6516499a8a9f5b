//! The event store read per meetup, for audits and exports: a page of a
//! meetup's (or a question's) events in position order with filters, or all
//! of them up to a position in feed order, streamed.
//!
//! Reads stop at a *settled* position: one below which no event can still
//! appear (no transaction that may write one is running). Below it, a page
//! read today holds the same events as the same page read tomorrow, and an
//! export up to it is the same bytes every time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use qicoo_domain::{MeetupId, QuestionId};

use crate::error::StoreError;
use crate::event::StoredEvent;

mod postgres;
mod sqlite;

pub use postgres::PostgresArchive;
pub use sqlite::SqliteArchive;

/// Which of a meetup's events a page holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only the events of this question: its own, and the likes of it.
    pub question: Option<QuestionId>,
    /// Only events of these types (all when empty).
    pub types: Vec<String>,
    /// Only events the store recorded at or after this time.
    pub from_time: Option<DateTime<Utc>>,
    /// Only events the store recorded at or before this time.
    pub to_time: Option<DateTime<Utc>>,
}

/// Reads the event store per meetup.
#[async_trait]
pub trait EventArchive: Send + Sync {
    /// The largest position below which every event that will ever be
    /// stored already is (0 for an empty store).
    async fn settled_position(&self) -> Result<i64, StoreError>;

    /// Up to `limit` of a meetup's events matching `filter`, in position
    /// order, after `after` and at or below `upto`.
    async fn page(
        &self,
        meetup: MeetupId,
        filter: &EventFilter,
        after: i64,
        upto: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Every event of a meetup at or below `upto`, in feed order (the order
    /// the projections applied them and the hash chain links them).
    fn stream(&self, meetup: MeetupId, upto: i64)
        -> BoxStream<'_, Result<StoredEvent, StoreError>>;

    /// The position of the meetup's last event the store recorded at or
    /// before `at` (0 when there is none).
    async fn position_at(&self, meetup: MeetupId, at: DateTime<Utc>) -> Result<i64, StoreError>;

    /// How many of a meetup's events lie at or below `upto` (for progress).
    async fn count(&self, meetup: MeetupId, upto: i64) -> Result<u64, StoreError>;
}

/// `recorded_at` as the SQLite store writes it, so that text comparison is
/// time comparison.
pub(crate) fn sqlite_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
