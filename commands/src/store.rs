//! The event store's connection: which database it is, how to reach it, its
//! migrations, and the queries the write side adds to what cqrs-es does (the
//! global position of a stored event; appending is [`crate::append`]'s).

use std::time::Duration;

use qicoo_storage::{
    applied_or_none, sqlite_options, DatabaseKind, SchemaStatus, APPLIED_VERSIONS,
};
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{PgPool, SqlitePool};

/// Which database holds the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStoreKind {
    Postgres,
    Sqlite,
}

impl EventStoreKind {
    /// Recognises `postgres://…`, `postgresql://…` and `sqlite:…` URLs.
    pub fn of_url(url: &str) -> Result<Self, EventStoreError> {
        match DatabaseKind::of_url(url) {
            Some(DatabaseKind::Postgres) => Ok(Self::Postgres),
            Some(DatabaseKind::Sqlite) => Ok(Self::Sqlite),
            Some(DatabaseKind::MySql) | None => Err(EventStoreError::UnsupportedUrl),
        }
    }
}

/// Why the event store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum EventStoreError {
    #[error("the event store URL must start with postgres://, postgresql:// or sqlite:")]
    UnsupportedUrl,
    #[error("the event store URL is invalid: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("cannot reach the event store: {0}")]
    Unreachable(#[source] sqlx::Error),
    #[error("migrating the event store failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("event store query failed: {0}")]
    Query(#[source] sqlx::Error),
}

/// Connection pools of the event store, one kind or the other.
#[derive(Clone, Debug)]
pub enum EventStore {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// How the pool behaves; the defaults suit a laptop and a small pod alike.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a command waits for a connection before the API answers 503.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl EventStore {
    /// Opens the store at `url`. Postgres pools connect lazily so the process can
    /// start (and report itself not ready) while the database is down; a SQLite
    /// file is created if missing.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, EventStoreError> {
        match EventStoreKind::of_url(url)? {
            EventStoreKind::Postgres => {
                // The write side's statements are few and fixed, and the
                // batched ones take arrays of any length: a plan made once per
                // connection suits them all, where a plan made per execution
                // costs PostgreSQL more than running the statement does.
                let options = PgConnectOptions::from_str(url)
                    .map_err(EventStoreError::InvalidUrl)?
                    .options([("plan_cache_mode", "force_generic_plan")]);
                let pool = PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_lazy_with(options);
                Ok(Self::Postgres(pool))
            }
            EventStoreKind::Sqlite => {
                let options = sqlite_options(url).map_err(EventStoreError::InvalidUrl)?;
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections.min(8))
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_with(options)
                    .await
                    .map_err(EventStoreError::Unreachable)?;
                Ok(Self::Sqlite(pool))
            }
        }
    }

    /// Which database this is.
    pub fn kind(&self) -> EventStoreKind {
        match self {
            Self::Postgres(_) => EventStoreKind::Postgres,
            Self::Sqlite(_) => EventStoreKind::Sqlite,
        }
    }

    /// Applies the event-store migrations of this kind. Safe to run again.
    pub async fn migrate(&self) -> Result<(), EventStoreError> {
        match self {
            Self::Postgres(pool) => {
                let mut migrator = sqlx::migrate!("../migrations/eventstore/postgres");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await?;
            }
            Self::Sqlite(pool) => {
                let mut migrator = sqlx::migrate!("../migrations/eventstore/sqlite");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await?;
            }
        }
        Ok(())
    }

    /// Whether every event-store migration this binary carries is applied,
    /// without changing anything (the runtime user needs no DDL for it).
    pub async fn schema_status(&self) -> Result<SchemaStatus, EventStoreError> {
        let (migrator, applied) = match self {
            Self::Postgres(pool) => (
                sqlx::migrate!("../migrations/eventstore/postgres"),
                sqlx::query_scalar(APPLIED_VERSIONS).fetch_all(pool).await,
            ),
            Self::Sqlite(pool) => (
                sqlx::migrate!("../migrations/eventstore/sqlite"),
                sqlx::query_scalar(APPLIED_VERSIONS).fetch_all(pool).await,
            ),
        };
        let applied = applied_or_none(applied).map_err(EventStoreError::Query)?;
        Ok(SchemaStatus::of(&migrator, &applied))
    }

    /// Answers whether the store is reachable now.
    pub async fn ping(&self) -> Result<(), EventStoreError> {
        let result = match self {
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
            Self::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
        };
        result.map_err(EventStoreError::Unreachable)
    }

    /// The global position of one stored event, identified as cqrs-es knows it.
    pub async fn position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: usize,
    ) -> Result<Option<i64>, sqlx::Error> {
        const SQL_PG: &str = "SELECT global_position FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3";
        const SQL_SQLITE: &str = "SELECT global_position FROM events \
             WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND sequence = ?3";
        let sequence = i64::try_from(sequence).unwrap_or(i64::MAX);
        match self {
            Self::Postgres(pool) => {
                sqlx::query_scalar(SQL_PG)
                    .bind(aggregate_type)
                    .bind(aggregate_id)
                    .bind(sequence)
                    .fetch_optional(pool)
                    .await
            }
            Self::Sqlite(pool) => {
                sqlx::query_scalar(SQL_SQLITE)
                    .bind(aggregate_type)
                    .bind(aggregate_id)
                    .bind(sequence)
                    .fetch_optional(pool)
                    .await
            }
        }
    }

    /// When the first event after `position` was recorded, if there is one (how
    /// long a projection at `position` has been behind).
    pub async fn first_recorded_after(
        &self,
        position: i64,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, sqlx::Error> {
        match self {
            Self::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT recorded_at FROM events WHERE global_position > $1 \
                     ORDER BY global_position LIMIT 1",
                )
                .bind(position)
                .fetch_optional(pool)
                .await
            }
            Self::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT recorded_at FROM events WHERE global_position > ?1 \
                     ORDER BY global_position LIMIT 1",
                )
                .bind(position)
                .fetch_optional(pool)
                .await
            }
        }
    }

    /// Connections in the pool and how many of them are idle.
    pub fn pool_usage(&self) -> (u32, u32) {
        match self {
            Self::Postgres(pool) => (pool.size(), u32::try_from(pool.num_idle()).unwrap_or(0)),
            Self::Sqlite(pool) => (pool.size(), u32::try_from(pool.num_idle()).unwrap_or(0)),
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}
