//! The one statement a batch is written with, in each database's dialect.
//!
//! Both skip rows whose `(aggregate_type, aggregate_id, sequence)` is taken and
//! return the key and global position of every row they wrote. Rows are
//! inserted in the order given, so a command's events take increasing
//! positions.

use cqrs_es::persist::SerializedEvent;
use sqlx::{PgPool, SqlitePool};

use crate::store::EventStore;

/// A row the statement wrote.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(super) struct Written {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    #[sqlx(rename = "global_position")]
    pub position: i64,
}

/// The sequence number as the table stores it.
pub(super) fn sequence(event: &SerializedEvent) -> i64 {
    i64::try_from(event.sequence).unwrap_or(i64::MAX)
}

/// Inserts `rows`. Without `atomic` the statement commits on its own (one
/// round trip). With it, the statement runs in a transaction that commits
/// only if `keep` accepts what was written; returns whether it committed.
pub(super) async fn insert(
    store: &EventStore,
    rows: &[&SerializedEvent],
    atomic: bool,
    keep: impl FnOnce(&[Written]) -> bool,
) -> Result<bool, sqlx::Error> {
    match store {
        EventStore::Postgres(pool) => postgres(pool, rows, atomic, keep).await,
        EventStore::Sqlite(pool) => sqlite(pool, rows, atomic, keep).await,
    }
}

/// Runs `query` on `pool`: on its own (one round trip, its own commit), or with
/// `atomic` in a transaction that commits only if `keep` accepts what it wrote.
/// Evaluates to whether it committed.
macro_rules! run {
    ($pool:expr, $query:expr, $atomic:expr, $keep:expr) => {{
        if !$atomic {
            let written = $query.fetch_all($pool).await?;
            Ok($keep(&written))
        } else {
            let mut tx = $pool.begin().await?;
            let written = $query.fetch_all(&mut *tx).await?;
            if $keep(&written) {
                tx.commit().await?;
                Ok(true)
            } else {
                tx.rollback().await?;
                Ok(false)
            }
        }
    }};
}

/// One statement whatever the batch's size: the columns travel as arrays.
const POSTGRES: &str = "INSERT INTO events \
     (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
     SELECT t, i, s, e, v, p::json, m::json \
       FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[]) \
            WITH ORDINALITY AS r(t, i, s, e, v, p, m, n) \
      ORDER BY n \
     ON CONFLICT DO NOTHING \
     RETURNING aggregate_type, aggregate_id, sequence, global_position";

async fn postgres(
    pool: &PgPool,
    rows: &[&SerializedEvent],
    atomic: bool,
    keep: impl FnOnce(&[Written]) -> bool,
) -> Result<bool, sqlx::Error> {
    let query = sqlx::query_as::<_, Written>(POSTGRES)
        .bind(
            rows.iter()
                .map(|e| e.aggregate_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|e| e.aggregate_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|e| sequence(e)).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|e| e.event_version.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|e| e.payload.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|e| e.metadata.to_string())
                .collect::<Vec<_>>(),
        );
    run!(pool, query, atomic, keep)
}

/// A multi-row `VALUES` list (SQLite has no arrays); its text is cached per
/// batch size by the connection's statement cache.
fn sqlite_statement(rows: usize) -> String {
    const HEAD: &str = "INSERT INTO events \
         (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ";
    const TAIL: &str =
        " ON CONFLICT DO NOTHING RETURNING aggregate_type, aggregate_id, sequence, global_position";
    let mut sql = String::with_capacity(HEAD.len() + rows * 24 + TAIL.len());
    sql.push_str(HEAD);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?)");
    }
    sql.push_str(TAIL);
    sql
}

async fn sqlite(
    pool: &SqlitePool,
    rows: &[&SerializedEvent],
    atomic: bool,
    keep: impl FnOnce(&[Written]) -> bool,
) -> Result<bool, sqlx::Error> {
    let sql = sqlite_statement(rows.len());
    let mut query = sqlx::query_as::<_, Written>(&sql);
    for e in rows {
        query = query
            .bind(e.aggregate_type.as_str())
            .bind(e.aggregate_id.as_str())
            .bind(sequence(e))
            .bind(e.event_type.as_str())
            .bind(e.event_version.as_str())
            .bind(e.payload.to_string())
            .bind(e.metadata.to_string());
    }
    run!(pool, query, atomic, keep)
}
