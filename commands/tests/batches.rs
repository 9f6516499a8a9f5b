//! The group commit and the batched loads on both event stores: a batch of
//! commands is written in one statement, and each command's outcome is its own
//! — a conflict or a failure of one command never costs its batch-mates their
//! events; concurrent loads read together each get their own aggregate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cqrs_es::persist::SerializedEvent;
use futures::future::join_all;
use qicoo_commands::append::{write_batch, Appended, GroupCommit};
use qicoo_commands::load::BatchedLoads;
use qicoo_commands::store::PoolSettings;
use qicoo_commands::EventStore;
use qicoo_testkit::PgTestDb;
use serde_json::json;

/// An event store of each kind, fresh and migrated.
enum Fixture {
    Sqlite(tempfile::TempDir),
    Postgres(PgTestDb),
}

impl Fixture {
    async fn sqlite() -> (Self, EventStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("events.db").display());
        let store = EventStore::connect(&url, PoolSettings::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (Self::Sqlite(dir), store)
    }

    async fn postgres() -> Option<(Self, EventStore)> {
        let db = PgTestDb::create().await?;
        let store = EventStore::connect(&db.url, PoolSettings::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Some((Self::Postgres(db), store))
    }

    async fn drop(self, store: EventStore) {
        store.close().await;
        match self {
            Self::Sqlite(dir) => drop(dir),
            Self::Postgres(db) => db.drop_db().await,
        }
    }
}

macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let (fixture, store) = super::Fixture::sqlite().await;
                super::$name(&store).await;
                fixture.drop(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if let Some((fixture, store)) = super::Fixture::postgres().await {
                    super::$name(&store).await;
                    fixture.drop(store).await;
                }
            }
        }
    };
}

fn event(aggregate_id: &str, sequence: usize) -> SerializedEvent {
    SerializedEvent::new(
        aggregate_id.to_owned(),
        sequence,
        "Vote".to_owned(),
        "VoteCast".to_owned(),
        "1".to_owned(),
        json!({"VoteCast": {"n": sequence}}),
        json!({"meetup_id": "m"}),
    )
}

/// The stored rows as (aggregate_id, sequence), in position order.
async fn stored(store: &EventStore) -> Vec<(String, i64)> {
    const SQL: &str = "SELECT aggregate_id, sequence FROM events ORDER BY global_position";
    match store {
        EventStore::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await.unwrap(),
        EventStore::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await.unwrap(),
    }
}

async fn execute(store: &EventStore, sql: &str) {
    match store {
        EventStore::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
        EventStore::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
    }
    .unwrap();
}

fn position(outcome: &Result<Appended, sqlx::Error>) -> i64 {
    match outcome {
        Ok(Appended::At(position)) => *position,
        other => panic!("expected the command to be written, got {other:?}"),
    }
}

fn is_conflict(outcome: &Result<Appended, sqlx::Error>) -> bool {
    matches!(outcome, Ok(Appended::Conflict))
}

async fn a_batch_is_written_in_order_with_one_position_per_event(store: &EventStore) {
    let a = [event("a", 1)];
    let b = [event("b", 1), event("b", 2)];
    let c = [event("c", 1)];
    let outcomes = write_batch(store, &[&a, &b, &c]).await;
    let positions: Vec<i64> = outcomes.iter().map(position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions follow the batch's order: {positions:?}"
    );
    assert_eq!(
        stored(store).await,
        vec![
            ("a".to_owned(), 1),
            ("b".to_owned(), 1),
            ("b".to_owned(), 2),
            ("c".to_owned(), 1)
        ]
    );
}
on_both!(a_batch_is_written_in_order_with_one_position_per_event);

async fn a_conflict_fails_only_the_commands_it_concerns(store: &EventStore) {
    position(&write_batch(store, &[&[event("taken", 1)]]).await[0]);
    // Another node took "taken"/1; two batch-mates race for "twice"/1.
    let lost_to_another_writer = [event("taken", 1)];
    let first = [event("twice", 1)];
    let second = [event("twice", 1)];
    let fine = [event("fine", 1)];
    let outcomes = write_batch(store, &[&lost_to_another_writer, &first, &second, &fine]).await;
    assert!(is_conflict(&outcomes[0]));
    position(&outcomes[1]);
    assert!(
        is_conflict(&outcomes[2]),
        "the second of two in one batch loses"
    );
    position(&outcomes[3]);
    assert_eq!(stored(store).await.len(), 3);
}
on_both!(a_conflict_fails_only_the_commands_it_concerns);

async fn a_command_of_several_events_is_never_written_in_part(store: &EventStore) {
    // Another writer holds "multi"/2 but not "multi"/1.
    position(&write_batch(store, &[&[event("multi", 2)]]).await[0]);
    let before = [event("before", 1)];
    let multi = [event("multi", 1), event("multi", 2)];
    let after = [event("after", 1)];
    let outcomes = write_batch(store, &[&before, &multi, &after]).await;
    position(&outcomes[0]);
    assert!(is_conflict(&outcomes[1]));
    position(&outcomes[2]);
    assert_eq!(
        stored(store).await,
        vec![
            ("multi".to_owned(), 2),
            ("before".to_owned(), 1),
            ("after".to_owned(), 1)
        ],
        "nothing of the conflicting command was written, its batch-mates were"
    );
}
on_both!(a_command_of_several_events_is_never_written_in_part);

async fn a_command_the_database_refuses_fails_alone(store: &EventStore) {
    let poison = match store {
        EventStore::Postgres(_) => {
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.aggregate_id = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW \
             EXECUTE FUNCTION refuse_poison();"
        }
        EventStore::Sqlite(_) => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON events \
             WHEN NEW.aggregate_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END;"
        }
    };
    execute(store, poison).await;
    let before = [event("before", 1)];
    let bad = [event("poison", 1)];
    let after = [event("after", 1)];
    let outcomes = write_batch(store, &[&before, &bad, &after]).await;
    position(&outcomes[0]);
    assert!(outcomes[1].is_err(), "the refused command fails");
    position(&outcomes[2]);
    assert_eq!(
        stored(store).await,
        vec![("before".to_owned(), 1), ("after".to_owned(), 1)]
    );
}
on_both!(a_command_the_database_refuses_fails_alone);

async fn concurrent_appends_through_the_writer_each_get_their_own_answer(store: &EventStore) {
    let writer = GroupCommit::start(store.clone());
    // 200 commands on 100 aggregates: two race for each.
    let outcomes = join_all((0..200).map(|i| {
        let writer = writer.clone();
        async move {
            writer
                .append(vec![event(&format!("agg{}", i % 100), 1)])
                .await
        }
    }))
    .await;
    let mut written = 0;
    let mut lost = 0;
    for outcome in outcomes {
        match outcome.expect("every command is answered") {
            Appended::At(_) => written += 1,
            Appended::Conflict => lost += 1,
        }
    }
    assert_eq!((written, lost), (100, 100));
    let rows = stored(store).await;
    assert_eq!(rows.len(), 100, "each aggregate's event is stored once");
}
on_both!(concurrent_appends_through_the_writer_each_get_their_own_answer);

async fn concurrent_loads_each_get_their_own_aggregate_in_order(store: &EventStore) {
    let a = [event("a", 1), event("a", 2), event("a", 3)];
    let b = [event("b", 1)];
    for outcome in write_batch(store, &[&a, &b]).await {
        position(&outcome);
    }
    let loads = BatchedLoads::start(store.clone());
    let ids = ["a", "b", "none", "a"];
    let streams = join_all((0..120).map(|i| {
        let loads = loads.clone();
        async move { loads.events("Vote", ids[i % ids.len()]).await }
    }))
    .await;
    for (i, stream) in streams.into_iter().enumerate() {
        let stream = stream.expect("loaded");
        let id = ids[i % ids.len()];
        let sequences: Vec<usize> = stream.iter().map(|e| e.sequence).collect();
        let expected = match id {
            "a" => vec![1, 2, 3],
            "b" => vec![1],
            _ => vec![],
        };
        assert_eq!(sequences, expected, "load {i} of {id}");
        assert!(stream.iter().all(|e| e.aggregate_id == id));
        assert!(stream
            .iter()
            .all(|e| e.payload == json!({"VoteCast": {"n": e.sequence}})));
    }
    let (all, after_two, after_last) = tokio::join!(
        loads.events_after("Vote", "a", 0),
        loads.events_after("Vote", "a", 2),
        loads.events_after("Vote", "a", 3),
    );
    let sequences = |events: Vec<SerializedEvent>| -> Vec<usize> {
        events.iter().map(|e| e.sequence).collect()
    };
    assert_eq!(sequences(all.expect("loaded")), vec![1, 2, 3]);
    assert_eq!(sequences(after_two.expect("loaded")), vec![3]);
    assert!(after_last.expect("loaded").is_empty());
}
on_both!(concurrent_loads_each_get_their_own_aggregate_in_order);

#[tokio::test]
async fn a_load_from_an_unreachable_store_is_a_connection_error() {
    // Nothing listens on port 9; the pool connects lazily.
    let store = EventStore::connect(
        "postgres://qicoo@127.0.0.1:9/none",
        PoolSettings {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_millis(500),
        },
    )
    .await
    .unwrap();
    let loads = BatchedLoads::start(store);
    let err = loads.events("Vote", "a").await.unwrap_err();
    assert!(
        matches!(err, cqrs_es::persist::PersistenceError::ConnectionError(_)),
        "{err:?}"
    );
}
