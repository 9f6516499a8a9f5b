//! How a sqlx error is sorted, whichever database raised it.

/// What a failed statement means for whoever ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlErrorClass {
    /// A unique key or primary key was already taken (for the event store:
    /// another writer appended to the same aggregate first).
    UniqueViolation,
    /// The database is busy with a conflicting transaction (a lock wait, a
    /// deadlock, a serialization failure, SQLite's writer lock): running the
    /// same work again is expected to succeed.
    Contention,
    /// The database cannot be reached or is refusing work (connection lost,
    /// pool exhausted, shutting down, too many connections): trying again
    /// later may work.
    Unavailable,
    /// Anything else: a bug, a schema out of date, corrupt data.
    Other,
}

impl SqlErrorClass {
    /// Sorts `err`.
    pub fn of(err: &sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => Self::Unavailable,
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    return Self::UniqueViolation;
                }
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let message = db.message().to_ascii_lowercase();
                Self::of_database_error(&code, &message)
            }
            _ => Self::Other,
        }
    }

    /// Sorts a database's error by its code (Postgres SQLSTATE, MySQL
    /// SQLSTATE, SQLite extended result code) and, where MySQL reuses a
    /// generic SQLSTATE, its message.
    fn of_database_error(code: &str, message: &str) -> Self {
        match code {
            // Postgres unique_violation (MySQL's duplicate key is found by
            // `is_unique_violation` above);
            // SQLite SQLITE_CONSTRAINT_PRIMARYKEY and _UNIQUE.
            "23505" | "1555" | "2067" => Self::UniqueViolation,
            // serialization failure (MySQL: deadlock), Postgres deadlock;
            // SQLite SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
            "40001" | "40P01" | "5" | "6" | "261" | "262" | "517" => Self::Contention,
            // Postgres: connection exceptions, operator intervention (shutdown,
            // cannot connect now), too many connections. MySQL: too many
            // connections (08004), communication link failure (08S01).
            c if c.starts_with("08") || c.starts_with("57P") || c == "53300" => Self::Unavailable,
            _ if message.contains("database is locked")
                || message.contains("deadlock")
                || message.contains("lock wait timeout") =>
            {
                Self::Contention
            }
            _ if message.contains("too many connections") => Self::Unavailable,
            _ => Self::Other,
        }
    }

    /// True when running the same work again, now or a little later, may
    /// succeed.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Contention | Self::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::SqlErrorClass as C;

    #[test]
    fn each_database_s_codes_are_sorted_alike() {
        let cases = [
            ("23505", "duplicate key value", C::UniqueViolation),
            ("2067", "UNIQUE constraint failed", C::UniqueViolation),
            ("1555", "UNIQUE constraint failed", C::UniqueViolation),
            ("40001", "could not serialize access", C::Contention),
            ("40P01", "deadlock detected", C::Contention),
            ("5", "database is locked", C::Contention),
            ("517", "database is locked", C::Contention),
            ("HY000", "Lock wait timeout exceeded", C::Contention),
            ("57P01", "terminating connection", C::Unavailable),
            ("53300", "too many clients", C::Unavailable),
            ("08S01", "communication link failure", C::Unavailable),
            ("08004", "Too many connections", C::Unavailable),
            ("HY000", "Too many connections", C::Unavailable),
            ("42P01", "relation does not exist", C::Other),
        ];
        for (code, message, class) in cases {
            assert_eq!(
                C::of_database_error(code, &message.to_ascii_lowercase()),
                class,
                "{code} {message}"
            );
        }
    }

    #[test]
    fn lost_connections_and_exhausted_pools_are_unavailable() {
        assert_eq!(C::of(&sqlx::Error::PoolTimedOut), C::Unavailable);
        assert_eq!(C::of(&sqlx::Error::PoolClosed), C::Unavailable);
        assert_eq!(C::of(&sqlx::Error::RowNotFound), C::Other);
        assert!(C::Unavailable.is_transient() && C::Contention.is_transient());
        assert!(!C::Other.is_transient() && !C::UniqueViolation.is_transient());
    }
}
