//! The organizer's live view over a real WebSocket: the organizer, who sends
//! the key as the first message, sees a pending question the moment it is
//! posted; a participant's socket never sees it until it is approved; a wrong
//! key is closed with 1008.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::both;
use crate::support::TestApp;

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, meetup: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(app.live_url(meetup, ""))
        .await
        .expect("connects");
    socket
}

/// The next message that is not a ping or pong, within a liveness deadline.
async fn next(socket: &mut Socket) -> Message {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a message within 30 s")
            .expect("the stream is open")
            .expect("a valid message");
        match message {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return other,
        }
    }
}

async fn next_frame(socket: &mut Socket) -> Value {
    match next(socket).await {
        Message::Text(text) => serde_json::from_str(&text).expect("JSON frame"),
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// Frames until one upserts `question`; returns that question and every
/// frame before it.
async fn until_upserted(socket: &mut Socket, question: &str) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let frame = next_frame(socket).await;
        let upserted = frame["changes"].as_array().and_then(|changes| {
            changes
                .iter()
                .find(|c| c["type"] == "question.upserted" && c["question"]["id"] == question)
                .map(|c| c["question"].clone())
        });
        match upserted {
            Some(upserted) => return (upserted, before),
            None => before.push(frame),
        }
    }
}

async fn organizer_sees_pending_questions_as_they_are_posted_and_participants_never_do(
    app: &TestApp,
) {
    let meetup = app.create_meetup(true).await;
    let mut organizer = connect(app, &meetup.id).await;
    assert_eq!(next_frame(&mut organizer).await["type"], "snapshot");
    organizer
        .send(Message::Text(
            json!({"type": "auth", "organizer_key": meetup.key})
                .to_string()
                .into(),
        ))
        .await
        .expect("sent");
    assert_eq!(
        next_frame(&mut organizer).await,
        json!({"v": 1, "type": "auth", "ok": true})
    );
    let snapshot = next_frame(&mut organizer).await;
    assert_eq!(snapshot["type"], "snapshot");

    let mut participant = connect(app, &meetup.id).await;
    assert_eq!(next_frame(&mut participant).await["type"], "snapshot");

    let token = app.participant().await;
    let question = app
        .post_question(&meetup, &token, "Is the queue live?")
        .await;
    let (queued, _) = until_upserted(&mut organizer, &question).await;
    assert_eq!(queued["status"], "pending");
    assert_eq!(queued["text"], "Is the queue live?");

    let response = app
        .send(
            Method::POST,
            &format!("/questions/{question}/approve"),
            Some(&meetup.key),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (approved, before) = until_upserted(&mut participant, &question).await;
    assert_eq!(approved["status"], "published");
    for frame in before {
        assert!(
            !frame.to_string().contains(&question),
            "a participant heard of the question while it was pending: {frame}"
        );
    }
    let (published, _) = until_upserted(&mut organizer, &question).await;
    assert_eq!(published["status"], "published");
}
both!(organizer_sees_pending_questions_as_they_are_posted_and_participants_never_do);

async fn a_wrong_organizer_key_closes_the_socket_with_1008(app: &TestApp) {
    let meetup = app.create_meetup(true).await;
    let other = app.create_meetup(true).await;
    let mut socket = connect(app, &meetup.id).await;
    assert_eq!(next_frame(&mut socket).await["type"], "snapshot");
    // The key of another meetup is not this one's.
    socket
        .send(Message::Text(
            json!({"type": "auth", "organizer_key": other.key})
                .to_string()
                .into(),
        ))
        .await
        .expect("sent");
    match next(&mut socket).await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Policy);
            assert_eq!(frame.reason.as_str(), "wrong organizer key");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}
both!(a_wrong_organizer_key_closes_the_socket_with_1008);
