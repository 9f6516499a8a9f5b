//! [`SqlPool`] and [`SqlTx`] for any sqlx database whose types cover the
//! read model's few kinds of values, written once for MySQL and SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Transaction, Type,
};

use super::{Dialect, Kind, Row, SqlPool, SqlTx, Value};

/// What the driver needs to know of a database besides its sqlx types.
pub(crate) trait SqlDb: Database {
    /// The dialect its statements are written in.
    const DIALECT: Dialect;
    /// The statement that starts a writing transaction (SQLite: `BEGIN
    /// IMMEDIATE`, which takes the write lock at once so reads inside the
    /// transaction never go stale).
    const BEGIN: &'static str;
    /// How many rows a statement matched.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// A pool of one sqlx database, running the read model's statements.
pub(crate) struct Driver<DB: Database> {
    pub(crate) pool: Pool<DB>,
}

impl<DB: Database> Driver<DB> {
    pub(crate) fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}

struct DriverTx<DB: Database>(Transaction<'static, DB>);

fn bind_all<'q, DB>(
    mut query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    args: Vec<Value>,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
    DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    for arg in args {
        query = match arg {
            Value::Null => query.bind(Option::<String>::None),
            Value::Int(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
            Value::Bool(v) => query.bind(v),
            Value::Time(v) => query.bind(v),
        };
    }
    query
}

fn decode_row<DB>(row: &DB::Row, kinds: &[Kind]) -> Result<Row, sqlx::Error>
where
    DB: Database,
    usize: ColumnIndex<DB::Row>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    for<'r> DateTime<Utc>: Decode<'r, DB> + Type<DB>,
{
    use sqlx::Row as _;
    let mut values = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        values.push(match kind {
            Kind::Int => Value::Int(row.try_get::<i64, _>(i)?),
            Kind::Text => Value::Text(row.try_get::<String, _>(i)?),
            Kind::OptText => row
                .try_get::<Option<String>, _>(i)?
                .map_or(Value::Null, Value::Text),
            Kind::Bool => Value::Bool(row.try_get::<bool, _>(i)?),
            Kind::Time => Value::Time(row.try_get::<DateTime<Utc>, _>(i)?),
        });
    }
    Ok(Row(values))
}

#[async_trait]
impl<DB> SqlTx for DriverTx<DB>
where
    DB: SqlDb,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
{
    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, sqlx::Error> {
        let done = bind_all(sqlx::query::<DB>(sql), args)
            .execute(&mut *self.0)
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn fetch(
        &mut self,
        sql: &str,
        args: Vec<Value>,
        kinds: &[Kind],
    ) -> Result<Vec<Row>, sqlx::Error> {
        let rows = bind_all(sqlx::query::<DB>(sql), args)
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(|r| decode_row::<DB>(r, kinds)).collect()
    }

    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error> {
        self.0.commit().await
    }

    async fn rollback(self: Box<Self>) -> Result<(), sqlx::Error> {
        self.0.rollback().await
    }
}

#[async_trait]
impl<DB> SqlPool for Driver<DB>
where
    DB: SqlDb,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
{
    fn dialect(&self) -> Dialect {
        DB::DIALECT
    }

    async fn begin(&self) -> Result<Box<dyn SqlTx>, sqlx::Error> {
        Ok(Box::new(DriverTx(self.pool.begin_with(DB::BEGIN).await?)))
    }

    async fn execute(&self, sql: &str, args: Vec<Value>) -> Result<u64, sqlx::Error> {
        let done = bind_all(sqlx::query::<DB>(sql), args)
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn fetch(
        &self,
        sql: &str,
        args: Vec<Value>,
        kinds: &[Kind],
    ) -> Result<Vec<Row>, sqlx::Error> {
        let rows = bind_all(sqlx::query::<DB>(sql), args)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| decode_row::<DB>(r, kinds)).collect()
    }
}
