//! The change stream in a Redis Stream under `<prefix>changes`: one entry per
//! batch, with id `<position>-0`, trimmed to about a configurable length.
//!
//! Entries are JSON of a wire form of the batch that carries beside each
//! question view the fields HTTP and WebSocket clients never see (author,
//! positions, when a meetup last changed), so that a view read off the stream
//! is the view the publisher read: the live leaderboard ranks by the posted
//! position.
//!
//! A reader whose last entry was trimmed away before it read what followed is
//! sent a [`ChangeGap`]: it finds out by comparing the stream's first retained
//! entry with its own last one whenever a read returns entries.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qicoo_domain::ParticipantId;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Change, ChangeBatch, ChangeGap, ChangeItem, ChangeStream, Subscription};
use crate::error::StoreError;
use crate::queries::{MeetupView, QuestionView};

const STORE: &str = "change stream";

/// How many entries the Redis Stream keeps (approximately) by default.
pub const REDIS_RETAINED: usize = 10_000;

/// How long one `XREAD` blocks: also how long a closed subscription may take
/// to notice when its reader is not cancelled.
const BLOCK: Duration = Duration::from_secs(1);

/// How long the reader waits to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How much longer than [`BLOCK`] an `XREAD` may take to answer before the
/// reader gives up on its connection.
const RESPONSE_GRACE: Duration = Duration::from_secs(2);

/// A batch as stored in the stream.
#[derive(Serialize, Deserialize)]
struct WireBatch {
    position: i64,
    committed_at: DateTime<Utc>,
    changes: Vec<WireChange>,
    #[serde(default)]
    resync: bool,
}

/// A change as stored in the stream: a question's view with the fields its
/// serde form leaves out for clients.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WireChange {
    Question {
        question: QuestionView,
        author: ParticipantId,
        position: i64,
        posted_position: i64,
    },
    Meetup {
        meetup: MeetupView,
        updated_at: DateTime<Utc>,
    },
}

impl From<&ChangeBatch> for WireBatch {
    fn from(batch: &ChangeBatch) -> Self {
        Self {
            position: batch.position,
            committed_at: batch.committed_at,
            resync: batch.resync,
            changes: batch
                .changes
                .iter()
                .map(|change| match change {
                    Change::Question { question } => WireChange::Question {
                        question: question.clone(),
                        author: question.author,
                        position: question.position,
                        posted_position: question.posted_position,
                    },
                    Change::Meetup { meetup } => WireChange::Meetup {
                        meetup: meetup.clone(),
                        updated_at: meetup.updated_at,
                    },
                })
                .collect(),
        }
    }
}

impl From<WireBatch> for ChangeBatch {
    fn from(wire: WireBatch) -> Self {
        Self {
            position: wire.position,
            committed_at: wire.committed_at,
            resync: wire.resync,
            changes: wire
                .changes
                .into_iter()
                .map(|change| match change {
                    WireChange::Question {
                        question,
                        author,
                        position,
                        posted_position,
                    } => Change::Question {
                        question: QuestionView {
                            author,
                            position,
                            posted_position,
                            ..question
                        },
                    },
                    WireChange::Meetup { meetup, updated_at } => Change::Meetup {
                        meetup: MeetupView {
                            updated_at,
                            ..meetup
                        },
                    },
                })
                .collect(),
        }
    }
}

/// The change stream in a Redis Stream under `<prefix>changes`.
pub struct RedisChanges {
    conn: ConnectionManager,
    client: redis::Client,
    key: String,
    /// About how many entries the stream keeps; a reader further behind gets
    /// a [`ChangeGap`].
    retained: usize,
}

fn redis_err(e: redis::RedisError) -> StoreError {
    StoreError::from_redis(STORE, e)
}

impl RedisChanges {
    /// A change stream at `url` with its key under `prefix`, keeping about
    /// [`REDIS_RETAINED`] entries. Connects lazily.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Self::with_retention(url, prefix, REDIS_RETAINED)
    }

    /// A change stream that keeps about `retained` entries (at least one).
    pub fn with_retention(url: &str, prefix: &str, retained: usize) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Failed {
            store: STORE,
            message: format!("invalid Redis URL: {e}"),
        })?;
        // Fail fast when Redis is down: the read model must not wait on its
        // publication (the publisher marks a resync and tries again later).
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        let conn = client
            .get_connection_manager_lazy(config)
            .map_err(redis_err)?;
        Ok(Self {
            conn,
            client,
            key: format!("{prefix}changes"),
            retained: retained.max(1),
        })
    }
}

/// Parses the position out of a stream entry id `<position>-0`.
fn entry_position(id: &str) -> Option<i64> {
    id.split('-').next()?.parse().ok()
}

/// Whether entries after `last` may have been trimmed away: the stream lost
/// entries, and its first retained one comes after `last`. Conservative: a
/// reader whose last entry was exactly the last one trimmed is told of a gap
/// too, which costs a refresh, never a hole.
async fn trimmed_after(
    conn: &mut MultiplexedConnection,
    key: &str,
    last: i64,
) -> Result<bool, redis::RedisError> {
    let info: HashMap<String, redis::Value> = match redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .query_async(conn)
        .await
    {
        Ok(info) => info,
        // No stream (yet, or any more): nothing retained to compare with.
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) => {
            return Ok(true)
        }
        Err(e) => return Err(e),
    };
    let number = |field: &str| -> Option<i64> {
        info.get(field)
            .and_then(|v| redis::from_redis_value::<i64>(v.clone()).ok())
    };
    // Redis 7 counts every entry ever added; older servers do not, and then
    // any first entry after `last` counts as a possible gap.
    let lost = match (number("entries-added"), number("length")) {
        (Some(added), Some(length)) => added > length,
        _ => true,
    };
    let first = info
        .get("first-entry")
        .and_then(|v| redis::from_redis_value::<Option<(String, redis::Value)>>(v.clone()).ok())
        .flatten()
        .and_then(|(id, _)| entry_position(&id));
    Ok(lost && first.is_none_or(|first| first > last))
}

#[async_trait]
impl ChangeStream for RedisChanges {
    async fn publish(&self, batch: &ChangeBatch) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(&WireBatch::from(batch)).map_err(|e| StoreError::Failed {
                store: STORE,
                message: e.to_string(),
            })?;
        let mut conn = self.conn.clone();
        let result: Result<String, redis::RedisError> = redis::cmd("XADD")
            .arg(&self.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.retained)
            .arg(format!("{}-0", batch.position))
            .arg("batch")
            .arg(body)
            .query_async(&mut conn)
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already published (a restarted publisher repeating itself).
            Err(e) if e.to_string().contains("equal or smaller") => Ok(()),
            Err(e) => Err(redis_err(e)),
        }
    }

    async fn last_position(&self) -> Result<Option<i64>, StoreError> {
        let mut conn = self.conn.clone();
        let last: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
            .arg(&self.key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(last.first().and_then(|(id, _)| entry_position(id)))
    }

    fn subscribe(&self, after: i64) -> Subscription {
        let client = self.client.clone();
        let key = self.key.clone();
        Subscription::spawn(move |out, stop| read(client, key, after, out, stop))
    }
}

/// Waits `backoff` (or until `stop`), then doubles it up to a second (so
/// that live clients hear of changes soon after Redis returns); false when
/// stopped.
async fn pause(backoff: &mut Duration, stop: &CancellationToken) -> bool {
    let stopped = tokio::select! {
        () = tokio::time::sleep(*backoff) => false,
        () = stop.cancelled() => true,
    };
    *backoff = (*backoff * 2).min(Duration::from_secs(1));
    !stopped
}

/// The reader task of one subscription.
async fn read(
    client: redis::Client,
    key: String,
    after: i64,
    out: mpsc::Sender<ChangeItem>,
    stop: CancellationToken,
) {
    let mut last = after;
    let mut backoff = Duration::from_millis(100);
    loop {
        if out.is_closed() || stop.is_cancelled() {
            return;
        }
        // A dedicated connection: XREAD BLOCK holds it. With deadlines, so
        // that a Redis that stops answering is left for a new connection.
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(BLOCK + RESPONSE_GRACE));
        let connected = tokio::select! {
            connected = client.get_multiplexed_async_connection_with_config(&config) => connected,
            () = stop.cancelled() => return,
        };
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "change stream: cannot connect; retrying");
                if !pause(&mut backoff, &stop).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let mut command = redis::cmd("XREAD");
            command
                .arg("COUNT")
                .arg(100)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&key)
                .arg(format!("{last}-0"));
            let read = command.query_async::<Option<redis::streams::StreamReadReply>>(&mut conn);
            let reply = tokio::select! {
                reply = read => reply,
                () = stop.cancelled() => return,
            };
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::warn!(error = %e, "change stream: read failed; reconnecting");
                    if !pause(&mut backoff, &stop).await {
                        return;
                    }
                    break;
                }
            };
            backoff = Duration::from_millis(100);
            let Some(reply) = reply else {
                if out.is_closed() {
                    return;
                }
                continue;
            };
            let entries: Vec<_> = reply.keys.into_iter().flat_map(|k| k.ids).collect();
            if entries.is_empty() {
                continue;
            }
            // What this read returned may start after entries that were
            // trimmed before this reader got to them.
            match trimmed_after(&mut conn, &key, last).await {
                Ok(false) => {}
                Ok(true) => {
                    tracing::warn!(
                        after = last,
                        "change stream: entries were trimmed before this reader read them"
                    );
                    if out.send(Err(ChangeGap)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // Unsure whether anything was lost: say so rather than
                    // risk a hole.
                    tracing::warn!(error = %e, "change stream: cannot check for trimmed entries");
                    if out.send(Err(ChangeGap)).await.is_err() {
                        return;
                    }
                }
            }
            for entry in entries {
                let Some(position) = entry_position(&entry.id) else {
                    continue;
                };
                last = last.max(position);
                let body: Option<String> = entry.get("batch");
                let item = match body.map(|b| serde_json::from_str::<WireBatch>(&b)) {
                    Some(Ok(batch)) => Ok(ChangeBatch::from(batch)),
                    _ => {
                        tracing::error!(id = %entry.id, "change stream: unreadable entry");
                        Err(ChangeGap)
                    }
                };
                if out.send(item).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::entry_position;

    #[test]
    fn entry_ids_carry_the_position() {
        assert_eq!(entry_position("42-0"), Some(42));
        assert_eq!(entry_position("nonsense"), None);
    }
}
