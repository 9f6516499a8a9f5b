//! [`EventArchive`] over the Postgres event store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use qicoo_domain::{MeetupId, QuestionId};
use sqlx::PgPool;

use super::{EventArchive, EventFilter};
use crate::error::StoreError;
use crate::event::StoredEvent;
use crate::feed::postgres::{event_from_row, lowest_announced, pg_err};

/// Reads a Postgres event store per meetup.
#[derive(Clone)]
pub struct PostgresArchive {
    pool: PgPool,
}

impl PostgresArchive {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

const COLUMNS: &str = "transaction_id::text AS txid, global_position, aggregate_type, \
                       aggregate_id, sequence, event_type, payload, metadata, recorded_at";

/// A meetup's events up to a position, in feed order.
const STREAM: &str = "SELECT transaction_id::text AS txid, global_position, aggregate_type, \
                      aggregate_id, sequence, event_type, payload, metadata, recorded_at \
                      FROM events WHERE meetup_id = $1 AND global_position <= $2 \
                      ORDER BY transaction_id, global_position";

fn vote_prefix(question: Option<QuestionId>) -> Option<String> {
    question.map(|q| format!("{q}:%"))
}

#[async_trait]
impl EventArchive for PostgresArchive {
    async fn settled_position(&self) -> Result<i64, StoreError> {
        // The head first, the announcements second: a transaction that
        // holds a position below the head and has not committed drew it
        // before the head was drawn, and so announced it before, and still
        // does (the announcement goes at commit).
        let head: i64 = sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(pg_err)?;
        let announced = lowest_announced(&self.pool).await?;
        Ok(announced.map_or(head, |a| head.min(a - 1)).max(0))
    }

    async fn page(
        &self,
        meetup: MeetupId,
        filter: &EventFilter,
        after: i64,
        upto: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let types: Option<Vec<String>> = (!filter.types.is_empty()).then(|| filter.types.clone());
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events
             WHERE meetup_id = $1 AND global_position > $2 AND global_position <= $3
               AND ($4::text[] IS NULL OR event_type = ANY($4))
               AND ($5::timestamptz IS NULL OR recorded_at >= $5)
               AND ($6::timestamptz IS NULL OR recorded_at <= $6)
               AND ($7::text IS NULL
                    OR (aggregate_type = 'Question' AND aggregate_id = $7)
                    OR (aggregate_type = 'Vote' AND aggregate_id LIKE $8))
             ORDER BY global_position
             LIMIT $9"
        ))
        .bind(meetup.to_string())
        .bind(after)
        .bind(upto)
        .bind(types)
        .bind(filter.from_time)
        .bind(filter.to_time)
        .bind(filter.question.map(|q| q.to_string()))
        .bind(vote_prefix(filter.question))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        rows.into_iter()
            .map(event_from_row)
            .collect::<Result<_, _>>()
            .map_err(pg_err)
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
            .map_err(pg_err)
            .and_then(|row| async move { event_from_row(row).map_err(pg_err) })
            .boxed()
    }

    async fn position_at(&self, meetup: MeetupId, at: DateTime<Utc>) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT coalesce(max(global_position), 0) FROM events
             WHERE meetup_id = $1 AND recorded_at <= $2",
        )
        .bind(meetup.to_string())
        .bind(at)
        .fetch_one(&self.pool)
        .await
        .map_err(pg_err)
    }

    async fn count(&self, meetup: MeetupId, upto: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE meetup_id = $1 AND global_position <= $2",
        )
        .bind(meetup.to_string())
        .bind(upto)
        .fetch_one(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
