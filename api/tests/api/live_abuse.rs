//! Live-stream clients that misbehave, over real sockets: oversized frames,
//! binary data and garbage, message floods, clients that never read, and far
//! more connection attempts than the cap. Each is closed with its code (or
//! refused before the upgrade), the others keep receiving, and the
//! connection count goes back down.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{spawn_app_with, Store, TestApp, TestMeetup};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Waits (up to `within`) until `done` holds.
async fn eventually(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A meetup the read model shows, and a participant.
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

/// Connects and reads the snapshot.
async fn connect(app: &TestApp, meetup: &TestMeetup) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(app.live_url(&meetup.id, ""))
        .await
        .expect("connects");
    let first = next_text(&mut socket).await;
    assert_eq!(first["type"], "snapshot");
    socket
}

/// The next text frame as JSON, skipping pings.
async fn next_text(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within 30 s")
            .expect("the stream is open")
            .expect("a valid message");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

/// Reads until the server's close frame.
async fn close_frame(socket: &mut Socket) -> CloseFrame {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return frame,
                Some(Ok(Message::Close(None))) => panic!("a close without a code"),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed within 30 s")
}

/// Posts a question and waits until `watcher` sees it: the stream still
/// flows to well-behaved clients.
async fn still_flows(app: &TestApp, meetup: &TestMeetup, token: &str, watcher: &mut Socket) {
    let id = app.post_question(meetup, token, "still there?").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the watcher never saw {id}");
        let frame = next_text(watcher).await;
        // A watcher that fell behind gets a snapshot instead of changes.
        let seen = match frame["type"].as_str() {
            Some("snapshot") => frame["questions"]
                .as_array()
                .is_some_and(|questions| questions.iter().any(|q| q["id"] == id.as_str())),
            _ => frame["changes"].as_array().is_some_and(|changes| {
                changes
                    .iter()
                    .any(|c| c["type"] == "question.upserted" && c["question"]["id"] == id.as_str())
            }),
        };
        if seen {
            return;
        }
    }
}

async fn embedded(extra: &[&str]) -> Option<TestApp> {
    spawn_app_with(Store::Sqlite, extra).await
}

fn permits(app: &TestApp) -> usize {
    app.state.live_gate.connections.available_permits()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_4_kib_is_closed_as_too_big_and_the_others_keep_receiving() {
    let Some(app) = embedded(&["--max-connections", "10"]).await else {
        return;
    };
    let (meetup, token) = open(&app).await;
    let mut watcher = connect(&app, &meetup).await;
    let mut abuser = connect(&app, &meetup).await;
    assert_eq!(permits(&app), 8);
    // Well over the limit: refused from its header, long before its end.
    let huge = "x".repeat(1024 * 1024);
    // The server may close while the frame is still going out.
    let _ = abuser.send(Message::Text(huge.into())).await;
    assert_eq!(close_frame(&mut abuser).await.code, CloseCode::Size);
    eventually(
        "the abuser's slot is freed",
        Duration::from_secs(10),
        || permits(&app) == 9,
    )
    .await;
    still_flows(&app, &meetup, &token, &mut watcher).await;

    // Just under the limit is not too big (only not a message).
    let mut fair = connect(&app, &meetup).await;
    fair.send(Message::Text("y".repeat(4000).into()))
        .await
        .expect("sent");
    assert_eq!(close_frame(&mut fair).await.code, CloseCode::Unsupported);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_and_garbage_text_are_closed_as_unsupported_data() {
    let Some(app) = embedded(&[]).await else {
        return;
    };
    let (meetup, token) = open(&app).await;
    let mut watcher = connect(&app, &meetup).await;
    let says: [Message; 3] = [
        Message::Binary(vec![0, 159, 146, 150].into()),
        Message::Text("GET / HTTP/1.1".into()),
        Message::Text(r#"{"type":"subscribe","meetup":"all"}"#.into()),
    ];
    for message in says {
        let mut abuser = connect(&app, &meetup).await;
        abuser.send(message.clone()).await.expect("sent");
        let close = close_frame(&mut abuser).await;
        assert_eq!(close.code, CloseCode::Unsupported, "after {message:?}");
    }
    still_flows(&app, &meetup, &token, &mut watcher).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_client_messages_is_closed_as_a_policy_violation() {
    let Some(app) = embedded(&["--max-connections", "10"]).await else {
        return;
    };
    let (meetup, token) = open(&app).await;
    let mut watcher = connect(&app, &meetup).await;
    let mut flooder = connect(&app, &meetup).await;
    // Pings are what a client may send, but not a thousand at once.
    for _ in 0..1000 {
        if flooder
            .feed(Message::Ping(Vec::new().into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = flooder.flush().await;
    assert_eq!(close_frame(&mut flooder).await.code, CloseCode::Policy);
    eventually(
        "the flooder's slot is freed",
        Duration::from_secs(10),
        || permits(&app) == 9,
    )
    .await;
    still_flows(&app, &meetup, &token, &mut watcher).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_after_the_write_timeout_and_its_slot_freed() {
    // Pings every ten minutes: only the write timeout can end the stalled
    // client within the test.
    let app = crate::support::spawn_app_with_small_send_buffer(&[
        "--max-connections",
        "10",
        "--live-write-timeout",
        "1s",
        "--live-heartbeat",
        "10m",
        "--live-buffer",
        "1",
        "--live-tick",
        "10ms",
    ])
    .await;
    let (meetup, token) = open(&app).await;
    let mut watcher = connect(&app, &meetup).await;
    // A client with a tiny receive window that reads nothing after the
    // upgrade.
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
    let (stalled, _) = tokio_tungstenite::client_async(
        app.live_url(&meetup.id, ""),
        MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("upgrades");
    assert_eq!(permits(&app), 8);

    // The room changes a lot: heavy frames that fill every buffer.
    let long = "a long question to make every frame heavy ".repeat(23);
    let started = Instant::now();
    let mut posted = 0;
    while permits(&app) < 9 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the stalled client still holds its slot after {posted} questions"
        );
        app.post_question(&meetup, &token, &format!("{posted} {long}"))
            .await;
        posted += 1;
    }
    // The watcher, which reads, still gets every question.
    still_flows(&app, &meetup, &token, &mut watcher).await;
    drop(stalled);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_connection_attempts_beyond_a_cap_of_50_are_refused_before_the_upgrade() {
    const CAP: usize = 50;
    const ATTEMPTS: usize = 2000;
    let Some(app) = embedded(&["--max-connections", "50"]).await else {
        return;
    };
    let (meetup, token) = open(&app).await;
    let url = app.live_url(&meetup.id, "");
    let rss_before = rss_kib();
    let attempts = futures::future::join_all((0..ATTEMPTS).map(|_| {
        let url = url.clone();
        async move {
            match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok((mut socket, _)) => {
                    // Admitted: its snapshot comes first.
                    let first = next_text(&mut socket).await;
                    assert_eq!(first["type"], "snapshot");
                    Ok(socket)
                }
                Err(WsError::Http(response)) => {
                    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
                    assert!(
                        response.headers().contains_key("retry-after"),
                        "a refusal says when to come back"
                    );
                    let body = response
                        .body()
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    assert!(
                        body.contains("at its limit of live connections"),
                        "a refusal says why, not that storage is down: {body}"
                    );
                    Err(())
                }
                Err(other) => panic!("an attempt failed otherwise: {other}"),
            }
        }
    }))
    .await;
    let rss_peak = rss_kib();
    let (mut admitted, refused): (Vec<_>, Vec<_>) = attempts.into_iter().partition(Result::is_ok);
    eprintln!(
        "{ATTEMPTS} attempts at a cap of {CAP}: {} admitted, {} refused; test process RSS {rss_before} KiB before, {rss_peak} KiB with them",
        admitted.len(),
        refused.len()
    );
    assert_eq!(admitted.len(), CAP);
    assert_eq!(refused.len(), ATTEMPTS - CAP);
    assert_eq!(permits(&app), 0);
    // Still serving, and the admitted still receive.
    let health = app
        .client
        .get(app.base.replace("/api/v1", "/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    let mut watcher = admitted.pop().expect("one admitted").expect("a socket");
    still_flows(&app, &meetup, &token, &mut watcher).await;
    drop(watcher);
    drop(admitted);
    eventually("every slot is freed", Duration::from_secs(30), || {
        permits(&app) == CAP
    })
    .await;
    app.cleanup().await;
}

/// This process's resident set in KiB (0 where `/proc` is missing).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
