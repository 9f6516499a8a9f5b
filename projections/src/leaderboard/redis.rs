//! The Redis leaderboard: a sorted set per meetup, scored by minus the like
//! count so that `ZRANGE` ascending gives the most liked first, and members
//! `<posted position, zero-padded>:<question id>` so that ties (equal scores,
//! ordered by member) put the earlier question first.
//!
//! Keys, under the configured prefix, in a "space" (`live`, or `fresh` while a
//! replay builds): `lb:<space>:checkpoint` (JSON), `lb:<space>:entries` (hash
//! of question id to JSON [`Entry`]), `lb:<space>:meetup:<id>` (sorted set).
//!
//! A batch is one `WATCH checkpoint` + `MULTI … EXEC` on a connection only the
//! writer uses: if anything else touched the checkpoint (another worker, a
//! replay's swap, a flushed Redis) the transaction is discarded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use qicoo_domain::{MeetupId, QuestionId};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::AsyncCommands;
use tokio::sync::Mutex;

use super::{Entry, LeaderboardStore, Ranked, LEADERBOARD};
use crate::error::{ApplyError, StoreError};
use crate::event::Checkpoint;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

const LIVE: &str = "live";
const FRESH: &str = "fresh";

/// Moves every key of the fresh space to the live space, replacing what was
/// there, in one atomic script. ARGV: live key prefix, fresh key prefix, and
/// the two as glob patterns.
const SWAP_SCRIPT: &str = r"
for _, k in ipairs(redis.call('KEYS', ARGV[3])) do redis.call('DEL', k) end
for _, k in ipairs(redis.call('KEYS', ARGV[4])) do
  redis.call('RENAME', k, ARGV[1] .. string.sub(k, #ARGV[2] + 1))
end
return 1
";

/// A leaderboard in Redis.
#[derive(Clone)]
pub struct RedisLeaderboard {
    client: redis::Client,
    /// For reads; reconnects by itself.
    reader: ConnectionManager,
    /// The writer's own connection: WATCH state belongs to a connection, so
    /// nothing else may send commands on it. Dropped after an error.
    writer: Arc<Mutex<Option<MultiplexedConnection>>>,
    /// `<prefix>lb:`.
    base: String,
    space: &'static str,
}

impl RedisLeaderboard {
    /// A leaderboard at `url` with keys under `prefix`. Connects lazily, so a
    /// Redis that is down now only delays the leaderboard.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::from_redis)?;
        // Fail fast when Redis is down: callers (queries, workers) have their
        // own retries and report the outage, rather than hang in reconnects.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let reader = client
            .get_connection_manager_lazy(config)
            .map_err(StoreError::from_redis)?;
        Ok(Self {
            client,
            reader,
            writer: Arc::new(Mutex::new(None)),
            base: format!("{prefix}lb:"),
            space: LIVE,
        })
    }

    fn key(&self, space: &str, rest: &str) -> String {
        format!("{}{space}:{rest}", self.base)
    }

    fn checkpoint_key(&self) -> String {
        self.key(self.space, "checkpoint")
    }

    fn entries_key(&self) -> String {
        self.key(self.space, "entries")
    }

    fn meetup_key(&self, meetup: MeetupId) -> String {
        self.key(self.space, &format!("meetup:{meetup}"))
    }

    fn member(id: QuestionId, entry: &Entry) -> String {
        format!("{}:{id}", entry.rank().redis_member_prefix())
    }

    fn parse_checkpoint(raw: Option<String>) -> Result<Option<Checkpoint>, StoreError> {
        raw.map(|s| {
            serde_json::from_str(&s).map_err(|e| {
                StoreError::failed("redis", format!("bad leaderboard checkpoint: {e}"))
            })
        })
        .transpose()
    }

    /// Runs the WATCH/MULTI/EXEC of a batch on the writer's connection.
    async fn try_commit(
        &self,
        conn: &mut MultiplexedConnection,
        expected: Option<&Checkpoint>,
        changes: &[(QuestionId, Entry)],
        next: &Checkpoint,
    ) -> Result<(), ApplyError> {
        let checkpoint_key = self.checkpoint_key();
        let moved = || ApplyError::CheckpointMoved {
            projection: LEADERBOARD.to_owned(),
        };
        redis::cmd("WATCH")
            .arg(&checkpoint_key)
            .query_async::<()>(conn)
            .await
            .map_err(StoreError::from_redis)?;
        let stored: Option<String> = conn
            .get(&checkpoint_key)
            .await
            .map_err(StoreError::from_redis)?;
        let stored = Self::parse_checkpoint(stored)?;
        if stored.map(|c| c.feed) != expected.map(|c| c.feed) {
            redis::cmd("UNWATCH")
                .query_async::<()>(conn)
                .await
                .map_err(StoreError::from_redis)?;
            return Err(moved());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (id, entry) in changes {
            let json = serde_json::to_string(entry).map_err(|e| StoreError::failed("redis", e))?;
            pipe.hset(self.entries_key(), id.to_string(), json).ignore();
            let key = self.meetup_key(entry.meetup_id);
            if entry.is_ranked() {
                pipe.zadd(key, Self::member(*id, entry), entry.rank().redis_score())
                    .ignore();
            } else {
                pipe.zrem(key, Self::member(*id, entry)).ignore();
            }
        }
        let json = serde_json::to_string(next).map_err(|e| StoreError::failed("redis", e))?;
        pipe.set(&checkpoint_key, json).ignore();
        let done: Option<()> = pipe
            .query_async(conn)
            .await
            .map_err(StoreError::from_redis)?;
        done.ok_or_else(moved)
    }

    /// Glob pattern matching every key of a space (prefix characters that
    /// are special to globs are escaped).
    fn pattern(&self, space: &str) -> String {
        let mut out = String::new();
        for c in self.key(space, "").chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('*');
        out
    }
}

#[async_trait]
impl LeaderboardStore for RedisLeaderboard {
    async fn load(&self) -> Result<(Option<Checkpoint>, HashMap<QuestionId, Entry>), StoreError> {
        let mut conn = self.reader.clone();
        // Read both in one MULTI so they belong to the same instant.
        let (checkpoint, raw): (Option<String>, HashMap<String, String>) = redis::pipe()
            .atomic()
            .get(self.checkpoint_key())
            .hgetall(self.entries_key())
            .query_async(&mut conn)
            .await
            .map_err(StoreError::from_redis)?;
        let checkpoint = Self::parse_checkpoint(checkpoint)?;
        let mut entries = HashMap::with_capacity(raw.len());
        for (id, json) in raw {
            let id: QuestionId = id
                .parse()
                .map_err(|e| StoreError::failed("redis", format!("bad question id {id:?}: {e}")))?;
            let entry: Entry = serde_json::from_str(&json)
                .map_err(|e| StoreError::failed("redis", format!("bad entry of {id}: {e}")))?;
            entries.insert(id, entry);
        }
        Ok((checkpoint, entries))
    }

    async fn commit(
        &self,
        expected: Option<&Checkpoint>,
        changes: &[(QuestionId, Entry)],
        next: &Checkpoint,
    ) -> Result<(), ApplyError> {
        let mut writer = self.writer.lock().await;
        let conn = match writer.as_mut() {
            Some(conn) => conn,
            None => writer.insert(
                self.client
                    .get_multiplexed_async_connection_with_config(
                        &redis::AsyncConnectionConfig::new()
                            .set_connection_timeout(Some(CONNECT_TIMEOUT))
                            .set_response_timeout(Some(RESPONSE_TIMEOUT)),
                    )
                    .await
                    .map_err(StoreError::from_redis)?,
            ),
        };
        let result = self.try_commit(conn, expected, changes, next).await;
        if let Err(ApplyError::Store(_)) = result {
            // The connection may be left with a WATCH or half a transaction.
            *writer = None;
        }
        result
    }

    async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let mut conn = self.reader.clone();
        let raw: Option<String> = conn
            .get(self.checkpoint_key())
            .await
            .map_err(StoreError::from_redis)?;
        Self::parse_checkpoint(raw)
    }

    async fn top(&self, meetup: MeetupId, limit: usize) -> Result<Vec<Ranked>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.reader.clone();
        let stop = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let ranked: Vec<(String, f64)> = conn
            .zrange_withscores(self.meetup_key(meetup), 0, stop)
            .await
            .map_err(StoreError::from_redis)?;
        ranked
            .into_iter()
            .map(|(member, score)| {
                let id = member
                    .split_once(':')
                    .and_then(|(_, id)| id.parse().ok())
                    .ok_or_else(|| {
                        StoreError::failed("redis", format!("bad leaderboard member {member:?}"))
                    })?;
                Ok(Ranked {
                    question_id: id,
                    // Scores are small integers, exact in an f64.
                    likes: -(score as i64),
                })
            })
            .collect()
    }

    fn fresh(&self) -> Arc<dyn LeaderboardStore> {
        Arc::new(Self {
            client: self.client.clone(),
            reader: self.reader.clone(),
            writer: Arc::new(Mutex::new(None)),
            base: self.base.clone(),
            space: FRESH,
        })
    }

    async fn clear_fresh(&self) -> Result<(), StoreError> {
        let mut conn = self.reader.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(self.pattern(FRESH))
            .query_async(&mut conn)
            .await
            .map_err(StoreError::from_redis)?;
        if !keys.is_empty() {
            let _: () = conn.del(keys).await.map_err(StoreError::from_redis)?;
        }
        Ok(())
    }

    async fn swap_in_fresh(&self) -> Result<(), StoreError> {
        let mut conn = self.reader.clone();
        redis::cmd("EVAL")
            .arg(SWAP_SCRIPT)
            .arg(0)
            .arg(self.key(LIVE, ""))
            .arg(self.key(FRESH, ""))
            .arg(self.pattern(LIVE))
            .arg(self.pattern(FRESH))
            .query_async::<i64>(&mut conn)
            .await
            .map_err(StoreError::from_redis)?;
        Ok(())
    }
}
