//! Slow and greedy HTTP clients over raw sockets: headers that trickle in
//! (slowloris) are cut off at the header timeout, bodies that trickle are
//! answered 408 at the body timeout, connections beyond the node's cap are
//! answered 503 at once — and meanwhile everyone else is served.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{spawn_app_with, Store, TestApp};

fn addr(app: &TestApp) -> String {
    app.base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("host")
        .to_owned()
}

/// Sends one byte of `bytes` every 200 ms until the server closes the
/// connection; returns what it answered (empty: closed without a word).
async fn trickle(stream: &mut TcpStream, bytes: &[u8], give_up: Duration) -> String {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut bytes = bytes.iter().cycle();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        assert!(
            started.elapsed() < give_up,
            "still connected after {give_up:?}"
        );
        tokio::select! {
            _ = tick.tick() => {
                let byte = *bytes.next().expect("cycles");
                if stream.write_all(&[byte]).await.is_err() {
                    break;
                }
            }
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

async fn healthz(app: &TestApp) -> StatusCode {
    app.client
        .get(app.base.replace("/api/v1", "/healthz"))
        .send()
        .await
        .expect("healthz answers")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_request_line_is_disconnected_at_the_header_timeout() {
    let Some(app) = spawn_app_with(Store::Sqlite, &["--header-timeout", "1s"]).await else {
        return;
    };
    let connected = Instant::now();
    let mut slow = TcpStream::connect(addr(&app)).await.expect("connects");
    slow.write_all(b"GET /api/v1/openapi.js")
        .await
        .expect("half a request line");
    let trickler = tokio::spawn(async move {
        // A header that never ends: one more byte five times a second.
        trickle(&mut slow, b"sssssss", Duration::from_secs(20)).await
    });
    // Meanwhile, others are served.
    assert_eq!(healthz(&app).await, StatusCode::OK);
    let answer = trickler.await.expect("the trickler ran");
    let lasted = connected.elapsed();
    assert!(
        !answer.starts_with("HTTP/1.1 200"),
        "the trickled request was never served: {answer:?}"
    );
    assert!(
        lasted >= Duration::from_secs(1),
        "cut off after {lasted:?}, before the timeout"
    );
    assert_eq!(healthz(&app).await, StatusCode::OK);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_body_is_answered_408_at_the_body_timeout() {
    let Some(app) = spawn_app_with(Store::Sqlite, &["--body-timeout", "1s"]).await else {
        return;
    };
    let mut slow = TcpStream::connect(addr(&app)).await.expect("connects");
    // Taken before the server can have read the head, which starts its clock.
    let sent_head = Instant::now();
    slow.write_all(
        b"POST /api/v1/meetups HTTP/1.1\r\nhost: qicoo\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"title\": \"",
    )
    .await
    .expect("the head and the start of the body");
    let trickler =
        tokio::spawn(async move { trickle(&mut slow, b"a", Duration::from_secs(20)).await });
    assert_eq!(healthz(&app).await, StatusCode::OK);
    let answer = trickler.await.expect("the trickler ran");
    let lasted = sent_head.elapsed();
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "expected 408, got {answer:?}"
    );
    assert!(answer.contains("application/problem+json"), "{answer:?}");
    assert!(
        lasted >= Duration::from_secs(1),
        "answered after {lasted:?}, before the timeout"
    );
    // A body sent at once is well within it.
    let created = app
        .client
        .post(format!("{}/meetups", app.base))
        .json(&serde_json::json!({"title": "on time"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(created.status(), StatusCode::CREATED);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_node_cap_are_answered_503_at_once() {
    let Some(app) = spawn_app_with(Store::Sqlite, &["--max-http-connections", "3"]).await else {
        return;
    };
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(addr(&app)).await.expect("connects"));
    }
    let mut extra = TcpStream::connect(addr(&app)).await.expect("connects");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), extra.read_to_string(&mut answer))
        .await
        .expect("answered and closed within 10 s")
        .expect("read");
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "expected 503, got {answer:?}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("retry-after:"),
        "{answer:?}"
    );
    // Once the idle ones leave, the node serves again.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served = app
            .client
            .get(app.base.replace("/api/v1", "/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK);
        if served {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.cleanup().await;
}
