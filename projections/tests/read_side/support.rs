//! Test support: throw-away event stores (SQLite file or Postgres database)
//! with events appended straight into the `events` table, the read-side
//! configurations that go with them, builders of domain events, the macro
//! that declares a test per adapter set, and waits on observable state
//! (positions, projection status) in place of sleeps.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qicoo_domain::{
    metadata, MeetupEvent, MeetupId, OrganizerKeyHash, ParticipantId, QuestionEvent, QuestionId,
    VoteEvent,
};
use qicoo_projections::{ReadQueries, ReadSide, ReadSideConfig, WorkerSettings};
use qicoo_testkit::{MySqlTestDb, PgTestDb, RedisTestPrefix};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Logs to stderr when `TEST_LOG` is set (every [`Setup`] calls it).
pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("qicoo_projections=debug,info")
            .with_test_writer()
            .try_init();
    }
}

/// One event to append.
#[derive(Clone, Debug)]
pub struct Ev {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub payload: Value,
    pub meetup_id: MeetupId,
}

impl Ev {
    fn event_type(&self) -> String {
        match &self.payload {
            Value::String(s) => s.clone(),
            Value::Object(map) => map.keys().next().cloned().unwrap_or_default(),
            _ => String::new(),
        }
    }

    fn metadata(&self) -> Value {
        json!({
            metadata::MEETUP_ID: self.meetup_id.to_string(),
            metadata::ACTOR: "system",
            metadata::REQUEST_ID: uuid::Uuid::new_v4().to_string(),
            metadata::TIME: chrono::Utc::now().to_rfc3339(),
            metadata::CLIENT: "test",
        })
    }
}

pub fn meetup_created(meetup: MeetupId, code: &str, moderated: bool) -> Ev {
    Ev {
        aggregate_type: "Meetup",
        aggregate_id: meetup.to_string(),
        payload: serde_json::to_value(MeetupEvent::MeetupCreated {
            id: meetup,
            title: format!("Meetup {code}"),
            code: code.to_owned(),
            moderated,
            organizer_key_hash: OrganizerKeyHash::new("hash"),
        })
        .expect("serialises"),
        meetup_id: meetup,
    }
}

/// The write side's claim of a join code (the projections ignore it).
pub fn join_code_claimed(meetup: MeetupId, code: &str) -> Ev {
    Ev {
        aggregate_type: "JoinCode",
        aggregate_id: code.to_owned(),
        payload: serde_json::to_value(qicoo_domain::JoinCodeEvent::JoinCodeClaimed {
            code: code.to_owned(),
            meetup_id: meetup,
        })
        .expect("serialises"),
        meetup_id: meetup,
    }
}

pub fn meetup_changed(meetup: MeetupId, event: MeetupEvent) -> Ev {
    Ev {
        aggregate_type: "Meetup",
        aggregate_id: meetup.to_string(),
        payload: serde_json::to_value(event).expect("serialises"),
        meetup_id: meetup,
    }
}

pub fn question_posted(
    meetup: MeetupId,
    question: QuestionId,
    author: ParticipantId,
    pending: bool,
) -> Ev {
    Ev {
        aggregate_type: "Question",
        aggregate_id: question.to_string(),
        payload: serde_json::to_value(QuestionEvent::QuestionPosted {
            id: question,
            meetup_id: meetup,
            author,
            text: format!("Question {question}?"),
            author_name: Some("Ada".into()),
            pending,
        })
        .expect("serialises"),
        meetup_id: meetup,
    }
}

pub fn question_changed(meetup: MeetupId, question: QuestionId, event: QuestionEvent) -> Ev {
    Ev {
        aggregate_type: "Question",
        aggregate_id: question.to_string(),
        payload: serde_json::to_value(event).expect("serialises"),
        meetup_id: meetup,
    }
}

pub fn vote(meetup: MeetupId, question: QuestionId, participant: ParticipantId, cast: bool) -> Ev {
    let event = if cast {
        VoteEvent::VoteCast {
            question_id: question,
            meetup_id: meetup,
            participant,
        }
    } else {
        VoteEvent::VoteWithdrawn {
            question_id: question,
            meetup_id: meetup,
            participant,
        }
    };
    Ev {
        aggregate_type: "Vote",
        aggregate_id: format!("{question}:{participant}"),
        payload: serde_json::to_value(event).expect("serialises"),
        meetup_id: meetup,
    }
}

/// A throw-away event store.
pub enum EventStore {
    Sqlite {
        pool: SqlitePool,
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        pool: PgPool,
        db: PgTestDb,
    },
}

/// Aggregate sequence numbers handed out so far, so appends never collide.
static SEQUENCES: Mutex<Option<HashMap<String, i64>>> = Mutex::new(None);

fn next_sequence(aggregate: &str) -> i64 {
    let mut map = SEQUENCES.lock().expect("not poisoned");
    let seq = map.get_or_insert_with(HashMap::new);
    let next = seq.entry(aggregate.to_owned()).or_insert(0);
    *next += 1;
    *next
}

pub fn sqlite_pool_options(url: &str) -> SqliteConnectOptions {
    SqliteConnectOptions::from_str(url)
        .expect("valid url")
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(30))
}

impl EventStore {
    /// A migrated SQLite event store in a temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("qicoo.db").display());
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(sqlite_pool_options(&url))
            .await
            .expect("open sqlite");
        let mut migrator = sqlx::migrate!("../migrations/eventstore/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await.expect("migrate sqlite");
        Self::Sqlite {
            pool,
            url,
            _dir: dir,
        }
    }

    /// A migrated Postgres event store, or `None` when Postgres is down
    /// (outside CI).
    pub async fn postgres() -> Option<Self> {
        let db = PgTestDb::create().await?;
        let pool = PgPoolOptions::new()
            .max_connections(40)
            .connect(&db.url)
            .await
            .expect("connect postgres");
        let mut migrator = sqlx::migrate!("../migrations/eventstore/postgres");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await.expect("migrate postgres");
        Some(Self::Postgres { pool, db })
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { url, .. } => url.clone(),
            Self::Postgres { db, .. } => db.url.clone(),
        }
    }

    /// Appends events in one transaction; returns their global positions.
    pub async fn append(&self, events: &[Ev]) -> Vec<i64> {
        match self {
            Self::Sqlite { pool, .. } => {
                let mut tx = pool.begin().await.expect("begin");
                let mut positions = Vec::new();
                for ev in events {
                    positions.push(sqlite_insert(&mut tx, ev).await);
                }
                tx.commit().await.expect("commit");
                positions
            }
            Self::Postgres { pool, .. } => {
                let mut tx = pool.begin().await.expect("begin");
                let mut positions = Vec::new();
                for ev in events {
                    positions.push(pg_insert(&mut tx, ev).await);
                }
                tx.commit().await.expect("commit");
                positions
            }
        }
    }

    /// Like counts per question as the events say (cast minus withdrawn).
    pub async fn likes_in_store(&self) -> HashMap<QuestionId, i64> {
        let rows: Vec<(String, String)> = match self {
            Self::Sqlite { pool, .. } => sqlx::query_as(
                "SELECT event_type, payload FROM events WHERE aggregate_type = 'Vote'",
            )
            .fetch_all(pool)
            .await
            .expect("read votes"),
            Self::Postgres { pool, .. } => sqlx::query_as(
                "SELECT event_type, payload::text FROM events WHERE aggregate_type = 'Vote'",
            )
            .fetch_all(pool)
            .await
            .expect("read votes"),
        };
        let mut likes = HashMap::new();
        for (event_type, payload) in rows {
            let payload: Value = serde_json::from_str(&payload).expect("json");
            let id: QuestionId = payload[&event_type]["question_id"]
                .as_str()
                .expect("question id")
                .parse()
                .expect("uuid");
            *likes.entry(id).or_insert(0) += if event_type == "VoteCast" { 1 } else { -1 };
        }
        likes
    }

    pub async fn drop_store(self) {
        match self {
            Self::Sqlite { pool, .. } => pool.close().await,
            Self::Postgres { pool, db } => {
                pool.close().await;
                db.drop_db().await;
            }
        }
    }
}

pub async fn sqlite_insert(tx: &mut sqlx::SqliteConnection, ev: &Ev) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES (?, ?, ?, ?, '1', ?, ?) RETURNING global_position",
    )
    .bind(ev.aggregate_type)
    .bind(&ev.aggregate_id)
    .bind(next_sequence(&ev.aggregate_id))
    .bind(ev.event_type())
    .bind(ev.payload.to_string())
    .bind(ev.metadata().to_string())
    .fetch_one(&mut *tx)
    .await
    .expect("insert event")
}

pub async fn pg_insert(tx: &mut sqlx::PgConnection, ev: &Ev) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ($1, $2, $3, $4, '1', $5, $6) RETURNING global_position",
    )
    .bind(ev.aggregate_type)
    .bind(&ev.aggregate_id)
    .bind(next_sequence(&ev.aggregate_id))
    .bind(ev.event_type())
    .bind(&ev.payload)
    .bind(ev.metadata())
    .fetch_one(&mut *tx)
    .await
    .expect("insert event")
}

/// The two adapter sets a deployment runs with, each test's name ending in
/// the one it ran against (see [`per_adapter_set!`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterSet {
    /// SQLite event store and read model, in-memory leaderboard and change
    /// stream.
    Embedded,
    /// Postgres event store, MariaDB read model, Redis leaderboard and change
    /// stream.
    Scaled,
}

impl AdapterSet {
    /// The last segment of the name of a test run against this set, as
    /// [`per_adapter_set!`] declares it.
    pub fn test_name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Scaled => "scaled",
        }
    }
}

/// Declares one test per adapter set, so that a failure names the adapters
/// that broke: `name::embedded` and `name::scaled` each call the async
/// function `name` of the calling module with the fixture that
/// `fixture(AdapterSet)` makes, and are skipped when it makes none (a
/// service down outside CI). A `before` function, when given, runs first,
/// ahead of any fixture.
///
/// ```ignore
/// per_adapter_set!(
///     Setup::of => #[tokio::test]
///     questions_sort_by_likes
/// );
/// async fn questions_sort_by_likes(setup: Setup) { … }
/// ```
macro_rules! per_adapter_set {
    ($fixture:path => $(#[$attr:meta])* $name:ident $(, before $before:path)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$attr])*
            async fn embedded() {
                $($before().await;)?
                if let Some(fixture) = $fixture($crate::support::AdapterSet::Embedded).await {
                    super::$name(fixture).await;
                }
            }

            $(#[$attr])*
            async fn scaled() {
                $($before().await;)?
                if let Some(fixture) = $fixture($crate::support::AdapterSet::Scaled).await {
                    super::$name(fixture).await;
                }
            }
        }
    };
}
pub(crate) use per_adapter_set;

/// The stores of one read-side setup, dropped together.
pub struct Setup {
    pub events: EventStore,
    pub config: ReadSideConfig,
    /// Which adapters these are.
    pub set: AdapterSet,
    mysql: Option<MySqlTestDb>,
    redis: Option<RedisTestPrefix>,
}

/// Fast workers for tests.
pub fn test_worker_settings() -> WorkerSettings {
    WorkerSettings {
        batch_size: 100,
        poll_interval: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
    }
}

impl Setup {
    /// The stores of `set`, or `None` when a service it needs is down
    /// (outside CI).
    pub async fn of(set: AdapterSet) -> Option<Self> {
        match set {
            AdapterSet::Embedded => Some(Self::embedded().await),
            AdapterSet::Scaled => Self::scaled().await,
        }
    }

    /// The embedded default: SQLite for events and read model, leaderboard
    /// in memory.
    pub async fn embedded() -> Self {
        init_logs();
        let events = EventStore::sqlite().await;
        let mut config = ReadSideConfig::new(events.url());
        config.worker = test_worker_settings();
        Self {
            events,
            config,
            set: AdapterSet::Embedded,
            mysql: None,
            redis: None,
        }
    }

    /// Scaled out: Postgres, MariaDB, Redis. `None` when a service is down
    /// (outside CI).
    pub async fn scaled() -> Option<Self> {
        init_logs();
        let events = EventStore::postgres().await?;
        let Some(mysql) = MySqlTestDb::create().await else {
            events.drop_store().await;
            return None;
        };
        let Some(redis) = RedisTestPrefix::create().await else {
            events.drop_store().await;
            mysql.drop_db().await;
            return None;
        };
        let mut config = ReadSideConfig::new(events.url());
        config.read_model_url = Some(mysql.url.clone());
        config.redis_url = Some(redis.url.clone());
        config.redis_prefix = redis.prefix.clone();
        config.worker = test_worker_settings();
        Some(Self {
            events,
            config,
            set: AdapterSet::Scaled,
            mysql: Some(mysql),
            redis: Some(redis),
        })
    }

    pub fn name(&self) -> &'static str {
        match self.set {
            AdapterSet::Embedded => "sqlite+memory",
            AdapterSet::Scaled => "postgres+mysql+redis",
        }
    }

    pub async fn read_side(&self) -> ReadSide {
        ReadSide::connect(self.config.clone())
            .await
            .expect("read side connects")
    }

    /// A read side of these stores with its projectors running.
    pub async fn start(&self) -> Running {
        Running::spawn(self.read_side().await)
    }

    /// Deletes the leaderboard's keys, as a Redis that restarted empty would
    /// have lost them (nothing to delete without Redis).
    pub async fn clear_redis(&self) {
        if let Some(redis) = &self.redis {
            redis.clear().await.expect("deletes the Redis keys");
        }
    }

    pub async fn drop_all(self) {
        self.events.drop_store().await;
        if let Some(mysql) = self.mysql {
            mysql.drop_db().await;
        }
        if let Some(redis) = self.redis {
            redis.drop_keys().await;
        }
    }
}

/// A read side whose projectors run until [`Running::stop`].
pub struct Running {
    pub read_side: Arc<ReadSide>,
    cancel: CancellationToken,
    workers: JoinHandle<()>,
}

impl Running {
    /// Starts the projectors of `read_side`.
    pub fn spawn(read_side: ReadSide) -> Self {
        let read_side = Arc::new(read_side);
        let cancel = CancellationToken::new();
        let workers = read_side.spawn_projectors(cancel.clone());
        Self {
            read_side,
            cancel,
            workers,
        }
    }

    /// The queries of the read side.
    pub fn queries(&self) -> Arc<dyn ReadQueries> {
        self.read_side.queries()
    }

    /// Stops the projectors and waits until they have (their batch done and
    /// their locks released); the read side stays, to be looked at.
    pub async fn stop(self) -> Arc<ReadSide> {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.workers)
            .await
            .expect("workers stop on cancellation")
            .expect("workers");
        self.read_side
    }
}

/// Waits until the read model answers for `position` (read-your-writes),
/// failing the test when it does not within `timeout`.
pub async fn assert_reaches(queries: &dyn ReadQueries, position: i64, timeout: Duration) {
    let reached = queries
        .wait_for_position(position, timeout)
        .await
        .expect("waits");
    assert!(reached >= position, "reached {reached}, wanted {position}");
}

/// Waits until every projection of `read_side` has applied everything up to
/// `position` (its watermark reached it), failing the test when one has not
/// within `timeout`. Unlike [`assert_reaches`], this waits for the
/// leaderboard too.
pub async fn wait_until_applied(read_side: &ReadSide, position: i64, timeout: Duration) {
    let applied = eventually(timeout, || async {
        let status = read_side.status().await;
        status
            .iter()
            .all(|s| s.watermark.is_some_and(|w| w >= position))
            .then_some(())
    })
    .await;
    if applied.is_none() {
        panic!(
            "not every projection applied position {position}: {:?}",
            read_side.status().await
        );
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The audit fold (what `qicoo verify`, exports and state-as-of use) replays
/// the events into the same read model, hash chain and leaderboard as the
/// projections built: one set of rules. The first difference, if any.
pub async fn audit_fold_agrees(read_side: &ReadSide) -> Result<(), String> {
    let feed = read_side.feed();
    let model = read_side.read_model();
    let leaderboard = read_side.stored_leaderboard();
    let report = qicoo_projections::audit::verify::Verify {
        feed: feed.as_ref(),
        model: model.as_ref(),
        leaderboard: leaderboard.as_deref(),
        meetup: None,
    }
    .run(|_, _| {})
    .await
    .map_err(|e| e.to_string())?;
    match report.differences.first() {
        Some(d) => Err(format!("the audit fold differs: {d}")),
        None if leaderboard.is_some() && !report.leaderboard_compared => {
            Err("the leaderboard was not compared".into())
        }
        None if report.events == 0 => Err("no event was replayed".into()),
        None => Ok(()),
    }
}
