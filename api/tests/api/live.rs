//! The live stream with a real WebSocket client: a snapshot, then changes in
//! position order; resume after a disconnect; a stalled client gets a snapshot;
//! a burst of likes becomes a few frames; several nodes agree.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::both;
use crate::support::{spawn_app_with, ScaledServices, Store, TestApp, TestMeetup};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A client that keeps the state the frames describe.
struct LiveClient {
    socket: Socket,
    position: i64,
    /// Question id → likes, for published questions.
    likes: HashMap<String, i64>,
    leaderboard: Vec<String>,
    frames: usize,
    snapshots: usize,
}

impl LiveClient {
    async fn connect(url: &str) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connects");
        Self::over(socket)
    }

    fn over(socket: Socket) -> Self {
        Self {
            socket,
            position: -1,
            likes: HashMap::new(),
            leaderboard: Vec::new(),
            frames: 0,
            snapshots: 0,
        }
    }

    /// The next frame, applied to the state; positions must only grow.
    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(60), self.socket.next())
                .await
                .expect("a frame within 60 s")
                .expect("the stream is open")
                .expect("a valid message");
            let text = match message {
                Message::Text(text) => text,
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected message {other:?}"),
            };
            let frame: Value = serde_json::from_str(&text).expect("JSON frame");
            assert_eq!(frame["v"], 1);
            let position = frame["position"].as_i64().expect("position");
            self.frames += 1;
            match frame["type"].as_str() {
                Some("snapshot") => {
                    assert!(position >= self.position, "snapshot went back in time");
                    self.snapshots += 1;
                    self.likes = frame["questions"]
                        .as_array()
                        .expect("questions")
                        .iter()
                        .map(|q| (id(q), q["likes"].as_i64().expect("likes")))
                        .collect();
                    self.leaderboard = ids(&frame["leaderboard"]);
                }
                Some("changes") => {
                    assert!(
                        position > self.position,
                        "positions must grow: {} then {position}",
                        self.position
                    );
                    for change in frame["changes"].as_array().expect("changes") {
                        match change["type"].as_str() {
                            Some("question.upserted") => {
                                let q = &change["question"];
                                self.likes
                                    .insert(id(q), q["likes"].as_i64().expect("likes"));
                            }
                            Some("question.removed") => {
                                self.likes.remove(change["id"].as_str().expect("id"));
                            }
                            Some("leaderboard") => self.leaderboard = ids(&change["items"]),
                            Some("meetup.updated") => {}
                            other => panic!("unknown change {other:?}"),
                        }
                    }
                }
                other => panic!("unknown frame type {other:?}"),
            }
            self.position = position;
            return frame;
        }
    }

    /// Reads frames until `done` holds for the state.
    async fn until(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self) {
            assert!(Instant::now() < deadline, "never saw: {what}");
            self.next().await;
        }
    }
}

fn id(question: &Value) -> String {
    question["id"].as_str().expect("id").to_owned()
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("ids")
        .iter()
        .map(|i| i.as_str().expect("id").to_owned())
        .collect()
}

async fn like(app: &TestApp, question: &str, token: &str) {
    app.like(question, token).await;
}

/// A meetup and a participant, once the read model shows the meetup (a live
/// stream opens only on a meetup the read model knows).
async fn open(app: &TestApp) -> (TestMeetup, String) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let visible = app
        .send(
            Method::GET,
            &format!("/meetups/{}?min_position={}", meetup.id, meetup.position),
            None,
            None,
        )
        .await;
    assert_eq!(visible.status(), StatusCode::OK);
    (meetup, token)
}

async fn a_snapshot_comes_first_then_changes_in_position_order(app: &TestApp) {
    let (meetup, token) = open(app).await;
    let early = app
        .post_question(&meetup, &token, "Before connecting?")
        .await;
    let mut first = LiveClient::connect(&app.live_url(&meetup.id, "")).await;
    let mut second = LiveClient::connect(&app.live_url(&meetup.id, "")).await;
    for client in [&mut first, &mut second] {
        let snapshot = client.next().await;
        assert_eq!(snapshot["type"], "snapshot");
        assert_eq!(snapshot["meetup"]["id"], meetup.id.as_str());
        assert_eq!(client.likes.get(&early), Some(&0));
    }
    let later = app
        .post_question(&meetup, &token, "After connecting?")
        .await;
    like(app, &later, &token).await;
    // A third party likes; both watchers see it.
    let third = app.participant().await;
    like(app, &later, &third).await;
    for client in [&mut first, &mut second] {
        client
            .until("two likes on the later question", |c| {
                c.likes.get(&later) == Some(&2)
            })
            .await;
        assert_eq!(client.leaderboard.first(), Some(&later));
        assert_eq!(client.snapshots, 1);
    }
}
both!(a_snapshot_comes_first_then_changes_in_position_order);

async fn a_reconnecting_client_gets_exactly_what_it_missed(app: &TestApp) {
    let (meetup, token) = open(app).await;
    let question = app.post_question(&meetup, &token, "Resume?").await;
    let mut client = LiveClient::connect(&app.live_url(&meetup.id, "")).await;
    client.next().await;
    like(app, &question, &token).await;
    client
        .until("the first like", |c| c.likes.get(&question) == Some(&1))
        .await;
    let seen = client.position;
    let _ = client.socket.close(None).await;

    // While it is away: another like and a new question.
    let other = app.participant().await;
    like(app, &question, &other).await;
    let missed = app.post_question(&meetup, &other, "Missed?").await;

    let mut back = LiveClient::connect(&app.live_url(&meetup.id, &format!("?after={seen}"))).await;
    back.position = seen;
    back.likes = client.likes.clone();
    back.until("what it missed", |c| {
        c.likes.get(&question) == Some(&2) && c.likes.contains_key(&missed)
    })
    .await;
    assert_eq!(
        back.snapshots, 0,
        "a resume within the history sends no snapshot"
    );

    // A position this node never had gets a snapshot instead.
    let mut stranger = LiveClient::connect(&app.live_url(&meetup.id, "?after=1")).await;
    let frame = stranger.next().await;
    assert_eq!(frame["type"], "snapshot");
    assert_eq!(stranger.likes.get(&question), Some(&2));
}
both!(a_reconnecting_client_gets_exactly_what_it_missed);

async fn a_burst_of_200_likes_arrives_as_a_few_frames_with_the_right_count(app: &TestApp) {
    let (meetup, token) = open(app).await;
    let question = app.post_question(&meetup, &token, "Popular?").await;
    let tokens = futures::future::join_all((0..200).map(|_| app.participant())).await;
    let mut client = LiveClient::connect(&app.live_url(&meetup.id, "")).await;
    client.next().await;
    let before = client.frames;
    futures::future::join_all(tokens.iter().map(|t| like(app, &question, t))).await;
    client
        .until("200 likes", |c| c.likes.get(&question) == Some(&200))
        .await;
    let frames = client.frames - before;
    assert!(frames < 60, "200 likes took {frames} frames");
}
both!(a_burst_of_200_likes_arrives_as_a_few_frames_with_the_right_count);

/// Posts a question with the id the client chose.
async fn post_with_id(app: &TestApp, meetup: &TestMeetup, token: &str, id: &str, text: &str) {
    let response = app
        .send(
            Method::POST,
            &format!("/meetups/{}/questions", meetup.id),
            Some(token),
            Some(serde_json::json!({ "text": text, "id": id })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn questions_tied_on_likes_rank_alike_on_the_live_stream_and_the_leaderboard(app: &TestApp) {
    let (meetup, token) = open(app).await;
    let mut client = LiveClient::connect(&app.live_url(&meetup.id, "")).await;
    client.next().await;
    // The earlier posted question has the greater id, so that an order by id
    // would put the later one first; it is also liked last.
    let earlier = uuid::Uuid::new_v4()
        .to_string()
        .replacen(|_: char| true, "f", 1);
    let later = uuid::Uuid::new_v4()
        .to_string()
        .replacen(|_: char| true, "0", 1);
    post_with_id(app, &meetup, &token, &earlier, "Posted first?").await;
    post_with_id(app, &meetup, &token, &later, "Posted second?").await;
    app.like(&later, &token).await;
    let position = app.like(&earlier, &token).await;
    client
        .until("one like on each", |c| {
            c.likes.get(&earlier) == Some(&1) && c.likes.get(&later) == Some(&1)
        })
        .await;
    let board: Value = app
        .send(
            Method::GET,
            &format!("/meetups/{}/leaderboard?min_position={position}", meetup.id),
            None,
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let over_http: Vec<String> = board["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id)
        .collect();
    assert_eq!(over_http, [earlier.clone(), later.clone()]);
    assert_eq!(client.leaderboard, over_http, "the live leaderboard");
    // A client joining now starts from a snapshot ranked the same way.
    let mut fresh = LiveClient::connect(&app.live_url(&meetup.id, "")).await;
    let snapshot = fresh.next().await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(fresh.leaderboard, over_http, "the snapshot's leaderboard");
}
both!(questions_tied_on_likes_rank_alike_on_the_live_stream_and_the_leaderboard);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_sent_a_snapshot_and_ends_consistent() {
    let app = crate::support::spawn_app_with_small_send_buffer(&[
        "--live-buffer",
        "1",
        "--live-tick",
        "10ms",
    ])
    .await;
    let (meetup, token) = open(&app).await;
    let long = "a long question to make every frame heavy ".repeat(23);
    let mut questions = Vec::new();
    for i in 0..20 {
        questions.push(
            app.post_question(&meetup, &token, &format!("{i} {long}"))
                .await,
        );
    }
    // A client with a tiny receive window that stops reading.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(2048).expect("buffer size");
    let addr = app
        .base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("host")
        .to_owned();
    let stream = socket
        .connect(addr.parse().expect("address"))
        .await
        .expect("connects");
    let (ws, _) = tokio_tungstenite::client_async(
        app.live_url(&meetup.id, ""),
        MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("upgrades");
    let mut client = LiveClient::over(ws);
    client.next().await;

    let voters = futures::future::join_all((0..15).map(|_| app.participant())).await;
    for voter in &voters {
        for question in &questions {
            like(&app, question, voter).await;
        }
    }
    client
        .until("every like", |c| {
            questions.iter().all(|q| c.likes.get(q) == Some(&15))
        })
        .await;
    assert!(
        client.snapshots >= 2,
        "the stalled client was never resynchronised"
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_and_foreign_origins_are_refused() {
    let Some(app) = spawn_app_with(
        Store::Sqlite,
        &[
            "--max-connections",
            "1",
            "--allowed-origins",
            "https://qa.example.com",
        ],
    )
    .await
    else {
        return;
    };
    let (meetup, _) = open(&app).await;
    let url = app.live_url(&meetup.id, "");
    let mut first = LiveClient::connect(&url).await;
    first.next().await;
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE)
        }
        other => panic!("a second connection should be refused, got {other:?}"),
    }
    drop(first);

    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            url.as_str(),
        )
        .expect("request");
    request.headers_mut().insert(
        "origin",
        "https://evil.example.com".parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN)
        }
        other => panic!("a foreign origin should be refused, got {other:?}"),
    }
    let unknown = app.live_url(&uuid::Uuid::new_v4().to_string(), "");
    match tokio_tungstenite::connect_async(unknown.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::NOT_FOUND)
        }
        other => panic!("an unknown meetup should be refused, got {other:?}"),
    }
    app.cleanup().await;
}

async fn shutdown_closes_live_clients_with_going_away(app: &TestApp) {
    let (meetup, _) = open(app).await;
    let mut client = LiveClient::connect(&app.live_url(&meetup.id, "")).await;
    client.next().await;
    app.begin_shutdown();
    let message = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match client.socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed within 10 s");
    assert_eq!(message.expect("a close frame").code, CloseCode::Away);
}
both!(shutdown_closes_live_clients_with_going_away);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_on_two_api_nodes_see_the_same_changes_in_the_same_order() {
    let Some(services) = ScaledServices::create().await else {
        return;
    };
    let projector = services.start("projector").await;
    let node_a = services.serve_api().await;
    let node_b = services.serve_api().await;

    let meetup = node_a.create_meetup(false).await;
    let token = node_a.participant().await;
    let question = node_b.post_question(&meetup, &token, "Everywhere?").await;
    let mut on_a = LiveClient::connect(&node_a.live_url(&meetup.id, "")).await;
    let mut on_b = LiveClient::connect(&node_b.live_url(&meetup.id, "")).await;
    on_a.next().await;
    on_b.next().await;

    let voters = futures::future::join_all((0..20).map(|_| node_a.participant())).await;
    let mut questions = vec![question.clone()];
    for (i, voter) in voters.iter().enumerate() {
        let via = if i % 2 == 0 { &node_a } else { &node_b };
        like(via, &question, voter).await;
        if i % 5 == 0 {
            questions.push(
                via.post_question(&meetup, voter, &format!("Also {i}?"))
                    .await,
            );
        }
    }
    let expected = questions.len();
    for client in [&mut on_a, &mut on_b] {
        client
            .until("every change", |c| {
                c.likes.get(&question) == Some(&20) && c.likes.len() == expected
            })
            .await;
    }
    assert_eq!(on_a.likes, on_b.likes);
    assert_eq!(on_a.leaderboard, on_b.leaderboard);

    node_a.cleanup().await;
    node_b.cleanup().await;
    projector.stop(Duration::from_secs(10)).await;
    services.drop_all().await;
}
