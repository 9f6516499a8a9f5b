//! The Redis leaderboard: a sorted set per meetup, scored by minus the like
//! count so that `ZRANGE` ascending gives the most liked first, and members
//! `<posted position, zero-padded>:<question id>` so that ties (equal scores,
//! ordered by member) put the earlier question first.
//!
//! Keys, under the configured prefix, in a "space" (`live`, or `fresh` while a
//! replay builds): `<prefix>{lb}:<space>:checkpoint` (JSON),
//! `<prefix>{lb}:<space>:entries` (hash of question id to JSON [`Entry`]),
//! `<prefix>{lb}:<space>:meetup:<id>` (sorted set). `{lb}` is a Redis Cluster
//! hash tag: every key of the leaderboard lives in one slot, because a batch
//! updates the checkpoint and the sorted sets of several meetups in one
//! transaction, which a cluster only runs within one slot.
//!
//! A batch is one `WATCH checkpoint` + `MULTI … EXEC` on a connection only the
//! writer uses: if anything else touched the checkpoint (another worker, a
//! replay's swap, a flushed Redis) the transaction is discarded. No command
//! here lists keys (`KEYS` blocks Redis and fails on a cluster): the sorted
//! sets of a space are named after the meetups its entries name.

use std::collections::{BTreeSet, HashMap};
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

/// How often a replay's swap is tried again when a live worker's batch
/// lands between its reads and its transaction.
const SWAP_ATTEMPTS: usize = 50;

const STORE: &str = "leaderboard";

fn redis_err(e: redis::RedisError) -> StoreError {
    StoreError::from_redis(STORE, e)
}

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
        let client = redis::Client::open(url).map_err(redis_err)?;
        // Fail fast when Redis is down: callers (queries, workers) have their
        // own retries and report the outage, rather than hang in reconnects.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let reader = client
            .get_connection_manager_lazy(config)
            .map_err(redis_err)?;
        Ok(Self {
            client,
            reader,
            writer: Arc::new(Mutex::new(None)),
            base: format!("{prefix}{{lb}}:"),
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
        self.meetup_key_in(self.space, meetup)
    }

    fn meetup_key_in(&self, space: &str, meetup: MeetupId) -> String {
        self.key(space, &format!("meetup:{meetup}"))
    }

    /// The meetups the entries of `space` name: those that may have a sorted
    /// set there.
    async fn meetups_in(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        space: &str,
    ) -> Result<BTreeSet<MeetupId>, StoreError> {
        let raw: Vec<String> = redis::cmd("HVALS")
            .arg(self.key(space, "entries"))
            .query_async(conn)
            .await
            .map_err(redis_err)?;
        raw.iter()
            .map(|json| {
                serde_json::from_str::<Entry>(json)
                    .map(|e| e.meetup_id)
                    .map_err(|e| StoreError::failed(STORE, format!("bad entry: {e}")))
            })
            .collect()
    }

    /// Every key of `space`: its checkpoint, its entries and the sorted sets
    /// of the meetups they name.
    async fn keys_of(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        space: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut keys = vec![self.key(space, "checkpoint"), self.key(space, "entries")];
        keys.extend(
            self.meetups_in(conn, space)
                .await?
                .into_iter()
                .map(|m| self.meetup_key_in(space, m)),
        );
        Ok(keys)
    }

    /// One attempt at replacing the live space with the fresh one: false when
    /// a live worker's batch landed meanwhile (the transaction was
    /// discarded, nothing changed).
    async fn try_swap(&self, conn: &mut MultiplexedConnection) -> Result<bool, StoreError> {
        let live_checkpoint = self.key(LIVE, "checkpoint");
        // Every live batch writes the checkpoint: watching it means that the
        // live keys read below are still all there are when EXEC runs.
        redis::cmd("WATCH")
            .arg(&live_checkpoint)
            .query_async::<()>(conn)
            .await
            .map_err(redis_err)?;
        let live = self.keys_of(conn, LIVE).await?;
        let fresh = self.keys_of(conn, FRESH).await?;
        // RENAME fails on a missing key (and a transaction does not roll
        // back), so only the fresh keys that exist are moved.
        let mut exists = redis::pipe();
        for key in &fresh {
            exists.exists(key);
        }
        let present: Vec<bool> = exists.query_async(conn).await.map_err(redis_err)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.del(&live).ignore();
        for (key, present) in fresh.iter().zip(present) {
            if present {
                let live_name = format!(
                    "{}{}",
                    self.key(LIVE, ""),
                    &key[self.key(FRESH, "").len()..]
                );
                pipe.rename(key, live_name).ignore();
            }
        }
        let done: Option<()> = pipe.query_async(conn).await.map_err(redis_err)?;
        Ok(done.is_some())
    }

    fn member(id: QuestionId, entry: &Entry) -> String {
        format!("{}:{id}", entry.rank().redis_member_prefix())
    }

    fn parse_checkpoint(raw: Option<String>) -> Result<Option<Checkpoint>, StoreError> {
        raw.map(|s| {
            serde_json::from_str(&s)
                .map_err(|e| StoreError::failed(STORE, format!("bad leaderboard checkpoint: {e}")))
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
            .map_err(redis_err)?;
        let stored: Option<String> = conn.get(&checkpoint_key).await.map_err(redis_err)?;
        let stored = Self::parse_checkpoint(stored)?;
        if stored.map(|c| c.feed) != expected.map(|c| c.feed) {
            redis::cmd("UNWATCH")
                .query_async::<()>(conn)
                .await
                .map_err(redis_err)?;
            return Err(moved());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (id, entry) in changes {
            let json = serde_json::to_string(entry).map_err(|e| StoreError::failed(STORE, e))?;
            pipe.hset(self.entries_key(), id.to_string(), json).ignore();
            let key = self.meetup_key(entry.meetup_id);
            if entry.is_ranked() {
                pipe.zadd(key, Self::member(*id, entry), entry.rank().redis_score())
                    .ignore();
            } else {
                pipe.zrem(key, Self::member(*id, entry)).ignore();
            }
        }
        let json = serde_json::to_string(next).map_err(|e| StoreError::failed(STORE, e))?;
        pipe.set(&checkpoint_key, json).ignore();
        let done: Option<()> = pipe.query_async(conn).await.map_err(redis_err)?;
        done.ok_or_else(moved)
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
            .map_err(redis_err)?;
        let checkpoint = Self::parse_checkpoint(checkpoint)?;
        let mut entries = HashMap::with_capacity(raw.len());
        for (id, json) in raw {
            let id: QuestionId = id
                .parse()
                .map_err(|e| StoreError::failed(STORE, format!("bad question id {id:?}: {e}")))?;
            let entry: Entry = serde_json::from_str(&json)
                .map_err(|e| StoreError::failed(STORE, format!("bad entry of {id}: {e}")))?;
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
                    .map_err(redis_err)?,
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
        let raw: Option<String> = conn.get(self.checkpoint_key()).await.map_err(redis_err)?;
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
            .map_err(redis_err)?;
        ranked
            .into_iter()
            .map(|(member, score)| {
                let id = member
                    .split_once(':')
                    .and_then(|(_, id)| id.parse().ok())
                    .ok_or_else(|| {
                        StoreError::failed(STORE, format!("bad leaderboard member {member:?}"))
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
        let keys = self.keys_of(&mut conn, FRESH).await?;
        let _: () = conn.del(keys).await.map_err(redis_err)?;
        Ok(())
    }

    async fn swap_in_fresh(&self) -> Result<(), StoreError> {
        // WATCH belongs to a connection: the swap takes one of its own.
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(
                &redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT)),
            )
            .await
            .map_err(redis_err)?;
        for _ in 0..SWAP_ATTEMPTS {
            if self.try_swap(&mut conn).await? {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable {
            store: STORE,
            message: "live batches kept landing during the swap".into(),
        })
    }
}
