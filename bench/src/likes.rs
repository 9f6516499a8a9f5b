//! The likes scenario: participants of one meetup liking its questions, a few
//! hot ones taking most votes, in a closed loop (each client sends its next
//! vote as soon as the last one is answered).

use std::sync::Arc;
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
}

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
    let mut workers = Vec::with_capacity(clients);
    for seed in 0..clients {
        let api = api.clone();
        let fixture = Arc::clone(fixture);
        let plan = Arc::clone(plan);
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
                    Ok(_) => {
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
    })
}
