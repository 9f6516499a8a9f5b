//! Throw-away databases for tests: each test creates its own uniquely named
//! Postgres or MariaDB database (or Redis key prefix) and drops it when done, so
//! tests run in parallel and repeated runs never see each other's data.
//!
//! Service addresses come from `QICOO_TEST_POSTGRES_URL`, `QICOO_TEST_MYSQL_URL`
//! and `QICOO_TEST_REDIS_URL`, defaulting to the local servers. When a service
//! cannot be reached a test is skipped with a message — except under `CI=true`,
//! where it fails: CI must never pass by skipping.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sqlx::{Connection, Executor};

const POSTGRES_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";
const REDIS_DEFAULT: &str = "redis://127.0.0.1:6379";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Decides what to do when a service is unreachable: panic under CI, otherwise
/// return `None` so the test can skip.
fn unreachable_service<T>(service: &str, err: impl std::fmt::Display) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{service} is required under CI=true but cannot be reached: {err}");
    }
    eprintln!("skipping: {service} cannot be reached ({err}); start it or set CI=true to fail");
    None
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Replaces the database path of a `scheme://authority/db?…` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A Postgres database that exists for one test.
pub struct PgTestDb {
    admin_url: String,
    name: String,
    /// Connection string of the fresh database.
    pub url: String,
}

impl PgTestDb {
    /// Creates a fresh database, or `None` (outside CI) when Postgres is down.
    pub async fn create() -> Option<Self> {
        let admin_url = env_or("QICOO_TEST_POSTGRES_URL", POSTGRES_DEFAULT);
        let mut conn = match tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::PgConnection::connect(&admin_url),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return unreachable_service("PostgreSQL", e),
            Err(e) => return unreachable_service("PostgreSQL", e),
        };
        let name = unique_name("qicoo_test");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// Drops the database (terminating leftover connections).
    pub async fn drop_db(self) {
        let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await else {
            return;
        };
        let _ = conn
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await;
    }
}

/// A MariaDB / MySQL database that exists for one test.
pub struct MySqlTestDb {
    admin_url: String,
    name: String,
    /// Connection string of the fresh database.
    pub url: String,
}

impl MySqlTestDb {
    /// Creates a fresh database, or `None` (outside CI) when MariaDB is down.
    pub async fn create() -> Option<Self> {
        let admin_url = env_or("QICOO_TEST_MYSQL_URL", MYSQL_DEFAULT);
        let mut conn = match tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::MySqlConnection::connect(&admin_url),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return unreachable_service("MariaDB", e),
            Err(e) => return unreachable_service("MariaDB", e),
        };
        let name = unique_name("qicoo_test");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// Drops the database.
    pub async fn drop_db(self) {
        let Ok(mut conn) = sqlx::MySqlConnection::connect(&self.admin_url).await else {
            return;
        };
        let _ = conn
            .execute(format!("DROP DATABASE IF EXISTS {}", self.name).as_str())
            .await;
    }
}

/// A Redis key prefix that belongs to one test.
pub struct RedisTestPrefix {
    /// Connection string of the server.
    pub url: String,
    /// Prefix every key of the test starts with (ends with `:`).
    pub prefix: String,
}

impl RedisTestPrefix {
    /// Picks a fresh prefix, or `None` (outside CI) when Redis is down.
    pub async fn create() -> Option<Self> {
        let url = env_or("QICOO_TEST_REDIS_URL", REDIS_DEFAULT);
        let client = match redis::Client::open(url.as_str()) {
            Ok(c) => c,
            Err(e) => return unreachable_service("Redis", e),
        };
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await;
        let mut conn = match conn {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return unreachable_service("Redis", e),
            Err(e) => return unreachable_service("Redis", e),
        };
        if let Err(e) = redis::cmd("PING").query_async::<String>(&mut conn).await {
            return unreachable_service("Redis", e);
        }
        Some(Self {
            url,
            prefix: format!("{}:", unique_name("qicoo_test")),
        })
    }

    /// Deletes every key under the prefix.
    pub async fn drop_keys(self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced_and_options_kept() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_database("mysql://root@h:3306", "x"),
            "mysql://root@h:3306/x"
        );
    }
}
