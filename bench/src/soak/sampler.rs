//! What the soak watches while the likes go: a sample of every counter, RSS
//! and lag each `sample_every` (and a progress line each `report_every`), and a
//! scrape of every node's `/metrics` each `scrape_every`, as Prometheus would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::clients::ClientSet;
use super::likes::Counters;
use super::verdict::Sample;
use super::{probe, report, SoakSettings};

/// Samples RSS, lag and the counters every `sample_every`, and prints a line
/// every `report_every`, until `stop`.
pub async fn sample(
    settings: SoakSettings,
    started: Instant,
    counters: Arc<Counters>,
    clients: ClientSet,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: CancellationToken,
) {
    let http = reqwest::Client::new();
    let mut ticker = tokio::time::interval(settings.sample_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_report: Option<Sample> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => break,
        }
        let lag = probe::lag(&http, &settings.health_url).await.ok();
        let (frames, ws_errors) = clients.frames_and_errors();
        let sample = Sample {
            t: started.elapsed().as_secs_f64(),
            rss_kib: probe::rss_all(&settings.watched),
            lag,
            likes_sent: counters.sent.load(Ordering::Relaxed),
            likes_acked: counters.acked.load(Ordering::Relaxed),
            like_errors: counters.errors.load(Ordering::Relaxed),
            likes_not_sent: counters.not_sent.load(Ordering::Relaxed),
            frames,
            ws_errors,
        };
        let due = last_report
            .as_ref()
            .is_none_or(|r| sample.t - r.t >= settings.report_every.as_secs_f64() - 0.01);
        if due {
            let since = last_report.clone().unwrap_or_else(|| sample.clone());
            eprintln!(
                "{}",
                report::progress_line(&since, &sample, &settings.watched)
            );
            last_report = Some(sample.clone());
        }
        if let Ok(mut all) = samples.lock() {
            all.push(sample);
        }
    }
}

/// Reads every node's `/metrics` each `scrape_every` until `stop`, as the
/// Prometheus of a deployment does.
pub async fn scrape(settings: SoakSettings, errors: Arc<AtomicU64>, stop: CancellationToken) {
    if settings.scrape_every.is_zero() {
        return;
    }
    let http = reqwest::Client::new();
    let mut urls = settings.api_urls.clone();
    urls.push(settings.health_url.clone());
    urls.dedup();
    let mut ticker = tokio::time::interval(settings.scrape_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => return,
        }
        for url in &urls {
            let url = format!("{}/metrics", probe::root_of(url));
            let scraped = match http.get(url).timeout(Duration::from_secs(10)).send().await {
                Ok(response) if response.status().is_success() => response.bytes().await.is_ok(),
                _ => false,
            };
            if !scraped {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
