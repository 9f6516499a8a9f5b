//! The smoke variant of the benchmarks against an embedded Qicoo on a free port,
//! so that the load generator cannot rot unnoticed.

use std::net::SocketAddr;

use clap::Parser;
use qicoo_api::config::Cli;
use qicoo_api::serve::Qicoo;
use qicoo_bench::api::Api;
use qicoo_bench::live::Outcome;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_scenarios_run_against_an_embedded_qicoo_without_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("qicoo.db").display());
    let args = Cli::try_parse_from([
        "qicoo",
        "--secret",
        "smoke-secret-of-at-least-sixteen-bytes",
        "--event-store-url",
        &url,
    ])
    .expect("valid arguments")
    .serve_args();
    let qicoo = Qicoo::start(&args).await.expect("Qicoo starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let router = qicoo.router();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("server runs");
    });

    let api = Api::new(&format!("http://{addr}")).expect("client");
    let report = qicoo_bench::smoke::run(&api).await.expect("smoke runs");

    assert_eq!(report.likes.len(), 2);
    for run in &report.likes {
        assert_eq!(run.errors, 0, "{run:?}");
        assert!(run.ok > 0, "{run:?}");
        assert_eq!(run.latency.count, run.ok);
    }
    let hot = &report.hot;
    assert_eq!(hot.errors, 0, "{hot:?}");
    assert_eq!(hot.first.count, 10);
    assert_eq!(hot.last.count, 10);
    assert_eq!(hot.final_likes, Some(60), "every like counted once");
    match &report.live {
        Outcome::Ran(live) => {
            assert_eq!(live.ws_errors + live.like_errors, 0, "{live:?}");
            assert_eq!(live.bad_first_messages, 0, "{live:?}");
            assert!(live.likes_ok > 0, "{live:?}");
            assert_eq!(live.undelivered, 0, "{live:?}");
        }
        Outcome::Skipped { reason } => eprintln!("live scenario skipped: {reason}"),
    }

    server.abort();
    qicoo.stop(std::time::Duration::from_secs(5)).await;
}
