//! The one query a batch of loads is read with, in each database's dialect:
//! the events of the given aggregates after each one's given sequence number,
//! each with the index of the key it answers, in sequence order per key.

use cqrs_es::persist::SerializedEvent;
use serde_json::Value;
use sqlx::Row;

use crate::store::EventStore;

/// `LATERAL`, so that every plan PostgreSQL may cache (a generic one too, which
/// cannot know how many keys come) looks each key up in the primary key
/// instead of hashing the whole table.
const POSTGRES: &str = "SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, \
            e.event_version, e.payload, e.metadata, (k.n - 1)::bigint \
       FROM UNNEST($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS k(t, i, after, n) \
      CROSS JOIN LATERAL ( \
            SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, \
                   payload, metadata \
              FROM events \
             WHERE aggregate_type = k.t AND aggregate_id = k.i AND sequence > k.after \
             ORDER BY sequence) e \
      ORDER BY k.n, e.sequence";

fn sqlite_statement(keys: usize) -> String {
    let mut sql = String::from("WITH k(n, t, i, after) AS (VALUES ");
    for i in 0..keys {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("({i}, ?, ?, ?)"));
    }
    sql.push_str(
        ") SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, \
                  e.event_version, e.payload, e.metadata, k.n \
             FROM k JOIN events e \
               ON e.aggregate_type = k.t AND e.aggregate_id = k.i AND e.sequence > k.after \
            ORDER BY k.n, e.sequence",
    );
    sql
}

/// The events for `keys`, each with the index in `keys` of the key it
/// answers.
pub(super) async fn select(
    store: &EventStore,
    keys: &[&(String, String, i64)],
) -> Result<Vec<(usize, SerializedEvent)>, sqlx::Error> {
    match store {
        EventStore::Postgres(pool) => {
            let rows = sqlx::query(POSTGRES)
                .bind(keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>())
                .bind(keys.iter().map(|k| k.1.as_str()).collect::<Vec<_>>())
                .bind(keys.iter().map(|k| k.2).collect::<Vec<_>>())
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let event = event(
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                        row.try_get(5)?,
                        row.try_get(6)?,
                    )?;
                    Ok((index(row.try_get(7)?)?, event))
                })
                .collect()
        }
        EventStore::Sqlite(pool) => {
            let sql = sqlite_statement(keys.len());
            let mut query = sqlx::query(&sql);
            for (aggregate_type, aggregate_id, after) in keys.iter().map(|k| (&k.0, &k.1, k.2)) {
                query = query
                    .bind(aggregate_type.as_str())
                    .bind(aggregate_id.as_str())
                    .bind(after);
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let payload: String = row.try_get(5)?;
                    let metadata: String = row.try_get(6)?;
                    let event = event(
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                        json(&payload)?,
                        json(&metadata)?,
                    )?;
                    Ok((index(row.try_get(7)?)?, event))
                })
                .collect()
        }
    }
}

fn index(n: i64) -> Result<usize, sqlx::Error> {
    usize::try_from(n).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn json(text: &str) -> Result<Value, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn event(
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Value,
    metadata: Value,
) -> Result<SerializedEvent, sqlx::Error> {
    let sequence = usize::try_from(sequence).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(SerializedEvent::new(
        aggregate_id,
        sequence,
        aggregate_type,
        event_type,
        event_version,
        payload,
        metadata,
    ))
}
