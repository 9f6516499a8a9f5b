//! The soak's live clients: one task per WebSocket, each keeping its own view
//! of its meetup, and the checks the drain runs over all of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use super::view::View;

/// How many WebSocket handshakes run at once while clients connect.
const CONNECTING_AT_ONCE: usize = 64;

/// One client: which meetup it follows, what it believes, and what broke.
struct Client {
    meetup: usize,
    view: Mutex<View>,
    error: Mutex<Option<String>>,
}

struct Inner {
    clients: Vec<Arc<Client>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    frames: AtomicU64,
    errors: AtomicU64,
}

/// Every live client of a soak.
#[derive(Clone)]
pub struct ClientSet(Arc<Inner>);

/// How far the clients' views are from the read model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Check {
    /// Sum over clients and questions of the difference in like count.
    pub likes_off: u64,
    /// Clients whose last frame is older than their meetup's last like.
    pub behind: u64,
    /// Clients that never had a snapshot.
    pub without_snapshot: u64,
}

impl Check {
    /// Every view is what the read model says.
    pub fn is_clean(&self) -> bool {
        *self == Self::default()
    }
}

/// What the clients saw over the whole soak.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub frames: u64,
    pub resnapshots: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl ClientSet {
    /// Starts one client per `(meetup index, live URL)`; they run until `stop`.
    pub fn start(urls: Vec<(usize, String)>, stop: &CancellationToken) -> Self {
        let connecting = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
        let clients: Vec<Arc<Client>> = urls
            .iter()
            .map(|(meetup, _)| {
                Arc::new(Client {
                    meetup: *meetup,
                    view: Mutex::new(View::default()),
                    error: Mutex::new(None),
                })
            })
            .collect();
        let set = Self(Arc::new(Inner {
            clients,
            handles: Mutex::new(Vec::new()),
            frames: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }));
        let handles = urls
            .into_iter()
            .enumerate()
            .map(|(i, (_, url))| {
                tokio::spawn(follow(
                    url,
                    set.clone(),
                    i,
                    Arc::clone(&connecting),
                    stop.clone(),
                ))
            })
            .collect();
        if let Ok(mut slot) = set.0.handles.lock() {
            *slot = handles;
        }
        set
    }

    fn client(&self, i: usize) -> &Client {
        &self.0.clients[i]
    }

    fn fail(&self, i: usize, e: String) {
        self.0.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut slot) = self.client(i).error.lock() {
            slot.get_or_insert(e);
        }
    }

    /// Clients that have their first snapshot.
    pub fn with_snapshot(&self) -> usize {
        self.0
            .clients
            .iter()
            .filter(|c| c.view.lock().is_ok_and(|v| v.frames > 0))
            .count()
    }

    /// Waits until every client has its snapshot or has failed, at most
    /// `timeout`.
    pub async fn wait_for_snapshots(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let settled = self.0.clients.iter().all(|c| {
                c.view.lock().is_ok_and(|v| v.frames > 0)
                    || c.error.lock().is_ok_and(|e| e.is_some())
            });
            if settled {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Frames received and clients failed so far.
    pub fn frames_and_errors(&self) -> (u64, u64) {
        (
            self.0.frames.load(Ordering::Relaxed),
            self.0.errors.load(Ordering::Relaxed),
        )
    }

    /// Compares every view with `expected[meetup]` (question id → likes) and
    /// with `last[meetup]`, the position of the meetup's last acknowledged like.
    pub fn check(&self, expected: &[HashMap<String, i64>], last: &[i64]) -> Check {
        let mut check = Check::default();
        for client in &self.0.clients {
            let Ok(view) = client.view.lock() else {
                check.without_snapshot += 1;
                continue;
            };
            if view.frames == 0 {
                check.without_snapshot += 1;
                continue;
            }
            if view.position < last[client.meetup] {
                check.behind += 1;
            }
            check.likes_off += view.likes_off(&expected[client.meetup]);
        }
        check
    }

    /// Waits for every client task (after `stop`) and adds up what they saw.
    pub async fn finish(&self) -> Tally {
        let handles = self
            .0
            .handles
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default();
        for handle in handles {
            let _ = handle.await;
        }
        let mut tally = Tally {
            frames: self.0.frames.load(Ordering::Relaxed),
            errors: self.0.errors.load(Ordering::Relaxed),
            ..Tally::default()
        };
        for client in &self.0.clients {
            if let Ok(view) = client.view.lock() {
                tally.resnapshots += view.resnapshots;
            }
            if tally.first_error.is_none() {
                tally.first_error = client.error.lock().ok().and_then(|e| e.clone());
            }
        }
        tally
    }
}

/// One client: connects, then applies every frame to its view until `stop`.
/// The server ending the stream, or a message that is not a frame, is an error.
async fn follow(
    url: String,
    set: ClientSet,
    i: usize,
    connecting: Arc<Semaphore>,
    stop: CancellationToken,
) {
    let connected = {
        let _permit = connecting.acquire().await;
        tokio::select! {
            result = tokio_tungstenite::connect_async(url.as_str()) => result,
            () = stop.cancelled() => return,
        }
    };
    let mut stream = match connected {
        Ok((stream, _response)) => stream,
        Err(e) => return set.fail(i, describe(&e)),
    };
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            () = stop.cancelled() => break,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map(|f| format!("{} {}", f.code, f.reason));
                set.fail(
                    i,
                    format!("the server closed the stream: {}", why.unwrap_or_default()),
                );
                return;
            }
            None => return set.fail(i, "the stream ended".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return set.fail(i, describe(&e)),
        };
        set.0.frames.fetch_add(1, Ordering::Relaxed);
        let applied = match set.client(i).view.lock() {
            Ok(mut view) => view.apply(text.as_str()),
            Err(_) => Err("a view poisoned".into()),
        };
        if let Err(e) = applied {
            set.fail(i, e);
        }
    }
    let _ = stream.close(None).await;
}

fn describe(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(response) => format!("handshake answered {}", response.status()),
        other => other.to_string(),
    }
}
