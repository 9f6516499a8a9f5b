//! How every pool on a SQLite file is opened. The embedded default keeps the
//! event store and the read model in one file, so the write side's pool and
//! the read side's must agree on these settings.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

/// Options for a SQLite file at `url` (`sqlite://path` or `sqlite:path`):
/// created if missing; write-ahead log, so readers never block the writer;
/// `synchronous = FULL`, so a commit that was acknowledged survives a power
/// cut; and a generous busy timeout, so writers on the shared file wait for
/// each other instead of failing.
pub fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_sqlite_url_is_refused() {
        assert!(sqlite_options("sqlite://qicoo.db?mode=nonsense").is_err());
    }

    #[test]
    fn a_path_url_is_accepted() {
        assert!(sqlite_options("sqlite://qicoo.db").is_ok());
    }
}
