//! Readiness follows the stores: not ready while the read model is unreachable,
//! ready again when it returns — and the process keeps running throughout. The
//! body says which dependency is down, never the text of its error.

use std::time::{Duration, Instant};

use clap::Parser;
use qicoo_api::config::Cli;
use qicoo_api::serve::Qicoo;
use qicoo_testkit::MySqlTestDb;
use reqwest::StatusCode;
use serde_json::Value;

use crate::proxy::Proxy;
use crate::support::{serve, TestApp};

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

async fn wait_for(app: &TestApp, want: StatusCode) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = readyz(app).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "readiness never became {want}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_the_read_model_is_down_and_recovers_when_it_returns() {
    let Some(mysql) = MySqlTestDb::create().await else {
        return;
    };
    let target = mysql
        .url
        .trim_start_matches("mysql://")
        .split(['@', '/'])
        .nth(1)
        .expect("host:port")
        .to_owned();
    let proxy = Proxy::start(target.parse().expect("socket address")).await;
    let through_proxy = mysql.url.replace(&target, &proxy.addr.to_string());

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
    let app = serve(
        Qicoo::start(&args).await.expect("starts"),
        None,
        url,
        Some(dir),
        None,
    )
    .await;
    let body = wait_for(&app, StatusCode::OK).await;
    assert_eq!(body["status"], "ready");

    proxy.cut();
    let body = wait_for(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["status"], "not_ready");
    assert_ne!(body["read_model"], "ok");
    assert_eq!(body["read_model"], "unavailable");
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
        target.as_str(),
    ] {
        assert!(
            !text.contains(leak),
            "readiness must name the dependency, not repeat its error ({leak}): {body}"
        );
    }
    let alive = app
        .client
        .get(app.base.replace("/api/v1", "/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        alive.status(),
        StatusCode::OK,
        "liveness must not follow readiness"
    );

    proxy.restore().await;
    let body = wait_for(&app, StatusCode::OK).await;
    assert_eq!(body["read_model"], "ok");

    app.cleanup().await;
    mysql.drop_db().await;
}
