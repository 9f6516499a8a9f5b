//! Throw-away databases for tests: each test creates its own uniquely named
//! Postgres or MariaDB database (or Redis key prefix) and drops it when done, so
//! tests run in parallel and repeated runs never see each other's data.
//!
//! Service addresses come from `QICOO_TEST_POSTGRES_URL`, `QICOO_TEST_MYSQL_URL`
//! and `QICOO_TEST_REDIS_URL`, defaulting to the local servers. When a service
//! cannot be reached a test is skipped with a message — except under `CI=true`,
//! where it fails: CI must never pass by skipping.

#![allow(clippy::unwrap_used)]

use std::marker::PhantomData;
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

/// A database server that tests get throw-away databases on.
pub trait Server: Connection {
    /// Its name in messages.
    const SERVICE: &'static str;
    /// The variable that names its admin connection string.
    const URL_VAR: &'static str;
    /// The admin connection string when that variable is unset.
    const DEFAULT_URL: &'static str;
    /// What follows `DROP DATABASE IF EXISTS name` (Postgres must also end
    /// the connections a test left open).
    const DROP_OPTIONS: &'static str;
}

impl Server for sqlx::PgConnection {
    const SERVICE: &'static str = "PostgreSQL";
    const URL_VAR: &'static str = "QICOO_TEST_POSTGRES_URL";
    const DEFAULT_URL: &'static str = POSTGRES_DEFAULT;
    const DROP_OPTIONS: &'static str = " WITH (FORCE)";
}

impl Server for sqlx::MySqlConnection {
    const SERVICE: &'static str = "MariaDB";
    const URL_VAR: &'static str = "QICOO_TEST_MYSQL_URL";
    const DEFAULT_URL: &'static str = MYSQL_DEFAULT;
    const DROP_OPTIONS: &'static str = "";
}

/// A database that exists for one test, on the server `S`.
pub struct TestDb<S> {
    admin_url: String,
    name: String,
    /// Connection string of the fresh database.
    pub url: String,
    server: PhantomData<S>,
}

/// A Postgres database that exists for one test.
pub type PgTestDb = TestDb<sqlx::PgConnection>;

/// A MariaDB / MySQL database that exists for one test.
pub type MySqlTestDb = TestDb<sqlx::MySqlConnection>;

impl<S> TestDb<S>
where
    S: Server,
    for<'c> &'c mut S: Executor<'c>,
{
    /// Creates a fresh database, or `None` (outside CI) when the server is
    /// down.
    pub async fn create() -> Option<Self> {
        let admin_url = env_or(S::URL_VAR, S::DEFAULT_URL);
        let mut conn =
            match tokio::time::timeout(Duration::from_secs(5), S::connect(&admin_url)).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return unreachable_service(S::SERVICE, e),
                Err(e) => return unreachable_service(S::SERVICE, e),
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
            server: PhantomData,
        })
    }

    /// Drops the database.
    pub async fn drop_db(self) {
        let Ok(mut conn) = S::connect(&self.admin_url).await else {
            return;
        };
        let _ = conn
            .execute(format!("DROP DATABASE IF EXISTS {}{}", self.name, S::DROP_OPTIONS).as_str())
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

    /// Deletes every key under the prefix, as a Redis that restarted empty
    /// would have lost them.
    pub async fn clear(&self) -> redis::RedisResult<()> {
        let client = redis::Client::open(self.url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// Deletes every key under the prefix, when done with it.
    pub async fn drop_keys(self) {
        // Nothing to clean up when Redis went away meanwhile.
        let _ = self.clear().await;
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Executor;

    use super::{with_database, RedisTestPrefix, Server, TestDb};

    /// A fresh database of `S` opens while it exists and not once dropped.
    async fn exists_until_dropped<S>()
    where
        S: Server,
        for<'c> &'c mut S: Executor<'c>,
    {
        let Some(db) = TestDb::<S>::create().await else {
            return;
        };
        let url = db.url.clone();
        assert!(S::connect(&url).await.is_ok(), "{url} opens");
        db.drop_db().await;
        assert!(S::connect(&url).await.is_err(), "{url} is gone");
    }

    #[tokio::test]
    async fn a_postgres_test_database_exists_until_it_is_dropped() {
        exists_until_dropped::<sqlx::PgConnection>().await;
    }

    #[tokio::test]
    async fn a_mariadb_test_database_exists_until_it_is_dropped() {
        exists_until_dropped::<sqlx::MySqlConnection>().await;
    }

    #[tokio::test]
    async fn clearing_a_redis_prefix_deletes_its_keys_and_no_others() {
        let (Some(mine), Some(other)) = (
            RedisTestPrefix::create().await,
            RedisTestPrefix::create().await,
        ) else {
            return;
        };
        let client = redis::Client::open(mine.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        for key in [
            format!("{}a", mine.prefix),
            format!("{}b", mine.prefix),
            format!("{}a", other.prefix),
        ] {
            redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
        mine.clear().await.unwrap();
        let left: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", mine.prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(left.is_empty(), "{left:?}");
        let kept: Option<i64> = redis::cmd("GET")
            .arg(format!("{}a", other.prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(kept, Some(1), "another test's key stays");
        mine.drop_keys().await;
        other.drop_keys().await;
    }

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
