//! A deliberately small layer over sqlx that lets the read model's logic be
//! written once for MySQL and SQLite: statements take a list of [`Value`]s and
//! rows come back as lists of values of the [`Kind`]s asked for. Both
//! databases use `?` placeholders; the few statements that differ ask the
//! [`Dialect`], and what differs in managing the schema (migrations, copies
//! of tables for a rebuild, swapping them in) is each adapter's [`Schema`].
//! [`driver::Driver`] runs statements on any sqlx database.

pub(crate) mod driver;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;

pub(crate) const STORE: &str = "read model";

/// A value bound to, or read from, a statement.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Time(DateTime<Utc>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        v.map_or(Self::Null, Self::Text)
    }
}
impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Self::Time(v)
    }
}

/// The type a column is read as.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Int,
    Text,
    OptText,
    Bool,
    Time,
}

/// One row, its values in the order of the kinds asked for.
#[derive(Clone, Debug)]
pub(crate) struct Row(pub Vec<Value>);

fn mismatch(i: usize, want: &str) -> StoreError {
    StoreError::failed(STORE, format!("column {i} is not {want}"))
}

impl Row {
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.0.get(i) {
            Some(Value::Int(v)) => Ok(*v),
            _ => Err(mismatch(i, "an integer")),
        }
    }
    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.0.get(i) {
            Some(Value::Text(v)) => Ok(v.clone()),
            _ => Err(mismatch(i, "text")),
        }
    }
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.0.get(i) {
            Some(Value::Text(v)) => Ok(Some(v.clone())),
            Some(Value::Null) => Ok(None),
            _ => Err(mismatch(i, "text or null")),
        }
    }
    pub fn bool(&self, i: usize) -> Result<bool, StoreError> {
        match self.0.get(i) {
            Some(Value::Bool(v)) => Ok(*v),
            _ => Err(mismatch(i, "a boolean")),
        }
    }
    pub fn time(&self, i: usize) -> Result<DateTime<Utc>, StoreError> {
        match self.0.get(i) {
            Some(Value::Time(v)) => Ok(*v),
            _ => Err(mismatch(i, "a time")),
        }
    }
}

/// Which SQL dialect a statement must be written in, where they differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    MySql,
}

impl Dialect {
    /// `INSERT` that silently skips rows whose key exists.
    pub(crate) fn insert_ignore(self) -> &'static str {
        match self {
            Self::Sqlite => "INSERT OR IGNORE",
            Self::MySql => "INSERT IGNORE",
        }
    }

    /// Deletes the `rows` votes whose (question, participant) pairs are
    /// bound, two values each.
    pub(crate) fn delete_votes(self, table: &str, rows: usize) -> String {
        match self {
            // `OR` of key lookups: SQLite looks each one up in the primary key.
            Self::Sqlite => format!(
                "DELETE FROM {table} WHERE {}",
                vec!["(question_id = ? AND participant_id = ?)"; rows].join(" OR ")
            ),
            // MariaDB's range optimizer is slow on a long `OR` of key pairs
            // (and on a row-value `IN`); a join with the pairs is not.
            Self::MySql => {
                let pairs = std::iter::once("SELECT ? AS question_id, ? AS participant_id")
                    .chain(std::iter::repeat_n("SELECT ?, ?", rows.saturating_sub(1)))
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                format!(
                    "DELETE v FROM {table} v JOIN ({pairs}) w
                     ON v.question_id = w.question_id AND v.participant_id = w.participant_id"
                )
            }
        }
    }

    /// Adds to the like counts of `rows` distinct questions and sets their
    /// `last_position`; bound are (id, likes to add, position) for each.
    pub(crate) fn add_likes_rows(self, table: &str, rows: usize) -> String {
        match self {
            Self::Sqlite => format!(
                "UPDATE {table} SET likes = likes + w.column2, last_position = w.column3
                 FROM (VALUES {}) AS w WHERE {table}.id = w.column1",
                placeholders(rows, 3)
            ),
            // A join with the rows rather than `CASE id WHEN …`, whose cost
            // grows with the square of the number of questions.
            Self::MySql => {
                let values = std::iter::once("SELECT ? AS id, ? AS likes, ? AS position")
                    .chain(std::iter::repeat_n(
                        "SELECT ?, ?, ?",
                        rows.saturating_sub(1),
                    ))
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                format!(
                    "UPDATE {table} q JOIN ({values}) w ON q.id = w.id
                     SET q.likes = q.likes + w.likes, q.last_position = w.position"
                )
            }
        }
    }

    /// Adds the given counts to a minute of activity, creating it if needed.
    /// Inserts or replaces `rows` chain heads (meetup_id, position, link,
    /// events).
    pub(crate) fn upsert_chain_heads(self, table: &str, rows: usize) -> String {
        let insert = format!(
            "INSERT INTO {table} (meetup_id, position, link, events) VALUES {}",
            placeholders(rows, 4)
        );
        match self {
            Self::Sqlite => format!(
                "{insert} ON CONFLICT (meetup_id) DO UPDATE SET
                   position = excluded.position, link = excluded.link, events = excluded.events"
            ),
            Self::MySql => format!(
                "{insert} ON DUPLICATE KEY UPDATE
                   position = VALUES(position), link = VALUES(link), events = VALUES(events)"
            ),
        }
    }

    pub(crate) fn add_activity(self, table: &str) -> String {
        self.add_activity_rows(table, 1)
    }

    /// Adds the given counts to `rows` minutes of activity (distinct ones),
    /// creating them if needed.
    pub(crate) fn add_activity_rows(self, table: &str, rows: usize) -> String {
        let insert = format!(
            "INSERT INTO {table} (meetup_id, minute, questions, likes, active_participants)
             VALUES {}",
            placeholders(rows, 5)
        );
        match self {
            Self::Sqlite => format!(
                "{insert} ON CONFLICT (meetup_id, minute) DO UPDATE SET
                   questions = questions + excluded.questions,
                   likes = likes + excluded.likes,
                   active_participants = active_participants + excluded.active_participants"
            ),
            Self::MySql => format!(
                "{insert} ON DUPLICATE KEY UPDATE
                   questions = questions + VALUES(questions),
                   likes = likes + VALUES(likes),
                   active_participants = active_participants + VALUES(active_participants)"
            ),
        }
    }
}

/// `(?, ?), (?, ?), …`: the `VALUES` of a multi-row statement, `rows` rows
/// of `width` values each.
pub(crate) fn placeholders(rows: usize, width: usize) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    vec![row; rows].join(", ")
}

/// A transaction of the read-model database.
#[async_trait]
pub(crate) trait SqlTx: Send {
    /// Runs a statement; returns the number of rows it matched.
    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, sqlx::Error>;
    /// Runs a query inside the transaction; decodes its columns as `kinds`.
    async fn fetch(
        &mut self,
        sql: &str,
        args: Vec<Value>,
        kinds: &[Kind],
    ) -> Result<Vec<Row>, sqlx::Error>;
    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error>;
    async fn rollback(self: Box<Self>) -> Result<(), sqlx::Error>;
}

/// A connection pool of the read-model database: what the read model's
/// logic, written once, runs its statements through.
#[async_trait]
pub(crate) trait SqlPool: Send + Sync {
    fn dialect(&self) -> Dialect;
    /// Starts a transaction that writes (SQLite: takes the write lock at once,
    /// so reads inside it never go stale).
    async fn begin(&self) -> Result<Box<dyn SqlTx>, sqlx::Error>;
    async fn execute(&self, sql: &str, args: Vec<Value>) -> Result<u64, sqlx::Error>;
    async fn fetch(
        &self,
        sql: &str,
        args: Vec<Value>,
        kinds: &[Kind],
    ) -> Result<Vec<Row>, sqlx::Error>;
}

/// What the two databases do differently with the read model's schema.
#[async_trait]
pub(crate) trait Schema: Send + Sync {
    /// Applies the read-model migrations of this database.
    async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError>;

    /// Whether every read-model migration of this database is applied,
    /// changing nothing.
    async fn schema_status(&self) -> Result<qicoo_storage::SchemaStatus, sqlx::Error>;

    /// Creates empty copies of `tables`, named `<table><suffix>` (dropping
    /// leftovers of an earlier copy).
    async fn create_copies(&self, tables: &[&str], suffix: &str) -> Result<(), sqlx::Error>;

    /// Replaces `tables` with their `<table><suffix>` copies, atomically; the
    /// old ones are dropped.
    async fn swap_in(&self, tables: &[&str], suffix: &str) -> Result<(), sqlx::Error>;
}

/// A read-model database: statements and schema.
pub(crate) trait Backend: SqlPool + Schema {}

impl<T: SqlPool + Schema> Backend for T {}
