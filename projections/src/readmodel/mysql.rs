//! The read model's MySQL / MariaDB adapter, for the scaled-out deployment.

use sqlx::MySqlPool;

use super::sql::{sql_backend, Dialect, SqlPool};

sql_backend!(MySqlBackend, MySqlTx, sqlx::MySql, Dialect::MySql, "BEGIN");

impl MySqlBackend {
    pub(crate) fn new(pool: MySqlPool) -> Self {
        Self(pool)
    }
}

/// Creates empty copies of `tables` named `<table><suffix>`.
pub(crate) async fn create_copies(
    pool: &MySqlBackend,
    tables: &[&str],
    suffix: &str,
) -> Result<(), sqlx::Error> {
    for table in tables {
        let copy = format!("{table}{suffix}");
        pool.execute(&format!("DROP TABLE IF EXISTS {copy}"), vec![])
            .await?;
        pool.execute(&format!("CREATE TABLE {copy} LIKE {table}"), vec![])
            .await?;
    }
    Ok(())
}

/// Replaces `tables` with their `<table><suffix>` copies. One `RENAME TABLE`
/// statement swaps them all atomically; it waits for transactions using them.
pub(crate) async fn swap_in(
    pool: &MySqlBackend,
    tables: &[&str],
    suffix: &str,
) -> Result<(), sqlx::Error> {
    let renames: Vec<String> = tables
        .iter()
        .flat_map(|t| [format!("{t} TO {t}__old"), format!("{t}{suffix} TO {t}")])
        .collect();
    for table in tables {
        pool.execute(&format!("DROP TABLE IF EXISTS {table}__old"), vec![])
            .await?;
    }
    pool.execute(&format!("RENAME TABLE {}", renames.join(", ")), vec![])
        .await?;
    for table in tables {
        pool.execute(&format!("DROP TABLE IF EXISTS {table}__old"), vec![])
            .await?;
    }
    Ok(())
}
