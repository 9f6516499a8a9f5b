//! The live stream under load, and what idle live clients cost.
//!
//! The contract the scenarios rely on: `GET /api/v1/meetups/{id}/live` upgrades
//! to a WebSocket whose first message is `{"type": "snapshot", "position": N, …}`
//! and whose next messages are changes `{"type": "…", "position": N, …}` in
//! position order (like counts coalesced per short tick). A change carrying
//! position `N` means the client has seen every event up to `N`, so a like
//! acknowledged at position `P` has reached a client at the first message whose
//! position is `P` or more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::SeedableRng;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::fixture::{Fixture, VotePlan};
use crate::stats::{Latencies, Summary};
use crate::Result;

/// How many WebSocket handshakes run at once while clients connect.
const CONNECTING_AT_ONCE: usize = 64;

/// Why a live scenario did not run.
pub const NOT_SERVED: &str =
    "GET /api/v1/meetups/{id}/live answered 404: this Qicoo does not serve the live stream yet";

/// The outcome of a live scenario: figures, or why it was skipped.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome<T> {
    Ran(T),
    Skipped { reason: String },
}

/// Whether the meetup's live stream is served at all (a plain GET without
/// upgrade headers answers 404 only when the route does not exist).
pub async fn served(api: &Api, meetup_id: &str) -> Result<bool> {
    let status = api.status_of(&format!("/meetups/{meetup_id}/live")).await?;
    Ok(status != StatusCode::NOT_FOUND)
}

/// What one live client saw.
#[derive(Debug, Default)]
struct ClientLog {
    /// (position, microseconds since the scenario's start) of every message.
    frames: Vec<(i64, u64)>,
    /// For each message that says when its newest event was committed, how
    /// long after that commit it arrived, in microseconds.
    commit_lags: Vec<u32>,
    /// Snapshots after the first: the server found the client too slow.
    resnapshots: u64,
    /// A connection failure or an unexpected end of the stream.
    error: Option<String>,
    /// The first message was not a snapshot.
    bad_first: bool,
}

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    position: Option<i64>,
    committed_at: Option<String>,
}

/// What a client reads of a message: its type, position and commit time.
#[derive(Debug, PartialEq)]
struct Head<'a> {
    kind: &'a str,
    position: Option<i64>,
    committed_at: Option<&'a str>,
}

/// How far into a message its head is looked for: Qicoo writes `type`, `v`,
/// `position` and `committed_at` first, so that a client learns them without
/// reading past them (the load generator's own cost per message stays small
/// however large the message).
const HEAD_BYTES: usize = 160;

/// Reads a message's head from its first bytes, or (should they not hold
/// it) by parsing the whole message.
fn head(text: &str) -> Option<Head<'_>> {
    let start = &text[..floor_char_boundary(text, HEAD_BYTES)];
    let string = |key: &str| -> Option<&str> {
        let at = start.find(key)? + key.len();
        let rest = &start[at..];
        Some(&rest[..rest.find('"')?])
    };
    let kind = string("\"type\":\"");
    let position = start.find("\"position\":").and_then(|at| {
        let digits = &start[at + "\"position\":".len()..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().ok()
    });
    if let (Some(kind), Some(position)) = (kind, position) {
        if kind != "changes"
            || start.contains("\"committed_at\":\"")
            || start.contains("\"changes\":")
        {
            return Some(Head {
                kind,
                position: Some(position),
                committed_at: string("\"committed_at\":\""),
            });
        }
    }
    let frame: Frame = serde_json::from_str(text).ok()?;
    // The whole parse owns its strings; the head borrows the message's.
    let kind = ["snapshot", "changes", "auth"]
        .into_iter()
        .find(|k| *k == frame.kind)?;
    let committed_at = frame
        .committed_at
        .as_deref()
        .and_then(|c| text.find(c).map(|at| &text[at..at + c.len()]));
    Some(Head {
        kind,
        position: frame.position,
        committed_at,
    })
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Microseconds from an RFC 3339 time to now (zero if it lies ahead).
fn micros_since(rfc3339: &str) -> Option<u32> {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    let lag = chrono::Utc::now().signed_duration_since(at);
    Some(u32::try_from(lag.num_microseconds()?.max(0)).unwrap_or(u32::MAX))
}

/// Connects to `url` and reads until `stop`, logging every message.
async fn client(
    url: String,
    origin: Instant,
    connecting: Arc<Semaphore>,
    connected: Arc<AtomicU64>,
    stop: CancellationToken,
    record: bool,
) -> ClientLog {
    let mut log = ClientLog::default();
    let stream = {
        let _permit = connecting.acquire().await;
        tokio::select! {
            result = tokio_tungstenite::connect_async(url.as_str()) => result,
            () = stop.cancelled() => return log,
        }
    };
    let mut stream = match stream {
        Ok((stream, _response)) => stream,
        Err(e) => {
            log.error = Some(describe(&e));
            connected.fetch_add(1, Ordering::Relaxed);
            return log;
        }
    };
    connected.fetch_add(1, Ordering::Relaxed);
    let mut first = true;
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            () = stop.cancelled() => break,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None => {
                log.error = Some("the server closed the stream".into());
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                log.error = Some(describe(&e));
                break;
            }
        };
        let at = origin.elapsed().as_micros() as u64;
        let Some(frame) = head(text.as_str()) else {
            log.error = Some(format!("a message that is not a change: {text}"));
            continue;
        };
        if first {
            log.bad_first = frame.kind != "snapshot";
            first = false;
        } else if frame.kind == "snapshot" {
            log.resnapshots += 1;
        }
        if let (true, Some(position)) = (record, frame.position) {
            log.frames.push((position, at));
            if let Some(lag) = frame.committed_at.and_then(micros_since) {
                log.commit_lags.push(lag);
            }
        }
    }
    let _ = stream.close(None).await;
    log
}

fn describe(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(response) => format!("handshake answered {}", response.status()),
        other => other.to_string(),
    }
}

/// Starts `n` clients and waits until each has connected or failed (at most
/// `timeout`).
async fn connect_all(
    url: &str,
    n: usize,
    origin: Instant,
    stop: &CancellationToken,
    record: bool,
    timeout: Duration,
) -> Vec<tokio::task::JoinHandle<ClientLog>> {
    let connecting = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let connected = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(client(
                url.to_owned(),
                origin,
                Arc::clone(&connecting),
                Arc::clone(&connected),
                stop.clone(),
                record,
            ))
        })
        .collect();
    let deadline = Instant::now() + timeout;
    while connected.load(Ordering::Relaxed) < n as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    clients
}

/// Figures of the live scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveRun {
    pub clients: usize,
    pub target_rate: f64,
    pub seconds: f64,
    pub likes_ok: u64,
    pub like_errors: u64,
    /// Likes the pacer could not send because too many were in flight.
    pub likes_not_sent: u64,
    pub achieved_rate: f64,
    pub ws_errors: u64,
    pub bad_first_messages: u64,
    pub resnapshots: u64,
    pub frames: u64,
    pub frames_per_client_per_second: f64,
    /// Acknowledgement-to-delivery latency over every (like, client) pair.
    pub delivery: Summary,
    /// (like, client) pairs whose change never arrived.
    pub undelivered: u64,
    /// From the commit of a message's newest event (the time the message
    /// carries) to the client, over every message that carries one.
    #[serde(default)]
    pub commit_to_client: Summary,
    /// CPU the load generator itself used while the likes ran and the clients
    /// read, in cores (CPU seconds per second).
    #[serde(default)]
    pub generator_cpu: f64,
    /// CPU of the Qicoo process over the same time (with `--pid`), in cores.
    #[serde(default)]
    pub server_cpu: Option<f64>,
    pub first_error: Option<String>,
}

/// Settings of the live scenario.
#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    pub clients: usize,
    pub rate: f64,
    pub duration: Duration,
    /// Longest time a client may take to see the last like.
    pub grace: Duration,
    pub max_in_flight: usize,
    /// The Qicoo process, whose CPU use is reported beside the load
    /// generator's.
    pub server_pid: Option<u32>,
}

/// CPU seconds a process has used so far (user and system), from
/// `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name, in parentheses, may hold spaces: count from after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| format!("no CPU times in /proc/{pid}/stat").into())
    };
    // utime and stime, fields 14 and 15 of the line (11 and 12 after the
    // name), in clock ticks of 1/100 s (USER_HZ on Linux).
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// CPU use of a process between two readings, in cores.
struct CpuMeter {
    pid: u32,
    start: f64,
    at: Instant,
}

impl CpuMeter {
    fn start(pid: u32) -> Option<Self> {
        Some(Self {
            pid,
            start: cpu_seconds(pid).ok()?,
            at: Instant::now(),
        })
    }

    fn cores(&self) -> Option<f64> {
        let used = cpu_seconds(self.pid).ok()? - self.start;
        Some(used / self.at.elapsed().as_secs_f64().max(1e-9))
    }
}

/// `clients` live clients on the fixture's meetup while likes are sent at
/// `rate` per second (open loop) for `duration`.
pub async fn run(
    api: &Api,
    fixture: &Arc<Fixture>,
    plan: &Arc<VotePlan>,
    settings: LiveSettings,
) -> Result<Outcome<LiveRun>> {
    if !served(api, &fixture.meetup.id).await? {
        return Ok(Outcome::Skipped {
            reason: NOT_SERVED.into(),
        });
    }
    let origin = Instant::now();
    let stop = CancellationToken::new();
    let url = api.live_url(&fixture.meetup.id);
    let clients = connect_all(
        &url,
        settings.clients,
        origin,
        &stop,
        true,
        Duration::from_secs(60),
    )
    .await;
    // Let every client take in its snapshot before the likes start.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let acks = Arc::new(std::sync::Mutex::new(Vec::<(i64, u64)>::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let in_flight = Arc::new(Semaphore::new(settings.max_in_flight.max(1)));
    let mut not_sent = 0u64;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / settings.rate.max(0.001)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x11fe);
    let generator = CpuMeter::start(std::process::id());
    let server = settings.server_pid.and_then(CpuMeter::start);
    let started = Instant::now();
    let end = started + settings.duration;
    let mut senders = Vec::new();
    while Instant::now() < end {
        ticker.tick().await;
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            not_sent += 1;
            continue;
        };
        let vote = plan.next(&mut rng);
        let (api, fixture, acks, errors, first_error) = (
            api.clone(),
            Arc::clone(fixture),
            Arc::clone(&acks),
            Arc::clone(&errors),
            Arc::clone(&first_error),
        );
        senders.push(tokio::spawn(async move {
            let result = api
                .vote(
                    &fixture.questions[vote.question],
                    &fixture.tokens[vote.participant],
                    vote.like,
                )
                .await;
            let at = origin.elapsed().as_micros() as u64;
            match result {
                Ok(position) => acks.lock().expect("acks").push((position, at)),
                Err(e) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    first_error
                        .lock()
                        .expect("first error")
                        .get_or_insert_with(|| e.to_string());
                }
            }
            drop(permit);
        }));
    }
    for sender in senders {
        sender.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(settings.grace).await;
    let generator_cpu = generator.and_then(|m| m.cores()).unwrap_or_default();
    let server_cpu = server.and_then(|m| m.cores());
    stop.cancel();
    let mut logs = Vec::with_capacity(clients.len());
    for client in clients {
        logs.push(client.await?);
    }

    let mut acks = std::mem::take(&mut *acks.lock().expect("acks"));
    acks.sort_unstable();
    let mut delivery = Latencies::default();
    let mut undelivered = 0u64;
    let mut result = LiveRun {
        clients: settings.clients,
        target_rate: settings.rate,
        seconds,
        likes_ok: acks.len() as u64,
        like_errors: errors.load(Ordering::Relaxed),
        likes_not_sent: not_sent,
        achieved_rate: acks.len() as f64 / seconds.max(1e-9),
        ws_errors: 0,
        bad_first_messages: 0,
        resnapshots: 0,
        frames: 0,
        frames_per_client_per_second: 0.0,
        delivery: Summary::default(),
        undelivered: 0,
        commit_to_client: Summary::default(),
        generator_cpu,
        server_cpu,
        first_error: first_error.lock().expect("first error").clone(),
    };
    let mut commit_to_client = Latencies::default();
    for log in &logs {
        if let Some(e) = &log.error {
            result.ws_errors += 1;
            result.first_error.get_or_insert_with(|| e.clone());
        }
        result.bad_first_messages += u64::from(log.bad_first);
        result.resnapshots += log.resnapshots;
        result.frames += log.frames.len() as u64;
        undelivered += match_deliveries(&acks, &log.frames, &mut delivery);
        for lag in &log.commit_lags {
            commit_to_client.record_micros(u64::from(*lag));
        }
    }
    result.undelivered = undelivered;
    result.commit_to_client = commit_to_client.summary();
    result.delivery = delivery.summary();
    result.frames_per_client_per_second =
        result.frames as f64 / settings.clients.max(1) as f64 / seconds.max(1e-9);
    Ok(Outcome::Ran(result))
}

/// For each acknowledged like (position, time), in position order, finds the
/// client's first message at that position or later, and records how long after
/// the acknowledgement it arrived (zero when it came first). Returns how many
/// likes the client never saw.
fn match_deliveries(acks: &[(i64, u64)], frames: &[(i64, u64)], into: &mut Latencies) -> u64 {
    // Messages arrive in position order; a fresh snapshot may repeat a
    // position, which the running maximum absorbs.
    let mut missed = 0;
    let mut next = 0;
    let mut seen_up_to = i64::MIN;
    let mut seen_at = 0u64;
    for &(position, acked_at) in acks {
        while seen_up_to < position && next < frames.len() {
            let (p, at) = frames[next];
            if p > seen_up_to {
                seen_up_to = p;
                seen_at = at;
            }
            next += 1;
        }
        if seen_up_to >= position {
            into.record_micros(seen_at.saturating_sub(acked_at));
        } else {
            missed += 1;
        }
    }
    missed
}

/// Memory of the API process with and without idle live clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryRun {
    pub clients: usize,
    pub connected: usize,
    pub ws_errors: u64,
    pub rss_idle_kib: u64,
    pub rss_with_clients_kib: u64,
    pub bytes_per_client: f64,
    pub first_error: Option<String>,
}

/// The resident set of a process, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status").into())
}

/// Opens `clients` live connections that only listen, and compares the API
/// process's RSS (`pid`) before and after.
pub async fn memory(
    api: &Api,
    fixture: &Fixture,
    pid: u32,
    clients: usize,
    settle: Duration,
) -> Result<Outcome<MemoryRun>> {
    if !served(api, &fixture.meetup.id).await? {
        return Ok(Outcome::Skipped {
            reason: NOT_SERVED.into(),
        });
    }
    // One client first, so that what every connection shares (the meetup's
    // subscription, buffers) is in the baseline rather than the per-client cost.
    let origin = Instant::now();
    let stop = CancellationToken::new();
    let url = api.live_url(&fixture.meetup.id);
    let warm = connect_all(&url, 1, origin, &stop, false, Duration::from_secs(10)).await;
    tokio::time::sleep(settle).await;
    let idle = rss_kib(pid)?;
    let rest = connect_all(
        &url,
        clients.saturating_sub(1),
        origin,
        &stop,
        false,
        Duration::from_secs(120),
    )
    .await;
    tokio::time::sleep(settle).await;
    let loaded = rss_kib(pid)?;
    stop.cancel();
    let mut run = MemoryRun {
        clients,
        connected: 0,
        ws_errors: 0,
        rss_idle_kib: idle,
        rss_with_clients_kib: loaded,
        bytes_per_client: 0.0,
        first_error: None,
    };
    for client in warm.into_iter().chain(rest) {
        let log = client.await?;
        match log.error {
            Some(e) => {
                run.ws_errors += 1;
                run.first_error.get_or_insert(e);
            }
            None => run.connected += 1,
        }
    }
    let added = clients.saturating_sub(1).max(1) as f64;
    run.bytes_per_client = (loaded as f64 - idle as f64) * 1024.0 / added;
    Ok(Outcome::Ran(run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_like_reaches_a_client_at_its_first_message_at_or_past_its_position() {
        let acks = [(10, 1_000), (12, 1_500), (20, 3_000)];
        let frames = [(9, 900), (11, 1_200), (12, 1_400), (15, 5_000)];
        let mut latencies = Latencies::default();
        let missed = match_deliveries(&acks, &frames, &mut latencies);
        assert_eq!(missed, 1, "position 20 never arrived");
        assert_eq!(latencies.count(), 2);
        // 10 arrived with 11 at 1,200 (200 µs); 12 came before its ack (0 → 1 µs).
        assert_eq!(latencies.summary().max_ms, 0.2);
    }

    #[test]
    fn a_message_head_is_read_from_its_first_bytes_or_the_whole_message() {
        let changes = r#"{"type":"changes","v":1,"position":42,"committed_at":"2026-12-08T00:00:00.5Z","changes":[]}"#;
        assert_eq!(
            head(changes),
            Some(Head {
                kind: "changes",
                position: Some(42),
                committed_at: Some("2026-12-08T00:00:00.5Z"),
            })
        );
        // Fields in another order, far into the message: the whole parse.
        let padded = format!(
            r#"{{"changes":[],"pad":"{}","committed_at":"2026-12-08T00:00:00Z","position":7,"type":"changes"}}"#,
            "x".repeat(HEAD_BYTES)
        );
        assert_eq!(
            head(&padded),
            Some(Head {
                kind: "changes",
                position: Some(7),
                committed_at: Some("2026-12-08T00:00:00Z"),
            })
        );
        let snapshot = r#"{"type":"snapshot","v":1,"position":3,"meetup":{}}"#;
        assert_eq!(
            head(snapshot).map(|h| (h.kind, h.position)),
            Some(("snapshot", Some(3)))
        );
        assert_eq!(head("not json"), None);
    }

    #[test]
    fn cpu_time_of_this_process_is_readable_and_grows() {
        let before = cpu_seconds(std::process::id()).expect("cpu");
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(1);
        }
        assert!(x > 0);
        assert!(cpu_seconds(std::process::id()).expect("cpu") > before);
    }

    #[test]
    fn rss_of_this_process_is_readable() {
        assert!(rss_kib(std::process::id()).expect("rss") > 0);
    }
}
