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

/// The URL of the embedded read model's own file beside the event store's
/// SQLite file at `url`: `sqlite://qicoo.db` → `sqlite://qicoo.read.db`
/// (`sqlite://events` → `sqlite://events.read`), query parameters kept.
/// `None` for an in-memory database, which has no file to put one beside.
///
/// The two are separate files so that the write side's commits and the
/// projections' never wait for each other's lock: SQLite has one writer per
/// file.
pub fn read_model_beside(url: &str) -> Option<String> {
    let (path_part, query) = match url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (url, None),
    };
    let path = path_part
        .strip_prefix("sqlite://")
        .or_else(|| path_part.strip_prefix("sqlite:"))?;
    if path.is_empty()
        || path.contains(":memory:")
        || query.is_some_and(|q| q.contains("mode=memory"))
    {
        return None;
    }
    let scheme = &path_part[..path_part.len() - path.len()];
    let sibling = match path.strip_suffix(".db") {
        Some(stem) => format!("{stem}.read.db"),
        None => format!("{path}.read"),
    };
    Some(match query {
        Some(query) => format!("{scheme}{sibling}?{query}"),
        None => format!("{scheme}{sibling}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_model_file_sits_beside_the_event_store_file() {
        assert_eq!(
            read_model_beside("sqlite://qicoo.db").as_deref(),
            Some("sqlite://qicoo.read.db")
        );
        assert_eq!(
            read_model_beside("sqlite:/var/lib/qicoo/events?mode=rwc").as_deref(),
            Some("sqlite:/var/lib/qicoo/events.read?mode=rwc")
        );
        assert_eq!(read_model_beside("sqlite::memory:"), None);
        assert_eq!(read_model_beside("sqlite://x.db?mode=memory"), None);
        assert_eq!(read_model_beside("postgres://h/db"), None);
    }

    #[test]
    fn a_malformed_sqlite_url_is_refused() {
        assert!(sqlite_options("sqlite://qicoo.db?mode=nonsense").is_err());
    }

    #[test]
    fn a_path_url_is_accepted() {
        assert!(sqlite_options("sqlite://qicoo.db").is_ok());
    }
}
