//! The event feed's contract, run against both adapters, the Postgres feed's
//! behaviour around transactions that commit out of order, and readers woken
//! by appends rather than by their polls.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use qicoo_domain::{MeetupId, ParticipantId, QuestionId};
use qicoo_projections::{
    Checkpoint, EventFeed, FeedPosition, PostgresFeed, ReadSide, ReadSideConfig, SqliteFeed,
    WorkerSettings,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::{
    eventually, init_logs, meetup_created, per_adapter_set, pg_insert, question_posted,
    sqlite_insert, test_worker_settings, AdapterSet, Ev, EventStore,
};

/// The event store of an adapter set, with its feed.
type Fixture = (EventStore, Arc<dyn EventFeed>);

/// The event store of `set` and its feed, or `None` when Postgres is down
/// (outside CI).
async fn store(set: AdapterSet) -> Option<Fixture> {
    let store = match set {
        AdapterSet::Embedded => EventStore::sqlite().await,
        AdapterSet::Scaled => EventStore::postgres().await?,
    };
    let feed: Arc<dyn EventFeed> = match &store {
        EventStore::Sqlite { pool, .. } => Arc::new(SqliteFeed::new(pool.clone())),
        EventStore::Postgres { pool, .. } => Arc::new(PostgresFeed::new(pool.clone())),
    };
    Some((store, feed))
}

fn some_event() -> Ev {
    let meetup = MeetupId::new();
    question_posted(meetup, QuestionId::new(), ParticipantId::new(), false)
}

/// Reads everything after `from`, in batches of `batch`.
async fn read_all(
    feed: &dyn EventFeed,
    from: FeedPosition,
    batch: usize,
) -> Vec<(FeedPosition, i64)> {
    let mut out = Vec::new();
    let mut at = from;
    loop {
        let events = feed.read(at, batch).await.expect("feed reads");
        let Some(last) = events.last() else {
            return out;
        };
        at = last.feed;
        out.extend(events.iter().map(|e| (e.feed, e.position())));
    }
}

/// How long a committed event may take to show in a feed.
const WAIT: Duration = Duration::from_secs(30);

/// Reads everything after `from` (as [`read_all`]) once at least `count`
/// events are there, or as it is after [`WAIT`]: a Postgres feed holds back
/// events committed while an older transaction still runs on the server,
/// another test's included, so an event just committed may take a moment to
/// show.
async fn read_at_least(
    feed: &dyn EventFeed,
    from: FeedPosition,
    batch: usize,
    count: usize,
) -> Vec<(FeedPosition, i64)> {
    let enough = eventually(WAIT, || async {
        let read = read_all(feed, from, batch).await;
        (read.len() >= count).then_some(read)
    })
    .await;
    match enough {
        Some(read) => read,
        None => read_all(feed, from, batch).await,
    }
}

per_adapter_set!(
    store => #[tokio::test]
    the_feed_delivers_every_event_once_in_commit_order_from_any_point
);
async fn the_feed_delivers_every_event_once_in_commit_order_from_any_point((store, feed): Fixture) {
    let mut appended = Vec::new();
    for n in 0..40 {
        let events: Vec<Ev> = (0..(n % 3 + 1)).map(|_| some_event()).collect();
        appended.extend(store.append(&events).await);
    }
    let read = read_at_least(feed.as_ref(), FeedPosition::START, 7, appended.len()).await;
    let positions: Vec<i64> = read.iter().map(|(_, p)| *p).collect();
    assert_eq!(positions, appended, "all events in order");

    let (middle, _) = read[read.len() / 2];
    let rest: Vec<i64> = read_all(feed.as_ref(), middle, 5)
        .await
        .iter()
        .map(|(_, p)| *p)
        .collect();
    assert_eq!(
        rest,
        appended[read.len() / 2 + 1..].to_vec(),
        "resumes after a checkpoint"
    );

    assert_eq!(
        feed.head().await.expect("head"),
        *appended.last().expect("some")
    );
    assert_eq!(
        feed.count_after(middle).await.expect("count"),
        rest.len() as u64
    );
    store.drop_store().await;
}

per_adapter_set!(
    store => #[tokio::test]
    the_feed_decodes_payloads_metadata_and_times
);
async fn the_feed_decodes_payloads_metadata_and_times((store, feed): Fixture) {
    let meetup = MeetupId::new();
    let before = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
    store
        .append(&[meetup_created(meetup, "ABC234", false)])
        .await;
    read_at_least(feed.as_ref(), FeedPosition::START, 10, 1).await;
    let events = feed.read(FeedPosition::START, 10).await.expect("reads");
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.aggregate_type, "Meetup");
    assert_eq!(event.event_type, "MeetupCreated");
    assert_eq!(event.metadata.get("meetup_id"), Some(&meetup.to_string()));
    assert!(
        event.recorded_at > before,
        "recorded_at is the store's time"
    );
    assert!(matches!(
        event.decode().expect("decodes"),
        qicoo_projections::DomainEvent::Meetup(id, _) if id == meetup
    ));
    store.drop_store().await;
}

per_adapter_set!(
    store => #[tokio::test]
    the_feed_does_not_pass_a_writing_transaction_that_is_still_open
);
async fn the_feed_does_not_pass_a_writing_transaction_that_is_still_open((store, feed): Fixture) {
    match &store {
        EventStore::Sqlite { pool, .. } => {
            // SQLite has one writer at a time: an open writer's event is
            // invisible, then delivered once committed.
            let mut open = pool.begin().await.expect("begin");
            let early = sqlite_insert(&mut open, &some_event()).await;
            assert!(feed
                .read(FeedPosition::START, 10)
                .await
                .expect("reads")
                .is_empty());
            open.commit().await.expect("commit");
            let read = read_all(feed.as_ref(), FeedPosition::START, 10).await;
            assert_eq!(
                read.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
                vec![early]
            );
        }
        EventStore::Postgres { pool, .. } => {
            let first = store.append(&[some_event()]).await[0];
            read_at_least(feed.as_ref(), FeedPosition::START, 10, 1).await;
            // A writer draws a low position and stays open...
            let mut open = pool.begin().await.expect("begin");
            let early = pg_insert(&mut open, &some_event()).await;
            // ...while later writers commit higher positions.
            let later = store.append(&[some_event()]).await[0];
            let latest = store.append(&[some_event(), some_event()]).await;
            assert!(early < later);

            let read = read_all(feed.as_ref(), FeedPosition::START, 10).await;
            assert_eq!(
                read.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
                vec![first],
                "nothing at or after the open transaction is delivered"
            );
            let checkpoint = read[0].0;

            open.commit().await.expect("commit");
            let mut expected = vec![early, later];
            expected.extend(latest);
            let rest: Vec<i64> = read_at_least(feed.as_ref(), checkpoint, 10, expected.len())
                .await
                .iter()
                .map(|(_, p)| *p)
                .collect();
            assert_eq!(
                rest, expected,
                "the late commit first, then the others, in order"
            );
        }
    }
    store.drop_store().await;
}

per_adapter_set!(
    store => #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    many_concurrent_writers_lose_no_event_and_duplicate_none
);
async fn many_concurrent_writers_lose_no_event_and_duplicate_none((store, feed): Fixture) {
    const WRITERS: usize = 16;
    const TRANSACTIONS: usize = 60;
    let store = Arc::new(store);
    let reader = {
        let feed = feed.clone();
        tokio::spawn(async move {
            // Reads while the writers write, as a projector would.
            let mut seen = Vec::new();
            let mut at = FeedPosition::START;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            while seen.len() < WRITERS * TRANSACTIONS * 2 && tokio::time::Instant::now() < deadline
            {
                let events = feed.read(at, 13).await.expect("feed reads");
                if let Some(last) = events.last() {
                    at = last.feed;
                } else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen.extend(events.iter().map(|e| e.position()));
            }
            seen
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut positions = Vec::new();
                for _ in 0..TRANSACTIONS {
                    match store.as_ref() {
                        // Pauses inside the transaction make commits
                        // overtake each other.
                        EventStore::Postgres { pool, .. } => {
                            let mut tx = pool.begin().await.expect("begin");
                            positions.push(pg_insert(&mut tx, &some_event()).await);
                            let pause = rand::random::<u64>() % 4;
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                            positions.push(pg_insert(&mut tx, &some_event()).await);
                            tx.commit().await.expect("commit");
                        }
                        EventStore::Sqlite { .. } => {
                            positions.extend(store.append(&[some_event(), some_event()]).await);
                        }
                    }
                }
                positions
            })
        })
        .collect();
    let mut written = Vec::new();
    for writer in writers {
        written.extend(writer.await.expect("writer finishes"));
    }
    let seen = reader.await.expect("reader finishes");
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no event delivered twice");
    assert_eq!(
        unique,
        written.iter().copied().collect::<HashSet<_>>(),
        "every event delivered"
    );
    if let Ok(store) = Arc::try_unwrap(store) {
        store.drop_store().await;
    }
}

#[tokio::test]
async fn an_open_transaction_holding_a_low_position_keeps_the_watermark_below_it() {
    let Some(store) = EventStore::postgres().await else {
        return;
    };
    let EventStore::Postgres { pool, .. } = &store else {
        unreachable!("asked for Postgres");
    };
    let feed = PostgresFeed::new(pool.clone());
    let first = store.append(&[some_event()]).await[0];
    read_at_least(&feed, FeedPosition::START, 10, 1).await;
    let mut open = pool.begin().await.expect("begin");
    let early = pg_insert(&mut open, &some_event()).await;
    let later = store.append(&[some_event()]).await[0];

    let events = feed.read(FeedPosition::START, 10).await.expect("reads");
    assert_eq!(events.len(), 1);
    let applied = Checkpoint {
        feed: events[0].feed,
        max_position: first,
        watermark: 0,
    };
    assert_eq!(feed.watermark(&applied).await.expect("watermark"), first);

    // Even a checkpoint claiming everything visible applied (the later
    // commit included) stays below the open transaction's position.
    let all_visible = Checkpoint {
        feed: FeedPosition {
            transaction_id: i64::MAX,
            global_position: later,
        },
        max_position: later,
        watermark: 0,
    };
    let w = feed.watermark(&all_visible).await.expect("watermark");
    assert!(
        w < early,
        "watermark {w} must stay below the open position {early}"
    );

    open.commit().await.expect("commit");
    read_at_least(&feed, applied.feed, 10, 2).await;
    let mut at = applied;
    loop {
        let events = feed.read(at.feed, 10).await.expect("reads");
        let Some(last) = events.last() else { break };
        at.feed = last.feed;
        at.max_position = events
            .iter()
            .map(|e| e.position())
            .max()
            .unwrap_or(0)
            .max(at.max_position);
    }
    assert_eq!(feed.watermark(&at).await.expect("watermark"), later);
    store.drop_store().await;
}

#[tokio::test]
async fn events_behind_an_open_transaction_are_reported_held_back_until_it_ends() {
    let Some(store) = EventStore::postgres().await else {
        return;
    };
    let EventStore::Postgres { pool, .. } = &store else {
        unreachable!("asked for Postgres");
    };
    let feed = PostgresFeed::new(pool.clone());
    store.append(&[some_event()]).await;
    let at = read_at_least(&feed, FeedPosition::START, 10, 1).await[0].0;
    assert!(
        !feed.held_back(at).await.expect("answers"),
        "nothing is stored after the last event read"
    );

    let mut open = pool.begin().await.expect("begin");
    pg_insert(&mut open, &some_event()).await;
    store.append(&[some_event()]).await;
    assert!(feed.read(at, 10).await.expect("reads").is_empty());
    assert!(
        feed.held_back(at).await.expect("answers"),
        "the committed event waits behind the open transaction"
    );

    open.commit().await.expect("commit");
    let rest = read_at_least(&feed, at, 10, 2).await;
    assert_eq!(rest.len(), 2);
    let last = rest[1].0;
    assert!(!feed.held_back(last).await.expect("answers"));
    store.drop_store().await;
}

#[tokio::test]
async fn without_the_position_announcements_the_watermark_waits_instead_of_guessing() {
    let Some(store) = EventStore::postgres().await else {
        return;
    };
    let EventStore::Postgres { pool, .. } = &store else {
        unreachable!("asked for Postgres");
    };
    sqlx::query("DROP TRIGGER events_announce_inflight_positions ON events")
        .execute(pool)
        .await
        .expect("drops the trigger");
    let feed = PostgresFeed::new(pool.clone());
    let refused = feed.watermark(&Checkpoint::default()).await;
    assert!(
        matches!(&refused, Err(e) if e.is_transient()),
        "a store not yet migrated is waited for: {refused:?}"
    );
    sqlx::query(
        "CREATE TRIGGER events_announce_inflight_positions BEFORE INSERT ON events
         FOR EACH STATEMENT EXECUTE FUNCTION qicoo_announce_inflight_positions()",
    )
    .execute(pool)
    .await
    .expect("restores the trigger");
    assert_eq!(
        feed.watermark(&Checkpoint::default())
            .await
            .expect("watermark"),
        0
    );
    store.drop_store().await;
}

/// Far longer than a wake-up takes, far shorter than the poll interval of
/// the projections woken.
const WAKE: Duration = Duration::from_secs(10);

per_adapter_set!(
    store => #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    readers_are_woken_when_events_are_appended
);
async fn readers_are_woken_when_events_are_appended((store, feed): Fixture) {
    init_logs();
    match &store {
        EventStore::Sqlite { .. } => projections_wake_on_the_append_notifier(&store).await,
        EventStore::Postgres { .. } => feed_readers_wake_on_the_insert_trigger(&store, feed).await,
    }
    store.drop_store().await;
}

/// The embedded write side calls the read side's append notifier after each
/// commit: projections polling only once an hour apply each append at once.
async fn projections_wake_on_the_append_notifier(store: &EventStore) {
    let mut config = ReadSideConfig::new(store.url());
    config.worker = WorkerSettings {
        poll_interval: Duration::from_secs(3600),
        ..test_worker_settings()
    };
    let read_side = ReadSide::connect(config).await.expect("read side connects");
    let cancel = CancellationToken::new();
    let workers = read_side.spawn_projectors(cancel.clone());
    let queries = read_side.queries();
    let notifier = read_side.append_notifier();
    // An append can be picked up without a wake-up only by the read that
    // follows a worker's start or its previous batch; several rounds in a row
    // do not all win that race.
    for round in 0..5 {
        let position = store.append(&[some_event()]).await[0];
        notifier.notify();
        let reached = queries
            .wait_for_position(position, WAKE)
            .await
            .expect("waits");
        assert!(
            reached >= position,
            "round {round}: woken by the append, not by the poll (reached {reached} of {position})"
        );
    }
    cancel.cancel();
    workers.await.expect("workers stop");
}

/// The Postgres write side only inserts: the insert trigger's NOTIFY wakes
/// the readers of every feed listening on the store. (Measured on the feed's
/// wake-ups rather than on a projection: whether a woken reader finds the
/// event at once also depends on other transactions still running.)
async fn feed_readers_wake_on_the_insert_trigger(store: &EventStore, feed: Arc<dyn EventFeed>) {
    let mut wakeups = feed.wakeups();
    // The listener wakes its readers once when it connects.
    let started = Instant::now();
    wakeups.wait(WAKE).await;
    assert!(started.elapsed() < WAKE, "the feed listens for appends");
    for round in 0..5 {
        let started = Instant::now();
        store.append(&[some_event()]).await;
        wakeups.wait(WAKE).await;
        assert!(
            started.elapsed() < WAKE,
            "round {round}: woken by the append, not by the timeout"
        );
    }
}
