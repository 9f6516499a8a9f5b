//! The read side's stores, opened from the URLs of the configuration: which
//! event feed, read model, leaderboard and change stream each names.

use std::sync::Arc;
use std::time::Duration;

use qicoo_storage::{read_model_beside, sqlite_options, DatabaseKind};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::SqlitePool;

use super::ReadSideConfig;
use crate::archive::{EventArchive, PostgresArchive, SqliteArchive};
use crate::changes::{ChangeStream, InProcessChanges, RedisChanges};
use crate::error::{ReadSideError, StoreError};
use crate::feed::{AppendNotifier, EventFeed, PostgresFeed, SqliteFeed};
use crate::leaderboard::{LeaderboardStore, MemoryLeaderboard, RedisLeaderboard};
use crate::readmodel::{mysql, sqlite, ReadModelStore};
use crate::runner::Leadership;

/// How long a read-side query waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the read side reads from and writes to.
pub(super) struct Stores {
    pub feed: Arc<dyn EventFeed>,
    /// The same event store, read per meetup.
    pub archive: Arc<dyn EventArchive>,
    pub notifier: AppendNotifier,
    pub leadership: Leadership,
    pub model: Arc<dyn ReadModelStore>,
    pub leaderboard: Arc<dyn LeaderboardStore>,
    /// False for the in-memory leaderboard, which lives and dies with each
    /// process and so has nothing a replay could rebuild.
    pub leaderboard_persists: bool,
    pub changes: Arc<dyn ChangeStream>,
}

async fn open_sqlite(
    url: &str,
    store: &'static str,
    max_connections: u32,
) -> Result<SqlitePool, ReadSideError> {
    let options = sqlite_options(url)
        .map_err(|e| ReadSideError::Config(format!("invalid SQLite URL: {e}")))?;
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| StoreError::from_sqlx(store, e).into())
}

/// What reads the event store.
struct EventSide {
    feed: Arc<dyn EventFeed>,
    archive: Arc<dyn EventArchive>,
    notifier: AppendNotifier,
    leadership: Leadership,
    /// The SQLite pool, which an in-memory embedded read model shares.
    sqlite: Option<SqlitePool>,
}

/// Opens the stores `config` names. Server pools connect lazily; the
/// read-model migrations are the caller's to apply.
pub(super) async fn open(config: &ReadSideConfig) -> Result<Stores, ReadSideError> {
    let max_connections = config.max_connections.max(1);
    let EventSide {
        feed,
        archive,
        notifier,
        leadership,
        sqlite: event_sqlite,
    } = match DatabaseKind::of_url(&config.event_store_url) {
        Some(DatabaseKind::Postgres) => {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_lazy(&config.event_store_url)
                .map_err(|e| ReadSideError::Config(format!("invalid Postgres URL: {e}")))?;
            let options = Box::new(pool.connect_options().as_ref().clone());
            let archive = Arc::new(PostgresArchive::new(pool.clone()));
            let feed = PostgresFeed::new(pool);
            let notifier = feed.notifier();
            EventSide {
                feed: Arc::new(feed),
                archive,
                notifier,
                leadership: Leadership::Postgres(options),
                sqlite: None,
            }
        }
        Some(DatabaseKind::Sqlite) => {
            let pool = open_sqlite(&config.event_store_url, "event store", max_connections).await?;
            let feed = SqliteFeed::new(pool.clone());
            let notifier = feed.notifier();
            EventSide {
                feed: Arc::new(feed),
                archive: Arc::new(SqliteArchive::new(pool.clone())),
                notifier,
                leadership: Leadership::InProcess,
                sqlite: Some(pool),
            }
        }
        Some(DatabaseKind::MySql) | None => {
            return Err(ReadSideError::Config(format!(
                "the event store URL must start with {} or {}",
                DatabaseKind::Postgres.schemes(),
                DatabaseKind::Sqlite.schemes()
            )))
        }
    };

    let model: Arc<dyn ReadModelStore> = match (&config.read_model_url, event_sqlite) {
        // The embedded default: a file of its own beside the events', so the
        // projections' commits never wait for the commands' lock (and back).
        (None, Some(pool)) => match read_model_beside(&config.event_store_url) {
            Some(url) => Arc::new(sqlite::read_model(
                open_sqlite(&url, "read model", max_connections).await?,
            )),
            None => Arc::new(sqlite::read_model(pool)),
        },
        (None, None) => {
            return Err(ReadSideError::Config(format!(
                "a Postgres event store needs a read model URL ({} or {})",
                DatabaseKind::MySql.schemes(),
                DatabaseKind::Sqlite.schemes()
            )))
        }
        (Some(url), _) => match DatabaseKind::of_url(url) {
            Some(DatabaseKind::MySql) => {
                // Lazily: a read model that is down now is connected to when
                // it appears, while the process serves (and reports it).
                let pool = MySqlPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy(url)
                    .map_err(|e| ReadSideError::Config(format!("invalid MySQL URL: {e}")))?;
                Arc::new(mysql::read_model(pool))
            }
            Some(DatabaseKind::Sqlite) => Arc::new(sqlite::read_model(
                open_sqlite(url, "read model", max_connections).await?,
            )),
            Some(DatabaseKind::Postgres) | None => {
                return Err(ReadSideError::Config(format!(
                    "the read model URL must start with {} or {}",
                    DatabaseKind::MySql.schemes(),
                    DatabaseKind::Sqlite.schemes()
                )))
            }
        },
    };

    let (leaderboard, leaderboard_persists, changes): (
        Arc<dyn LeaderboardStore>,
        bool,
        Arc<dyn ChangeStream>,
    ) = match &config.redis_url {
        Some(url) => (
            Arc::new(RedisLeaderboard::new(url, &config.redis_prefix)?),
            true,
            Arc::new(RedisChanges::new(url, &config.redis_prefix)?),
        ),
        None => (
            Arc::new(MemoryLeaderboard::new()),
            false,
            Arc::new(InProcessChanges::default()),
        ),
    };
    Ok(Stores {
        feed,
        archive,
        notifier,
        leadership,
        model,
        leaderboard,
        leaderboard_persists,
        changes,
    })
}
