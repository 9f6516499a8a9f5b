//! One client's connection: its first frames, then the room's frames in
//! position order. A client too slow to keep up is sent a fresh snapshot rather
//! than silently missing changes; a silent one is disconnected; on shutdown each
//! is told 1001 (going away) so that it reconnects elsewhere.
//!
//! Generic over the socket's halves so that tests can drive it with channels.

use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message};
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::hub::LiveSettings;
use super::room::{Joined, Room, Sent};
use tokio_util::sync::CancellationToken;

/// WebSocket close code "going away" (RFC 6455).
const GOING_AWAY: u16 = 1001;

/// Runs the session until the client leaves, goes silent, or shutdown.
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
{
    let Joined {
        initial,
        mut frames,
        ..
    } = joined;
    let mut last = i64::MIN;
    for frame in initial {
        if send(&mut sink, &frame, &mut last).await.is_err() {
            return;
        }
    }
    let mut heartbeat = tokio::time::interval(settings.heartbeat);
    heartbeat.tick().await;
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Ok(frame) if frame.position <= last && !frame.snapshot => {}
                Ok(frame) => {
                    if send(&mut sink, &frame, &mut last).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    metrics::counter!("qicoo_websocket_forced_snapshots_total").increment(1);
                    let snapshot = room.snapshot();
                    if send(&mut sink, &snapshot, &mut last).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => {
                    close(&mut sink, "the live view closed").await;
                    return;
                }
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > settings.heartbeat * 3 {
                    close(&mut sink, "no answer to pings").await;
                    return;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            _ = shutdown.cancelled() => {
                close(&mut sink, "server shutting down").await;
                return;
            }
        }
    }
}

async fn send<W>(sink: &mut W, frame: &Sent, last: &mut i64) -> Result<(), W::Error>
where
    W: Sink<Message> + Unpin,
{
    sink.send(Message::Text(frame.text.clone())).await?;
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

async fn close<W>(sink: &mut W, reason: &'static str)
where
    W: Sink<Message> + Unpin,
{
    let frame = CloseFrame {
        code: GOING_AWAY,
        reason: reason.into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}
