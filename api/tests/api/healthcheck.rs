//! `qicoo healthcheck`, the container image's health check (the image has no
//! curl): the real binary, asking a running Qicoo and a port nobody serves.

use std::process::{Command, Output};

use crate::support::{spawn_app, Store};

async fn healthcheck(listen: String) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_qicoo"))
            .args(["healthcheck", "--listen", &listen, "--timeout", "5s"])
            .env_remove("QICOO_LISTEN")
            .output()
            .expect("the qicoo binary runs")
    })
    .await
    .expect("joined")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthcheck_passes_against_a_running_qicoo_and_fails_without_one() {
    let Some(app) = spawn_app(Store::Sqlite).await else {
        return;
    };
    let addr = app
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/api/v1")
        .to_owned();
    let up = healthcheck(addr.clone()).await;
    assert!(
        up.status.success(),
        "healthy: {}",
        String::from_utf8_lossy(&up.stderr)
    );

    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let down = healthcheck(nobody).await;
    assert!(!down.status.success(), "nothing listens there");
    let said = String::from_utf8_lossy(&down.stderr);
    assert!(said.contains("health check failed"), "{said}");

    app.cleanup().await;
}
