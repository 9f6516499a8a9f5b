//! Scaled out: API nodes and projectors as separate roles over Postgres, MariaDB
//! and Redis. Two of each run side by side; each projection is active in exactly
//! one projector, and the standby takes over when the active one stops.

use std::time::{Duration, Instant};

use qicoo_api::serve::Qicoo;
use qicoo_projections::{ProjectionStatus, WorkerState, PROJECTIONS};
use reqwest::Method;
use serde_json::Value;

use crate::support::{ScaledServices, TestApp};

async fn active_count(projectors: &[&Qicoo], name: &str) -> usize {
    let mut active = 0;
    for projector in projectors {
        let statuses: Vec<ProjectionStatus> = projector.state.read_side.status().await;
        active += statuses
            .iter()
            .filter(|s| s.name == name && s.state == WorkerState::Active)
            .count();
    }
    active
}

/// Waits until every projection is active in exactly one of `projectors`.
async fn settle(projectors: &[&Qicoo]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut settled = true;
        for name in PROJECTIONS {
            if active_count(projectors, name).await != 1 {
                settled = false;
            }
        }
        if settled {
            return;
        }
        assert!(Instant::now() < deadline, "projections never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Likes as `token` through `via`, then reads the top list through `read`
/// until it shows `likes` for the question.
async fn like_and_see(
    via: &TestApp,
    read: &TestApp,
    meetup: &str,
    question: &str,
    token: &str,
    likes: i64,
) {
    let position = via.like(question, token).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page: Value = read
            .send(
                Method::GET,
                &format!("/meetups/{meetup}/questions?sort=top&min_position={position}"),
                None,
                None,
            )
            .await
            .json()
            .await
            .expect("json");
        if page["items"][0]["likes"] == likes {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the like never reached the read model: {page}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_api_nodes_and_two_projectors_serve_side_by_side_and_a_standby_takes_over() {
    let Some(services) = ScaledServices::create().await else {
        return;
    };

    let first = services.start("projector").await;
    let second = services.start("projector").await;
    settle(&[&first, &second]).await;

    let api_a = services.serve_api().await;
    let api_b = services.serve_api().await;
    let meetup = api_a.create_meetup(false).await;
    let alice = api_a.participant().await;
    let bob = api_b.participant().await;
    let question = api_b.post_question(&meetup, &alice, "Scaled?").await;
    like_and_see(&api_a, &api_b, &meetup.id, &question, &alice, 1).await;

    // Stop whichever projector is active for the read model; the other takes over.
    let first_active = active_count(&[&first], qicoo_projections::READ_MODEL).await == 1;
    let (stopped, survivor) = if first_active {
        (first, second)
    } else {
        (second, first)
    };
    stopped.stop(Duration::from_secs(10)).await;
    settle(&[&survivor]).await;
    like_and_see(&api_b, &api_a, &meetup.id, &question, &bob, 2).await;

    survivor.stop(Duration::from_secs(10)).await;
    api_a.cleanup().await;
    api_b.cleanup().await;
    services.drop_all().await;
}
