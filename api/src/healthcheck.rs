//! `qicoo healthcheck`: the container image's health check. The runtime image
//! has no shell and no curl, so the binary asks its own `/healthz` over
//! plain HTTP/1.1 and exits 0 on a 200, non-zero otherwise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Settings of `qicoo healthcheck`. The address is `serve`'s own
/// (`--listen` / `QICOO_LISTEN`); an unspecified one (`0.0.0.0`) is asked on
/// the loopback interface.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The path to ask.
    #[arg(long, default_value = "/healthz")]
    pub path: String,
    /// Longest wait for the whole answer (e.g. `3s`, `500ms`).
    #[arg(long, default_value = "3s", value_parser = crate::config::parse_duration)]
    pub timeout: Duration,
}

/// Why the health check failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to {addr} failed: {source}")]
    Io {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout { addr: SocketAddr, timeout: Duration },
    #[error("{addr} answered {status_line:?}, not 200")]
    Unhealthy {
        addr: SocketAddr,
        status_line: String,
    },
}

/// The address to ask for a server listening on `listen`.
pub fn target(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Asks `GET {path}` of the server listening on `listen`.
pub async fn run(listen: SocketAddr, args: &HealthcheckArgs) -> Result<(), HealthcheckError> {
    let addr = target(listen);
    match tokio::time::timeout(args.timeout, ask(addr, &args.path)).await {
        Ok(answer) => answer,
        Err(_) => Err(HealthcheckError::Timeout {
            addr,
            timeout: args.timeout,
        }),
    }
}

async fn ask(addr: SocketAddr, path: &str) -> Result<(), HealthcheckError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|source| HealthcheckError::Connect { addr, source })?;
    let io = |source| HealthcheckError::Io { addr, source };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: qicoo-healthcheck\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    // The status line is all that matters; the body is a few bytes anyway.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or_default().to_owned();
    let mut parts = status_line.split_whitespace();
    let healthy =
        matches!(parts.next(), Some(v) if v.starts_with("HTTP/1.")) && parts.next() == Some("200");
    if healthy {
        Ok(())
    } else {
        Err(HealthcheckError::Unhealthy { addr, status_line })
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    fn args(timeout: Duration) -> HealthcheckArgs {
        HealthcheckArgs {
            path: "/healthz".to_owned(),
            timeout,
        }
    }

    /// A server that answers one connection with `answer` (or holds it).
    async fn server(answer: Option<&'static str>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            match answer {
                Some(answer) => {
                    let _ = socket.write_all(answer.as_bytes()).await;
                }
                None => std::future::pending::<()>().await,
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn a_200_is_healthy() {
        let (addr, task) = server(Some("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")).await;
        run(addr, &args(Duration::from_secs(5)))
            .await
            .expect("healthy");
        task.await.expect("server");
    }

    #[tokio::test]
    async fn a_503_is_not() {
        let (addr, task) = server(Some("HTTP/1.1 503 Service Unavailable\r\n\r\n")).await;
        let err = run(addr, &args(Duration::from_secs(5)))
            .await
            .expect_err("unhealthy");
        assert!(matches!(err, HealthcheckError::Unhealthy { .. }), "{err}");
        task.await.expect("server");
    }

    #[tokio::test]
    async fn nothing_listening_is_not() {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listener.local_addr().expect("address")
        };
        let err = run(addr, &args(Duration::from_secs(5)))
            .await
            .expect_err("nobody there");
        assert!(matches!(err, HealthcheckError::Connect { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let (addr, task) = server(None).await;
        let err = run(addr, &args(Duration::from_millis(300)))
            .await
            .expect_err("no answer");
        assert!(matches!(err, HealthcheckError::Timeout { .. }), "{err}");
        task.abort();
    }

    #[test]
    fn an_unspecified_listen_address_is_asked_on_loopback() {
        let any: SocketAddr = "0.0.0.0:8080".parse().expect("address");
        assert_eq!(target(any).to_string(), "127.0.0.1:8080");
        let v6: SocketAddr = "[::]:9000".parse().expect("address");
        assert_eq!(target(v6).to_string(), "[::1]:9000");
        let set: SocketAddr = "10.1.2.3:80".parse().expect("address");
        assert_eq!(target(set), set);
    }
}
