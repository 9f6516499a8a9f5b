//! Whether a database's schema carries every migration a binary was built
//! with: what `qicoo serve` checks instead of migrating when another process
//! (the migration Job) owns the schema.

use std::fmt;

use sqlx::migrate::Migrator;

/// Lists the versions sqlx recorded as applied. The same statement works on
/// Postgres, MySQL/MariaDB and SQLite; it needs `SELECT` on
/// `_sqlx_migrations` and nothing else.
pub const APPLIED_VERSIONS: &str = "SELECT version FROM _sqlx_migrations WHERE success";

/// Where a schema stands against the migrations a binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    /// Every migration this binary knows is applied. Newer ones (of the next
    /// release, during a rollout) may be applied too: migrations stay
    /// backward compatible for one release.
    Current,
    /// These migrations of this binary are not applied yet.
    Behind { missing: Vec<i64> },
}

impl SchemaStatus {
    /// Compares the versions applied in a database with `migrator`'s.
    pub fn of(migrator: &Migrator, applied: &[i64]) -> Self {
        let missing: Vec<i64> = migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect();
        if missing.is_empty() {
            Self::Current
        } else {
            Self::Behind { missing }
        }
    }

    /// Whether the schema has everything this binary needs.
    pub fn is_current(&self) -> bool {
        matches!(self, Self::Current)
    }
}

impl fmt::Display for SchemaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Current => f.write_str("current"),
            Self::Behind { missing } => {
                let list: Vec<String> = missing.iter().map(i64::to_string).collect();
                write!(f, "lacks migration(s) {}", list.join(", "))
            }
        }
    }
}

/// Whether `err` says a table does not exist (Postgres 42P01, MySQL 42S02,
/// SQLite "no such table"): for `_sqlx_migrations`, a database never migrated.
pub fn is_missing_table(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("42P01" | "42S02"))
                || db.message().starts_with("no such table")
        }
        _ => false,
    }
}

/// The versions applied, from the result of [`APPLIED_VERSIONS`]: a missing
/// migrations table means none.
pub fn applied_or_none(result: Result<Vec<i64>, sqlx::Error>) -> Result<Vec<i64>, sqlx::Error> {
    match result {
        Err(e) if is_missing_table(&e) => Ok(Vec::new()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::migrate::{Migration, MigrationType};

    use super::*;

    fn migrator(versions: &[i64]) -> Migrator {
        let migrations: Vec<Migration> = versions
            .iter()
            .map(|v| {
                Migration::new(
                    *v,
                    Cow::Owned(format!("m{v}")),
                    MigrationType::Simple,
                    Cow::Borrowed("SELECT 1"),
                    false,
                )
            })
            .collect();
        Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        }
    }

    #[test]
    fn a_schema_with_every_migration_is_current_even_with_newer_ones() {
        let m = migrator(&[1, 2, 3]);
        assert_eq!(SchemaStatus::of(&m, &[1, 2, 3]), SchemaStatus::Current);
        assert_eq!(SchemaStatus::of(&m, &[1, 2, 3, 4]), SchemaStatus::Current);
    }

    #[test]
    fn a_schema_missing_a_migration_is_behind_and_says_which() {
        let m = migrator(&[1, 2, 3]);
        let status = SchemaStatus::of(&m, &[1]);
        assert_eq!(
            status,
            SchemaStatus::Behind {
                missing: vec![2, 3]
            }
        );
        assert_eq!(status.to_string(), "lacks migration(s) 2, 3");
        assert!(!SchemaStatus::of(&m, &[]).is_current());
    }
}
