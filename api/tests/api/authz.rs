//! The authorization matrix: every operation of the served OpenAPI document,
//! under each kind of credential a caller can present (none, a malformed token,
//! a token signed with another secret, a participant, the question's author,
//! another meetup's organizer key, a forged key of this meetup, this meetup's
//! key), answers exactly the status its rights allow; and the organizer's views
//! (pending questions) stay hidden from everyone else.
//!
//! The operations come from `GET /api/v1/openapi.json` itself, so a route added
//! to the API without a row here fails the matrix. The WebSocket route is
//! opened as a real WebSocket (101), since a plain GET only says the upgrade is
//! missing. The audit routes (history, changes, export) answer the organizer
//! only; the state as of an instant is a read like the lists.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures::StreamExt;
use qicoo_api::auth::Signer;
use qicoo_domain::ParticipantId;
use reqwest::{Method, StatusCode};
use secrecy::SecretSlice;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::both;
use crate::support::{TestApp, TestMeetup};

/// Methods an operation can have in the document.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Who is calling: the columns of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// No `Authorization` header.
    Nobody,
    /// A bearer value that is no credential of Qicoo's.
    Malformed,
    /// A participant token signed by a server with another secret.
    OtherSecret,
    /// A participant who did not post the question.
    Participant,
    /// The participant who posted the question.
    Author,
    /// The organizer key of another meetup.
    OtherOrganizer,
    /// Shaped like this meetup's organizer key, with a secret nobody was given.
    ForgedKey,
    /// The organizer key of the question's meetup.
    Organizer,
}

const CALLERS: [Caller; 8] = [
    Caller::Nobody,
    Caller::Malformed,
    Caller::OtherSecret,
    Caller::Participant,
    Caller::Author,
    Caller::OtherOrganizer,
    Caller::ForgedKey,
    Caller::Organizer,
];

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Nobody => "no credential",
            Self::Malformed => "a malformed token",
            Self::OtherSecret => "a token signed with another secret",
            Self::Participant => "a participant",
            Self::Author => "the question's author",
            Self::OtherOrganizer => "another meetup's organizer key",
            Self::ForgedKey => "a forged organizer key of this meetup",
            Self::Organizer => "this meetup's organizer key",
        };
        f.write_str(name)
    }
}

/// What fills the `{id}` of a path.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The path has no `{id}`.
    Nothing,
    /// The meetup.
    Meetup,
    /// The author's published question.
    Published,
    /// The author's question that waits for approval.
    Pending,
}

/// State a cell's question is brought to before the cell's request.
#[derive(Debug, Clone, Copy)]
enum Prep {
    None,
    /// Answered by the organizer (so that it can be reopened).
    Answered,
    /// Highlighted by the organizer (so that it can be unhighlighted).
    Highlighted,
}

/// One row of the matrix: an operation of the document, and the status each
/// caller gets, in the order of [`CALLERS`]:
/// nobody, malformed, other secret, participant, author, other organizer,
/// forged key, organizer.
struct Row {
    method: &'static str,
    /// The path as the document spells it.
    path: &'static str,
    /// What fills `{action}`, for the moderation operation.
    action: Option<&'static str>,
    target: Target,
    prep: Prep,
    body: Option<fn() -> Value>,
    /// Whether each cell needs a world of its own, because the request changes it.
    fresh: bool,
    expect: [u16; 8],
}

/// Public: the same answer whoever asks, whatever they send.
const PUBLIC_200: [u16; 8] = [200; 8];
/// Reads that check a presented credential but need none.
const READ: [u16; 8] = [200, 401, 401, 200, 200, 200, 200, 200];
/// Organizer only.
const ORGANIZER: [u16; 8] = [401, 401, 401, 403, 403, 403, 403, 200];
/// Participants only (any participant).
const PARTICIPANT: [u16; 8] = [401, 401, 401, 200, 200, 403, 403, 403];

fn row(method: &'static str, path: &'static str, target: Target, expect: [u16; 8]) -> Row {
    Row {
        method,
        path,
        action: None,
        target,
        prep: Prep::None,
        body: None,
        fresh: false,
        expect,
    }
}

fn moderation(action: &'static str, target: Target, prep: Prep) -> Row {
    Row {
        action: Some(action),
        prep,
        fresh: true,
        ..row("post", "/api/v1/questions/{id}/{action}", target, ORGANIZER)
    }
}

/// The matrix.
fn rows() -> Vec<Row> {
    use Target::{Meetup, Nothing, Pending, Published};
    vec![
        row("get", "/healthz", Nothing, PUBLIC_200),
        row("get", "/readyz", Nothing, PUBLIC_200),
        row("get", "/metrics", Nothing, PUBLIC_200),
        row("get", "/api/v1/openapi.json", Nothing, PUBLIC_200),
        row("post", "/api/v1/participants", Nothing, [201; 8]),
        Row {
            body: Some(|| json!({"title": "Another meetup"})),
            ..row("post", "/api/v1/meetups", Nothing, [201; 8])
        },
        row("get", "/api/v1/meetups/{id}", Meetup, PUBLIC_200),
        Row {
            body: Some(|| json!({"title": "Renamed", "qa_open": false})),
            fresh: true,
            ..row("patch", "/api/v1/meetups/{id}", Meetup, ORGANIZER)
        },
        Row {
            body: Some(|| json!({"text": "Who may ask?"})),
            fresh: true,
            ..row(
                "post",
                "/api/v1/meetups/{id}/questions",
                Meetup,
                [401, 401, 401, 201, 201, 403, 403, 403],
            )
        },
        row("get", "/api/v1/meetups/{id}/questions", Meetup, READ),
        row("get", "/api/v1/meetups/{id}/leaderboard", Meetup, READ),
        row("get", "/api/v1/meetups/{id}/state", Meetup, READ),
        row("get", "/api/v1/meetups/{id}/history", Meetup, ORGANIZER),
        row("get", "/api/v1/meetups/{id}/changes", Meetup, ORGANIZER),
        row("get", "/api/v1/meetups/{id}/export", Meetup, ORGANIZER),
        row(
            "get",
            "/api/v1/questions/{id}/history",
            Published,
            ORGANIZER,
        ),
        // The stream needs no credential and reads none from the handshake.
        row("get", "/api/v1/meetups/{id}/live", Meetup, [101; 8]),
        row("get", "/api/v1/questions/{id}", Published, READ),
        Row {
            body: Some(|| json!({"text": "Edited, by whom?"})),
            fresh: true,
            ..row(
                "patch",
                "/api/v1/questions/{id}",
                Published,
                [401, 401, 401, 403, 200, 403, 403, 403],
            )
        },
        Row {
            fresh: true,
            ..row(
                "delete",
                "/api/v1/questions/{id}",
                Published,
                [401, 401, 401, 403, 200, 403, 403, 200],
            )
        },
        moderation("approve", Pending, Prep::None),
        moderation("reject", Pending, Prep::None),
        moderation("answer", Published, Prep::None),
        moderation("reopen", Published, Prep::Answered),
        moderation("highlight", Published, Prep::None),
        moderation("unhighlight", Published, Prep::Highlighted),
        Row {
            fresh: true,
            ..row("put", "/api/v1/questions/{id}/vote", Published, PARTICIPANT)
        },
        Row {
            fresh: true,
            ..row(
                "delete",
                "/api/v1/questions/{id}/vote",
                Published,
                PARTICIPANT,
            )
        },
    ]
}

/// Operations of the document the matrix deliberately leaves out, with why.
/// Empty: every operation has its row.
const EXCLUDED: [(&str, &str); 0] = [];

/// A participant token as Qicoo issues them, but signed with another secret.
fn token_of_another_server() -> String {
    Signer::new(SecretSlice::from(
        b"another-secret-of-at-least-sixteen-bytes".to_vec(),
    ))
    .participant_token(ParticipantId::new())
}

/// A key shaped as Qicoo's organizer keys are (`qo1.<meetup id>.<32 bytes>`),
/// naming `meetup` but with a secret of its own: only the stored hash can tell.
fn forged_key_of(meetup: &str) -> String {
    let id = uuid::Uuid::parse_str(meetup).expect("a meetup id is a UUID");
    format!(
        "qo1.{}.{}",
        URL_SAFE_NO_PAD.encode(id.as_bytes()),
        URL_SAFE_NO_PAD.encode([7u8; 32])
    )
}

/// What the cells act on: a moderated meetup with an author's published and
/// pending questions, another participant's pending question, and another
/// meetup whose key is presented where it gives no right.
struct World {
    meetup: TestMeetup,
    other: TestMeetup,
    author: String,
    participant: String,
    foreign: String,
    forged: String,
    published: String,
    pending: String,
    /// Posted by a third participant and waiting for approval: only the
    /// organizer may see it.
    hidden: String,
    /// The position of the world's last command.
    position: i64,
}

impl World {
    async fn create(app: &TestApp) -> Self {
        let meetup = app.create_meetup(true).await;
        let other = app.create_meetup(false).await;
        let author = app.participant().await;
        let participant = app.participant().await;
        let asker = app.participant().await;
        let published = app
            .post_question(&meetup, &author, "Is this published?")
            .await;
        let pending = app
            .post_question(&meetup, &author, "Is this pending?")
            .await;
        let hidden = app
            .post_question(&meetup, &asker, "Can anyone see this?")
            .await;
        let meetup_id = meetup.id.clone();
        let mut world = Self {
            meetup,
            other,
            author,
            participant,
            foreign: token_of_another_server(),
            forged: forged_key_of(&meetup_id),
            published,
            pending,
            hidden,
            position: 0,
        };
        world.position = world.moderate(app, &world.published, "approve").await;
        world
    }

    /// Moderates as the organizer, which must succeed; answers the position of
    /// the command.
    async fn moderate(&self, app: &TestApp, question: &str, action: &str) -> i64 {
        let response = app
            .send(
                Method::POST,
                &format!("/questions/{question}/{action}"),
                Some(&self.meetup.key),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{action} {question}");
        let body: Value = response.json().await.expect("JSON");
        body["position"].as_i64().expect("a position")
    }

    /// Waits until the read model reflects the world (its last command, the
    /// approval, included), so that reads in the cells see all of it.
    async fn settle(&self, app: &TestApp) {
        let last = self.position;
        let path = format!("/meetups/{}/questions?min_position={last}", self.meetup.id);
        // Each query waits for the position itself (a few seconds at most).
        for _ in 0..30 {
            let response = app
                .send(Method::GET, &path, Some(&self.meetup.key), None)
                .await;
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.expect("JSON");
            if body["position"].as_i64().is_some_and(|p| p >= last) {
                return;
            }
        }
        panic!("the read model did not reach position {last}");
    }

    /// The bearer value a caller sends, if any.
    fn bearer(&self, caller: Caller) -> Option<&str> {
        match caller {
            Caller::Nobody => None,
            // Shaped like a participant token, but missing its signature.
            Caller::Malformed => Some("qp1.bm90LWEtdG9rZW4"),
            Caller::OtherSecret => Some(&self.foreign),
            Caller::Participant => Some(&self.participant),
            Caller::Author => Some(&self.author),
            Caller::OtherOrganizer => Some(&self.other.key),
            Caller::ForgedKey => Some(&self.forged),
            Caller::Organizer => Some(&self.meetup.key),
        }
    }

    fn id(&self, target: Target) -> &str {
        match target {
            Target::Nothing => "",
            Target::Meetup => &self.meetup.id,
            Target::Published => &self.published,
            Target::Pending => &self.pending,
        }
    }
}

/// The server's root: the document's paths include `/api/v1`.
fn root(app: &TestApp) -> &str {
    app.base
        .strip_suffix("/api/v1")
        .expect("the test app's base is its /api/v1")
}

/// Every operation of the served document, as (`method`, path), with the
/// statuses it documents.
async fn documented_operations(app: &TestApp) -> BTreeMap<(String, String), BTreeSet<u16>> {
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.expect("the document is JSON");
    let mut operations = BTreeMap::new();
    for (path, item) in document["paths"]
        .as_object()
        .expect("the document has paths")
    {
        for (method, operation) in item.as_object().expect("a path item") {
            if METHODS.contains(&method.as_str()) {
                let statuses = operation["responses"]
                    .as_object()
                    .expect("an operation lists its responses")
                    .keys()
                    .filter_map(|status| status.parse().ok())
                    .collect();
                operations.insert((method.clone(), path.clone()), statuses);
            }
        }
    }
    operations
}

/// Sends a cell's request and answers its status, with the body for the message.
async fn call(app: &TestApp, world: &World, row: &Row, caller: Caller) -> (u16, String) {
    let path = row
        .path
        .replace("{id}", world.id(row.target))
        .replace("{action}", row.action.unwrap_or(""));
    let url = format!("{}{path}", root(app));
    if row.path.ends_with("/live") {
        return open_stream(&url, world.bearer(caller)).await;
    }
    let method = Method::from_bytes(row.method.to_uppercase().as_bytes()).expect("a method");
    let mut request = app.client.request(method, url);
    if let Some(bearer) = world.bearer(caller) {
        request = request.bearer_auth(bearer);
    }
    if let Some(body) = row.body {
        request = request.json(&body());
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Opens the live stream as a WebSocket client, presenting `bearer` in the
/// handshake; answers the handshake's status.
async fn open_stream(url: &str, bearer: Option<&str>) -> (u16, String) {
    let (status, _) = live_snapshot(url, bearer).await;
    (status, String::new())
}

/// The handshake's status and, when it upgraded, the first snapshot's frame.
async fn live_snapshot(url: &str, bearer: Option<&str>) -> (u16, Option<Value>) {
    let mut request = url
        .replace("http://", "ws://")
        .into_client_request()
        .expect("a WebSocket request");
    if let Some(bearer) = bearer {
        let value = HeaderValue::from_str(&format!("Bearer {bearer}")).expect("a header value");
        request.headers_mut().insert("authorization", value);
    }
    let (mut socket, response) = match tokio_tungstenite::connect_async(request).await {
        Ok(connected) => connected,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            return (response.status().as_u16(), None)
        }
        Err(e) => panic!("the WebSocket handshake failed: {e}"),
    };
    let status = response.status().as_u16();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within 30 s")
            .expect("the stream is open")
            .expect("a valid message");
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
            assert_eq!(
                frame["type"], "snapshot",
                "the stream begins with a snapshot"
            );
            let _ = socket.close(None).await;
            return (status, Some(frame));
        }
    }
}

/// Brings a cell's question to the state its row needs.
async fn prepare(app: &TestApp, world: &World, row: &Row) {
    let question = world.id(row.target);
    match row.prep {
        Prep::None => {}
        Prep::Answered => {
            world.moderate(app, question, "answer").await;
        }
        Prep::Highlighted => {
            world.moderate(app, question, "highlight").await;
        }
    }
}

/// Every operation of the document × every caller: the exact status.
async fn every_caller_gets_exactly_the_status_its_credential_allows(app: &TestApp) {
    let rows = rows();
    let operations = documented_operations(app).await;
    let documented: BTreeSet<(String, String)> = operations.keys().cloned().collect();
    let covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .chain(
            EXCLUDED
                .iter()
                .map(|(m, p)| ((*m).to_owned(), (*p).to_owned())),
        )
        .collect();
    let forgotten: Vec<_> = documented.difference(&covered).collect();
    assert!(
        forgotten.is_empty(),
        "the document has operations the matrix has no row for: {forgotten:?}"
    );
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "the matrix has rows for operations the document no longer has: {stale:?}"
    );

    // What the matrix expects, the contract must say an operation can answer.
    for row in &rows {
        let key = (row.method.to_owned(), row.path.to_owned());
        let statuses = &operations[&key];
        for (caller, expected) in CALLERS.iter().zip(row.expect) {
            assert!(
                statuses.contains(&expected),
                "{} {} answers {expected} to {caller}, which its document does not list: {statuses:?}",
                row.method.to_uppercase(),
                row.path
            );
        }
    }

    let shared = World::create(app).await;
    shared.settle(app).await;
    let mut wrong = Vec::new();
    for row in &rows {
        for (caller, expected) in CALLERS.iter().zip(row.expect) {
            let fresh;
            let world = if row.fresh {
                fresh = World::create(app).await;
                &fresh
            } else {
                &shared
            };
            prepare(app, world, row).await;
            let (status, body) = call(app, world, row, *caller).await;
            if status != expected {
                let action = row.action.map(|a| format!(" ({a})")).unwrap_or_default();
                wrong.push(format!(
                    "{} {}{action} as {caller}: expected {expected}, got {status} {body}",
                    row.method.to_uppercase(),
                    row.path,
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells of the matrix are wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

both!(every_caller_gets_exactly_the_status_its_credential_allows);

/// The ids and statuses of the questions a list or leaderboard returned.
fn listed(body: &Value) -> Vec<(String, String)> {
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|q| {
                    (
                        q["id"].as_str().unwrap_or_default().to_owned(),
                        q["status"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Pending questions are the organizer's to see: lists, the leaderboard and the
/// live snapshot show them to nobody else (an author sees only their own, which
/// is how they know it is waiting), and a single read answers 404.
async fn pending_questions_stay_hidden_from_everyone_but_the_organizer(app: &TestApp) {
    let world = World::create(app).await;
    world.settle(app).await;
    let meetup = &world.meetup.id;
    let lists = [
        format!("/meetups/{meetup}/questions"),
        format!("/meetups/{meetup}/questions?status=pending"),
        format!("/meetups/{meetup}/questions?sort=recent"),
        format!("/meetups/{meetup}/leaderboard?limit=100"),
    ];
    for caller in CALLERS {
        let bearer = world.bearer(caller);
        let refused = matches!(caller, Caller::Malformed | Caller::OtherSecret);
        for list in &lists {
            let response = app.send(Method::GET, list, bearer, None).await;
            let status = response.status();
            let body: Value = response.json().await.expect("JSON");
            if refused {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{list} as {caller}");
                assert!(listed(&body).is_empty(), "{list} as {caller}: {body}");
                continue;
            }
            assert_eq!(status, StatusCode::OK, "{list} as {caller}: {body}");
            let pending: Vec<String> = listed(&body)
                .into_iter()
                .filter(|(_, status)| status == "pending")
                .map(|(id, _)| id)
                .collect();
            let expected: Vec<String> = match caller {
                Caller::Organizer if !list.contains("leaderboard") => {
                    let mut both = vec![world.pending.clone(), world.hidden.clone()];
                    both.sort();
                    let mut seen = pending.clone();
                    seen.sort();
                    assert_eq!(seen, both, "{list} as {caller}: {body}");
                    continue;
                }
                Caller::Author if !list.contains("leaderboard") => vec![world.pending.clone()],
                _ => Vec::new(),
            };
            assert_eq!(pending, expected, "{list} as {caller}: {body}");
        }

        let read = format!("/questions/{}", world.hidden);
        let status = app.send(Method::GET, &read, bearer, None).await.status();
        let expected = match caller {
            Caller::Organizer => StatusCode::OK,
            Caller::Malformed | Caller::OtherSecret => StatusCode::UNAUTHORIZED,
            _ => StatusCode::NOT_FOUND,
        };
        assert_eq!(status, expected, "GET {read} as {caller}");

        let url = format!("{}/meetups/{meetup}/live", app.base);
        let (status, snapshot) = live_snapshot(&url, bearer).await;
        assert_eq!(status, 101, "the live stream as {caller}");
        let snapshot = snapshot.expect("a snapshot");
        let shown: Vec<&str> = snapshot["questions"]
            .as_array()
            .expect("the snapshot lists questions")
            .iter()
            .filter_map(|q| q["id"].as_str())
            .collect();
        assert!(
            shown.contains(&world.published.as_str()),
            "the snapshot shows the published question: {snapshot}"
        );
        for pending in [&world.pending, &world.hidden] {
            assert!(
                !shown.contains(&pending.as_str()),
                "the public snapshot shows a pending question to {caller}: {snapshot}"
            );
        }
    }
}

both!(pending_questions_stay_hidden_from_everyone_but_the_organizer);
