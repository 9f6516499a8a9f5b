//! Readiness says whether *this* process can serve: its schema is at the
//! version it needs and nothing of its own has failed. What every pod shares
//! (a store that is down or hangs, a read model lagging) is reported — in the
//! body, and as a header on answers — but never takes the pod out, and the
//! probe answers within a second however slow a store is. The body names
//! what is down, never the text of its error.

use std::time::{Duration, Instant};

use clap::Parser;
use qicoo_api::config::Cli;
use qicoo_api::serve::Qicoo;
use qicoo_testkit::MySqlTestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::proxy::Proxy;
use crate::support::{serve, ScaledServices, TestApp};

/// Well under the Kubernetes probe's 2-second timeout: what `/readyz` may take.
const PROBE_BUDGET: Duration = Duration::from_millis(1500);

async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.base.replace("/api/v1", "/readyz"))
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

/// Polls `/readyz` until `want` holds of its answer (at most 60 s).
async fn wait_for(app: &TestApp, what: &str, want: impl Fn(StatusCode, &Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = readyz(app).await;
        if want(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never happened: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An embedded node (SQLite event store) whose MariaDB read model is reached
/// through a proxy the test controls.
async fn node_with_read_model_behind_a_proxy() -> Option<(TestApp, Proxy, MySqlTestDb)> {
    let mysql = MySqlTestDb::create().await?;
    let (proxy, through_proxy) = Proxy::in_front_of(&mysql.url).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("qicoo.db").display());
    let args = Cli::try_parse_from([
        "qicoo",
        "--event-store-url",
        &url,
        "--read-model-url",
        &through_proxy,
    ])
    .expect("valid")
    .serve_args();
    let qicoo = Qicoo::start(&args).await.expect("starts");
    Some((serve(qicoo, None, url, Some(dir), None).await, proxy, mysql))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_model_outage_is_reported_without_taking_the_pod_out() {
    let Some((app, proxy, mysql)) = node_with_read_model_behind_a_proxy().await else {
        return;
    };
    let body = wait_for(&app, "ready", |s, b| {
        s == StatusCode::OK && b["read_model"] == "ok"
    })
    .await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["schema"]["read_model"], "current");

    proxy.cut();
    let body = wait_for(&app, "the outage reported", |_, b| {
        b["read_model"] == "unavailable"
    })
    .await;
    let (status, _) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "a shared store's outage: {body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["event_store"], "ok");
    let text = body.to_string().to_lowercase();
    let proxy_addr = proxy.addr.to_string();
    for leak in [
        "error",
        "refused",
        "connection",
        "timed out",
        "mysql",
        proxy_addr.as_str(),
    ] {
        assert!(
            !text.contains(leak),
            "readiness must name the dependency, not repeat its error ({leak}): {body}"
        );
    }
    // What needs the read model says so itself, with a Retry-After.
    let meetup = app.create_meetup(false).await;
    let listed = app
        .send(
            Method::GET,
            &format!("/meetups/{}/questions", meetup.id),
            None,
            None,
        )
        .await;
    assert_eq!(listed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(listed.headers().get("retry-after").is_some());

    proxy.restore().await;
    wait_for(&app, "the read model seen again", |s, b| {
        s == StatusCode::OK && b["read_model"] == "ok"
    })
    .await;

    app.cleanup().await;
    mysql.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_answers_within_the_probe_timeout_while_a_store_hangs() {
    let Some((app, proxy, mysql)) = node_with_read_model_behind_a_proxy().await else {
        return;
    };
    wait_for(&app, "ready", |s, b| {
        s == StatusCode::OK && b["read_model"] == "ok"
    })
    .await;

    // Connections are accepted, nothing is ever answered.
    proxy.black_hole();
    let mut slowest = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut reported = 0;
    // Ten answers in a row that name the hanging store, each in time.
    while reported < 10 {
        let asked = Instant::now();
        let (status, body) = readyz(&app).await;
        let took = asked.elapsed();
        slowest = slowest.max(took);
        assert!(took < PROBE_BUDGET, "/readyz took {took:?}: {body}");
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["read_model"] == "unavailable" {
            reported += 1;
        }
        assert!(
            Instant::now() < deadline,
            "the hang was never reported: {body}"
        );
    }
    eprintln!("slowest /readyz while the read model hangs: {slowest:?}");

    proxy.restore().await;
    wait_for(&app, "the read model seen again", |s, b| {
        s == StatusCode::OK && b["read_model"] == "ok"
    })
    .await;
    app.cleanup().await;
    mysql.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_node_over_an_unmigrated_schema_is_not_ready_until_the_migration_runs() {
    let Some(services) = ScaledServices::create_unmigrated().await else {
        return;
    };
    // Scaled out, `serve` does not migrate: the migration Job does.
    let app = services.serve_api().await;
    let body = wait_for(&app, "the schema checked", |s, b| {
        s == StatusCode::SERVICE_UNAVAILABLE && b["schema"]["event_store"] == "behind"
    })
    .await;
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["schema"]["read_model"], "pending");
    assert_eq!(
        body["event_store"], "ok",
        "the store answers; its schema is old"
    );
    let pg = sqlx::PgPool::connect(&services.pg.url)
        .await
        .expect("postgres");
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'",
    )
    .fetch_one(&pg)
    .await
    .expect("count");
    pg.close().await;
    assert_eq!(tables, 0, "serve changed the schema");

    services.migrate().await;
    let body = wait_for(&app, "ready once migrated", |s, _| s == StatusCode::OK).await;
    assert_eq!(body["schema"]["event_store"], "current");
    assert_eq!(body["schema"]["read_model"], "current");
    // And it serves.
    let meetup = app.create_meetup(false).await;
    assert!(meetup.position > 0);

    app.cleanup().await;
    services.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_migrate_lets_a_scaled_out_node_migrate_by_itself() {
    let Some(services) = ScaledServices::create_unmigrated().await else {
        return;
    };
    let qicoo = services.start_with("api", &["--auto-migrate"], None).await;
    let app = serve(qicoo, None, services.pg.url.clone(), None, None).await;
    let body = wait_for(&app, "ready", |s, _| s == StatusCode::OK).await;
    assert_eq!(body["schema"]["event_store"], "current");
    assert_eq!(body["schema"]["read_model"], "current");
    app.cleanup().await;
    services.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_read_model_is_a_header_and_a_field_not_unreadiness() {
    let Some(services) = ScaledServices::create().await else {
        return;
    };
    // An API node and no projector: nothing projects what it appends.
    let qicoo = services
        .start_with("api", &["--ready-max-lag", "1"], None)
        .await;
    let app = serve(qicoo, None, services.pg.url.clone(), None, None).await;
    wait_for(&app, "ready", |s, _| s == StatusCode::OK).await;
    let (_, body) = readyz(&app).await;
    assert_eq!(body["read_model_lagging"], false, "{body}");
    let fresh = app.send(Method::GET, "/openapi.json", None, None).await;
    assert!(fresh.headers().get("qicoo-read-model-lag").is_none());

    for title in ["one", "two", "three"] {
        let created = app
            .send(
                Method::POST,
                "/meetups",
                None,
                Some(json!({"title": title})),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let body = wait_for(&app, "the lag reported", |_, b| {
        b["read_model_lagging"] == true
    })
    .await;
    let (status, _) = readyz(&app).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "lag is not a reason to be unready: {body}"
    );
    assert!(body["read_model_lag"].as_i64().expect("lag") >= 3, "{body}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let lag = loop {
        let answer = app.send(Method::GET, "/openapi.json", None, None).await;
        assert_eq!(answer.status(), StatusCode::OK);
        if let Some(lag) = answer.headers().get("qicoo-read-model-lag") {
            break lag
                .to_str()
                .expect("text")
                .parse::<i64>()
                .expect("a number");
        }
        assert!(Instant::now() < deadline, "no lag header on answers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(lag >= 3, "the header says how far behind: {lag}");

    app.cleanup().await;
    services.drop_all().await;
}
