//! [`EventArchive`] over the SQLite event store, where position order is
//! commit order and every stored event is settled.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use qicoo_domain::MeetupId;
use sqlx::SqlitePool;

use super::{sqlite_time, EventArchive, EventFilter};
use crate::error::StoreError;
use crate::event::StoredEvent;
use crate::feed::sqlite::{event_from_row, sqlite_err};

/// Reads a SQLite event store per meetup.
#[derive(Clone)]
pub struct SqliteArchive {
    pool: SqlitePool,
}

impl SqliteArchive {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

const COLUMNS: &str = "global_position, aggregate_type, aggregate_id, sequence, event_type, \
                       payload, metadata, recorded_at";

/// A meetup's events up to a position, in feed (= position) order.
const STREAM: &str = "SELECT global_position, aggregate_type, aggregate_id, sequence, \
                      event_type, payload, metadata, recorded_at \
                      FROM events WHERE meetup_id = ? AND global_position <= ? \
                      ORDER BY global_position";

#[async_trait]
impl EventArchive for SqliteArchive {
    async fn settled_position(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(sqlite_err)
    }

    async fn page(
        &self,
        meetup: MeetupId,
        filter: &EventFilter,
        after: i64,
        upto: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = format!(
            "SELECT {COLUMNS} FROM events
             WHERE meetup_id = ? AND global_position > ? AND global_position <= ?"
        );
        if !filter.types.is_empty() {
            sql.push_str(&format!(
                " AND event_type IN ({})",
                vec!["?"; filter.types.len()].join(", ")
            ));
        }
        if filter.from_time.is_some() {
            sql.push_str(" AND recorded_at >= ?");
        }
        if filter.to_time.is_some() {
            sql.push_str(" AND recorded_at <= ?");
        }
        if filter.question.is_some() {
            sql.push_str(
                " AND ((aggregate_type = 'Question' AND aggregate_id = ?)
                       OR (aggregate_type = 'Vote' AND aggregate_id LIKE ?))",
            );
        }
        sql.push_str(" ORDER BY global_position LIMIT ?");
        let mut query = sqlx::query(&sql)
            .bind(meetup.to_string())
            .bind(after)
            .bind(upto);
        for t in &filter.types {
            query = query.bind(t.clone());
        }
        if let Some(at) = filter.from_time {
            query = query.bind(sqlite_time(at));
        }
        if let Some(at) = filter.to_time {
            query = query.bind(sqlite_time(at));
        }
        if let Some(q) = filter.question {
            query = query.bind(q.to_string()).bind(format!("{q}:%"));
        }
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(sqlite_err)?;
        rows.into_iter()
            .map(event_from_row)
            .collect::<Result<_, _>>()
            .map_err(sqlite_err)
    }

    fn stream(
        &self,
        meetup: MeetupId,
        upto: i64,
    ) -> BoxStream<'_, Result<StoredEvent, StoreError>> {
        sqlx::query(STREAM)
            .bind(meetup.to_string())
            .bind(upto)
            .fetch(&self.pool)
            .map_err(sqlite_err)
            .and_then(|row| async move { event_from_row(row).map_err(sqlite_err) })
            .boxed()
    }

    async fn position_at(&self, meetup: MeetupId, at: DateTime<Utc>) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT coalesce(max(global_position), 0) FROM events
             WHERE meetup_id = ? AND recorded_at <= ?",
        )
        .bind(meetup.to_string())
        .bind(sqlite_time(at))
        .fetch_one(&self.pool)
        .await
        .map_err(sqlite_err)
    }

    async fn count(&self, meetup: MeetupId, upto: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE meetup_id = ? AND global_position <= ?",
        )
        .bind(meetup.to_string())
        .bind(upto)
        .fetch_one(&self.pool)
        .await
        .map_err(sqlite_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
