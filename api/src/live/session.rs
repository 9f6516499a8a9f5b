//! One client's connection: its first frames, then the room's frames in
//! position order. A client too slow to keep up is sent a fresh snapshot rather
//! than silently missing changes; one that stops reading altogether is dropped
//! after the write timeout; a silent one is disconnected; one that sends what
//! the stream does not accept is closed with the code [`super::client`]
//! lists; on shutdown each is told 1001 (going away) so that it reconnects
//! elsewhere.
//!
//! Generic over the socket's halves so that tests can drive it with channels.

use std::error::Error;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::client::{self, ClientMessage, MAX_MESSAGES_PER_SECOND, MAX_MESSAGE_BYTES};
use super::hub::LiveSettings;
use super::room::{Joined, Room, Sent};
use tokio_util::sync::CancellationToken;

/// WebSocket close codes (RFC 6455 §7.4.1).
const GOING_AWAY: u16 = 1001;
const PROTOCOL_ERROR: u16 = 1002;
const UNSUPPORTED_DATA: u16 = 1003;
const INVALID_PAYLOAD: u16 = 1007;
const POLICY_VIOLATION: u16 = 1008;
const MESSAGE_TOO_BIG: u16 = 1009;

/// How long a refused client gets to acknowledge its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The client stopped taking frames (or left): the session ends without a
/// close frame, which could not be delivered either.
struct Gone;

/// Runs the session until the client leaves, goes silent, stops reading,
/// misbehaves, or shutdown.
pub async fn run<W, R, E>(
    mut sink: W,
    mut stream: R,
    room: &Room,
    joined: Joined,
    settings: LiveSettings,
    shutdown: CancellationToken,
) where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
    E: Error + 'static,
{
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
                Ok(frame) => {
                    if send(&mut sink, &frame, &mut last, timeout).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    metrics::counter!("qicoo_websocket_forced_snapshots_total").increment(1);
                    let snapshot = room.snapshot();
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
                    // Each client message is handled here as it is defined.
                    Ok(Some(message)) => match message {},
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
    use crate::live::room::{run_room, RoomInput};
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
}
