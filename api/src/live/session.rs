//! One client's connection: its first frames, then the room's frames in
//! position order. A client too slow to keep up (a frame more than
//! [`MAX_TICKS_BEHIND`] ticks old with newer ones queued behind it, or more
//! frames queued than the buffer holds) skips to a fresh snapshot rather than
//! working through a queue or silently missing changes; one that stops reading altogether is dropped
//! after the write timeout; a silent one is disconnected; one that sends what
//! the stream does not accept is closed with the code [`super::client`]
//! lists; on shutdown each is told 1001 (going away) so that it reconnects
//! elsewhere. A client whose first message is `auth` with the organizer key
//! moves to the organizer's room (see [`super::frames`]).
//!
//! Generic over the socket's halves so that tests can drive it with channels.

use std::error::Error;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use std::sync::Arc;

use futures::future::BoxFuture;

use super::client::{self, ClientMessage, MAX_MESSAGES_PER_SECOND, MAX_MESSAGE_BYTES};
use super::frames::{Frame, VERSION};
use super::hub::LiveSettings;
use super::room::{Joined, Room, Sent};
use tokio_util::sync::CancellationToken;

/// WebSocket close codes (RFC 6455 §7.4.1).
const GOING_AWAY: u16 = 1001;
const PROTOCOL_ERROR: u16 = 1002;
const UNSUPPORTED_DATA: u16 = 1003;
const INVALID_PAYLOAD: u16 = 1007;
/// A wrong or late `auth`, or a flood of messages.
pub const POLICY_VIOLATION: u16 = 1008;
const MESSAGE_TOO_BIG: u16 = 1009;
/// The organizer key could not be checked.
const INTERNAL_ERROR: u16 = 1011;
/// How long after connecting a client may still ask for the organizer's view.
pub const AUTH_WINDOW: Duration = Duration::from_secs(5);

/// Why an `auth` message did not lead to the organizer's view.
#[derive(Debug, thiserror::Error)]
pub enum AuthRefused {
    #[error("not the organizer key of this meetup")]
    WrongKey,
    #[error("cannot check the organizer key now: {0}")]
    Failed(String),
}

/// Checks an organizer key and joins the organizer's room of the meetup.
pub type Authorize =
    Box<dyn FnOnce(String) -> BoxFuture<'static, Result<(Arc<Room>, Joined), AuthRefused>> + Send>;

/// How long a refused client gets to acknowledge its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The client stopped taking frames (or left): the session ends without a
/// close frame, which could not be delivered either.
struct Gone;

/// Runs the session until the client leaves, goes silent, stops reading,
/// misbehaves, or shutdown.
pub async fn run<W, R, E>(
    sink: W,
    stream: R,
    room: &Room,
    joined: Joined,
    settings: LiveSettings,
    shutdown: CancellationToken,
) where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
    E: Error + 'static,
{
    run_authorized(sink, stream, room, joined, settings, shutdown, None).await;
}

/// [`run`], where a first `auth` message is checked by `authorize` (without
/// it, every `auth` is refused).
pub async fn run_authorized<W, R, E>(
    mut sink: W,
    mut stream: R,
    room: &Room,
    joined: Joined,
    settings: LiveSettings,
    shutdown: CancellationToken,
    mut authorize: Option<Authorize>,
) where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
    E: Error + 'static,
{
    let connected = Instant::now();
    let mut heard_message = false;
    // The organizer's room, once the client proved to be the organizer.
    let mut organizer: Option<Arc<Room>> = None;
    let Joined {
        initial,
        mut frames,
        ..
    } = joined;
    let timeout = settings.write_timeout;
    let mut last = i64::MIN;
    for frame in initial {
        if send(&mut sink, &frame, &mut last, timeout).await.is_err() {
            return;
        }
    }
    // Tokio's clock, not the system's: tests run it paused.
    let mut heartbeat = tokio::time::interval(settings.heartbeat);
    heartbeat.tick().await;
    let mut last_heard = Instant::now();
    let mut flood = FloodGauge::new();
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Ok(frame) if frame.position <= last && !frame.snapshot => {}
                Ok(frame) if too_far_behind(
                    &frame,
                    frames.len(),
                    organizer.as_deref().unwrap_or(room).tick(settings.tick),
                ) => {
                    // Newer frames wait behind an old one: rather than work
                    // through the queue, the client skips to the current view.
                    // Subscribing anew first: whatever comes after the snapshot
                    // is newer than it, or at its position and skipped.
                    metrics::counter!("qicoo_websocket_forced_snapshots_total").increment(1);
                    frames = frames.resubscribe();
                    let snapshot = organizer.as_deref().unwrap_or(room).snapshot();
                    if send(&mut sink, &snapshot, &mut last, timeout).await.is_err() {
                        return;
                    }
                }
                Ok(frame) => {
                    if send(&mut sink, &frame, &mut last, timeout).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    metrics::counter!("qicoo_websocket_forced_snapshots_total").increment(1);
                    let snapshot = organizer.as_deref().unwrap_or(room).snapshot();
                    if send(&mut sink, &snapshot, &mut last, timeout).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => {
                    close(&mut sink, GOING_AWAY, "the live view closed", timeout).await;
                    return;
                }
            },
            incoming = stream.next() => {
                let incoming = match incoming {
                    Some(Ok(Message::Close(_))) | None => return,
                    Some(Err(e)) => {
                        if let Some((code, reason)) = read_error_close(&e) {
                            refuse(&mut sink, &mut stream, code, reason, timeout).await;
                        }
                        return;
                    }
                    Some(Ok(message)) => message,
                };
                last_heard = Instant::now();
                if flood.count(last_heard) > MAX_MESSAGES_PER_SECOND {
                    refuse(&mut sink, &mut stream, POLICY_VIOLATION, "too many messages", timeout)
                        .await;
                    return;
                }
                match accept(incoming) {
                    Ok(None) => {}
                    Ok(Some(ClientMessage::Auth { organizer_key })) => {
                        let first = !std::mem::replace(&mut heard_message, true);
                        let authorize = authorize
                            .take()
                            .filter(|_| first && connected.elapsed() <= AUTH_WINDOW);
                        let Some(authorize) = authorize else {
                            refuse(&mut sink, &mut stream, POLICY_VIOLATION, "auth must be the first message, within 5 s", timeout).await;
                            return;
                        };
                        match authorize(organizer_key).await {
                            Ok((room, joined)) => {
                                let ok = to_text(&Frame::Auth { v: VERSION, ok: true });
                                if deliver(&mut sink, Message::Text(ok.into()), timeout).await.is_err() {
                                    return;
                                }
                                frames = joined.frames;
                                for frame in joined.initial {
                                    if send(&mut sink, &frame, &mut last, timeout).await.is_err() {
                                        return;
                                    }
                                }
                                organizer = Some(room);
                            }
                            Err(AuthRefused::WrongKey) => {
                                refuse(&mut sink, &mut stream, POLICY_VIOLATION, "wrong organizer key", timeout).await;
                                return;
                            }
                            Err(AuthRefused::Failed(e)) => {
                                tracing::warn!(error = %e, "live stream: cannot check an organizer key");
                                refuse(&mut sink, &mut stream, INTERNAL_ERROR, "cannot check the organizer key now", timeout).await;
                                return;
                            }
                        }
                    }
                    Err((code, reason)) => {
                        refuse(&mut sink, &mut stream, code, reason, timeout).await;
                        return;
                    }
                }
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > settings.heartbeat * 3 {
                    close(&mut sink, GOING_AWAY, "no answer to pings", timeout).await;
                    return;
                }
                if deliver(&mut sink, Message::Ping(Default::default()), timeout).await.is_err() {
                    return;
                }
            }
            _ = shutdown.cancelled() => {
                close(&mut sink, GOING_AWAY, "server shutting down", timeout).await;
                return;
            }
        }
    }
}

/// How many ticks (of its room) old a frame may be, with newer ones queued
/// behind it, before its client counts as too slow and skips to a fresh
/// snapshot.
pub const MAX_TICKS_BEHIND: u32 = 10;

/// Whether a client about to be sent `frame`, with `queued` frames behind
/// it, is too slow to go on frame by frame, in a room whose tick is `tick`.
fn too_far_behind(frame: &Sent, queued: usize, tick: Duration) -> bool {
    queued > 0 && frame.made_at.elapsed() > tick * MAX_TICKS_BEHIND
}

/// What a client's message is: nothing to act on (pings, pongs), a client
/// message, or a reason to close the connection.
fn accept(message: Message) -> Result<Option<ClientMessage>, (u16, &'static str)> {
    match message {
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => Ok(None),
        Message::Binary(_) => Err((UNSUPPORTED_DATA, "binary messages are not accepted")),
        Message::Text(text) if text.len() > MAX_MESSAGE_BYTES => {
            Err((MESSAGE_TOO_BIG, "message too big"))
        }
        Message::Text(text) => match client::interpret(text.as_str()) {
            Ok(message) => Ok(Some(message)),
            Err(client::Refusal::NotAMessage) => Err((UNSUPPORTED_DATA, "not a message")),
            Err(client::Refusal::UnknownType) => Err((UNSUPPORTED_DATA, "unknown message type")),
        },
    }
}

/// The close frame owed to a client whose frame could not be read, if it
/// broke a rule; `None` when the connection itself failed.
fn read_error_close(error: &(dyn Error + 'static)) -> Option<(u16, &'static str)> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(e) = e.downcast_ref::<tungstenite::Error>() {
            return match e {
                tungstenite::Error::Capacity(_) => Some((MESSAGE_TOO_BIG, "message too big")),
                tungstenite::Error::Utf8(_) => Some((INVALID_PAYLOAD, "text is not UTF-8")),
                tungstenite::Error::Protocol(_) => Some((PROTOCOL_ERROR, "protocol error")),
                _ => None,
            };
        }
        cause = e.source();
    }
    None
}

/// Counts a client's messages per second (a fixed one-second window: cheap,
/// and a flood fills any window).
struct FloodGauge {
    window: Instant,
    count: u32,
}

impl FloodGauge {
    fn new() -> Self {
        Self {
            window: Instant::now(),
            count: 0,
        }
    }

    /// Counts a message received at `now`; returns the count of its window.
    fn count(&mut self, now: Instant) -> u32 {
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count
    }
}

/// Sends one message, giving up after `timeout`: a client that stopped
/// reading must not hold its connection forever.
async fn deliver<W>(sink: &mut W, message: Message, timeout: Duration) -> Result<(), Gone>
where
    W: Sink<Message> + Unpin,
{
    match tokio::time::timeout(timeout, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Gone),
        Err(_) => {
            metrics::counter!("qicoo_websocket_write_timeouts_total").increment(1);
            Err(Gone)
        }
    }
}

async fn send<W>(sink: &mut W, frame: &Sent, last: &mut i64, timeout: Duration) -> Result<(), Gone>
where
    W: Sink<Message> + Unpin,
{
    deliver(sink, Message::Text(frame.text.clone()), timeout).await?;
    *last = frame.position;
    metrics::counter!("qicoo_websocket_frames_total").increment(1);
    if let Some(committed_at) = frame.committed_at {
        let latency = (chrono::Utc::now() - committed_at)
            .to_std()
            .unwrap_or_default();
        metrics::histogram!("qicoo_websocket_commit_to_send_seconds").record(latency.as_secs_f64());
    }
    Ok(())
}

fn to_text(frame: &Frame<'_>) -> String {
    // Serialising plain data to JSON cannot fail.
    serde_json::to_string(frame).unwrap_or_default()
}

/// Closes the connection of a client that broke a rule, then reads (and
/// drops) what it still sends until it answers the close or [`CLOSE_GRACE`]
/// passes: a socket closed with unread data is reset, and a reset can lose
/// the close frame before the client reads it.
async fn refuse<W, R, E>(
    sink: &mut W,
    stream: &mut R,
    code: u16,
    reason: &'static str,
    timeout: Duration,
) where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    close(sink, code, reason, timeout).await;
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

async fn close<W>(sink: &mut W, code: u16, reason: &'static str, timeout: Duration)
where
    W: Sink<Message> + Unpin,
{
    metrics::counter!("qicoo_websocket_closes_total", "code" => code.to_string()).increment(1);
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = deliver(sink, Message::Close(Some(frame)), timeout).await;
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::time::Duration;

    use futures::channel::mpsc;
    use qicoo_projections::changes::Change;
    use qicoo_projections::QuestionView;
    use serde_json::Value;

    use super::*;
    use crate::live::room::{run_room, Audience, RoomInput, SENDS_PER_SECOND};
    use crate::live::test_support::MemoryQueries;

    const HEARTBEAT: Duration = Duration::from_secs(20);
    const TICK: Duration = Duration::from_millis(100);
    const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

    fn settings() -> LiveSettings {
        LiveSettings {
            tick: TICK,
            client_buffer: 64,
            heartbeat: HEARTBEAT,
            write_timeout: WRITE_TIMEOUT,
        }
    }

    /// A client over channels: what the server sent, and the sender of what
    /// the client says (kept, or the session would see the client leave).
    struct Client {
        sent: mpsc::UnboundedReceiver<Message>,
        _says: mpsc::UnboundedSender<Result<Message, Infallible>>,
    }

    impl Client {
        async fn next(&mut self) -> Message {
            self.sent
                .next()
                .await
                .expect("the session is still sending")
        }

        /// The next text frame as JSON, skipping pings.
        async fn next_frame(&mut self) -> Value {
            loop {
                match self.next().await {
                    Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                    Message::Ping(_) => continue,
                    other => panic!("expected a frame, got {other:?}"),
                }
            }
        }
    }

    async fn room(queries: &MemoryQueries) -> Arc<Room> {
        Arc::new(
            Room::load(queries, queries.meetup.id, 64)
                .await
                .expect("loads")
                .expect("the meetup exists"),
        )
    }

    fn connect(room: Arc<Room>, shutdown: CancellationToken) -> Client {
        let (sink, sent) = mpsc::unbounded();
        let (says, stream) = mpsc::unbounded::<Result<Message, Infallible>>();
        let joined = room.join(None);
        tokio::spawn(async move { run(sink, stream, &room, joined, settings(), shutdown).await });
        Client { sent, _says: says }
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_silent_for_three_heartbeats_is_pinged_three_times_then_disconnected() {
        let queries = MemoryQueries::new(1);
        let start = Instant::now();
        let mut client = connect(room(&queries).await, CancellationToken::new());
        assert_eq!(client.next_frame().await["type"], "snapshot");
        let mut pings = 0;
        let close = loop {
            match client.next().await {
                Message::Ping(_) => pings += 1,
                Message::Close(frame) => break frame.expect("a close frame"),
                other => panic!("unexpected {other:?}"),
            }
        };
        let silent = start.elapsed();
        assert_eq!(pings, 3);
        assert_eq!(close.code, GOING_AWAY);
        assert_eq!(close.reason.as_str(), "no answer to pings");
        assert!(
            silent > HEARTBEAT * 3 && silent <= HEARTBEAT * 4,
            "disconnected after {silent:?}"
        );
        assert!(client.sent.next().await.is_none(), "the session ended");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_answers_pings_stays_connected() {
        let queries = MemoryQueries::new(1);
        let (sink, mut sent) = mpsc::unbounded();
        let (says, stream) = mpsc::unbounded::<Result<Message, Infallible>>();
        let room = room(&queries).await;
        let joined = room.join(None);
        let session = tokio::spawn(async move {
            run(
                sink,
                stream,
                &room,
                joined,
                settings(),
                CancellationToken::new(),
            )
            .await
        });
        let mut pings = 0;
        while pings < 10 {
            match sent.next().await.expect("still connected") {
                Message::Ping(_) => {
                    pings += 1;
                    says.unbounded_send(Ok(Message::Pong(Default::default())))
                        .expect("the session listens");
                }
                Message::Text(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(!session.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn changes_that_keep_coming_within_a_tick_reach_a_client_as_one_frame() {
        let queries = MemoryQueries::new(10);
        let room = room(&queries).await;
        let (inbox, inbox_rx) = tokio::sync::mpsc::unbounded_channel();
        let reader: Arc<dyn qicoo_projections::ReadQueries> = Arc::new(MemoryQueries::new(10));
        tokio::spawn(run_room(
            room.clone(),
            inbox_rx,
            reader,
            TICK,
            u32::MAX,
            || false,
        ));
        let mut client = connect(room, CancellationToken::new());
        assert_eq!(client.next_frame().await["type"], "snapshot");

        let question = queries.question(0, 5);
        let change = |position: i64, likes: i64| RoomInput::Changes {
            position,
            committed_at: chrono::Utc::now(),
            changes: vec![Change::Question {
                question: QuestionView {
                    likes,
                    ..question.clone()
                },
            }],
        };
        // The first change after a quiet spell goes out at once.
        inbox.send(change(11, 1)).expect("room runs");
        let first = client.next_frame().await;
        assert_eq!(
            (first["type"].as_str(), first["position"].as_i64()),
            (Some("changes"), Some(11))
        );
        // Three more within the same tick: one frame, with the last state.
        for (position, likes) in [(12, 2), (13, 3), (14, 4)] {
            inbox.send(change(position, likes)).expect("room runs");
        }
        let merged = client.next_frame().await;
        assert_eq!(merged["position"], 14);
        let upserted: Vec<&Value> = merged["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter(|c| c["type"] == "question.upserted")
            .collect();
        assert_eq!(upserted.len(), 1);
        assert_eq!(upserted[0]["question"]["likes"], 4);
        // Nothing else until the next ping: no frame per change.
        match client.next().await {
            Message::Ping(_) => {}
            other => panic!("expected only a ping after the merged frame, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_tells_a_client_to_go_away() {
        let queries = MemoryQueries::new(1);
        let shutdown = CancellationToken::new();
        let mut client = connect(room(&queries).await, shutdown.clone());
        client.next_frame().await;
        shutdown.cancel();
        match client.next().await {
            Message::Close(Some(frame)) => assert_eq!(frame.code, GOING_AWAY),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// The organizer's side: a meetup with one published and one pending
    /// question, its public and organizer rooms.
    struct Organized {
        queries: MemoryQueries,
        public: Arc<Room>,
        organizer: Arc<Room>,
    }

    async fn organized() -> Organized {
        let queries = MemoryQueries::new(10);
        let published = queries.question(1, 5);
        let pending = QuestionView {
            status: qicoo_domain::QuestionStatus::Pending,
            ..queries.question(0, 6)
        };
        queries
            .questions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend([published, pending]);
        let public = room(&queries).await;
        let organizer = Arc::new(
            Room::load_for(&queries, queries.meetup.id, Audience::Organizer, 64)
                .await
                .expect("loads")
                .expect("the meetup exists"),
        );
        Organized {
            queries,
            public,
            organizer,
        }
    }

    /// Accepts the key "right" into `room`.
    fn authorizer(room: Arc<Room>) -> Authorize {
        Box::new(move |key: String| {
            Box::pin(async move {
                if key == "right" {
                    let joined = room.join(None);
                    Ok((room, joined))
                } else {
                    Err(AuthRefused::WrongKey)
                }
            })
        })
    }

    /// A client of `public` that may authenticate into `organizer`, and the
    /// sender of what it says.
    fn connect_authorizing(
        public: Arc<Room>,
        organizer: Arc<Room>,
    ) -> (
        mpsc::UnboundedReceiver<Message>,
        mpsc::UnboundedSender<Result<Message, Infallible>>,
    ) {
        let (sink, sent) = mpsc::unbounded();
        let (says, stream) = mpsc::unbounded::<Result<Message, Infallible>>();
        let joined = public.join(None);
        tokio::spawn(async move {
            run_authorized(
                sink,
                stream,
                &public,
                joined,
                settings(),
                CancellationToken::new(),
                Some(authorizer(organizer)),
            )
            .await
        });
        (sent, says)
    }

    fn say(says: &mpsc::UnboundedSender<Result<Message, Infallible>>, text: &str) {
        says.unbounded_send(Ok(Message::Text(text.into())))
            .expect("the session listens");
    }

    fn statuses(snapshot: &Value) -> Vec<&str> {
        let mut statuses: Vec<&str> = snapshot["questions"]
            .as_array()
            .expect("questions")
            .iter()
            .map(|q| q["status"].as_str().expect("a status"))
            .collect();
        statuses.sort_unstable();
        statuses
    }

    fn pending_change(queries: &MemoryQueries, position: i64) -> (i64, Vec<Change>) {
        let question = QuestionView {
            status: qicoo_domain::QuestionStatus::Pending,
            ..queries.question(0, position)
        };
        (position, vec![Change::Question { question }])
    }

    #[tokio::test(start_paused = true)]
    async fn an_organizer_who_authenticates_first_gets_the_queue_and_its_new_pending_questions() {
        let Organized {
            queries,
            public,
            organizer,
        } = organized().await;
        let (sent, says) = connect_authorizing(public.clone(), organizer.clone());
        let mut client = Client {
            sent,
            _says: says.clone(),
        };
        let first = client.next_frame().await;
        assert_eq!(
            statuses(&first),
            ["published"],
            "the public view comes first"
        );

        say(&says, r#"{"type":"auth","organizer_key":"right"}"#);
        let answer = client.next_frame().await;
        assert_eq!(
            answer,
            serde_json::json!({"v": 1, "type": "auth", "ok": true})
        );
        let snapshot = client.next_frame().await;
        assert_eq!(snapshot["type"], "snapshot");
        assert_eq!(statuses(&snapshot), ["pending", "published"]);

        // A question posted to the moderated meetup reaches the organizer.
        let (position, changes) = pending_change(&queries, 11);
        let question_id = changes[0].question_id().expect("a question");
        organizer.apply(position, chrono::Utc::now(), changes);
        organizer.flush();
        let frame = client.next_frame().await;
        assert_eq!(frame["type"], "changes");
        assert_eq!(frame["changes"][0]["type"], "question.upserted");
        assert_eq!(
            frame["changes"][0]["question"]["id"],
            question_id.to_string()
        );
        assert_eq!(frame["changes"][0]["question"]["status"], "pending");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_does_not_authenticate_never_sees_a_pending_question() {
        let Organized {
            queries,
            public,
            organizer,
        } = organized().await;
        let (sent, says) = connect_authorizing(public.clone(), organizer);
        let mut client = Client { sent, _says: says };
        assert_eq!(statuses(&client.next_frame().await), ["published"]);
        let (position, changes) = pending_change(&queries, 11);
        public.apply(position, chrono::Utc::now(), changes);
        public.flush();
        // The public room drops it: what comes next is only a ping.
        match client.next().await {
            Message::Ping(_) => {}
            other => panic!("a public client was sent {other:?}"),
        }
    }

    async fn closed_with(client: &mut Client) -> CloseFrame {
        loop {
            match client.next().await {
                Message::Close(Some(frame)) => return frame,
                Message::Text(_) | Message::Ping(_) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// The close frame a client gets after saying `says`.
    async fn close_after(says: Vec<Message>) -> CloseFrame {
        let queries = MemoryQueries::new(1);
        let mut client = connect(room(&queries).await, CancellationToken::new());
        client.next_frame().await;
        for message in says {
            client
                ._says
                .unbounded_send(Ok(message))
                .expect("the session listens");
        }
        loop {
            match client.next().await {
                Message::Close(frame) => return frame.expect("a close frame"),
                Message::Ping(_) | Message::Text(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wrong_organizer_key_is_closed_as_a_policy_violation() {
        let Organized {
            public, organizer, ..
        } = organized().await;
        let (sent, says) = connect_authorizing(public, organizer);
        let mut client = Client {
            sent,
            _says: says.clone(),
        };
        say(&says, r#"{"type":"auth","organizer_key":"wrong"}"#);
        let close = closed_with(&mut client).await;
        assert_eq!(close.code, POLICY_VIOLATION);
        assert_eq!(close.reason.as_str(), "wrong organizer key");
        assert!(client.sent.next().await.is_none(), "the session ended");
    }

    #[tokio::test(start_paused = true)]
    async fn an_auth_message_that_is_not_the_first_or_comes_late_is_refused() {
        let Organized {
            public, organizer, ..
        } = organized().await;
        // Not the first message: a second auth.
        let (sent, says) = connect_authorizing(public.clone(), organizer.clone());
        let mut client = Client {
            sent,
            _says: says.clone(),
        };
        say(&says, r#"{"type":"auth","organizer_key":"right"}"#);
        say(&says, r#"{"type":"auth","organizer_key":"right"}"#);
        assert_eq!(closed_with(&mut client).await.code, POLICY_VIOLATION);

        // The first message, but after the window.
        let (sent, says) = connect_authorizing(public, organizer);
        let mut client = Client {
            sent,
            _says: says.clone(),
        };
        client.next_frame().await;
        tokio::time::sleep(AUTH_WINDOW + Duration::from_millis(1)).await;
        say(&says, r#"{"type":"auth","organizer_key":"right"}"#);
        let close = closed_with(&mut client).await;
        assert_eq!(close.code, POLICY_VIOLATION);
        assert_eq!(
            close.reason.as_str(),
            "auth must be the first message, within 5 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_binary_message_or_text_that_is_no_message_is_unsupported_data() {
        let binary = close_after(vec![Message::Binary(vec![0xde, 0xad].into())]).await;
        assert_eq!(binary.code, UNSUPPORTED_DATA);
        let garbage = close_after(vec![Message::Text("\u{1}garbage".into())]).await;
        assert_eq!(garbage.code, UNSUPPORTED_DATA);
        let unknown = close_after(vec![Message::Text(r#"{"type":"subscribe"}"#.into())]).await;
        assert_eq!(
            (unknown.code, unknown.reason.as_str()),
            (UNSUPPORTED_DATA, "unknown message type")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_text_message_over_the_limit_is_too_big() {
        let big = "x".repeat(MAX_MESSAGE_BYTES + 1);
        let close = close_after(vec![Message::Text(big.into())]).await;
        assert_eq!(close.code, MESSAGE_TOO_BIG);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_pings_is_a_policy_violation_but_pongs_under_the_rate_are_not() {
        let flood = (0..=MAX_MESSAGES_PER_SECOND)
            .map(|_| Message::Ping(Default::default()))
            .collect();
        assert_eq!(close_after(flood).await.code, POLICY_VIOLATION);

        let queries = MemoryQueries::new(1);
        let mut client = connect(room(&queries).await, CancellationToken::new());
        client.next_frame().await;
        for _ in 0..(3 * MAX_MESSAGES_PER_SECOND) {
            client
                ._says
                .unbounded_send(Ok(Message::Pong(Default::default())))
                .expect("the session listens");
            tokio::time::sleep(Duration::from_millis(
                1000 / u64::from(MAX_MESSAGES_PER_SECOND) + 1,
            ))
            .await;
        }
        assert!(
            matches!(client.sent.try_recv(), Err(mpsc::TryRecvError::Empty)),
            "a steady client is sent nothing more (and is not closed)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
        let queries = MemoryQueries::new(1);
        let room = room(&queries).await;
        // Room for the snapshot, whose send then waits for a reader that
        // never comes.
        let (sink, mut sent) = mpsc::channel::<Message>(0);
        let (_says, stream) = mpsc::unbounded::<Result<Message, Infallible>>();
        let joined = room.join(None);
        let started = Instant::now();
        let session = tokio::spawn(async move {
            run(
                sink,
                stream,
                &room,
                joined,
                settings(),
                CancellationToken::new(),
            )
            .await
        });
        session.await.expect("the session ends");
        assert_eq!(started.elapsed(), WRITE_TIMEOUT);
        assert!(
            matches!(sent.next().await, Some(Message::Text(_))),
            "the snapshot"
        );
        assert!(
            sent.next().await.is_none(),
            "nothing after it, not even a close"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_carries_the_commit_time_of_its_newest_change() {
        let queries = MemoryQueries::new(10);
        let room = room(&queries).await;
        let mut client = connect(room.clone(), CancellationToken::new());
        assert_eq!(client.next_frame().await["type"], "snapshot");
        let older = chrono::DateTime::parse_from_rfc3339("2026-12-08T00:00:01.25Z")
            .expect("a time")
            .with_timezone(&chrono::Utc);
        let newer = older + chrono::Duration::milliseconds(40);
        let first = vec![Change::Question {
            question: queries.question(1, 5),
        }];
        let second = vec![Change::Question {
            question: queries.question(2, 6),
        }];
        // Published out of time order: the frame still names the newer.
        room.apply(11, newer, first);
        room.apply(12, older, second);
        assert!(room.flush());
        let frame = client.next_frame().await;
        assert_eq!(frame["position"], 12);
        let carried = chrono::DateTime::parse_from_rfc3339(
            frame["committed_at"].as_str().expect("a commit time"),
        )
        .expect("RFC 3339");
        assert_eq!(carried, newer);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_falls_behind_skips_to_a_snapshot_instead_of_working_through_a_queue() {
        let queries = MemoryQueries::new(10);
        let room = room(&queries).await;
        // One message fits; the next send waits until the client reads.
        let (sink, mut sent) = mpsc::channel::<Message>(0);
        let (_says, stream) = mpsc::unbounded::<Result<Message, Infallible>>();
        let joined = room.join(None);
        let session_room = room.clone();
        tokio::spawn(async move {
            run(
                sink,
                stream,
                &session_room,
                joined,
                settings(),
                CancellationToken::new(),
            )
            .await
        });
        let question = queries.question(0, 5);
        let change = |likes: i64| {
            vec![Change::Question {
                question: QuestionView {
                    likes,
                    ..question.clone()
                },
            }]
        };
        // Ten frames while the client reads nothing (the session waits for
        // it to take the snapshot): they wait in the room's queue.
        for position in 11..=20 {
            tokio::task::yield_now().await;
            room.apply(position, chrono::Utc::now(), change(position));
            assert!(room.flush());
        }
        tokio::time::sleep(TICK * (MAX_TICKS_BEHIND + 1)).await;

        let mut texts = Vec::new();
        while texts.len() < 2 {
            match sent.next().await.expect("still connected") {
                Message::Text(text) => {
                    texts.push(serde_json::from_str::<Value>(&text).expect("JSON"))
                }
                Message::Ping(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let kinds: Vec<(&str, i64)> = texts
            .iter()
            .map(|t| {
                (
                    t["type"].as_str().expect("a type"),
                    t["position"].as_i64().expect("a position"),
                )
            })
            .collect();
        // Instead of ten old frames, at once the current view.
        assert_eq!(kinds, [("snapshot", 10), ("snapshot", 20)]);
        assert_eq!(texts[1]["questions"][0]["likes"], 20);
        // Nothing of the queue after it: the next message is a ping.
        match sent.next().await.expect("still connected") {
            Message::Ping(_) => {}
            other => panic!("expected a ping, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_crowded_room_merges_changes_over_longer_than_a_tick() {
        let queries = MemoryQueries::new(1);
        let room = room(&queries).await;
        assert_eq!(room.tick(TICK), TICK);
        // A frame every 200 ms to each of them is the most the room sends.
        let crowd: Vec<Joined> = (0..SENDS_PER_SECOND / 5).map(|_| room.join(None)).collect();
        assert_eq!(room.tick(TICK), Duration::from_millis(200));
        drop(crowd);
        assert_eq!(room.tick(TICK), TICK);
    }
}
