//! The HTTP server: accepts connections up to a cap, gives each client a
//! header read timeout and each request body a deadline, serves the router
//! (with the peer's address as `ConnectInfo`), and drains on shutdown.
//! Connections send without Nagle's delay (`TCP_NODELAY`): a live frame or a
//! response goes out when written, not when the previous one is acknowledged.
//!
//! Production (`qicoo serve`) and the API tests both serve through
//! [`serve_on`], so that the tests exercise these limits.

pub mod deadline;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::ServeArgs;
use deadline::DeadlineBody;

/// What a connection beyond the cap is told before it is closed: written
/// without waiting (the kernel's buffer takes it), nothing is read.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/problem+json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 122\r\n\r\n\
{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":\"Too many connections to this node; try again.\"}";

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// A client must send a request's whole head within this time (of the
    /// connection opening, or of its previous response); otherwise it is
    /// disconnected. Also bounds how long an idle connection stays open.
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this time of its head;
    /// otherwise it is answered 408.
    pub body_timeout: Duration,
    /// Most open connections (WebSocket ones included); more are answered
    /// 503 at once and closed.
    pub max_connections: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 20_000,
        }
    }
}

impl ServeArgs {
    /// The server's limits from the command line.
    pub fn server_settings(&self) -> ServerSettings {
        ServerSettings {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            max_connections: self.max_http_connections,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish and returns once every
/// connection has closed (upgraded WebSocket connections end on their own
/// shutdown signal).
pub async fn serve_on(
    listener: TcpListener,
    router: Router,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    let draining = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refuse(&tcp);
            continue;
        };
        without_delay(&tcp);
        metrics::gauge!("qicoo_http_connections").increment(1.0);
        let io = TokioIo::new(Permitted {
            inner: tcp,
            _permit: Gauged(permit),
        });
        let service = TowerToHyperService::new(router.clone().map_request(
            move |request: Request<Incoming>| prepare(request, peer, settings.body_timeout),
        ));
        let http = http.clone();
        let draining = draining.clone();
        connections.spawn(async move {
            let connection = http.serve_connection(io, service).with_upgrades();
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = draining.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = served {
                // Timeouts and clients that vanish mid-request are routine.
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    draining.cancel();
    connections.close();
    connections.wait().await;
}

/// Adds what handlers expect of a request: the peer's address, and a body
/// that must arrive before its deadline.
fn prepare(request: Request<Incoming>, peer: SocketAddr, body_timeout: Duration) -> Request<Body> {
    let deadline = tokio::time::Instant::now() + body_timeout;
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    Request::from_parts(parts, Body::new(DeadlineBody::new(body, deadline)))
}

/// Answers a connection beyond the cap 503 and closes it, without a task.
/// Turns Nagle's algorithm off: small writes (a live frame, a short
/// response) would otherwise wait for the acknowledgement of the previous
/// one, which a client may delay by up to 40 ms.
fn without_delay(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
}

fn refuse(tcp: &TcpStream) {
    metrics::counter!("qicoo_http_connections_refused_total").increment(1);
    // Best effort: a full buffer only means the client sees a plain close.
    let _ = tcp.try_write(REFUSAL);
}

/// Out of file descriptors (or a similar transient failure): accepting again
/// at once would spin, so wait a little, as hyper's and axum's servers do.
async fn accept_failed(error: &io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %error, "cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// A connection's permit, which also keeps the open-connections gauge.
struct Gauged(#[allow(dead_code)] OwnedSemaphorePermit);

impl Drop for Gauged {
    fn drop(&mut self) {
        metrics::gauge!("qicoo_http_connections").decrement(1.0);
    }
}

/// A socket that holds its connection permit until it is dropped: after a
/// WebSocket upgrade the socket outlives hyper's connection, and must still
/// count against the cap.
struct Permitted {
    inner: TcpStream,
    _permit: Gauged,
}

impl AsyncRead for Permitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Permitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_states_its_body_length() {
        let text = std::str::from_utf8(REFUSAL).expect("ASCII");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("a content length");
        assert_eq!(length.parse::<usize>().expect("a number"), body.len());
        let problem: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(problem["status"], 503);
    }

    #[tokio::test]
    async fn an_accepted_connection_sends_without_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("an address");
        let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        let _client = client.expect("connects");
        let (tcp, _) = accepted.expect("accepts");
        assert!(!tcp.nodelay().expect("readable"), "the default");
        without_delay(&tcp);
        assert!(tcp.nodelay().expect("readable"));
    }
}
