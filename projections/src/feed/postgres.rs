//! The Postgres feed: reads by `(transaction_id, global_position)` below
//! `pg_snapshot_xmin(pg_current_snapshot())`, wakes on `LISTEN qicoo_events`,
//! and computes the watermark from the positions that writing transactions
//! announce (migration `0003_inflight_positions.sql`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgPool, Row};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use super::{metadata_map, AppendNotifier, EventFeed, Wakeups};
use crate::error::StoreError;
use crate::event::{Checkpoint, FeedPosition, StoredEvent};

const STORE: &str = "event store";

/// The channel the insert trigger notifies.
const CHANNEL: &str = "qicoo_events";

/// High 16 bits of the advisory-lock keys by which writing transactions
/// announce "my events' positions will be at least v" (`'QC'`); the low 48
/// bits are v. Must match `0003_inflight_positions.sql`.
pub(crate) const INFLIGHT_TAG: i64 = 0x5143;

/// Reads the Postgres event store.
pub struct PostgresFeed {
    pool: PgPool,
    notifier: AppendNotifier,
    /// Whether the store's writers are known to announce their positions
    /// (migration `0003_inflight_positions.sql` applied).
    announcing: AtomicBool,
    /// Stops the listener task.
    stop: CancellationToken,
    /// The listener task, so that [`EventFeed::close`] can wait for it.
    listener: TaskTracker,
    /// Stops the listener task when the feed is dropped without `close`.
    _stop_on_drop: DropGuard,
}

impl PostgresFeed {
    /// A feed over `pool`, with a background task that listens for the insert
    /// trigger's notifications (reconnecting as needed) and ends on
    /// [`EventFeed::close`] or when the feed is dropped.
    pub fn new(pool: PgPool) -> Self {
        let notifier = AppendNotifier::new();
        let stop = CancellationToken::new();
        let listener = TaskTracker::new();
        listener.spawn(listen(pool.clone(), notifier.clone(), stop.clone()));
        listener.close();
        Self {
            pool,
            notifier,
            announcing: AtomicBool::new(false),
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
            listener,
        }
    }

    /// The notifier readers of this feed wake on.
    pub fn notifier(&self) -> AppendNotifier {
        self.notifier.clone()
    }
}

async fn listen(pool: PgPool, notifier: AppendNotifier, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = stop.cancelled() => return,
            l = connected => match l {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for appended events; polling only until it can");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            },
        };
        backoff = Duration::from_millis(200);
        // Notifications sent while not listening are lost: read once now.
        notifier.notify();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                received = listener.recv() => match received {
                    Ok(_) => notifier.notify(),
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the event notification connection");
                        break;
                    }
                },
            }
        }
    }
}

/// The lowest position a running writer has announced it will draw (none:
/// no writer is between its first insert and its commit).
pub(crate) async fn lowest_announced(pool: &PgPool) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(
        "SELECT min(((classid::bigint & 65535) << 32) | objid::bigint)
         FROM pg_locks
         WHERE locktype = 'advisory'
           AND objsubid = 1
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND classid::bigint >> 16 = $1",
    )
    .bind(INFLIGHT_TAG)
    .fetch_one(pool)
    .await
    .map_err(pg_err)
}

pub(crate) fn event_from_row(row: PgRow) -> Result<StoredEvent, sqlx::Error> {
    let txid: String = row.try_get("txid")?;
    let transaction_id = txid.parse::<i64>().map_err(|e| sqlx::Error::ColumnDecode {
        index: "txid".into(),
        source: Box::new(e),
    })?;
    let metadata: serde_json::Value = row.try_get("metadata")?;
    let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
    Ok(StoredEvent {
        feed: FeedPosition {
            transaction_id,
            global_position: row.try_get("global_position")?,
        },
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        metadata: metadata_map(metadata),
        recorded_at,
    })
}

pub(crate) fn pg_err(e: sqlx::Error) -> StoreError {
    StoreError::from_sqlx(STORE, e)
}

#[async_trait]
impl EventFeed for PostgresFeed {
    async fn read(
        &self,
        after: FeedPosition,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        // Events of transactions at or above the snapshot's xmin may still be
        // joined by lower-ordered ones from transactions not yet committed, so
        // the feed stops below it.
        let rows = sqlx::query(
            "SELECT transaction_id::text AS txid, global_position, aggregate_type, aggregate_id,
                    sequence, event_type, payload, metadata, recorded_at
             FROM events
             WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
               AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
             ORDER BY transaction_id, global_position
             LIMIT $3",
        )
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        rows.into_iter()
            .map(event_from_row)
            .collect::<Result<_, _>>()
            .map_err(pg_err)
    }

    async fn watermark(&self, applied: &Checkpoint) -> Result<i64, StoreError> {
        if !self.announcing.load(Ordering::Relaxed) {
            // Without the announcements a low position held by a running
            // transaction is invisible, and any watermark could be wrong.
            // Usually the write side has not migrated yet: wait for it.
            let announcing: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_trigger
                                WHERE tgname = 'events_announce_inflight_positions')",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(pg_err)?;
            if !announcing {
                return Err(StoreError::Unavailable {
                    store: STORE,
                    message: "the events table lacks migration 0003_inflight_positions; \
                              waiting for the event store to be migrated"
                        .into(),
                });
            }
            self.announcing.store(true, Ordering::Relaxed);
        }
        // Order matters. Locks first: a transaction absent from pg_locks now
        // has drawn no position yet (it announces before drawing), so its
        // positions will exceed every position applied so far. Events second,
        // in a later snapshot: every transaction that finished before the lock
        // read is visible there.
        let announced = lowest_announced(&self.pool).await?;
        // The subquery (OFFSET 0 keeps the planner from flattening it) makes
        // Postgres read the unapplied events through the feed-order index;
        // as a plain min() it walks the global_position index from the start,
        // past every event already applied.
        let unapplied: Option<i64> = sqlx::query_scalar(
            "SELECT min(gp) FROM (
                 SELECT global_position AS gp FROM events
                 WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
                 OFFSET 0
             ) unapplied",
        )
        .bind(applied.feed.transaction_id.to_string())
        .bind(applied.feed.global_position)
        .fetch_one(&self.pool)
        .await
        .map_err(pg_err)?;
        let mut w = applied.max_position;
        if let Some(a) = announced {
            w = w.min(a - 1);
        }
        if let Some(u) = unapplied {
            w = w.min(u - 1);
        }
        Ok(w)
    }

    async fn head(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(pg_err)
    }

    async fn count_after(&self, after: FeedPosition) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events
             WHERE (transaction_id, global_position) > ($1::text::xid8, $2)",
        )
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .fetch_one(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn held_back(&self, after: FeedPosition) -> Result<bool, StoreError> {
        // Called after `read` found nothing: anything stored after `after` is
        // there but held back by an older running transaction (of any
        // database on the server: the snapshot's xmin is cluster-wide).
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events
                            WHERE (transaction_id, global_position) > ($1::text::xid8, $2))",
        )
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .fetch_one(&self.pool)
        .await
        .map_err(pg_err)
    }

    async fn close(&self) {
        self.stop.cancel();
        self.listener.wait().await;
    }

    fn wakeups(&self) -> Wakeups {
        self.notifier.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closing_the_feed_stops_its_listener_and_waits_for_it() {
        let Some(db) = qicoo_testkit::PgTestDb::create().await else {
            return;
        };
        let pool = PgPool::connect(&db.url).await.expect("connects");
        let feed = PostgresFeed::new(pool.clone());
        // Once listening, the listener wakes readers once (notifications sent
        // before it listened are lost): wait for that, so that it is parked in
        // `recv` when asked to stop. (On this single-threaded runtime the
        // listener has not run yet, so that wake-up cannot come too early.)
        let mut wakeups = feed.wakeups();
        tokio::time::timeout(Duration::from_secs(10), wakeups.0.changed())
            .await
            .expect("the listener connected")
            .expect("the notifier is alive");
        tokio::time::timeout(Duration::from_secs(5), feed.close())
            .await
            .expect("the listener stopped on the signal");
        assert!(feed.listener.is_empty(), "the listener task is gone");
        pool.close().await;
        db.drop_db().await;
    }
}
