//! Runs one command against one aggregate: load, decide, append — and when
//! another writer appended to the same aggregate first, load again and decide
//! again, a bounded number of times.
//!
//! This is cqrs-es's `CqrsFramework::execute` with two additions the API needs:
//! the resulting state and the global position of the last appended event
//! (or of the aggregate's current state when nothing was appended). Loading goes
//! through cqrs-es's event store; appending goes through the group commit
//! ([`crate::append`]), which writes the events of concurrent commands in one
//! statement and one commit, in the rows postgres-es and sqlite-es read back.

use std::sync::Arc;
use std::time::Duration;

use cqrs_es::event_sink::EventSink;
use std::collections::HashMap;

use cqrs_es::persist::{PersistedEventStore, SerializedEvent};
use cqrs_es::{Aggregate, EventEnvelope, EventStore as _};
use qicoo_domain::InMeetup;
use rand::Rng;

use crate::append::{AppendError, Appended, GroupCommit};
use crate::context::CommandContext;
use crate::error::{classify, classify_sqlx, CommandError, Failure};
use crate::load::BatchedLoads;
use crate::repository::AnyEventRepository;
use crate::store::EventStore;

/// How often a command is tried when it keeps losing races.
const MAX_ATTEMPTS: u32 = 25;

/// How long one round trip of a command to the event store (loading, the
/// domain's lookups, appending) may take before the API answers 503: an
/// event store that accepts connections but stops answering (a partition, a
/// hung server) must not hold requests open. Per round trip rather than per
/// command, so that a command that keeps making progress (retrying a
/// conflict under load) is not cut short. Longer than the pool's acquire
/// timeout, so that an exhausted pool reports itself first.
pub const STORE_CALL_TIMEOUT: Duration = Duration::from_secs(8);

/// The result of an accepted command.
#[derive(Debug, Clone)]
pub struct Executed<A> {
    /// The aggregate's state after the command.
    pub state: A,
    /// How many events were appended (0 when the command was already satisfied).
    pub appended: usize,
    /// Global position of the last appended event, or of the aggregate's latest
    /// event when nothing was appended (0 if it has none).
    pub position: i64,
}

/// The batched reader and writer every executor of one service shares.
#[derive(Clone, Debug)]
pub struct Writers {
    pub loads: BatchedLoads,
    pub appends: GroupCommit,
}

impl Writers {
    /// Starts the reader and writer tasks on the current Tokio runtime.
    pub fn start(store: &EventStore) -> Self {
        Self {
            loads: BatchedLoads::start(store.clone()),
            appends: GroupCommit::start(store.clone()),
        }
    }
}

/// Called after events were appended, e.g. to wake projection workers in the
/// same process at once instead of at their next poll.
pub type AppendHook = Arc<dyn Fn() + Send + Sync>;

/// Executes commands of one aggregate type.
pub struct Executor<A>
where
    A: Aggregate,
{
    events: PersistedEventStore<AnyEventRepository, A>,
    services: A::Services,
    store: EventStore,
    appender: GroupCommit,
    on_append: AppendHook,
}

impl<A> Executor<A>
where
    A: Aggregate + InMeetup + Clone,
    A::Command: Clone,
{
    pub fn new(
        store: &EventStore,
        writers: &Writers,
        services: A::Services,
        on_append: AppendHook,
    ) -> Self {
        Self {
            events: PersistedEventStore::new_event_store(AnyEventRepository::new(
                store,
                writers.loads.clone(),
            )),
            services,
            store: store.clone(),
            appender: writers.appends.clone(),
            on_append,
        }
    }

    /// Loads the aggregate's current state; `None` if it has no events.
    pub async fn load(&self, aggregate_id: &str) -> Result<Option<A>, CommandError<A::Error>> {
        let context = self
            .events
            .load_aggregate(aggregate_id)
            .await
            .map_err(fail)?;
        Ok((context.current_sequence > 0).then_some(context.aggregate))
    }

    /// Executes `command` on the aggregate `aggregate_id`, counting the outcome
    /// (`qicoo_commands_total`) and the events appended
    /// (`qicoo_events_appended_total`).
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        ctx: &CommandContext,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        let result = self.try_execute(aggregate_id, command, ctx).await;
        let outcome = match &result {
            Ok(executed) if executed.appended > 0 => "applied",
            Ok(_) => "unchanged",
            Err(CommandError::Refused(_)) => "refused",
            Err(CommandError::Conflict) => "conflict",
            Err(CommandError::Unavailable(_)) => "unavailable",
            Err(CommandError::Internal(_)) => "error",
        };
        metrics::counter!("qicoo_commands_total", "aggregate" => A::TYPE, "outcome" => outcome)
            .increment(1);
        if let Ok(executed) = &result {
            metrics::counter!("qicoo_events_appended_total", "aggregate" => A::TYPE)
                .increment(executed.appended as u64);
        }
        result
    }

    async fn try_execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        ctx: &CommandContext,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut loaded = bounded(self.events.load_aggregate(aggregate_id))
                .await?
                .map_err(fail)?;
            let sink = EventSink::default();
            bounded(
                loaded
                    .aggregate
                    .handle(command.clone(), &self.services, &sink),
            )
            .await?
            .map_err(CommandError::Refused)?;
            let events = sink.collect().await;
            let state = loaded.aggregate.clone();
            if events.is_empty() {
                let position = self
                    .position_of(aggregate_id, loaded.current_sequence)
                    .await?;
                return Ok(Executed {
                    state,
                    appended: 0,
                    position,
                });
            }
            let metadata = ctx.metadata(state.meetup_id());
            let appended = events.len();
            let rows = serialize::<A>(aggregate_id, loaded.current_sequence, events, metadata)?;
            let failure = match bounded(self.appender.append(rows)).await? {
                Ok(Appended::At(position)) => {
                    (self.on_append)();
                    return Ok(Executed {
                        state,
                        appended,
                        position,
                    });
                }
                Ok(Appended::Conflict) => Failure::Retry,
                Err(AppendError::Store(err)) => classify_sqlx(&err),
                Err(AppendError::WriterStopped) => Failure::Fail(CommandError::Unavailable(
                    AppendError::WriterStopped.to_string(),
                )),
            };
            match failure {
                Failure::Retry if attempt < MAX_ATTEMPTS => backoff(attempt).await,
                Failure::Retry => {
                    tracing::warn!(aggregate = A::TYPE, aggregate_id, "gave up after conflicts");
                    return Err(CommandError::Conflict);
                }
                Failure::Fail(err) => return Err(err),
            }
        }
    }

    async fn position_of(
        &self,
        aggregate_id: &str,
        sequence: usize,
    ) -> Result<i64, CommandError<A::Error>> {
        if sequence == 0 {
            return Ok(0);
        }
        match bounded(self.store.position_of(A::TYPE, aggregate_id, sequence)).await? {
            Ok(Some(position)) => Ok(position),
            Ok(None) => Err(CommandError::Internal(format!(
                "appended event {}/{aggregate_id}/{sequence} not found",
                A::TYPE
            ))),
            Err(err) => match crate::error::classify_sqlx(&err) {
                Failure::Fail(e) => Err(e),
                Failure::Retry => Err(CommandError::Unavailable(err.to_string())),
            },
        }
    }
}

/// The rows of the events a command decided, numbered after the aggregate's
/// current sequence, in the form cqrs-es reads back.
fn serialize<A: Aggregate>(
    aggregate_id: &str,
    current_sequence: usize,
    events: Vec<A::Event>,
    metadata: HashMap<String, String>,
) -> Result<Vec<SerializedEvent>, CommandError<A::Error>> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let envelope = EventEnvelope::<A> {
                aggregate_id: aggregate_id.to_owned(),
                sequence: current_sequence + i + 1,
                payload,
                metadata: metadata.clone(),
            };
            SerializedEvent::try_from(&envelope)
                .map_err(|e| CommandError::Internal(format!("cannot serialise an event: {e}")))
        })
        .collect()
}

/// Runs one round trip to the event store, giving up as unavailable after
/// [`STORE_CALL_TIMEOUT`].
async fn bounded<T, E: std::error::Error>(
    call: impl std::future::Future<Output = T>,
) -> Result<T, CommandError<E>> {
    tokio::time::timeout(STORE_CALL_TIMEOUT, call)
        .await
        .map_err(|_| {
            CommandError::Unavailable(format!(
                "the event store did not answer within {STORE_CALL_TIMEOUT:?}"
            ))
        })
}

/// Maps a failure where retrying is not an option (loading).
fn fail<E: std::error::Error>(err: cqrs_es::AggregateError<E>) -> CommandError<E> {
    match classify(err) {
        Failure::Fail(e) => e,
        Failure::Retry => CommandError::Conflict,
    }
}

/// Waits a little, more with each attempt, with jitter so that the losers of a
/// race do not collide again in lockstep.
async fn backoff(attempt: u32) {
    let max_ms = 4u64.saturating_mul(u64::from(attempt)).min(100);
    let ms = rand::thread_rng().gen_range(1..=max_ms.max(2));
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_round_trip_the_event_store_never_answers_is_unavailable_at_the_deadline() {
        let started = tokio::time::Instant::now();
        let outcome: Result<(), CommandError<std::io::Error>> =
            bounded(std::future::pending()).await;
        assert!(matches!(outcome, Err(CommandError::Unavailable(_))));
        assert_eq!(started.elapsed(), STORE_CALL_TIMEOUT);
    }
}
