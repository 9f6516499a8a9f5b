//! Group commit: the events of concurrent commands are written together, one
//! statement and one commit (one WAL flush, one `fsync`) for all of them.
//!
//! Commands hand their decided events to the writer tasks ([`GroupCommit`]).
//! A writer takes whatever is waiting, writes it as one batch and answers
//! every command once that commit has returned; while a commit is in flight
//! the next batch fills by itself, so there is no fixed linger: a lone
//! command is written at once, and under load each batch is as large as the
//! load makes it. PostgreSQL gets a few writers, so that one batch is being
//! collected and sent while another waits for its commit; SQLite, which has
//! one writer per file anyway, gets one.
//!
//! Optimistic concurrency stays per command: a command whose events lost the
//! race for their aggregate's sequence numbers (to another node, or to a
//! batch-mate) is answered [`Appended::Conflict`] and reloads and retries as
//! before; the others of its batch are written. A batch that fails as a
//! whole for a reason that is not a conflict is written again one command at
//! a time, so that one bad command fails alone.

mod batch;
mod sql;

use std::sync::Arc;

use cqrs_es::persist::SerializedEvent;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::store::EventStore;

pub use batch::Appended;

/// The most commands one batch takes. At 7 parameters a row and a few rows
/// a command, a batch stays well inside both databases' parameter limits.
const MAX_BATCH: usize = 512;

/// How many commands may wait for the writer before senders wait too.
const QUEUE: usize = 4 * MAX_BATCH;

/// How many batches may be in flight at once on PostgreSQL.
const POSTGRES_WRITERS: usize = 3;

/// One command's events waiting to be written.
struct Pending {
    rows: Vec<SerializedEvent>,
    reply: oneshot::Sender<Result<Appended, sqlx::Error>>,
}

/// Why an append got no answer.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The database refused or could not be reached.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
    /// The writer task is gone (the process is shutting down).
    #[error("the event store's writer has stopped")]
    WriterStopped,
}

/// The handle commands append through; cheap to clone. The writer task runs
/// until every handle is dropped.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
}

impl GroupCommit {
    /// Starts the writer tasks on the current Tokio runtime.
    pub fn start(store: EventStore) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        let writers = match store {
            EventStore::Postgres(_) => POSTGRES_WRITERS,
            EventStore::Sqlite(_) => 1,
        };
        let pending = Arc::new(Mutex::new(pending));
        for _ in 0..writers {
            tokio::spawn(write_batches(store.clone(), Arc::clone(&pending)));
        }
        Self { queue }
    }

    /// Appends one command's events (numbered after the aggregate's current
    /// sequence) and answers once they are committed, or once it is known that
    /// another writer took those sequence numbers first.
    pub async fn append(&self, rows: Vec<SerializedEvent>) -> Result<Appended, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { rows, reply })
            .await
            .map_err(|_| AppendError::WriterStopped)?;
        Ok(answer.await.map_err(|_| AppendError::WriterStopped)??)
    }
}

/// A writer: takes everything that is waiting (at least one command), writes
/// it, answers, and goes again. Writers take turns at the queue, never at the
/// database.
async fn write_batches(store: EventStore, pending: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("qicoo_group_commit_commands").record(batch.len() as f64);
        let commands: Vec<&[SerializedEvent]> = batch.iter().map(|p| p.rows.as_slice()).collect();
        let outcomes = write_batch(&store, &commands).await;
        for (command, outcome) in batch.drain(..).zip(outcomes) {
            // A command whose caller went away (a dropped request) needs no
            // answer; its events are committed all the same.
            let _ = command.reply.send(outcome);
        }
    }
}

/// Writes one batch of commands' events: in one statement when it can, else
/// one command at a time. One outcome per command, in order.
pub async fn write_batch(
    store: &EventStore,
    commands: &[&[SerializedEvent]],
) -> Vec<Result<Appended, sqlx::Error>> {
    match batch::append(store, commands).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(err) if commands.len() == 1 => vec![Err(err)],
        Err(err) => {
            tracing::warn!(
                commands = commands.len(),
                error = %err,
                "a batch of appends failed; writing its commands one by one"
            );
            let mut outcomes = Vec::with_capacity(commands.len());
            for command in commands {
                let one = batch::append(store, std::slice::from_ref(command)).await;
                outcomes.push(one.map(|mut o| o.pop().unwrap_or(Appended::Conflict)));
            }
            outcomes
        }
    }
}
