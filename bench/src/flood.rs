//! A connection flood: far more concurrent live-stream upgrade attempts than
//! the node's WebSocket cap (`QICOO_MAX_CONNECTIONS`), all at once. Those
//! beyond the cap must be refused with 503 and `Retry-After` before the
//! upgrade, the admitted ones must each get their snapshot, and the API
//! process must neither crash nor grow without bound (its peak RSS is
//! sampled while the flood lasts).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::fixture::Fixture;
use crate::live::{rss_kib, served, Outcome, NOT_SERVED};
use crate::Result;

/// Figures of the flood.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FloodRun {
    pub attempts: usize,
    /// Upgraded, and got a snapshot first.
    pub admitted: u64,
    /// Upgraded, but the first message was not a snapshot (or none came).
    pub admitted_without_snapshot: u64,
    /// Answered 503 with `Retry-After`.
    pub refused: u64,
    /// Refused otherwise (another status, or 503 without `Retry-After`).
    pub refused_otherwise: u64,
    /// Failed below HTTP (reset, timeout…).
    pub failed: u64,
    /// Seconds until every attempt was answered.
    pub seconds: f64,
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    /// Whether the API still answered a plain request after the flood.
    pub healthy_after: bool,
    pub first_error: Option<String>,
}

#[derive(Debug)]
enum Attempt {
    Admitted { snapshot: bool },
    Refused { retry_after: bool },
    RefusedOtherwise(String),
    Failed(String),
}

/// Opens `attempts` upgrade attempts at once on the fixture's meetup; the
/// admitted ones stay connected until every attempt is answered.
pub async fn flood(
    api: &Api,
    fixture: &Fixture,
    pid: u32,
    attempts: usize,
) -> Result<Outcome<FloodRun>> {
    if !served(api, &fixture.meetup.id).await? {
        return Ok(Outcome::Skipped {
            reason: NOT_SERVED.into(),
        });
    }
    let url = api.live_url(&fixture.meetup.id);
    let rss_before = rss_kib(pid)?;
    let peak = Arc::new(AtomicU64::new(rss_before));
    let stop = CancellationToken::new();
    let sampler = tokio::spawn({
        let peak = Arc::clone(&peak);
        let stop = stop.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_millis(20));
            while !stop.is_cancelled() {
                every.tick().await;
                if let Ok(rss) = rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
            }
        }
    });
    let started = Instant::now();
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..attempts {
        let url = url.clone();
        let answered = answered.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let connected = tokio::time::timeout(
                Duration::from_secs(120),
                tokio_tungstenite::connect_async(url.as_str()),
            )
            .await;
            let mut socket = match connected {
                Err(_) => {
                    let _ = answered.send(Attempt::Failed("no answer within 120 s".into()));
                    return;
                }
                Ok(Err(tungstenite::Error::Http(response))) => {
                    let attempt = if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                        Attempt::Refused {
                            retry_after: response.headers().contains_key("retry-after"),
                        }
                    } else {
                        Attempt::RefusedOtherwise(format!("answered {}", response.status()))
                    };
                    let _ = answered.send(attempt);
                    return;
                }
                Ok(Err(e)) => {
                    let _ = answered.send(Attempt::Failed(e.to_string()));
                    return;
                }
                Ok(Ok((socket, _))) => socket,
            };
            let first = tokio::time::timeout(Duration::from_secs(60), async {
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Text(text))) => return Some(text),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        _ => return None,
                    }
                }
            })
            .await
            .ok()
            .flatten();
            let snapshot = first.is_some_and(|text| {
                serde_json::from_str::<serde_json::Value>(&text)
                    .is_ok_and(|frame| frame["type"] == "snapshot")
            });
            let _ = answered.send(Attempt::Admitted { snapshot });
            // Hold the slot until every attempt is answered.
            stop.cancelled().await;
        });
    }
    drop(answered);
    let mut run = FloodRun {
        attempts,
        admitted: 0,
        admitted_without_snapshot: 0,
        refused: 0,
        refused_otherwise: 0,
        failed: 0,
        seconds: 0.0,
        rss_before_kib: rss_before,
        rss_peak_kib: 0,
        healthy_after: false,
        first_error: None,
    };
    for _ in 0..attempts {
        let Some(attempt) = answers.recv().await else {
            break;
        };
        match attempt {
            Attempt::Admitted { snapshot: true } => run.admitted += 1,
            Attempt::Admitted { snapshot: false } => run.admitted_without_snapshot += 1,
            Attempt::Refused { retry_after: true } => run.refused += 1,
            Attempt::Refused { retry_after: false } => {
                run.refused_otherwise += 1;
                run.first_error
                    .get_or_insert_with(|| "503 without Retry-After".into());
            }
            Attempt::RefusedOtherwise(e) => {
                run.refused_otherwise += 1;
                run.first_error.get_or_insert(e);
            }
            Attempt::Failed(e) => {
                run.failed += 1;
                run.first_error.get_or_insert(e);
            }
        }
    }
    run.seconds = started.elapsed().as_secs_f64();
    run.healthy_after = api
        .status_of(&format!("/meetups/{}", fixture.meetup.id))
        .await
        .is_ok_and(|status| status == StatusCode::OK);
    stop.cancel();
    let _ = sampler.await;
    run.rss_peak_kib = peak.load(Ordering::Relaxed);
    Ok(Outcome::Ran(run))
}
