//! The hot-question scenario: many likes by different participants on one
//! question. A like's cost must not depend on how many likes the question
//! already has, so the last likes must be as fast as the first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::fixture::Fixture;
use crate::stats::{Latencies, Summary};
use crate::Result;

/// The latencies of the first and the last `window` likes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HotRun {
    pub likes: usize,
    pub clients: usize,
    pub errors: u64,
    pub window: usize,
    pub per_second: f64,
    pub first: Summary,
    pub last: Summary,
    /// Like count of the question in the read model afterwards.
    pub final_likes: Option<i64>,
    pub first_error: Option<String>,
}

/// Posts a fresh question and sends `likes` likes on it, each by another
/// participant, from `clients` closed-loop clients. Likes are numbered in the
/// order they are sent.
pub async fn run(
    api: &Api,
    fixture: &Arc<Fixture>,
    likes: usize,
    clients: usize,
    window: usize,
) -> Result<HotRun> {
    if fixture.tokens.len() < likes {
        return Err(format!(
            "{likes} likes by different participants need {likes} tokens, the fixture has {}",
            fixture.tokens.len()
        )
        .into());
    }
    let question = Arc::new(
        api.post_question(
            &fixture.meetup.id,
            &fixture.tokens[0],
            "The hot one: everybody wants this answered",
        )
        .await?,
    );
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::with_capacity(clients);
    for _ in 0..clients.max(1) {
        let (api, fixture, question, next) = (
            api.clone(),
            Arc::clone(fixture),
            Arc::clone(&question),
            Arc::clone(&next),
        );
        workers.push(tokio::spawn(async move {
            let mut samples: Vec<(usize, Result<(u64, i64)>)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= likes {
                    break;
                }
                let sent = Instant::now();
                let result = api.vote(&question, &fixture.tokens[i], true).await;
                samples.push((
                    i,
                    result.map(|position| (sent.elapsed().as_micros() as u64, position)),
                ));
            }
            samples
        }));
    }
    let mut samples = Vec::with_capacity(likes);
    for worker in workers {
        samples.extend(worker.await?);
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    samples.sort_by_key(|(i, _)| *i);
    let window = window.min(likes / 2).max(1);
    let mut first = Latencies::default();
    let mut last = Latencies::default();
    let mut errors = 0;
    let mut first_error = None;
    let mut max_position = 0;
    for (i, result) in &samples {
        match result {
            Ok((micros, position)) => {
                max_position = max_position.max(*position);
                if *i < window {
                    first.record_micros(*micros);
                } else if *i >= likes - window {
                    last.record_micros(*micros);
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let final_likes = api.question_likes(&question, max_position).await.ok();
    Ok(HotRun {
        likes,
        clients,
        errors,
        window,
        per_second: (likes as u64 - errors) as f64 / seconds,
        first: first.summary(),
        last: last.summary(),
        final_likes,
        first_error,
    })
}
