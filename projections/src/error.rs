//! The read side's errors. Each names what failed in terms of stores and
//! events, never HTTP; the API maps [`StoreError::Unavailable`] to 503 and the
//! rest to 500.

use std::fmt;

use qicoo_storage::{redis_is_unavailable, SqlErrorClass};

/// A store (event store, read model, leaderboard) could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or is overloaded right now; trying again
    /// later may succeed.
    #[error("{store} is unavailable: {message}")]
    Unavailable {
        store: &'static str,
        message: String,
    },
    /// The store answered, but not as this code expects (a bug or a schema out
    /// of date). Retrying does not help.
    #[error("{store} failed: {message}")]
    Failed {
        store: &'static str,
        message: String,
    },
}

impl StoreError {
    /// True when retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// Classifies a sqlx error: lost connections, exhausted pools, lock waits,
    /// deadlocks and serialization failures are transient; everything else is
    /// treated as a bug.
    pub(crate) fn from_sqlx(store: &'static str, err: sqlx::Error) -> Self {
        let message = err.to_string();
        if SqlErrorClass::of(&err).is_transient() {
            Self::Unavailable { store, message }
        } else {
            Self::Failed { store, message }
        }
    }

    /// Classifies a Redis error of `store` (the leaderboard, the change
    /// stream).
    pub(crate) fn from_redis(store: &'static str, err: redis::RedisError) -> Self {
        let message = err.to_string();
        if redis_is_unavailable(&err) {
            Self::Unavailable { store, message }
        } else {
            Self::Failed { store, message }
        }
    }

    pub(crate) fn failed(store: &'static str, message: impl fmt::Display) -> Self {
        Self::Failed {
            store,
            message: message.to_string(),
        }
    }
}

/// Why a projection could not apply a batch.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The store failed; the batch was not applied (its transaction rolled
    /// back) and may be retried.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored checkpoint is not the one this worker expected: another
    /// worker or a replay wrote it. The worker reloads and carries on from the
    /// stored one.
    #[error("the checkpoint of {projection} moved under this worker")]
    CheckpointMoved { projection: String },
    /// An event that this projection cannot apply. The projection stops here:
    /// skipping it would leave the read side silently wrong.
    #[error("event at position {position} cannot be applied: {reason}")]
    BadEvent { position: i64, reason: String },
}

/// Errors of the read side's setup and administration (connect, migrate,
/// replay).
#[derive(Debug, thiserror::Error)]
pub enum ReadSideError {
    /// A URL is not one this crate understands, or the combination is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("migrating the read model failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Another replay holds the replay lock.
    #[error("a replay is already running")]
    ReplayRunning,
    /// The replay met an event it cannot apply.
    #[error("replay stopped: {0}")]
    Replay(String),
    /// The replay was cancelled before it switched over; the live read side
    /// is unchanged.
    #[error("replay cancelled")]
    Cancelled,
}

impl ReadSideError {
    /// True when the failure is a store being unreachable (the API answers 503).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_transient(),
            // The migrator could not reach the database, or lost it.
            Self::Migration(sqlx::migrate::MigrateError::Execute(e)) => {
                SqlErrorClass::of(e).is_transient()
            }
            _ => false,
        }
    }
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The cursor was not produced by this read side for this kind of list.
    #[error("the cursor is invalid")]
    InvalidCursor,
    /// The limit is outside 1..=100.
    #[error("limit must be between 1 and {max}")]
    InvalidLimit { max: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl QueryError {
    /// True when a store is unreachable (the API answers 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_transient())
    }
}
