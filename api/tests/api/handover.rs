//! A projector process stopped with SIGTERM hands its projections to the standby
//! process: afterwards every question's like count equals the votes cast minus
//! withdrawn in the event store — nothing skipped, nothing applied twice.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qicoo_commands::EventStore;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{ScaledServices, TestApp};

struct Projector {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn spawn_projector(services: &ScaledServices) -> Projector {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_qicoo"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(services.argv("projector"))
        .env("QICOO_SHUTDOWN_TIMEOUT", "20s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the qicoo binary starts");
    Projector { child, port }
}

/// Whether the projector at `port` holds the read model's lock.
async fn is_active(client: &reqwest::Client, port: u16) -> bool {
    let Ok(response) = client
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
    else {
        return false;
    };
    let Ok(body) = response.json::<Value>().await else {
        return false;
    };
    body["projections"].as_array().is_some_and(|ps| {
        ps.iter()
            .any(|p| p["name"] == "read_model" && p["state"] == "active")
    })
}

async fn wait_active(client: &reqwest::Client, ports: &[u16]) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for port in ports {
            if is_active(client, *port).await {
                return *port;
            }
        }
        assert!(Instant::now() < deadline, "no projector became active");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn like(app: &TestApp, question: &str, token: &str, on: bool) -> i64 {
    let method = if on { Method::PUT } else { Method::DELETE };
    let response = app
        .send(
            method,
            &format!("/questions/{question}/vote"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.expect("json")["position"]
        .as_i64()
        .expect("position")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_stopped_with_sigterm_hands_over_without_a_gap_or_a_duplicate() {
    let Some(services) = ScaledServices::create().await else {
        return;
    };
    let api = services.serve_api().await;

    let mut first = spawn_projector(&services);
    let mut second = spawn_projector(&services);
    let client = reqwest::Client::new();
    let active = wait_active(&client, &[first.port, second.port]).await;

    let meetup = api.create_meetup(false).await;
    let author = api.participant().await;
    let mut questions = Vec::new();
    for i in 0..3 {
        questions.push(api.post_question(&meetup, &author, &format!("Q{i}?")).await);
    }
    let voters = futures::future::join_all((0..12).map(|_| api.participant())).await;

    // Votes before, during and after the hand-over, some of them withdrawn.
    let mut last = 0;
    for (round, voter) in voters.iter().enumerate() {
        if round == 4 {
            let (stopping, standby) = if active == first.port {
                (&mut first, second.port)
            } else {
                (&mut second, first.port)
            };
            let pid = stopping.child.id().to_string();
            let status = Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill runs");
            assert!(status.success());
            let deadline = Instant::now() + Duration::from_secs(30);
            let exit = loop {
                if let Some(exit) = stopping.child.try_wait().expect("wait") {
                    break exit;
                }
                assert!(
                    Instant::now() < deadline,
                    "the projector did not stop on SIGTERM"
                );
                // Commands keep coming while it stops.
                last = last.max(like(&api, &questions[0], voter, true).await);
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert!(
                exit.success(),
                "SIGTERM should end the projector cleanly: {exit}"
            );
            assert_eq!(wait_active(&client, &[standby]).await, standby);
        }
        for question in &questions {
            last = last.max(like(&api, question, voter, true).await);
        }
        if round % 3 == 0 {
            last = last.max(like(&api, &questions[1], voter, false).await);
        }
    }

    // The read model, once caught up, agrees with the event store.
    let page: Value = api
        .send(
            Method::GET,
            &format!("/meetups/{}/questions?min_position={last}", meetup.id),
            None,
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert!(
        page["position"].as_i64().expect("position") >= last,
        "the standby never caught up: {page}"
    );
    let EventStore::Postgres(pool) = api.state.commands.store() else {
        panic!("a Postgres event store");
    };
    for item in page["items"].as_array().expect("items") {
        let id = item["id"].as_str().expect("id");
        let (cast, withdrawn): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE event_type = 'VoteCast'), \
                    count(*) FILTER (WHERE event_type = 'VoteWithdrawn') \
             FROM events WHERE aggregate_type = 'Vote' AND aggregate_id LIKE $1 || ':%'",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("counts");
        assert_eq!(
            item["likes"].as_i64(),
            Some(cast - withdrawn),
            "question {id}"
        );
    }

    for projector in [&mut first, &mut second] {
        let _ = projector.child.kill();
        let _ = projector.child.wait();
    }
    api.cleanup().await;
    services.drop_all().await;
}
