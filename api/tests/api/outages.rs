//! Dependency outages under load, in the scaled set-up (Postgres event store,
//! MariaDB read model, Redis leaderboards and change stream), each dependency
//! reached through a proxy the test controls.
//!
//! While participants post and like and live clients watch, one dependency is
//! taken away for 10 s, refused or black-holed. Every answer must be a success
//! or a 503 with `Retry-After`, in bounded time; every acknowledged command is
//! in the event store exactly once; within 5 s of the dependency returning,
//! commands succeed, `/readyz` names the dependency as back, the read model
//! shows everything and the live clients agree with it. Throughout, `/readyz`
//! stays 200: a store every pod shares is not a reason to take pods out. A
//! node started while its read model or Redis is unreachable stays up, says
//! which one is missing (not ready until it has checked its read model's
//! schema), and connects when it appears.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use qicoo_api::config::Cli;
use qicoo_api::serve::Qicoo;
use rand::seq::IteratorRandom;
use reqwest::{header, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::proxy::Proxy;
use crate::support::{serve, ScaledServices, TestApp, TEST_SECRET};

/// How long a dependency stays away.
const OUTAGE: Duration = Duration::from_secs(10);
/// By when, after the dependency returns, everything has recovered.
const RECOVERY: Duration = Duration::from_secs(5);
/// Longest any single request may take: more is a hang.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
const PARTICIPANTS: usize = 4;
/// Each participant's pause between acknowledged commands: a steady load
/// that a shared two-core machine projects as it comes, since what is
/// tested is recovery, not throughput (that is `qicoo-bench`'s).
const PACE: Duration = Duration::from_millis(50);
/// How long the load goes on after the dependency returns.
const AFTER: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dependency {
    EventStore,
    ReadModel,
    Redis,
}

#[derive(Clone, Copy, Debug)]
enum Failure {
    /// Connections refused, open ones broken.
    Refused,
    /// Connections accepted, nothing answered.
    BlackHole,
}

/// A scaled node with one dependency behind a proxy.
struct Rig {
    app: TestApp,
    proxy: Proxy,
    /// Straight to Postgres, not through any proxy: to count events.
    events: PgPool,
}

fn node_args(services: &ScaledServices, dependency: Dependency, through: &str) -> Vec<String> {
    // The load is far faster than people are: no rate limits.
    let mut argv: Vec<String> = ["qicoo", "--secret", TEST_SECRET, "--rate-limits", "off"]
        .map(str::to_owned)
        .to_vec();
    argv.extend(services.argv("all"));
    let flag = match dependency {
        Dependency::EventStore => "--event-store-url",
        Dependency::ReadModel => "--read-model-url",
        Dependency::Redis => "--redis-url",
    };
    let at = argv.iter().position(|a| a == flag).expect("flag");
    argv[at + 1] = through.to_owned();
    argv
}

impl Rig {
    /// Starts a node whose `dependency` goes through a proxy; `before` may
    /// take the proxy down before the node starts.
    async fn start(dependency: Dependency, before: impl FnOnce(&Proxy)) -> Option<Self> {
        let services = ScaledServices::create().await?;
        let url = match dependency {
            Dependency::EventStore => services.pg.url.clone(),
            Dependency::ReadModel => services.mysql.url.clone(),
            Dependency::Redis => services.redis.url.clone(),
        };
        let (proxy, through) = Proxy::in_front_of(&url).await;
        before(&proxy);
        let events = PgPool::connect(&services.pg.url).await.expect("postgres");
        let args = Cli::try_parse_from(node_args(&services, dependency, &through))
            .expect("valid arguments")
            .serve_args();
        let qicoo = tokio::time::timeout(REQUEST_DEADLINE, Qicoo::start(&args))
            .await
            .expect("starts without waiting for its dependencies")
            .expect("starts");
        let store_url = services.pg.url.clone();
        let app = serve(qicoo, None, store_url, None, Some(services)).await;
        Some(Self { app, proxy, events })
    }

    async fn cleanup(self) {
        self.events.close().await;
        self.app.cleanup().await;
    }
}

/// What one request came back with.
enum Outcome {
    /// 2xx, with its body.
    Done(Value),
    /// 503 with `Retry-After`.
    Unavailable,
    /// Anything else: the test fails with this.
    Wrong(String),
}

/// Sends `request` under [`REQUEST_DEADLINE`] and sorts the answer.
async fn call(what: &str, request: RequestBuilder) -> Outcome {
    let started = Instant::now();
    let answered = tokio::time::timeout(REQUEST_DEADLINE, async {
        let response = request.send().await?;
        let status = response.status();
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        let body = response.text().await?;
        Ok::<_, reqwest::Error>((status, retry_after, body))
    })
    .await;
    match answered {
        Err(_) => Outcome::Wrong(format!("{what}: no answer within {REQUEST_DEADLINE:?}")),
        Ok(Err(e)) => Outcome::Wrong(format!("{what}: {e}")),
        Ok(Ok((status, retry_after, body))) => {
            if status.is_success() {
                Outcome::Done(serde_json::from_str(&body).unwrap_or(Value::Null))
            } else if status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some() {
                Outcome::Unavailable
            } else {
                Outcome::Wrong(format!(
                    "{what}: {status} after {:?}, Retry-After {retry_after:?}: {body}",
                    started.elapsed()
                ))
            }
        }
    }
}

/// What the load acknowledged, and what went wrong.
#[derive(Default)]
struct Tally {
    /// Question ids answered 2xx.
    questions: HashSet<String>,
    /// (question id, participant id) of likes answered 2xx.
    likes: HashSet<(String, String)>,
    /// 503s seen.
    unavailable: usize,
    /// The longest a request of the load took.
    slowest: Duration,
    problems: Vec<String>,
}

struct Participant {
    id: String,
    token: String,
}

async fn participant(app: &TestApp) -> Participant {
    let response = app.send(Method::POST, "/participants", None, None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    Participant {
        id: body["participant_id"].as_str().expect("id").to_owned(),
        token: body["token"].as_str().expect("token").to_owned(),
    }
}

/// A reader until `stop`: the question list and the leaderboard, as the
/// attendee and screen views load them, each a success or a 503.
async fn read(
    app: Arc<(reqwest::Client, String)>,
    meetup: String,
    tally: Arc<Mutex<Tally>>,
    stop: CancellationToken,
) {
    let (client, base) = (&app.0, &app.1);
    let paths = [
        format!("{base}/meetups/{meetup}/questions?sort=top"),
        format!("{base}/meetups/{meetup}/leaderboard"),
    ];
    for path in paths.iter().cycle() {
        if stop.is_cancelled() {
            return;
        }
        let started = Instant::now();
        let outcome = call("read", client.get(path)).await;
        let pause = {
            let mut tally = tally.lock().expect("tally");
            tally.slowest = tally.slowest.max(started.elapsed());
            match outcome {
                Outcome::Done(_) => Duration::from_millis(100),
                Outcome::Unavailable => {
                    tally.unavailable += 1;
                    Duration::from_millis(200)
                }
                Outcome::Wrong(problem) => {
                    tally.problems.push(problem);
                    Duration::from_millis(200)
                }
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// One participant's load until `stop`: posts (with its own question ids,
/// retried with the same id until acknowledged) and likes of acknowledged
/// questions, pacing itself and backing off a little after a 503.
async fn load(
    app: Arc<(reqwest::Client, String)>,
    meetup: String,
    me: Participant,
    tally: Arc<Mutex<Tally>>,
    stop: CancellationToken,
) {
    let (client, base) = (&app.0, &app.1);
    // The question being posted: its id and text, the same on every retry.
    let mut pending: Option<(String, String)> = None;
    let mut n = 0;
    while !stop.is_cancelled() {
        n += 1;
        let like = {
            let tally = tally.lock().expect("tally");
            (n % 3 != 0)
                .then(|| {
                    tally
                        .questions
                        .iter()
                        .filter(|q| !tally.likes.contains(&((*q).clone(), me.id.clone())))
                        .choose(&mut rand::thread_rng())
                        .cloned()
                })
                .flatten()
        };
        let started = Instant::now();
        let (outcome, acked) = match like {
            Some(question) => {
                let request = client
                    .put(format!("{base}/questions/{question}/vote"))
                    .bearer_auth(&me.token);
                (call("like", request).await, Err(question))
            }
            None => {
                let (id, text) = pending
                    .get_or_insert_with(|| {
                        let id = uuid::Uuid::new_v4().to_string();
                        (id, format!("Question {n} from {}", me.id))
                    })
                    .clone();
                let request = client
                    .post(format!("{base}/meetups/{meetup}/questions"))
                    .bearer_auth(&me.token)
                    .json(&json!({"id": id, "text": text}));
                (call("post", request).await, Ok(id))
            }
        };
        let pause = {
            let mut tally = tally.lock().expect("tally");
            tally.slowest = tally.slowest.max(started.elapsed());
            match outcome {
                Outcome::Done(body) => {
                    match acked {
                        Ok(question) => {
                            pending = None;
                            tally.questions.insert(question);
                        }
                        Err(question) => {
                            if body["liked"] != true {
                                tally.problems.push(format!("a like answered {body}"));
                            }
                            tally.likes.insert((question, me.id.clone()));
                        }
                    }
                    PACE
                }
                Outcome::Unavailable => {
                    tally.unavailable += 1;
                    Duration::from_millis(200)
                }
                Outcome::Wrong(problem) => {
                    tally.problems.push(problem);
                    Duration::from_millis(200)
                }
            }
        };
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// What a live client has been told, kept up to date by [`watch`].
#[derive(Default)]
struct Seen {
    position: i64,
    /// Published question id → likes.
    likes: HashMap<String, i64>,
    snapshots: usize,
    connections: usize,
    problems: Vec<String>,
}

/// A live client until `stop`: applies snapshots and changes; when the
/// server closes the stream it reconnects with its last position, as the web
/// front end does.
async fn watch(url: String, seen: Arc<Mutex<Seen>>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let position = seen.lock().expect("seen").position;
        let url = if position > 0 {
            format!("{url}?after={position}")
        } else {
            url.clone()
        };
        let connected = tokio::select! {
            () = stop.cancelled() => return,
            connected = tokio::time::timeout(REQUEST_DEADLINE, tokio_tungstenite::connect_async(&url)) => connected,
        };
        let mut socket = match connected {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(_)) | Err(_) => {
                // Refused while not ready (a 503 upgrade): try again shortly.
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
                continue;
            }
        };
        seen.lock().expect("seen").connections += 1;
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => return,
                message = socket.next() => message,
            };
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => continue,
            };
            let frame: Value = serde_json::from_str(&text).expect("JSON frame");
            apply(&mut seen.lock().expect("seen"), &frame);
        }
    }
}

fn apply(seen: &mut Seen, frame: &Value) {
    let position = frame["position"].as_i64().unwrap_or(-1);
    match frame["type"].as_str() {
        Some("snapshot") => {
            seen.snapshots += 1;
            seen.likes = frame["questions"]
                .as_array()
                .map(|questions| {
                    questions
                        .iter()
                        .map(|q| {
                            (
                                q["id"].as_str().unwrap_or_default().to_owned(),
                                q["likes"].as_i64().unwrap_or(-1),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
        }
        Some("changes") => {
            if position <= seen.position {
                seen.problems.push(format!(
                    "changes at {position} after {}: positions must grow",
                    seen.position
                ));
            }
            for change in frame["changes"].as_array().into_iter().flatten() {
                match change["type"].as_str() {
                    Some("question.upserted") => {
                        let q = &change["question"];
                        seen.likes.insert(
                            q["id"].as_str().unwrap_or_default().to_owned(),
                            q["likes"].as_i64().unwrap_or(-1),
                        );
                    }
                    Some("question.removed") => {
                        seen.likes.remove(change["id"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
        }
        other => seen.problems.push(format!("unknown frame type {other:?}")),
    }
    seen.position = seen.position.max(position);
}

/// The published questions of `meetup` and their likes, as the read model
/// answers (every page), or `None` while it does not answer.
async fn read_model_likes(app: &TestApp, meetup: &str) -> Option<HashMap<String, i64>> {
    let mut likes = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/meetups/{meetup}/questions?sort=recent&limit=100");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let Outcome::Done(page) = call("list", app.request(Method::GET, &path)).await else {
            return None;
        };
        for q in page["items"].as_array().expect("items") {
            likes.insert(
                q["id"].as_str().expect("id").to_owned(),
                q["likes"].as_i64().expect("likes"),
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Some(likes),
        }
    }
}

/// `/readyz` under the request deadline: its status and body.
async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let answered = tokio::time::timeout(REQUEST_DEADLINE, async {
        let response = app
            .client
            .get(app.base.replace("/api/v1", "/readyz"))
            .send()
            .await
            .expect("sent");
        let status = response.status();
        (status, response.json().await.expect("json"))
    })
    .await;
    answered.expect("/readyz answers within the deadline")
}

async fn healthz(app: &TestApp) -> StatusCode {
    tokio::time::timeout(
        REQUEST_DEADLINE,
        app.client
            .get(app.base.replace("/api/v1", "/healthz"))
            .send(),
    )
    .await
    .expect("/healthz answers within the deadline")
    .expect("sent")
    .status()
}

/// Polls `check` until it holds, failing with `what` at `deadline`.
async fn by<F, Fut>(deadline: Instant, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    loop {
        let outcome = check().await;
        match outcome {
            Ok(()) => return,
            Err(last) => assert!(Instant::now() < deadline, "{what} in time; last: {last}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The readiness field that names `dependency`.
fn readiness_field(dependency: Dependency) -> &'static str {
    match dependency {
        Dependency::EventStore => "event_store",
        Dependency::ReadModel => "read_model",
        Dependency::Redis => "leaderboard",
    }
}

/// Runs the load and live clients, takes `dependency` away for [`OUTAGE`]
/// the way `failure` says, and checks everything the issue promises.
async fn survives(dependency: Dependency, failure: Failure) {
    let Some(rig) = Rig::start(dependency, |_| {}).await else {
        return;
    };
    let app = &rig.app;
    let (status, body) = readyz(app).await;
    assert_eq!(status, StatusCode::OK, "ready before the outage: {body}");
    let meetup = app.create_meetup(false).await;
    let shown = app
        .send(
            Method::GET,
            &format!("/meetups/{}?min_position={}", meetup.id, meetup.position),
            None,
            None,
        )
        .await;
    assert_eq!(shown.status(), StatusCode::OK);

    let stop = CancellationToken::new();
    let stop_watching = CancellationToken::new();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let shared = Arc::new((app.client.clone(), app.base.clone()));
    let mut tasks = Vec::new();
    let mut watching = Vec::new();
    let mut people = Vec::new();
    for _ in 0..PARTICIPANTS {
        people.push(participant(app).await);
    }
    let probe = participant(app).await;
    tasks.push(tokio::spawn(read(
        shared.clone(),
        meetup.id.clone(),
        tally.clone(),
        stop.clone(),
    )));
    for me in people {
        tasks.push(tokio::spawn(load(
            shared.clone(),
            meetup.id.clone(),
            me,
            tally.clone(),
            stop.clone(),
        )));
    }
    let watchers: Vec<Arc<Mutex<Seen>>> = (0..2).map(|_| Arc::default()).collect();
    for seen in &watchers {
        watching.push(tokio::spawn(watch(
            app.live_url(&meetup.id, ""),
            seen.clone(),
            stop_watching.clone(),
        )));
    }

    // Before: the load is acknowledged.
    by(
        Instant::now() + Duration::from_secs(20),
        "likes acknowledged before the outage",
        || async {
            let tally = tally.lock().expect("tally");
            (tally.likes.len() >= 5)
                .then_some(())
                .ok_or_else(|| format!("{} likes", tally.likes.len()))
        },
    )
    .await;

    match failure {
        Failure::Refused => rig.proxy.cut(),
        Failure::BlackHole => rig.proxy.black_hole(),
    }
    let cut_at = Instant::now();
    let field = readiness_field(dependency);
    // During: still ready (a store every pod shares is down: taking the pods
    // out would only swap the API's 503s for the ingress's), naming the
    // dependency; alive all along.
    by(
        cut_at + OUTAGE,
        "/readyz says the dependency is down",
        || async {
            let (status, body) = readyz(app).await;
            (status == StatusCode::OK && body[field] == "unavailable")
                .then_some(())
                .ok_or_else(|| format!("{status} {body}"))
        },
    )
    .await;
    assert_eq!(
        healthz(app).await,
        StatusCode::OK,
        "alive during the outage"
    );
    let before_outage = tally.lock().expect("tally").unavailable;
    tokio::time::sleep_until((cut_at + OUTAGE).into()).await;
    if dependency == Dependency::EventStore {
        assert!(
            tally.lock().expect("tally").unavailable > before_outage,
            "commands answered 503 while the event store was away"
        );
    }

    rig.proxy.restore().await;
    let restored = Instant::now();
    let recovered = restored + RECOVERY;
    // After: commands succeed, and the node is ready.
    let question = tally
        .lock()
        .expect("tally")
        .questions
        .iter()
        .next()
        .cloned()
        .expect("a question");
    by(recovered, "a command succeeds after the outage", || async {
        let request = app
            .request(Method::PUT, &format!("/questions/{question}/vote"))
            .bearer_auth(&probe.token);
        match call("probe", request).await {
            Outcome::Done(_) => Ok(()),
            Outcome::Unavailable => Err("503".to_owned()),
            Outcome::Wrong(problem) => Err(problem),
        }
    })
    .await;
    tally
        .lock()
        .expect("tally")
        .likes
        .insert((question.clone(), probe.id.clone()));
    by(recovered, "/readyz sees the dependency again", || async {
        let (status, body) = readyz(app).await;
        (status == StatusCode::OK && body[field] == "ok")
            .then_some(())
            .ok_or_else(|| format!("{status} {body}"))
    })
    .await;
    // The load runs on a little after the return, then stops.
    tokio::time::sleep_until((restored + AFTER).into()).await;
    stop.cancel();
    for task in tasks {
        task.await.expect("load");
    }

    let tally = Arc::try_unwrap(tally)
        .ok()
        .expect("one owner")
        .into_inner()
        .expect("tally");
    eprintln!(
        "{dependency:?} {failure:?}: {} questions and {} likes acknowledged, {} answers 503",
        tally.questions.len(),
        tally.likes.len(),
        tally.unavailable
    );
    eprintln!("the slowest answer took {:?}", tally.slowest);
    assert!(
        tally.problems.is_empty(),
        "every answer is a success or a 503 with Retry-After, in time: {:#?}",
        tally.problems
    );
    assert!(
        !tally.questions.is_empty() && !tally.likes.is_empty(),
        "the load was acknowledged"
    );

    // Every acknowledged command is in the event store exactly once.
    let counted: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, event_type, count(*) FROM events
         WHERE event_type IN ('QuestionPosted', 'VoteCast')
         GROUP BY aggregate_id, event_type",
    )
    .fetch_all(&rig.events)
    .await
    .expect("count events");
    let stored: HashMap<(String, String), i64> = counted
        .into_iter()
        .map(|(id, kind, n)| ((id, kind), n))
        .collect();
    for question in &tally.questions {
        let n = stored.get(&(question.clone(), "QuestionPosted".to_owned()));
        assert_eq!(n, Some(&1), "question {question} is stored once");
    }
    for (question, who) in &tally.likes {
        let n = stored.get(&(format!("{question}:{who}"), "VoteCast".to_owned()));
        assert_eq!(
            n,
            Some(&1),
            "the like of {who} on {question} is stored once"
        );
    }
    // What the read model should show: every stored like (acknowledged or
    // not: a command whose answer was lost may still have been stored).
    let mut expected: HashMap<String, i64> = stored
        .keys()
        .filter(|(_, kind)| kind == "QuestionPosted")
        .map(|(id, _)| (id.clone(), 0))
        .collect();
    for (id, kind) in stored.keys() {
        if kind == "VoteCast" {
            let question = id.split(':').next().expect("question id");
            *expected.entry(question.to_owned()).or_default() += 1;
        }
    }

    by(
        recovered,
        "the read model shows every stored command",
        || async {
            let shown = read_model_likes(app, &meetup.id).await;
            (shown.as_ref() == Some(&expected))
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "{} of {} questions",
                        shown.map_or(0, |s| s.len()),
                        expected.len()
                    )
                })
        },
    )
    .await;

    // The live clients got a fresh snapshot or every missed change: they
    // show what the read model shows.
    for (i, seen) in watchers.iter().enumerate() {
        by(
            recovered,
            "the live clients show what the read model shows",
            || async {
                let seen = seen.lock().expect("seen");
                (seen.likes == expected).then_some(()).ok_or_else(|| {
                    format!(
                        "client {i}: {} of {} questions, {} snapshots, {} connections",
                        seen.likes.len(),
                        expected.len(),
                        seen.snapshots,
                        seen.connections
                    )
                })
            },
        )
        .await;
    }
    stop_watching.cancel();
    for task in watching {
        task.await.expect("live client");
    }
    for (i, seen) in watchers.iter().enumerate() {
        let seen = seen.lock().expect("seen");
        eprintln!(
            "live client {i}: {} snapshots over {} connections",
            seen.snapshots, seen.connections
        );
        assert!(
            seen.problems.is_empty(),
            "live client {i}: {:#?}",
            seen.problems
        );
    }
    rig.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_store_that_hangs_for_ten_seconds_costs_503s_and_loses_no_command() {
    survives(Dependency::EventStore, Failure::BlackHole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_model_that_hangs_for_ten_seconds_delays_reads_and_loses_nothing() {
    survives(Dependency::ReadModel, Failure::BlackHole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_goes_away_for_ten_seconds_delays_the_live_view_and_loses_nothing() {
    survives(Dependency::Redis, Failure::Refused).await;
}

/// Starts a node while `dependency` is away (`failure`), checks that it
/// serves what it can, then brings the dependency back and checks that the
/// node picks it up without a restart.
async fn starts_without(dependency: Dependency, failure: Failure) {
    let Some(rig) = Rig::start(dependency, |proxy| match failure {
        Failure::Refused => proxy.cut(),
        Failure::BlackHole => proxy.black_hole(),
    })
    .await
    else {
        return;
    };
    let app = &rig.app;
    assert_eq!(healthz(app).await, StatusCode::OK, "alive without it");
    let field = readiness_field(dependency);
    // A node that has not seen its read model cannot know that its schema
    // is current: not ready. Redis has no schema: ready, and saying so.
    let want = match dependency {
        Dependency::Redis => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    by(
        Instant::now() + REQUEST_DEADLINE,
        "/readyz names what is missing",
        || async {
            let (status, body) = readyz(app).await;
            (status == want && body[field] == "unavailable" && body["event_store"] == "ok")
                .then_some(())
                .ok_or_else(|| format!("{status} {body}"))
        },
    )
    .await;

    // Commands need only the event store; what needs the missing store
    // answers 503 with Retry-After.
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let posted = call(
        "post",
        app.request(Method::POST, &format!("/meetups/{}/questions", meetup.id))
            .bearer_auth(&token)
            .json(&json!({"text": "Does it start without its database?"})),
    )
    .await;
    let Outcome::Done(posted) = posted else {
        panic!("a command that needs only the event store succeeds");
    };
    let position = posted["position"].as_i64().expect("position");
    let question = posted["question"]["id"].as_str().expect("id").to_owned();
    let needs_it = match dependency {
        Dependency::Redis => format!("/meetups/{}/leaderboard", meetup.id),
        _ => format!("/meetups/{}/questions", meetup.id),
    };
    match call("read", app.request(Method::GET, &needs_it)).await {
        Outcome::Unavailable => {}
        Outcome::Done(body) => panic!("{needs_it} answered without its store: {body}"),
        Outcome::Wrong(problem) => panic!("{problem}"),
    }

    rig.proxy.restore().await;
    let recovered = Instant::now() + RECOVERY;
    by(
        recovered,
        "/readyz is 200 once the dependency appears",
        || async {
            let (status, body) = readyz(app).await;
            (status == StatusCode::OK && body[field] == "ok")
                .then_some(())
                .ok_or_else(|| format!("{status} {body}"))
        },
    )
    .await;
    by(recovered, "the question is read back", || async {
        let path = format!("{needs_it}?min_position={position}");
        match call("read", app.request(Method::GET, &path)).await {
            Outcome::Done(page) => {
                let ids: Vec<&str> = page["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .filter_map(|q| q["id"].as_str())
                    .collect();
                ids.contains(&question.as_str())
                    .then_some(())
                    .ok_or_else(|| format!("{page}"))
            }
            Outcome::Unavailable => Err("503".to_owned()),
            Outcome::Wrong(problem) => Err(problem),
        }
    })
    .await;
    rig.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_while_its_read_model_is_down_serves_and_connects_when_it_appears() {
    starts_without(Dependency::ReadModel, Failure::Refused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_while_redis_hangs_serves_and_connects_when_it_answers() {
    starts_without(Dependency::Redis, Failure::BlackHole).await;
}
