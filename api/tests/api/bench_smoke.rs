//! The smoke variant of the benchmarks against an embedded Qicoo on a free port,
//! so that the load generator cannot rot unnoticed. It lives with the API tests
//! so that the load generator itself never links the server.

use qicoo_bench::api::Api;
use qicoo_bench::live::Outcome;

use crate::support::{spawn_app, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_scenarios_run_against_an_embedded_qicoo_without_errors() {
    let Some(app) = spawn_app(Store::Sqlite).await else {
        return;
    };
    let api = Api::new(&app.base).expect("client");
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

    app.cleanup().await;
}
