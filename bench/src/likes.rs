//! The likes scenario: participants of one meetup liking its questions, a few
//! hot ones taking most votes, in a closed loop (each client sends its next
//! vote as soon as the last one is answered). Beside the clients a probe asks,
//! a few times a second, when the latest acknowledged like became visible in
//! the read model: the projection's lag from commit to visible, under that
//! load.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::fixture::{Fixture, VotePlan};
use crate::stats::{Latencies, Summary};
use crate::Result;

/// One closed-loop run at a fixed number of clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LikesRun {
    pub clients: usize,
    /// Measured seconds (after the warm-up).
    pub seconds: f64,
    pub ok: u64,
    pub errors: u64,
    /// Accepted votes per second.
    pub per_second: f64,
    pub latency: Summary,
    /// The first error, if any, to say what went wrong.
    pub first_error: Option<String>,
    /// From a like's acknowledgement to the read model answering at its
    /// position (`GET /questions/{id}?min_position=`), sampled every
    /// [`PROBE_EVERY`] during the measured time.
    #[serde(default)]
    pub visible: Option<Visibility>,
}

/// The read model's lag behind acknowledged likes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Visibility {
    pub all: Summary,
    /// The first and the second half of the run, to tell a steady lag from a
    /// growing one.
    pub first_half: Summary,
    pub second_half: Summary,
    pub errors: u64,
}

/// How often the probe samples the read model's lag.
pub const PROBE_EVERY: Duration = Duration::from_millis(200);

/// The latest acknowledged like: question, position, when it was answered.
type LatestAck = Arc<Mutex<Option<(usize, i64, Instant)>>>;

#[derive(Default)]
struct WorkerTally {
    latencies: Latencies,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Runs `clients` closed-loop clients for `warmup + duration`; only votes sent
/// after the warm-up count.
pub async fn run(
    api: &Api,
    fixture: &Arc<Fixture>,
    plan: &Arc<VotePlan>,
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<LikesRun> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let latest: LatestAck = Arc::default();
    let probe = tokio::spawn(probe_visibility(
        api.clone(),
        Arc::clone(fixture),
        Arc::clone(&latest),
        measure_from,
        end,
    ));
    let mut workers = Vec::with_capacity(clients);
    for seed in 0..clients {
        let api = api.clone();
        let fixture = Arc::clone(fixture);
        let plan = Arc::clone(plan);
        let latest = Arc::clone(&latest);
        workers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed as u64 ^ 0x5143);
            let mut tally = WorkerTally::default();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let vote = plan.next(&mut rng);
                let result = api
                    .vote(
                        &fixture.questions[vote.question],
                        &fixture.tokens[vote.participant],
                        vote.like,
                    )
                    .await;
                if sent < measure_from {
                    continue;
                }
                match result {
                    Ok(position) => {
                        if let Ok(mut latest) = latest.lock() {
                            *latest = Some((vote.question, position, Instant::now()));
                        }
                        tally.ok += 1;
                        tally
                            .latencies
                            .record_micros(sent.elapsed().as_micros() as u64);
                    }
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            tally
        }));
    }
    let mut total = WorkerTally::default();
    for worker in workers {
        let tally = worker.await?;
        total.latencies.merge(&tally.latencies);
        total.ok += tally.ok;
        total.errors += tally.errors;
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
    }
    let visible = probe.await?;
    let seconds = Instant::now()
        .saturating_duration_since(measure_from)
        .as_secs_f64()
        .max(1e-9);
    Ok(LikesRun {
        clients,
        seconds,
        ok: total.ok,
        errors: total.errors,
        per_second: total.ok as f64 / seconds,
        latency: total.latencies.summary(),
        first_error: total.first_error,
        visible: Some(visible),
    })
}

/// Every [`PROBE_EVERY`] from `from` to `end`: waits for the read model to
/// reach the latest acknowledged like and records how long after its
/// acknowledgement that was.
async fn probe_visibility(
    api: Api,
    fixture: Arc<Fixture>,
    latest: LatestAck,
    from: Instant,
    end: Instant,
) -> Visibility {
    let half = from + (end - from) / 2;
    let (mut first, mut second) = (Latencies::default(), Latencies::default());
    let mut errors = 0;
    let mut ticks = tokio::time::interval_at(from.into(), PROBE_EVERY);
    loop {
        let tick = ticks.tick().await.into_std();
        if tick >= end {
            break;
        }
        let Some((question, position, acknowledged)) = latest.lock().ok().and_then(|l| *l) else {
            continue;
        };
        match api
            .question_likes(&fixture.questions[question], position)
            .await
        {
            Ok(_) => {
                let lag = acknowledged.elapsed().as_micros() as u64;
                let half = if acknowledged < half {
                    &mut first
                } else {
                    &mut second
                };
                half.record_micros(lag);
            }
            Err(_) => errors += 1,
        }
    }
    let mut all = Latencies::default();
    all.merge(&first);
    all.merge(&second);
    Visibility {
        all: all.summary(),
        first_half: first.summary(),
        second_half: second.summary(),
        errors,
    }
}
