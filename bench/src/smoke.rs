//! The smoke variant: every scenario with tiny numbers, in seconds. It keeps the
//! load generator working (`api/tests/api/bench_smoke.rs` runs it against an
//! embedded Qicoo); its figures mean nothing.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::fixture::{Fixture, VotePlan};
use crate::hot::{self, HotRun};
use crate::likes::{self, LikesRun};
use crate::live::{self, LiveRun, LiveSettings, Outcome};
use crate::Result;

/// What the smoke run saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmokeReport {
    pub likes: Vec<LikesRun>,
    pub hot: HotRun,
    pub live: Outcome<LiveRun>,
}

/// Runs likes (1 and 4 clients), a 60-like hot question and a small live run.
pub async fn run(api: &Api) -> Result<SmokeReport> {
    let fixture = Arc::new(Fixture::create(api, 5, 80).await?);
    let plan = Arc::new(VotePlan::new(
        fixture.questions.len(),
        fixture.tokens.len(),
        1.1,
    )?);
    let mut runs = Vec::new();
    for clients in [1, 4] {
        runs.push(
            likes::run(
                api,
                &fixture,
                &plan,
                clients,
                Duration::from_millis(100),
                Duration::from_millis(700),
            )
            .await?,
        );
    }
    let hot = hot::run(api, &fixture, 60, 4, 10).await?;
    let live = live::run(
        api,
        &fixture,
        &plan,
        LiveSettings {
            clients: 3,
            rate: 20.0,
            duration: Duration::from_millis(700),
            grace: Duration::from_millis(700),
            max_in_flight: 8,
            server_pid: None,
        },
    )
    .await?;
    Ok(SmokeReport {
        likes: runs,
        hot,
        live,
    })
}
