//! The change stream: after a read-model batch commits, the rows it changed are
//! published with the read model's position, and every API node reads them to
//! push them to its WebSocket clients.
//!
//! Two adapters: in process (a tokio broadcast, for the embedded default) and a
//! Redis Stream (`XADD` with an approximate `MAXLEN`), which every API node tails
//! with one reader. Entries are keyed by position, which only grows, so a reader
//! resumes exactly where it stopped.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qicoo_domain::{MeetupId, QuestionId};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use crate::error::StoreError;
use crate::queries::{MeetupView, QuestionView};

const STORE: &str = "change stream";

/// How many entries the Redis Stream keeps (approximately).
const REDIS_RETAINED: usize = 10_000;

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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBatch {
    /// The read model's position once these rows were written: every event up
    /// to it is reflected. Strictly increasing from one batch to the next.
    pub position: i64,
    /// When the batch was committed (for commit-to-send latency).
    pub committed_at: DateTime<Utc>,
    /// The changed rows. Empty with `resync`.
    pub changes: Vec<Change>,
    /// Changes may have been lost (the publisher restarted between a commit and
    /// its publication): consumers must refresh from the read model.
    #[serde(default)]
    pub resync: bool,
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
    async fn publish(&self, batch: &ChangeBatch) -> Result<(), StoreError>;

    /// The position of the last published batch, if the stream remembers one.
    async fn last_position(&self) -> Result<Option<i64>, StoreError>;

    /// Batches published after `after`, in order, until the receiver is
    /// dropped. Transient store errors are retried inside.
    fn subscribe(&self, after: i64) -> mpsc::Receiver<ChangeItem>;
}

/// The in-process change stream of the embedded default.
pub struct InProcessChanges {
    tx: broadcast::Sender<ChangeBatch>,
}

impl InProcessChanges {
    /// A stream that buffers `capacity` batches per subscriber.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity.max(1)).0,
        }
    }
}

impl Default for InProcessChanges {
    fn default() -> Self {
        Self::new(1024)
    }
}

#[async_trait]
impl ChangeStream for InProcessChanges {
    async fn publish(&self, batch: &ChangeBatch) -> Result<(), StoreError> {
        // No subscriber is not an error: nobody is watching.
        let _ = self.tx.send(batch.clone());
        Ok(())
    }

    async fn last_position(&self) -> Result<Option<i64>, StoreError> {
        // Nothing survives the process, and nobody outlives it to miss anything.
        Ok(None)
    }

    fn subscribe(&self, after: i64) -> mpsc::Receiver<ChangeItem> {
        let mut rx = self.tx.subscribe();
        let (out, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let item = match rx.recv().await {
                    Ok(batch) if batch.position <= after => continue,
                    Ok(batch) => Ok(batch),
                    Err(broadcast::error::RecvError::Lagged(_)) => Err(ChangeGap),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if out.send(item).await.is_err() {
                    return;
                }
            }
        });
        receiver
    }
}

/// The change stream in a Redis Stream under `<prefix>changes`.
pub struct RedisChanges {
    conn: ConnectionManager,
    client: redis::Client,
    key: String,
}

fn redis_err(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal() {
        StoreError::Unavailable {
            store: STORE,
            message: e.to_string(),
        }
    } else {
        StoreError::Failed {
            store: STORE,
            message: e.to_string(),
        }
    }
}

impl RedisChanges {
    /// A change stream at `url` with its key under `prefix`. Connects lazily.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
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
        })
    }
}

/// Parses the position out of a stream entry id `<position>-0`.
fn entry_position(id: &str) -> Option<i64> {
    id.split('-').next()?.parse().ok()
}

#[async_trait]
impl ChangeStream for RedisChanges {
    async fn publish(&self, batch: &ChangeBatch) -> Result<(), StoreError> {
        let body = serde_json::to_string(batch).map_err(|e| StoreError::Failed {
            store: STORE,
            message: e.to_string(),
        })?;
        let mut conn = self.conn.clone();
        let result: Result<String, redis::RedisError> = redis::cmd("XADD")
            .arg(&self.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(REDIS_RETAINED)
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

    fn subscribe(&self, after: i64) -> mpsc::Receiver<ChangeItem> {
        let (out, receiver) = mpsc::channel(64);
        let client = self.client.clone();
        let key = self.key.clone();
        tokio::spawn(async move {
            let mut last = after;
            let mut backoff = Duration::from_millis(100);
            loop {
                if out.is_closed() {
                    return;
                }
                // A dedicated connection: XREAD BLOCK holds it.
                let mut conn = match client.get_multiplexed_async_connection().await {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "change stream: cannot connect; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                };
                loop {
                    let reply: Result<Option<redis::streams::StreamReadReply>, _> =
                        redis::cmd("XREAD")
                            .arg("COUNT")
                            .arg(100)
                            .arg("BLOCK")
                            .arg(1000)
                            .arg("STREAMS")
                            .arg(&key)
                            .arg(format!("{last}-0"))
                            .query_async(&mut conn)
                            .await;
                    let reply = match reply {
                        Ok(reply) => reply,
                        Err(e) => {
                            tracing::warn!(error = %e, "change stream: read failed; reconnecting");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
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
                    for stream in reply.keys {
                        for entry in stream.ids {
                            let Some(position) = entry_position(&entry.id) else {
                                continue;
                            };
                            last = last.max(position);
                            let body: Option<String> = entry.get("batch");
                            let item = match body.map(|b| serde_json::from_str::<ChangeBatch>(&b)) {
                                Some(Ok(batch)) => Ok(batch),
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
        });
        receiver
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
