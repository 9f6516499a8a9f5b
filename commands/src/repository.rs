//! One `PersistedEventRepository` over either store, so that everything above it
//! is written once instead of once per database. Aggregates are loaded through
//! the batched reader ([`crate::load`]); the rest is postgres-es's or
//! sqlite-es's.

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlite_es::SqliteEventRepository;

use crate::load::BatchedLoads;
use crate::store::EventStore;

/// postgres-es or sqlite-es, chosen by the event store's URL.
enum Adapter {
    Postgres(PostgresEventRepository),
    Sqlite(SqliteEventRepository),
}

/// The write side's repository over either store.
pub struct AnyEventRepository {
    adapter: Adapter,
    loads: BatchedLoads,
}

impl AnyEventRepository {
    /// A repository over the store's pool, loading through `loads`.
    pub fn new(store: &EventStore, loads: BatchedLoads) -> Self {
        let adapter = match store {
            EventStore::Postgres(pool) => {
                Adapter::Postgres(PostgresEventRepository::new(pool.clone()))
            }
            EventStore::Sqlite(pool) => Adapter::Sqlite(SqliteEventRepository::new(pool.clone())),
        };
        Self { adapter, loads }
    }
}

macro_rules! delegate {
    ($self:ident, $repo:ident => $call:expr) => {
        match &$self.adapter {
            Adapter::Postgres($repo) => $call.await,
            Adapter::Sqlite($repo) => $call.await,
        }
    };
}

impl PersistedEventRepository for AnyEventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.loads.events(A::TYPE, aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        delegate!(self, repo => repo.get_last_events::<A>(aggregate_id, last_sequence))
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        delegate!(self, repo => repo.get_snapshot::<A>(aggregate_id))
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        delegate!(self, repo => repo.persist::<A>(events, snapshot_update.clone()))
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        delegate!(self, repo => repo.stream_events::<A>(aggregate_id))
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        delegate!(self, repo => repo.stream_all_events::<A>())
    }
}
