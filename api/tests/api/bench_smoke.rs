//! The smoke variant of the benchmarks against an embedded Qicoo on a free port,
//! so that the load generator cannot rot unnoticed. It lives with the API tests
//! so that the load generator itself never links the server.

use qicoo_bench::api::Api;
use qicoo_bench::live::Outcome;

use crate::support::{spawn_app, spawn_app_with, Store};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_seconds_of_soak_deliver_every_like_to_every_live_client() {
    use std::time::Duration;

    use qicoo_bench::soak::probe::Watched;
    use qicoo_bench::soak::SoakSettings;

    // A 1 s heartbeat: a client that did not answer pings would be dropped.
    let Some(app) = spawn_app_with(Store::Sqlite, &["--live-heartbeat", "1s"]).await else {
        return;
    };
    let settings = SoakSettings {
        api_urls: vec![app.base.clone()],
        health_url: app.base.clone(),
        watched: vec![Watched {
            name: "tests".into(),
            pid: std::process::id(),
        }],
        clients: 12,
        rate: 30.0,
        duration: Duration::from_secs(4),
        warmup: Duration::from_secs(1),
        drain: Duration::from_secs(10),
        meetups: 2,
        questions: 3,
        participants: 20,
        max_in_flight: 64,
        sample_every: Duration::from_millis(250),
        scrape_every: Duration::from_secs(1),
        report_every: Duration::from_secs(2),
        rss_growth_limit: 0.10,
        lag_factor: 1.5,
        lag_floor: 250.0,
    };
    let run = qicoo_bench::soak::run(settings)
        .await
        .expect("the soak runs");

    assert_eq!(run.like_errors + run.ws_errors, 0, "{:?}", run.first_error);
    assert_eq!(run.likes_not_sent, 0);
    assert!(run.likes_acked > 60, "about 120 likes sent: {run:?}");
    assert_eq!(run.likes_acked, run.likes_sent);
    assert_eq!(
        (
            run.undelivered_likes,
            run.clients_behind,
            run.clients_missing
        ),
        (0, 0, 0)
    );
    assert!(run.drained_after_s.is_some());
    assert!(run.frames >= 12, "a snapshot at least per client");
    assert!(run.samples.len() >= 8, "{} samples", run.samples.len());
    assert!(run
        .samples
        .iter()
        .all(|s| s.rss_kib[0].is_some() && s.lag.is_some_and(|l| l.read_model.is_some())));

    app.cleanup().await;
}
