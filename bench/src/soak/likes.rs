//! The soak's likes: meetups and their vote plans, the counters every sender
//! shares, and the open-loop senders that a token bucket paces.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use tokio::sync::Semaphore;

use super::pacer::TokenBucket;
use super::SoakSettings;
use crate::api::Api;
use crate::fixture::VotePlan;
use crate::stats::Latencies;

/// How often the pacer wakes up to send what the bucket holds.
const PACER_TICK: Duration = Duration::from_millis(5);

/// The counters the senders, the clients and the sampler share.
#[derive(Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub errors: AtomicU64,
    pub not_sent: AtomicU64,
    pub first_error: Mutex<Option<String>>,
    pub latencies: Mutex<Latencies>,
}

impl Counters {
    /// Counts one failed like, keeping the first error's text.
    pub fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(e);
        }
    }
}

/// A meetup of the soak: its id and its questions' ids.
pub struct SoakMeetup {
    pub id: String,
    pub questions: Vec<String>,
    pub plan: VotePlan,
    /// Largest position any acknowledged like of this meetup was stored at.
    pub last_acked: AtomicI64,
}

/// Sends likes at the settings' rate for the settings' duration: meetups take
/// turns, each like to the next API node; a like due while `max_in_flight`
/// are unanswered is counted as not sent.
pub struct Senders<'a> {
    pub apis: &'a [Api],
    pub meetups: &'a Arc<Vec<SoakMeetup>>,
    pub tokens: &'a Arc<Vec<String>>,
    pub counters: &'a Arc<Counters>,
    pub in_flight: &'a Arc<Semaphore>,
}

impl Senders<'_> {
    /// Sends for the settings' duration from `started`.
    pub async fn send_for(&self, settings: &SoakSettings, started: Instant) {
        let Self {
            apis,
            meetups,
            tokens,
            counters,
            in_flight,
        } = *self;
        let mut bucket = TokenBucket::new(settings.rate, Duration::from_millis(200), started);
        let mut ticker = tokio::time::interval(PACER_TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x50a4);
        let end = started + settings.duration;
        let mut k = 0usize;
        while Instant::now() < end {
            ticker.tick().await;
            for _ in 0..bucket.take_ready(Instant::now()) {
                let Ok(permit) = Arc::clone(in_flight).try_acquire_owned() else {
                    counters.not_sent.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                // Node and meetup from different digits of k, so that every
                // node takes likes of every meetup.
                let api = apis[k % apis.len()].clone();
                let m = (k / apis.len()) % meetups.len();
                k += 1;
                let vote = meetups[m].plan.next(&mut rng);
                let (meetups, counters, tokens) = (
                    Arc::clone(meetups),
                    Arc::clone(counters),
                    Arc::clone(tokens),
                );
                counters.sent.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let sent_at = Instant::now();
                    let meetup = &meetups[m];
                    let result = api
                        .vote(
                            &meetup.questions[vote.question],
                            &tokens[vote.participant],
                            vote.like,
                        )
                        .await;
                    match result {
                        Ok(position) => {
                            meetup.last_acked.fetch_max(position, Ordering::Relaxed);
                            counters.acked.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut l) = counters.latencies.lock() {
                                l.record_micros(sent_at.elapsed().as_micros() as u64);
                            }
                        }
                        Err(e) => counters.error(e.to_string()),
                    }
                    drop(permit);
                });
            }
        }
    }
}
