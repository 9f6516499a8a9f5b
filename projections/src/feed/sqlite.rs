//! The SQLite feed: `global_position` order is commit order, because SQLite
//! lets one writer at a time hold the database and positions are drawn inside
//! the writing transaction.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::{metadata_map, AppendNotifier, EventFeed, Wakeups};
use crate::error::StoreError;
use crate::event::{Checkpoint, FeedPosition, StoredEvent};

const STORE: &str = "event store";

/// Reads the SQLite event store.
pub struct SqliteFeed {
    pool: SqlitePool,
    notifier: AppendNotifier,
}

impl SqliteFeed {
    /// A feed over `pool`. Readers poll; the write side may also call
    /// [`SqliteFeed::notifier`]'s `notify` after each commit to wake them at once.
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            notifier: AppendNotifier::new(),
        }
    }

    /// The in-process wake-up hook.
    pub fn notifier(&self) -> AppendNotifier {
        self.notifier.clone()
    }
}

/// Parses the store's `recorded_at` text (RFC 3339, or SQLite's own
/// `YYYY-MM-DD HH:MM:SS` in UTC).
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

pub(crate) fn event_from_row(row: SqliteRow) -> Result<StoredEvent, sqlx::Error> {
    let decode_err = |index: &str, e: String| sqlx::Error::ColumnDecode {
        index: index.into(),
        source: e.into(),
    };
    let payload: String = row.try_get("payload")?;
    let metadata: String = row.try_get("metadata")?;
    let recorded_at: String = row.try_get("recorded_at")?;
    let global_position: i64 = row.try_get("global_position")?;
    Ok(StoredEvent {
        feed: FeedPosition {
            transaction_id: 0,
            global_position,
        },
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| decode_err("payload", e.to_string()))?,
        metadata: metadata_map(
            serde_json::from_str(&metadata).map_err(|e| decode_err("metadata", e.to_string()))?,
        ),
        recorded_at: parse_time(&recorded_at)
            .ok_or_else(|| decode_err("recorded_at", format!("not a time: {recorded_at:?}")))?,
    })
}

pub(crate) fn sqlite_err(e: sqlx::Error) -> StoreError {
    StoreError::from_sqlx(STORE, e)
}

#[async_trait]
impl EventFeed for SqliteFeed {
    async fn read(
        &self,
        after: FeedPosition,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT global_position, aggregate_type, aggregate_id, sequence, event_type,
                    payload, metadata, recorded_at
             FROM events WHERE global_position > ? ORDER BY global_position LIMIT ?",
        )
        .bind(after.global_position)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(sqlite_err)?;
        rows.into_iter()
            .map(event_from_row)
            .collect::<Result<_, _>>()
            .map_err(sqlite_err)
    }

    async fn watermark(&self, applied: &Checkpoint) -> Result<i64, StoreError> {
        // Commit order is position order: everything up to the last applied
        // position is applied.
        Ok(applied.feed.global_position)
    }

    async fn head(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(sqlite_err)
    }

    async fn count_after(&self, after: FeedPosition) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE global_position > ?")
            .bind(after.global_position)
            .fetch_one(&self.pool)
            .await
            .map_err(sqlite_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn wakeups(&self) -> Wakeups {
        self.notifier.subscribe()
    }
}
