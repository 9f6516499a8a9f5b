//! Batched loading: the event streams that concurrent commands ask for are read
//! with one query.
//!
//! Like the group commit ([`crate::append`]), a reader task takes whatever
//! requests are waiting, reads all their aggregates' events in one statement
//! and hands each request its own stream; while a read is in flight the next
//! batch fills by itself, and another reader may already send it. Requests for the same aggregate in one batch (a hot
//! question's lookups) are read once. A request is only ever answered by a
//! read that started after it arrived, so it sees every event committed
//! before it was made.

mod sql;

use std::sync::Arc;

use tokio::sync::Mutex;

use cqrs_es::persist::{PersistenceError, SerializedEvent};
use qicoo_storage::SqlErrorClass;
use tokio::sync::{mpsc, oneshot};

use crate::store::EventStore;

/// The most requests one read takes.
const MAX_BATCH: usize = 256;

/// How many reads may be in flight at once.
const READERS: usize = 3;

/// What one request reads: an aggregate's type and id, and the sequence number
/// after which its events are wanted (0: all of them).
type Key = (String, String, i64);

struct Request {
    key: Key,
    reply: oneshot::Sender<Result<Vec<SerializedEvent>, Arc<LoadError>>>,
}

/// Why a batch could not be read; shared by every request of the batch.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    message: String,
    unavailable: bool,
}

impl LoadError {
    fn of(err: &sqlx::Error) -> Self {
        Self {
            message: err.to_string(),
            unavailable: matches!(
                SqlErrorClass::of(err),
                SqlErrorClass::Unavailable | SqlErrorClass::Contention
            ),
        }
    }
}

/// A shared failure, as cqrs-es expects it: a store that cannot be reached is
/// a connection error (the API's 503), anything else unexpected.
fn persistence_error(err: Arc<LoadError>) -> PersistenceError {
    if err.unavailable {
        PersistenceError::ConnectionError(Box::new(Shared(err)))
    } else {
        PersistenceError::UnknownError(Box::new(Shared(err)))
    }
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Shared(Arc<LoadError>);

/// The handle aggregates are loaded through; cheap to clone. The reader task
/// runs until every handle is dropped.
#[derive(Clone, Debug)]
pub struct BatchedLoads {
    queue: mpsc::Sender<Request>,
}

impl BatchedLoads {
    /// Starts the reader tasks on the current Tokio runtime.
    pub fn start(store: EventStore) -> Self {
        let (queue, requests) = mpsc::channel(4 * MAX_BATCH);
        let requests = Arc::new(Mutex::new(requests));
        for _ in 0..READERS {
            tokio::spawn(read_batches(store.clone(), Arc::clone(&requests)));
        }
        Self { queue }
    }

    /// The events of one aggregate, in sequence order.
    pub async fn events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.events_after(aggregate_type, aggregate_id, 0).await
    }

    /// The events of one aggregate numbered after `sequence`, in order.
    pub async fn events_after(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let stopped =
            || PersistenceError::ConnectionError("the event store's reader has stopped".into());
        let (reply, answer) = oneshot::channel();
        let after = i64::try_from(sequence).unwrap_or(i64::MAX);
        let key = (aggregate_type.to_owned(), aggregate_id.to_owned(), after);
        self.queue
            .send(Request { key, reply })
            .await
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(persistence_error)
    }
}

/// A reader: takes every waiting request (at least one), reads, answers, and
/// goes again. Readers take turns at the queue, never at the database.
async fn read_batches(store: EventStore, requests: Arc<Mutex<mpsc::Receiver<Request>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while requests.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut keys: Vec<&Key> = batch.iter().map(|r| &r.key).collect();
        keys.sort_unstable();
        keys.dedup();
        metrics::histogram!("qicoo_batched_load_aggregates").record(keys.len() as f64);
        let selected = sql::select(&store, &keys).await;
        // Which key each request asked for: an index into `keys`, so the
        // answers are sorted by index, with no key copied.
        let slots: Vec<usize> = batch
            .iter()
            .map(|r| keys.binary_search(&&r.key).unwrap_or_default())
            .collect();
        let key_count = keys.len();
        match selected {
            Ok(events) => {
                let mut streams: Vec<Vec<SerializedEvent>> = vec![Vec::new(); key_count];
                for (slot, event) in events {
                    if let Some(stream) = streams.get_mut(slot) {
                        stream.push(event);
                    }
                }
                for (request, slot) in batch.drain(..).zip(slots) {
                    let stream = streams.get(slot).cloned().unwrap_or_default();
                    let _ = request.reply.send(Ok(stream));
                }
            }
            Err(err) => {
                let err = Arc::new(LoadError::of(&err));
                for request in batch.drain(..) {
                    let _ = request.reply.send(Err(Arc::clone(&err)));
                }
            }
        }
    }
}
