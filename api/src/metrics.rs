//! Prometheus metrics: the recorder, `/metrics`, and the HTTP middleware that
//! counts requests by route and status with a latency histogram.
//!
//! Names (all prefixed `qicoo_`): `http_requests_total` and
//! `http_request_duration_seconds` {method, route, status}; `commands_total`
//! {aggregate, outcome} and `events_appended_total` {aggregate} (from the write
//! side); `db_pool_connections` {pool, state}; per projection
//! `projection_checkpoint`, `projection_watermark`, `projection_lag_events`,
//! `projection_lag_seconds`, `projection_lock_held`, `projection_failed`
//! (gauges, read at each scrape) and `projection_batches_total`,
//! `projection_events_total`, `projection_errors_total` {kind} (counted by the
//! workers); `websocket_clients`, `websocket_frames_total`,
//! `websocket_forced_snapshots_total`, `websocket_commit_to_send_seconds`,
//! `websocket_write_timeouts_total`, `websocket_closes_total` {code};
//! `live_stage_seconds` {stage}: how long after its newest event's commit a
//! change reached each stage on its way to live clients (`read`, `applied`,
//! `published`, `received`, `flushed`; see
//! `qicoo_projections::changes::record_stage`);
//! `http_connections` (open) and `http_connections_refused_total` (beyond
//! the node's cap); `rate_limited_total` and `rate_limiter_errors_total`
//! {group} (counted by `crate::ratelimit`).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Latency buckets in seconds: fine below 100 ms, where a healthy API answers.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of the live stream's latencies from commit: fine up to the 100 ms
/// a change may take to reach a client.
const LIVE_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0,
    2.5, 10.0,
];

/// The process-wide recorder, installed on first use. One per process: metrics
/// are global, like the process they describe.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Prefix("qicoo_live_".into()), LIVE_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("qicoo_websocket_commit_to_send_seconds".into()),
                    LIVE_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed");
        }
        spawn_upkeep(handle.clone());
        handle
    })
}

/// How often histograms are drained into their summaries between scrapes.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// A recorder built with `build_recorder` keeps every histogram sample until
/// someone drains it; without upkeep a node whose `/metrics` is never read
/// grows without bound. A thread of its own, so that upkeep runs whatever
/// runtime (or none) the first caller had.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start metrics upkeep: histograms grow until scraped");
    }
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(State(state): State<AppState>) -> Response {
    state.record_pool_gauges();
    state.record_projection_gauges().await;
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
        .into_response()
}

/// Counts every request and times it, labelled by the matched route template so
/// that ids in paths do not explode the number of series.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("qicoo_http_requests_total", &labels).increment(1);
    metrics::histogram!("qicoo_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
