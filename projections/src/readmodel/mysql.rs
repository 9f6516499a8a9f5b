//! The read model's MySQL / MariaDB adapter, for the scaled-out deployment.

use async_trait::async_trait;
use sqlx::mysql::MySqlQueryResult;
use sqlx::{MySql, MySqlPool};

use super::sql::driver::{Driver, SqlDb};
use super::sql::{Dialect, Schema, SqlPool};
use super::SqlReadModel;

impl SqlDb for MySql {
    const DIALECT: Dialect = Dialect::MySql;
    const BEGIN: &'static str = "BEGIN";

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// The read model in MySQL / MariaDB.
pub fn read_model(pool: MySqlPool) -> SqlReadModel {
    SqlReadModel::over(pool)
}

#[async_trait]
impl Schema for Driver<MySql> {
    async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let mut migrator = sqlx::migrate!("../migrations/readmodel/mysql");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await
    }

    async fn schema_status(&self) -> Result<qicoo_storage::SchemaStatus, sqlx::Error> {
        let migrator = sqlx::migrate!("../migrations/readmodel/mysql");
        let applied = sqlx::query_scalar(qicoo_storage::APPLIED_VERSIONS)
            .fetch_all(&self.pool)
            .await;
        Ok(qicoo_storage::SchemaStatus::of(
            &migrator,
            &qicoo_storage::applied_or_none(applied)?,
        ))
    }

    /// Creates empty copies of `tables` named `<table><suffix>`.
    async fn create_copies(&self, tables: &[&str], suffix: &str) -> Result<(), sqlx::Error> {
        self.execute(&drop_all(tables, suffix), vec![]).await?;
        for table in tables {
            self.execute(
                &format!("CREATE TABLE {table}{suffix} LIKE {table}"),
                vec![],
            )
            .await?;
        }
        Ok(())
    }

    /// Replaces `tables` with their `<table><suffix>` copies. One `RENAME TABLE`
    /// statement swaps them all atomically; it waits for transactions using them.
    async fn swap_in(&self, tables: &[&str], suffix: &str) -> Result<(), sqlx::Error> {
        let renames: Vec<String> = tables
            .iter()
            .flat_map(|t| [format!("{t} TO {t}__old"), format!("{t}{suffix} TO {t}")])
            .collect();
        self.execute(&drop_all(tables, "__old"), vec![]).await?;
        self.execute(&format!("RENAME TABLE {}", renames.join(", ")), vec![])
            .await?;
        self.execute(&drop_all(tables, "__old"), vec![]).await?;
        Ok(())
    }
}

/// One statement that drops every `<table><suffix>` there is.
fn drop_all(tables: &[&str], suffix: &str) -> String {
    let names: Vec<String> = tables.iter().map(|t| format!("{t}{suffix}")).collect();
    format!("DROP TABLE IF EXISTS {}", names.join(", "))
}
