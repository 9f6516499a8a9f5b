//! The event feed's contract, run against both adapters, and the Postgres
//! feed's behaviour around transactions that commit out of order.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use qicoo_domain::{MeetupId, ParticipantId, QuestionId};
use qicoo_projections::{Checkpoint, EventFeed, FeedPosition, PostgresFeed, SqliteFeed};

use crate::support::{meetup_created, pg_insert, question_posted, sqlite_insert, Ev, EventStore};

/// Every event store kind available here, each with its feed.
async fn stores() -> Vec<(EventStore, Arc<dyn EventFeed>)> {
    let mut out: Vec<(EventStore, Arc<dyn EventFeed>)> = Vec::new();
    let sqlite = EventStore::sqlite().await;
    if let EventStore::Sqlite { pool, .. } = &sqlite {
        let feed = Arc::new(SqliteFeed::new(pool.clone()));
        out.push((sqlite, feed));
    }
    if let Some(pg) = EventStore::postgres().await {
        if let EventStore::Postgres { pool, .. } = &pg {
            let feed = Arc::new(PostgresFeed::new(pool.clone()));
            out.push((pg, feed));
        }
    }
    out
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

#[tokio::test]
async fn the_feed_delivers_every_event_once_in_commit_order_from_any_point() {
    for (store, feed) in stores().await {
        let mut appended = Vec::new();
        for n in 0..40 {
            let events: Vec<Ev> = (0..(n % 3 + 1)).map(|_| some_event()).collect();
            appended.extend(store.append(&events).await);
        }
        let read = read_all(feed.as_ref(), FeedPosition::START, 7).await;
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
}

#[tokio::test]
async fn the_feed_decodes_payloads_metadata_and_times() {
    for (store, feed) in stores().await {
        let meetup = MeetupId::new();
        let before = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
        store
            .append(&[meetup_created(meetup, "ABC234", false)])
            .await;
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
}

#[tokio::test]
async fn the_feed_does_not_pass_a_writing_transaction_that_is_still_open() {
    for (store, feed) in stores().await {
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
                let rest: Vec<i64> = read_all(feed.as_ref(), checkpoint, 10)
                    .await
                    .iter()
                    .map(|(_, p)| *p)
                    .collect();
                let mut expected = vec![early, later];
                expected.extend(latest);
                assert_eq!(
                    rest, expected,
                    "the late commit first, then the others, in order"
                );
            }
        }
        store.drop_store().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_lose_no_event_and_duplicate_none() {
    const WRITERS: usize = 16;
    const TRANSACTIONS: usize = 60;
    for (store, feed) in stores().await {
        let store = Arc::new(store);
        let reader = {
            let feed = feed.clone();
            tokio::spawn(async move {
                // Reads while the writers write, as a projector would.
                let mut seen = Vec::new();
                let mut at = FeedPosition::START;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
                while seen.len() < WRITERS * TRANSACTIONS * 2
                    && tokio::time::Instant::now() < deadline
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

#[tokio::test]
async fn readers_are_woken_when_events_are_appended() {
    for (store, feed) in stores().await {
        // Lets the Postgres listener connect (it wakes everyone once then).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut wakeups = feed.wakeups();
        let started = tokio::time::Instant::now();
        match &store {
            EventStore::Sqlite { pool, .. } => {
                // The embedded write side calls the notifier after committing.
                let feed = SqliteFeed::new(pool.clone());
                let mut wakeups = feed.wakeups();
                store.append(&[some_event()]).await;
                feed.notifier().notify();
                wakeups.wait(Duration::from_secs(30)).await;
            }
            EventStore::Postgres { .. } => {
                // The insert trigger's NOTIFY.
                store.append(&[some_event()]).await;
                wakeups.wait(Duration::from_secs(30)).await;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "woken by the append, not by the timeout"
        );
        store.drop_store().await;
    }
}
