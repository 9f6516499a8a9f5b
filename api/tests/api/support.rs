//! `spawn_app`: starts Qicoo on a free port over a fresh store and hands back a
//! client for it. Logs appear only when `TEST_LOG` is set.

#![allow(dead_code)]

use clap::Parser;
use qicoo_api::config::Cli;
use qicoo_api::serve::Qicoo;
use qicoo_api::{app, AppState};
use qicoo_commands::EventStore;
use qicoo_testkit::{MySqlTestDb, PgTestDb, RedisTestPrefix};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

/// Which event store a test runs against.
#[derive(Debug, Clone, Copy)]
pub enum Store {
    Sqlite,
    Postgres,
}

/// A running Qicoo and what it needs to be cleaned up.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub store_url: String,
    server: tokio::task::JoinHandle<()>,
    qicoo: Option<Qicoo>,
    _dir: Option<tempfile::TempDir>,
    services: Option<ScaledServices>,
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        qicoo_api::telemetry::init(qicoo_api::config::LogFormat::Text);
    }
}

pub const TEST_SECRET: &str = "test-secret-of-at-least-sixteen-bytes";

/// Tests create participants, meetups and questions far faster than people
/// do: rate limits are off unless a test sets one (`--rate-…`), as the rate
/// limit tests do.
fn rate_limits_unless_set(extra: &[&str]) -> Vec<String> {
    let sets_one = extra.iter().any(|a| a.starts_with("--rate"));
    let mut argv: Vec<String> = if sets_one {
        Vec::new()
    } else {
        vec!["--rate-limits".into(), "off".into()]
    };
    argv.extend(extra.iter().map(|a| (*a).to_owned()));
    argv
}

/// Starts the app over a fresh store; `None` when the store's service is down
/// outside CI (the test then skips).
pub async fn spawn_app(store: Store) -> Option<TestApp> {
    spawn_app_with(store, &[]).await
}

/// Starts the app with extra command-line settings.
pub async fn spawn_app_with(store: Store, extra: &[&str]) -> Option<TestApp> {
    init_logs();
    let mut argv: Vec<String> = vec!["qicoo".into(), "--secret".into(), TEST_SECRET.into()];
    argv.extend(rate_limits_unless_set(extra));
    let (url, dir, services) = match store {
        Store::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("qicoo.db").display());
            argv.extend(["--event-store-url".into(), url.clone()]);
            (url, Some(dir), None)
        }
        Store::Postgres => {
            let services = ScaledServices::create().await?;
            argv.extend(services.argv("all"));
            (services.pg.url.clone(), None, Some(services))
        }
    };
    let args = Cli::try_parse_from(argv)
        .expect("valid arguments")
        .serve_args();
    let qicoo = Qicoo::start(&args).await.expect("app starts");
    Some(serve(qicoo, None, url, dir, services).await)
}

/// The servers' databases and keys of a scaled-out test app.
pub struct ScaledServices {
    pub pg: PgTestDb,
    pub mysql: MySqlTestDb,
    pub redis: RedisTestPrefix,
}

impl ScaledServices {
    /// A fresh Postgres database, MariaDB database and Redis prefix, migrated
    /// as the migration Job does before any node starts (scaled-out nodes
    /// only check the schema); `None` (outside CI) when a server is down.
    pub async fn create() -> Option<Self> {
        let services = Self::create_unmigrated().await?;
        services.migrate().await;
        Some(services)
    }

    /// Like [`ScaledServices::create`], with empty databases.
    pub async fn create_unmigrated() -> Option<Self> {
        let pg = PgTestDb::create().await?;
        let mysql = MySqlTestDb::create().await?;
        let redis = RedisTestPrefix::create().await?;
        Some(Self { pg, mysql, redis })
    }

    /// Runs `qicoo migrate` over these databases.
    pub async fn migrate(&self) {
        let cli = Cli::try_parse_from([
            "qicoo",
            "migrate",
            "--event-store-url",
            &self.pg.url,
            "--read-model-url",
            &self.mysql.url,
        ])
        .expect("valid arguments");
        let Some(qicoo_api::config::Command::Migrate(args)) = &cli.command else {
            panic!("parsed as another command");
        };
        qicoo_api::serve::migrate(args).await.expect("migrates");
    }

    /// Command-line settings of a node of `role` over these services.
    pub fn argv(&self, role: &str) -> Vec<String> {
        [
            "--role",
            role,
            "--event-store-url",
            &self.pg.url,
            "--read-model-url",
            &self.mysql.url,
            "--redis-url",
            &self.redis.url,
            "--redis-prefix",
            &self.redis.prefix,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// Starts a node of `role` in this process.
    pub async fn start(&self, role: &str) -> Qicoo {
        self.start_with(role, &[], None).await
    }

    /// Starts a node of `role` with `extra` settings, reaching the event
    /// store at `event_store_url` instead of directly (through a proxy, say).
    pub async fn start_with(
        &self,
        role: &str,
        extra: &[&str],
        event_store_url: Option<&str>,
    ) -> Qicoo {
        let mut argv = vec![
            "qicoo".to_owned(),
            "--secret".to_owned(),
            TEST_SECRET.to_owned(),
        ];
        argv.extend(rate_limits_unless_set(extra));
        argv.extend(self.argv(role));
        if let Some(url) = event_store_url {
            let at = argv
                .iter()
                .position(|a| a == "--event-store-url")
                .expect("event store flag");
            argv[at + 1] = url.to_owned();
        }
        let args = Cli::try_parse_from(argv)
            .expect("valid arguments")
            .serve_args();
        Qicoo::start(&args).await.expect("starts")
    }

    /// Starts and serves a node of role `all` over these services, which the
    /// app drops when cleaned up.
    pub async fn serve_all_with(self, extra: &[&str], event_store_url: Option<&str>) -> TestApp {
        let qicoo = self.start_with("all", extra, event_store_url).await;
        let store_url = event_store_url.map_or_else(|| self.pg.url.clone(), str::to_owned);
        serve(qicoo, None, store_url, None, Some(self)).await
    }

    /// Starts and serves an API node.
    pub async fn serve_api(&self) -> TestApp {
        serve(
            self.start("api").await,
            None,
            self.pg.url.clone(),
            None,
            None,
        )
        .await
    }

    /// Drops the databases and keys.
    pub async fn drop_all(self) {
        self.pg.drop_db().await;
        self.mysql.drop_db().await;
        self.redis.drop_keys().await;
    }
}

/// Serves a started Qicoo, optionally with another state (to swap a store).
pub async fn serve(
    qicoo: Qicoo,
    state: Option<AppState>,
    store_url: String,
    dir: Option<tempfile::TempDir>,
    services: Option<ScaledServices>,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    serve_on(listener, qicoo, state, store_url, dir, services).await
}

/// Starts the embedded app on a listener whose connections have a small, fixed
/// send buffer, so that a client that stops reading stalls the server's writes
/// quickly (the kernel's buffers would otherwise absorb megabytes).
pub async fn spawn_app_with_small_send_buffer(extra: &[&str]) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("qicoo.db").display());
    let mut argv = vec![
        "qicoo".to_owned(),
        "--secret".to_owned(),
        TEST_SECRET.to_owned(),
        "--event-store-url".to_owned(),
        url.clone(),
    ];
    argv.extend(rate_limits_unless_set(extra));
    let args = Cli::try_parse_from(argv)
        .expect("valid arguments")
        .serve_args();
    let qicoo = Qicoo::start(&args).await.expect("app starts");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(4096).expect("send buffer");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let listener = socket.listen(128).expect("listen");
    serve_on(listener, qicoo, None, url, Some(dir), None).await
}

async fn serve_on(
    listener: tokio::net::TcpListener,
    qicoo: Qicoo,
    state: Option<AppState>,
    store_url: String,
    dir: Option<tempfile::TempDir>,
    services: Option<ScaledServices>,
) -> TestApp {
    let state = state.unwrap_or_else(|| qicoo.state.clone());
    let addr = listener.local_addr().expect("address");
    let router = app(state.clone(), qicoo.http_settings());
    // The production server, with its timeouts and connection cap.
    let settings = qicoo.server_settings();
    let qicoo = Some(qicoo);
    let server = tokio::spawn(qicoo_api::server::serve_on(
        listener,
        router,
        settings,
        std::future::pending(),
    ));
    TestApp {
        base: format!("http://{addr}/api/v1"),
        // Idle connections go before the server's header timeout closes them.
        client: reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(5))
            .build()
            .expect("a client"),
        state,
        store_url,
        server,
        qicoo,
        _dir: dir,
        services,
    }
}

/// A value bound to a statement of [`TestApp::store_execute`].
pub enum SqlArg {
    Text(String),
    Int(i64),
}

/// A meetup created through the API.
pub struct TestMeetup {
    pub id: String,
    pub code: String,
    pub key: String,
    /// Position of its creation.
    pub position: i64,
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Sends JSON with an optional bearer credential.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.request(method, path);
        if let Some(auth) = auth {
            request = request.bearer_auth(auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn create_meetup(&self, moderated: bool) -> TestMeetup {
        let response = self
            .send(
                Method::POST,
                "/meetups",
                None,
                Some(json!({"title": "Rust Tokyo", "moderated": moderated})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        TestMeetup {
            id: body["meetup"]["id"].as_str().expect("id").to_owned(),
            code: body["meetup"]["code"].as_str().expect("code").to_owned(),
            key: body["organizer_key"].as_str().expect("key").to_owned(),
            position: body["position"].as_i64().expect("position"),
        }
    }

    pub async fn participant(&self) -> String {
        let response = self.send(Method::POST, "/participants", None, None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Likes `question` as `token`; returns the position of the like.
    pub async fn like(&self, question: &str, token: &str) -> i64 {
        let response = self
            .send(
                Method::PUT,
                &format!("/questions/{question}/vote"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json");
        body["position"].as_i64().expect("position")
    }

    /// Posts a question and returns its id.
    pub async fn post_question(&self, meetup: &TestMeetup, token: &str, text: &str) -> String {
        let response = self
            .send(
                Method::POST,
                &format!("/meetups/{}/questions", meetup.id),
                Some(token),
                Some(json!({"text": text})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        body["question"]["id"].as_str().expect("id").to_owned()
    }

    /// How many events of a type the store holds.
    pub async fn count_events(&self, event_type: &str) -> i64 {
        match self.state.commands.store() {
            EventStore::Postgres(pool) => {
                sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
                    .bind(event_type)
                    .fetch_one(pool)
                    .await
                    .expect("count")
            }
            EventStore::Sqlite(pool) => {
                sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = ?1")
                    .bind(event_type)
                    .fetch_one(pool)
                    .await
                    .expect("count")
            }
        }
    }

    /// The metadata of the latest event of a type.
    pub async fn last_metadata(&self, event_type: &str) -> Value {
        let text: String = match self.state.commands.store() {
            EventStore::Postgres(pool) => sqlx::query_scalar(
                "SELECT metadata::text FROM events WHERE event_type = $1 ORDER BY global_position DESC LIMIT 1",
            )
            .bind(event_type)
            .fetch_one(pool)
            .await
            .expect("metadata"),
            EventStore::Sqlite(pool) => sqlx::query_scalar(
                "SELECT metadata FROM events WHERE event_type = ?1 ORDER BY global_position DESC LIMIT 1",
            )
            .bind(event_type)
            .fetch_one(pool)
            .await
            .expect("metadata"),
        };
        serde_json::from_str(&text).expect("metadata is JSON")
    }

    /// The store settings a `qicoo` command needs to reach this app's stores
    /// (event store, and read model and Redis when scaled out).
    pub fn store_argv(&self) -> Vec<String> {
        match &self.services {
            Some(services) => {
                let mut argv = services.argv("all");
                argv.drain(..2); // --role all
                argv
            }
            None => vec!["--event-store-url".to_owned(), self.store_url.clone()],
        }
    }

    /// A new participant: its id and its token.
    pub async fn participant_with_id(&self) -> (String, String) {
        let response = self.send(Method::POST, "/participants", None, None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        (
            body["participant_id"].as_str().expect("id").to_owned(),
            body["token"].as_str().expect("token").to_owned(),
        )
    }

    /// Runs a SQL statement against the event store, with `$1`-style (or
    /// `?1`-style) binds of text and integers.
    pub async fn store_execute(&self, postgres: &str, sqlite: &str, args: &[SqlArg]) -> u64 {
        match self.state.commands.store() {
            EventStore::Postgres(pool) => {
                let mut q = sqlx::query(postgres);
                for a in args {
                    q = match a {
                        SqlArg::Text(t) => q.bind(t.clone()),
                        SqlArg::Int(i) => q.bind(*i),
                    };
                }
                q.execute(pool).await.expect("statement").rows_affected()
            }
            EventStore::Sqlite(pool) => {
                let mut q = sqlx::query(sqlite);
                for a in args {
                    q = match a {
                        SqlArg::Text(t) => q.bind(t.clone()),
                        SqlArg::Int(i) => q.bind(*i),
                    };
                }
                q.execute(pool).await.expect("statement").rows_affected()
            }
        }
    }

    /// Runs a SQL statement against the read model (the embedded file, or
    /// MariaDB when scaled out).
    pub async fn read_model_execute(&self, sql: &str) -> u64 {
        match &self.services {
            Some(services) => {
                let pool = sqlx::MySqlPool::connect(&services.mysql.url)
                    .await
                    .expect("connects to the read model");
                let done = sqlx::query(sql).execute(&pool).await.expect("statement");
                pool.close().await;
                done.rows_affected()
            }
            None => {
                let url = qicoo_storage::read_model_beside(&self.store_url)
                    .expect("the embedded read model's file");
                let pool = sqlx::SqlitePool::connect(&url)
                    .await
                    .expect("connects to the read model");
                let done = sqlx::query(sql).execute(&pool).await.expect("statement");
                pool.close().await;
                done.rows_affected()
            }
        }
    }

    /// Runs `qicoo <args…>` against this app's stores; returns whether it
    /// succeeded, and what it printed on standard output and error.
    pub async fn run_cli(&self, args: &[&str]) -> (bool, String, String) {
        let mut argv: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        argv.extend(self.store_argv());
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_qicoo"))
                .args(&argv)
                .env("RUST_LOG", "warn")
                .output()
        })
        .await
        .expect("joins")
        .expect("qicoo runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// GETs `path` and asserts a 422 whose `errors` names `field`.
    pub async fn assert_invalid_field(&self, path: &str, auth: Option<&str>, field: &str) {
        let response = self.send(Method::GET, path, auth, None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}"
        );
        let problem: Value = response.json().await.expect("json");
        assert!(problem["errors"][field].is_array(), "{path}: {problem}");
    }

    /// The live stream's URL for a meetup.
    pub fn live_url(&self, meetup: &str, query: &str) -> String {
        format!(
            "{}/meetups/{meetup}/live{query}",
            self.base.replace("http://", "ws://")
        )
    }

    /// Begins shutdown as SIGTERM would (WebSocket clients are told 1001).
    pub fn begin_shutdown(&self) {
        if let Some(qicoo) = &self.qicoo {
            qicoo.begin_shutdown();
        }
    }

    /// Stops the server and drops what the test created.
    pub async fn cleanup(self) {
        self.server.abort();
        if let Some(qicoo) = self.qicoo {
            qicoo.stop(std::time::Duration::from_secs(10)).await;
        }
        self.state.commands.store().close().await;
        if let Some(services) = self.services {
            services.drop_all().await;
        }
    }
}

/// Runs a scenario against both stores: `both!(name)` expects an
/// `async fn name(app: &TestApp)` in scope.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                if let Some(app) = $crate::support::spawn_app($crate::support::Store::Sqlite).await
                {
                    super::$name(&app).await;
                    app.cleanup().await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if let Some(app) =
                    $crate::support::spawn_app($crate::support::Store::Postgres).await
                {
                    super::$name(&app).await;
                    app.cleanup().await;
                }
            }
        }
    };
}

/// Like [`both!`], with extra command-line settings for both apps:
/// `both_with!(name, &["--rate-questions", "5/min"])`.
#[macro_export]
macro_rules! both_with {
    ($name:ident, $extra:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                if let Some(app) =
                    $crate::support::spawn_app_with($crate::support::Store::Sqlite, $extra).await
                {
                    super::$name(&app).await;
                    app.cleanup().await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if let Some(app) =
                    $crate::support::spawn_app_with($crate::support::Store::Postgres, $extra).await
                {
                    super::$name(&app).await;
                    app.cleanup().await;
                }
            }
        }
    };
}
