//! The soak: many live clients spread over a few meetups and every API node,
//! and likes at a steady rate (open loop, token-bucket paced, from many
//! participants) for minutes, sampling each Qicoo process's RSS and the
//! projections' lag as it goes. It ends with a drain: every client's view of
//! every question's like count must come to equal the read model's.
//!
//! "Undelivered", precisely: after the likes stop and every one of them was
//! answered, the read model is read at (or past) the last acknowledged
//! position of each meetup; then, until the drain deadline, each client's view
//! (built only from its frames) is compared with it. What is still off at the
//! deadline is undelivered: the sum over clients and questions of the
//! difference in like count, the clients whose last frame is older than their
//! meetup's last acknowledged like, and the clients that never had a snapshot.

mod clients;
mod likes;
pub mod pacer;
pub mod probe;
pub mod report;
mod sampler;
pub mod verdict;
pub mod view;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::fixture::VotePlan;
use crate::live;
use crate::stats::Summary;
use crate::Result;
use clients::ClientSet;
use likes::{Counters, Senders, SoakMeetup};
use probe::Watched;
use sampler::{sample, scrape};
use verdict::{Judged, Sample, Verdict};

/// Settings of a soak.
#[derive(Debug, Clone)]
pub struct SoakSettings {
    /// The API nodes (`http://host:port`); clients and likes are spread over them.
    pub api_urls: Vec<String>,
    /// The node whose `/readyz` gives the projections' lag (the projector).
    pub health_url: String,
    /// The Qicoo processes whose RSS is sampled.
    pub watched: Vec<Watched>,
    pub clients: usize,
    /// Likes per second.
    pub rate: f64,
    pub duration: Duration,
    /// RSS and lag are judged against the end, respectively the mean, of this
    /// first stretch.
    pub warmup: Duration,
    /// Longest wait after the likes stop for every view to be right.
    pub drain: Duration,
    pub meetups: usize,
    /// Questions per meetup (at most 100).
    pub questions: usize,
    pub participants: usize,
    pub max_in_flight: usize,
    pub sample_every: Duration,
    /// Every node's `/metrics` is read this often, as Prometheus would (zero:
    /// never). Qicoo keeps histogram samples until a scrape aggregates them.
    pub scrape_every: Duration,
    pub report_every: Duration,
    pub rss_growth_limit: f64,
    pub lag_factor: f64,
    pub lag_floor: f64,
}

/// What a soak measured, and its verdicts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoakRun {
    pub clients: usize,
    pub api_nodes: usize,
    pub meetups: usize,
    pub questions_per_meetup: usize,
    pub participants: usize,
    pub target_rate: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub processes: Vec<Watched>,
    /// Soft RLIMIT_NOFILE of the load generator after raising it.
    pub nofile_limit: u64,
    /// Seconds until every client had its first snapshot.
    pub connect_s: f64,
    pub likes_sent: u64,
    pub likes_acked: u64,
    pub like_errors: u64,
    pub likes_not_sent: u64,
    /// Sent to acknowledged, over every like.
    pub ack_latency: Summary,
    pub frames: u64,
    pub resnapshots: u64,
    pub ws_errors: u64,
    pub undelivered_likes: u64,
    pub clients_behind: u64,
    pub clients_missing: u64,
    /// Seconds from the end of the likes until every view was right.
    pub drained_after_s: Option<f64>,
    pub first_error: Option<String>,
    /// Seconds between scrapes of every node's `/metrics` (0: none).
    #[serde(default)]
    pub scrape_every_s: f64,
    /// Scrapes that failed (not judged).
    #[serde(default)]
    pub scrape_errors: u64,
    pub samples: Vec<Sample>,
    pub verdicts: Vec<Verdict>,
    pub passed: bool,
}

/// Raises the soft limit of open files to the hard limit: every live client
/// is a socket. Returns the limit in force.
pub fn raise_nofile() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

/// Runs a soak; `Err` only when it could not run at all (a failed verdict is
/// an `Ok` run with `passed == false`).
pub async fn run(settings: SoakSettings) -> Result<SoakRun> {
    if settings.api_urls.is_empty() {
        return Err("a soak needs at least one API node".into());
    }
    if settings.questions > 100 {
        return Err("at most 100 questions per meetup: the drain reads one page".into());
    }
    let nofile_limit = raise_nofile();
    let needed = settings.clients as u64 + 2 * settings.max_in_flight as u64 + 64;
    if nofile_limit < needed {
        eprintln!(
            "  soak: open files limited to {nofile_limit}, {needed} wanted; connections may fail"
        );
    }
    let apis = settings
        .api_urls
        .iter()
        .map(|url| Api::new(url))
        .collect::<Result<Vec<_>>>()?;
    let (meetups, tokens) = setup(&apis[0], &settings).await?;
    let meetups = Arc::new(meetups);
    if !live::served(&apis[0], &meetups[0].id).await? {
        return Err(live::NOT_SERVED.into());
    }

    // Clients: client i follows meetup i mod M through node (i / M) mod N, so
    // each meetup has clients on every node.
    let connect_started = Instant::now();
    let stop = CancellationToken::new();
    let urls: Vec<(usize, String)> = (0..settings.clients)
        .map(|i| {
            let meetup = i % meetups.len();
            let node = (i / meetups.len()) % apis.len();
            (meetup, apis[node].live_url(&meetups[meetup].id))
        })
        .collect();
    let client_set = ClientSet::start(urls, &stop);
    eprintln!(
        "  soak: {} live clients on {} meetups through {} API nodes, connecting",
        settings.clients,
        meetups.len(),
        apis.len()
    );
    client_set
        .wait_for_snapshots(Duration::from_secs(180))
        .await;
    let connect_s = connect_started.elapsed().as_secs_f64();
    eprintln!(
        "  soak: {} of {} clients have their snapshot after {connect_s:.1} s",
        client_set.with_snapshot(),
        settings.clients
    );

    // Likes and samples.
    let counters = Arc::new(Counters::default());
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let started = Instant::now();
    let sampler_stop = CancellationToken::new();
    let sampler = tokio::spawn(sample(
        settings.clone(),
        started,
        Arc::clone(&counters),
        client_set.clone(),
        Arc::clone(&samples),
        sampler_stop.clone(),
    ));
    let scrape_errors = Arc::new(AtomicU64::new(0));
    let scraper = tokio::spawn(scrape(
        settings.clone(),
        Arc::clone(&scrape_errors),
        sampler_stop.clone(),
    ));
    let in_flight = Arc::new(Semaphore::new(settings.max_in_flight.max(1)));
    let senders = Senders {
        apis: &apis,
        meetups: &meetups,
        tokens: &tokens,
        counters: &counters,
        in_flight: &in_flight,
    };
    senders.send_for(&settings, started).await;
    sampler_stop.cancel();
    sampler.await?;
    scraper.await?;
    let load_end = Instant::now();
    let all = u32::try_from(settings.max_in_flight.max(1)).unwrap_or(u32::MAX);
    let answered = tokio::time::timeout(Duration::from_secs(60), in_flight.acquire_many(all)).await;
    if answered.is_err() {
        counters.error("likes still unanswered 60 s after the load ended".into());
    }

    // Drain: the read model at each meetup's last like, then every view.
    let drain_deadline = load_end + settings.drain;
    let expected = expected_likes(&apis[0], &meetups, drain_deadline, &counters).await?;
    let last: Vec<i64> = meetups
        .iter()
        .map(|m| m.last_acked.load(Ordering::Relaxed))
        .collect();
    let mut drained_after_s = None;
    let mut check;
    loop {
        check = client_set.check(&expected, &last);
        if check.is_clean() {
            drained_after_s = Some(load_end.elapsed().as_secs_f64());
            break;
        }
        if Instant::now() >= drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    let tally = client_set.finish().await;

    let samples = std::mem::take(&mut *samples.lock().map_err(|_| "samples poisoned")?);
    let processes: Vec<String> = settings.watched.iter().map(|w| w.name.clone()).collect();
    let like_errors = counters.errors.load(Ordering::Relaxed);
    let likes_not_sent = counters.not_sent.load(Ordering::Relaxed);
    let judged = Judged {
        duration_s: settings.duration.as_secs_f64(),
        warmup_s: settings.warmup.as_secs_f64(),
        processes: &processes,
        like_errors,
        ws_errors: tally.errors,
        likes_not_sent,
        undelivered_likes: check.likes_off,
        clients_behind: check.behind,
        clients_missing: check.without_snapshot,
        rss_growth_limit: settings.rss_growth_limit,
        lag_factor: settings.lag_factor,
        lag_floor: settings.lag_floor,
    };
    let verdicts = verdict::judge(&judged, &samples);
    let first_error = counters
        .first_error
        .lock()
        .ok()
        .and_then(|e| e.clone())
        .or(tally.first_error);
    let ack_latency = counters
        .latencies
        .lock()
        .map(|l| l.summary())
        .unwrap_or_default();
    Ok(SoakRun {
        clients: settings.clients,
        api_nodes: apis.len(),
        meetups: meetups.len(),
        questions_per_meetup: settings.questions,
        participants: settings.participants,
        target_rate: settings.rate,
        duration_s: settings.duration.as_secs_f64(),
        warmup_s: settings.warmup.as_secs_f64(),
        processes: settings.watched.clone(),
        nofile_limit,
        connect_s,
        likes_sent: counters.sent.load(Ordering::Relaxed),
        likes_acked: counters.acked.load(Ordering::Relaxed),
        like_errors,
        likes_not_sent,
        ack_latency,
        frames: tally.frames,
        resnapshots: tally.resnapshots,
        ws_errors: tally.errors,
        undelivered_likes: check.likes_off,
        clients_behind: check.behind,
        clients_missing: check.without_snapshot,
        drained_after_s,
        first_error,
        scrape_every_s: settings.scrape_every.as_secs_f64(),
        scrape_errors: scrape_errors.load(Ordering::Relaxed),
        samples,
        passed: verdicts.iter().all(|v| v.met),
        verdicts,
    })
}

/// The meetups, their questions, and the participants' tokens.
async fn setup(api: &Api, settings: &SoakSettings) -> Result<(Vec<SoakMeetup>, Arc<Vec<String>>)> {
    eprintln!(
        "  soak: setting up {} meetups of {} questions, {} participant tokens",
        settings.meetups, settings.questions, settings.participants
    );
    let tokens = Arc::new(api.participants(settings.participants.max(1), 32).await?);
    let mut meetups = Vec::with_capacity(settings.meetups.max(1));
    for m in 0..settings.meetups.max(1) {
        let meetup = api.create_meetup(&format!("Soak night {m}")).await?;
        let mut questions = Vec::with_capacity(settings.questions.max(1));
        for q in 0..settings.questions.max(1) {
            let author = &tokens[(m * settings.questions + q) % tokens.len()];
            let text = format!("Question {q} of meetup {m}: does Qicoo hold up for hours?");
            questions.push(api.post_question(&meetup.id, author, &text).await?);
        }
        meetups.push(SoakMeetup {
            id: meetup.id,
            plan: VotePlan::new(questions.len(), tokens.len(), 1.1)?,
            questions,
            last_acked: AtomicI64::new(0),
        });
    }
    Ok((meetups, tokens))
}

/// Each meetup's like counts in the read model once it has reached the
/// meetup's last acknowledged like (asking again until `deadline`, then taking
/// what it has: the clients are then also judged against that last like's
/// position, which no view can pass while the read model has not).
async fn expected_likes(
    api: &Api,
    meetups: &[SoakMeetup],
    deadline: Instant,
    counters: &Counters,
) -> Result<Vec<HashMap<String, i64>>> {
    let mut out = Vec::with_capacity(meetups.len());
    for meetup in meetups {
        let want = meetup.last_acked.load(Ordering::Relaxed);
        loop {
            let (position, likes) = api.meetup_likes(&meetup.id, want).await?;
            if position >= want {
                out.push(likes);
                break;
            }
            if Instant::now() >= deadline {
                counters.error(format!(
                    "the read model was still at {position}, short of the last like at {want}, at the drain deadline"
                ));
                out.push(likes);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(out)
}
