//! The read model's SQLite adapter: the embedded default, in the same file as
//! the event store.

use async_trait::async_trait;
use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Sqlite, SqlitePool};

use super::sql::driver::{Driver, SqlDb};
use super::sql::{Dialect, Kind, Schema, SqlPool};
use super::SqlReadModel;

impl SqlDb for Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// The read model in a SQLite database (usually the event store's file).
pub fn read_model(pool: SqlitePool) -> SqlReadModel {
    SqlReadModel::over(pool)
}

#[async_trait]
impl Schema for Driver<Sqlite> {
    /// Rows of other migrators in the same database (the event store's, in
    /// the embedded file) are left alone.
    async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let mut migrator = sqlx::migrate!("../migrations/readmodel/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await
    }

    async fn schema_status(&self) -> Result<qicoo_storage::SchemaStatus, sqlx::Error> {
        let migrator = sqlx::migrate!("../migrations/readmodel/sqlite");
        let applied = sqlx::query_scalar(qicoo_storage::APPLIED_VERSIONS)
            .fetch_all(&self.pool)
            .await;
        Ok(qicoo_storage::SchemaStatus::of(
            &migrator,
            &qicoo_storage::applied_or_none(applied)?,
        ))
    }

    /// Creates empty copies of `tables` named `<table><suffix>`, from the
    /// definitions the migrations left in `sqlite_master`.
    async fn create_copies(&self, tables: &[&str], suffix: &str) -> Result<(), sqlx::Error> {
        for table in tables {
            let copy = format!("{table}{suffix}");
            self.execute(&format!("DROP TABLE IF EXISTS {copy}"), vec![])
                .await?;
            let rows = self
                .fetch(
                    "SELECT type, name, sql FROM sqlite_master
                     WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC",
                    vec![(*table).into()],
                    &[Kind::Text, Kind::Text, Kind::Text],
                )
                .await?;
            for row in rows {
                let (Ok(kind), Ok(name), Ok(sql)) = (row.text(0), row.text(1), row.text(2)) else {
                    continue;
                };
                let ddl = if kind == "table" {
                    copy_table_ddl(&sql, table, &copy)
                } else {
                    let fresh = match name.strip_suffix(INDEX_SUFFIX) {
                        Some(base) => base.to_owned(),
                        None => format!("{name}{INDEX_SUFFIX}"),
                    };
                    copy_index_ddl(&sql, &fresh, &copy)
                };
                let Some(ddl) = ddl else {
                    return Err(sqlx::Error::Configuration(
                        format!("cannot derive a copy of {name} from its definition").into(),
                    ));
                };
                self.execute(&ddl, vec![]).await?;
            }
        }
        Ok(())
    }

    /// Replaces `tables` with their `<table><suffix>` copies in one transaction.
    async fn swap_in(&self, tables: &[&str], suffix: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for table in tables {
            for sql in [
                format!("DROP TABLE IF EXISTS {table}__old"),
                format!("ALTER TABLE {table} RENAME TO {table}__old"),
                format!("ALTER TABLE {table}{suffix} RENAME TO {table}"),
                format!("DROP TABLE {table}__old"),
            ] {
                sqlx::query(&sql).execute(&mut *tx).await?;
            }
        }
        tx.commit().await
    }
}

/// Suffix toggled on index names of fresh tables, so the indexes of a table
/// swapped in by one replay never collide with those of the next one.
const INDEX_SUFFIX: &str = "__r";

/// `CREATE TABLE <copy> …` from a table's definition. SQLite keeps the text
/// as written, except that a rename quotes the new name.
fn copy_table_ddl(sql: &str, table: &str, copy: &str) -> Option<String> {
    [
        format!("CREATE TABLE {table}"),
        format!("CREATE TABLE \"{table}\""),
    ]
    .iter()
    .find(|head| sql.starts_with(head.as_str()))
    .map(|head| format!("CREATE TABLE {copy}{}", &sql[head.len()..]))
}

/// `CREATE [UNIQUE] INDEX <name> ON <copy> (…)` from an index's definition.
fn copy_index_ddl(sql: &str, name: &str, copy: &str) -> Option<String> {
    let unique = if sql.starts_with("CREATE UNIQUE INDEX") {
        "UNIQUE "
    } else {
        ""
    };
    let on = sql.find(" ON ")?;
    let columns = &sql[on + sql[on..].find('(')?..];
    Some(format!("CREATE {unique}INDEX {name} ON {copy} {columns}"))
}
