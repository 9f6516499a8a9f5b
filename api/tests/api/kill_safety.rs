//! SIGKILL of the API process while batches of likes are being written: every
//! acknowledged like is in the event store exactly once, no like that got no
//! answer is counted twice when its client sends it again, and the read model
//! rebuilt from where it stopped agrees.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qicoo_commands::store::PoolSettings;
use qicoo_commands::EventStore;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::support::{ScaledServices, TEST_SECRET};

const PARTICIPANTS: usize = 300;
const CLIENTS: usize = 24;
/// Likes acknowledged before the process is killed.
const ACKNOWLEDGED_BEFORE_KILL: usize = 100;

/// A `qicoo serve` process of its own, so that it can be killed.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    async fn start(store_argv: &[String]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_qicoo"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--secret", TEST_SECRET, "--rate-limits", "off"])
            .args(store_argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the qicoo binary starts");
        let node = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = client.get(format!("{}/readyz", node.base)).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return node;
            }
            assert!(Instant::now() < deadline, "qicoo did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answered");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

/// Sends a like; `true` only when it was acknowledged, `false` when the
/// connection died before an answer.
async fn like(client: &reqwest::Client, url: &str, token: &str) -> bool {
    match client.put(url).bearer_auth(token).send().await {
        Ok(response) => {
            assert_eq!(response.status(), StatusCode::OK, "a like was refused");
            true
        }
        Err(_) => false,
    }
}

/// Which participants' likes were acknowledged and which got no answer.
#[derive(Default)]
struct Outcomes {
    acknowledged: BTreeSet<usize>,
    unanswered: BTreeSet<usize>,
}

async fn killed_mid_batches(store_argv: Vec<String>, store_url: &str) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut node = Node::start(&store_argv).await;
    let created = post(
        &client,
        node.api("/meetups"),
        None,
        json!({"title": "kill -9"}),
    )
    .await;
    let meetup = created["meetup"]["id"].as_str().expect("id").to_owned();
    let mut participants = Vec::new();
    for _ in 0..PARTICIPANTS {
        let body = post(&client, node.api("/participants"), None, json!({})).await;
        participants.push((
            body["participant_id"].as_str().expect("id").to_owned(),
            body["token"].as_str().expect("token").to_owned(),
        ));
    }
    let posted = post(
        &client,
        node.api(&format!("/meetups/{meetup}/questions")),
        Some(&participants[0].1),
        json!({"text": "Does every like survive?"}),
    )
    .await;
    let question = posted["question"]["id"]
        .as_str()
        .expect("question id")
        .to_owned();
    let url = node.api(&format!("/questions/{question}/vote"));

    // CLIENTS closed-loop clients like as participant after participant until
    // the node dies under them.
    let participants = Arc::new(participants);
    let next = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let enough = Arc::new(Notify::new());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            let (participants, next) = (participants.clone(), next.clone());
            let (outcomes, enough) = (outcomes.clone(), enough.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((_, token)) = participants.get(i) else {
                        return;
                    };
                    let answered = like(&client, &url, token).await;
                    let mut outcomes = outcomes.lock().expect("outcomes");
                    if !answered {
                        outcomes.unanswered.insert(i);
                        return;
                    }
                    outcomes.acknowledged.insert(i);
                    if outcomes.acknowledged.len() >= ACKNOWLEDGED_BEFORE_KILL {
                        enough.notify_one();
                    }
                }
            })
        })
        .collect();
    enough.notified().await;
    node.kill();
    for client in clients {
        client.await.expect("client task");
    }
    let outcomes = Arc::try_unwrap(outcomes)
        .ok()
        .expect("clients done")
        .into_inner()
        .expect("outcomes");
    assert!(
        outcomes.acknowledged.len() >= ACKNOWLEDGED_BEFORE_KILL,
        "{} acknowledged",
        outcomes.acknowledged.len()
    );
    assert!(
        !outcomes.unanswered.is_empty(),
        "the kill should catch likes in flight"
    );

    // A new process on the same stores; every client whose like got no answer
    // sends it again, some acknowledged ones do too, and the rest are sent.
    let node = Node::start(&store_argv).await;
    let url = node.api(&format!("/questions/{question}/vote"));
    let again = outcomes
        .acknowledged
        .iter()
        .take(20)
        .chain(&outcomes.unanswered)
        .copied()
        .chain(next.load(Ordering::SeqCst).min(PARTICIPANTS)..PARTICIPANTS)
        .collect::<Vec<_>>();
    for i in again {
        assert!(like(&client, &url, &participants[i].1).await);
    }

    // The event store holds exactly one like per participant.
    let store = EventStore::connect(store_url, PoolSettings::default())
        .await
        .expect("event store");
    let sql = "SELECT aggregate_id, count(*) FROM events \
               WHERE aggregate_type = 'Vote' GROUP BY aggregate_id";
    let last_sql = "SELECT max(global_position) FROM events";
    let (rows, last): (Vec<(String, i64)>, i64) = match &store {
        EventStore::Postgres(pool) => (
            sqlx::query_as(sql).fetch_all(pool).await.expect("votes"),
            sqlx::query_scalar(last_sql)
                .fetch_one(pool)
                .await
                .expect("last"),
        ),
        EventStore::Sqlite(pool) => (
            sqlx::query_as(sql).fetch_all(pool).await.expect("votes"),
            sqlx::query_scalar(last_sql)
                .fetch_one(pool)
                .await
                .expect("last"),
        ),
    };
    store.close().await;
    let expected: BTreeSet<String> = participants
        .iter()
        .map(|(id, _)| format!("{question}:{id}"))
        .collect();
    let stored: BTreeSet<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(stored, expected, "one vote aggregate per participant");
    let twice: Vec<_> = rows.iter().filter(|(_, n)| *n != 1).collect();
    assert!(twice.is_empty(), "likes stored more than once: {twice:?}");

    // The read model, caught up after the restart, counts each like once.
    let page: Value = client
        .get(node.api(&format!("/meetups/{meetup}/questions?min_position={last}")))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(
        page["items"][0]["likes"].as_i64(),
        Some(PARTICIPANTS as i64),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaled_node_killed_mid_batches_keeps_every_acknowledged_like_once() {
    let Some(services) = ScaledServices::create().await else {
        return;
    };
    let mut argv = services.argv("all");
    argv.drain(..2); // --role all is the default
    killed_mid_batches(argv, &services.pg.url).await;
    services.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_node_killed_mid_batches_keeps_every_acknowledged_like_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("qicoo.db").display());
    killed_mid_batches(vec!["--event-store-url".to_owned(), url.clone()], &url).await;
}
