//! The event archive's contract (the event store read per meetup, for audit
//! and export), run against the SQLite and the Postgres adapter: pages in
//! position order with each filter, streams in feed order up to a position,
//! the position of an instant, and a settled position that never lets a
//! page or an export change afterwards.

use std::sync::Arc;

use futures::TryStreamExt;
use qicoo_domain::{MeetupId, ParticipantId, QuestionEvent, QuestionId};
use qicoo_projections::archive::{EventArchive, EventFilter, PostgresArchive, SqliteArchive};
use qicoo_projections::StoredEvent;

use crate::support::{
    meetup_created, per_adapter_set, pg_insert, question_changed, question_posted, vote, Ev,
    EventStore, Setup,
};

fn archive_of(store: &EventStore) -> Arc<dyn EventArchive> {
    match store {
        EventStore::Sqlite { pool, .. } => Arc::new(SqliteArchive::new(pool.clone())),
        EventStore::Postgres { pool, .. } => Arc::new(PostgresArchive::new(pool.clone())),
    }
}

/// Two meetups: A with two questions, likes and an answer, B with one
/// question and a like. Appended a few events per transaction.
struct World {
    a: MeetupId,
    b: MeetupId,
    q1: QuestionId,
    /// A's events in the order appended.
    a_events: usize,
}

async fn world(store: &EventStore) -> World {
    let (a, b) = (MeetupId::new(), MeetupId::new());
    let (q1, q2, q3) = (QuestionId::new(), QuestionId::new(), QuestionId::new());
    let (p1, p2) = (ParticipantId::new(), ParticipantId::new());
    let batches: Vec<Vec<Ev>> = vec![
        vec![
            meetup_created(a, "ARCH01", false),
            meetup_created(b, "ARCH02", false),
        ],
        vec![
            question_posted(a, q1, p1, false),
            question_posted(b, q3, p2, false),
        ],
        vec![vote(a, q1, p2, true), vote(b, q3, p1, true)],
        vec![question_posted(a, q2, p2, false), vote(a, q2, p1, true)],
        vec![question_changed(a, q1, QuestionEvent::QuestionAnswered)],
        vec![vote(a, q1, p2, false)],
    ];
    for batch in &batches {
        store.append(batch).await;
    }
    World {
        a,
        b,
        q1,
        a_events: 7,
    }
}

async fn all_pages(
    archive: &dyn EventArchive,
    meetup: MeetupId,
    filter: &EventFilter,
    limit: u32,
) -> Vec<StoredEvent> {
    let upto = archive.settled_position().await.expect("settled");
    let mut out: Vec<StoredEvent> = Vec::new();
    let mut after = 0;
    loop {
        let page = archive
            .page(meetup, filter, after, upto, limit)
            .await
            .expect("a page");
        let done = page.len() < limit as usize;
        after = page.last().map_or(after, StoredEvent::position);
        out.extend(page);
        if done {
            return out;
        }
    }
}

fn types(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

per_adapter_set!(Setup::of => #[tokio::test] pages_hold_one_meetups_events_in_position_order_with_filters);
async fn pages_hold_one_meetups_events_in_position_order_with_filters(setup: Setup) {
    let archive = archive_of(&setup.events);
    let w = world(&setup.events).await;
    let everything = all_pages(archive.as_ref(), w.a, &EventFilter::default(), 100).await;
    assert_eq!(everything.len(), w.a_events);
    assert!(everything
        .windows(2)
        .all(|p| p[0].position() < p[1].position()));
    assert!(everything
        .iter()
        .all(|e| e.metadata["meetup_id"] == w.a.to_string()));
    // Pages of two hold the same events.
    let paged = all_pages(archive.as_ref(), w.a, &EventFilter::default(), 2).await;
    assert_eq!(paged, everything);
    // By type.
    let votes = EventFilter {
        types: vec!["VoteCast".into(), "VoteWithdrawn".into()],
        ..EventFilter::default()
    };
    assert_eq!(
        types(&all_pages(archive.as_ref(), w.a, &votes, 100).await),
        ["VoteCast", "VoteCast", "VoteWithdrawn"]
    );
    // One question: its own events and the likes of it, not another's.
    let q1 = EventFilter {
        question: Some(w.q1),
        ..EventFilter::default()
    };
    assert_eq!(
        types(&all_pages(archive.as_ref(), w.a, &q1, 100).await),
        [
            "QuestionPosted",
            "VoteCast",
            "QuestionAnswered",
            "VoteWithdrawn"
        ]
    );
    // By time: exactly the events the store recorded in the range.
    let from = everything[3].recorded_at;
    let to = everything[5].recorded_at;
    let range = EventFilter {
        from_time: Some(from),
        to_time: Some(to),
        ..EventFilter::default()
    };
    let expected: Vec<&StoredEvent> = everything
        .iter()
        .filter(|e| e.recorded_at >= from && e.recorded_at <= to)
        .collect();
    let got = all_pages(archive.as_ref(), w.a, &range, 100).await;
    assert_eq!(got.iter().collect::<Vec<_>>(), expected);
    assert!(!got.is_empty());
    // The other meetup is apart.
    assert_eq!(
        all_pages(archive.as_ref(), w.b, &EventFilter::default(), 100)
            .await
            .len(),
        3
    );
    setup.drop_all().await;
}

per_adapter_set!(Setup::of => #[tokio::test] a_stream_reads_a_meetup_up_to_a_position);
async fn a_stream_reads_a_meetup_up_to_a_position(setup: Setup) {
    let archive = archive_of(&setup.events);
    let w = world(&setup.events).await;
    let everything = all_pages(archive.as_ref(), w.a, &EventFilter::default(), 100).await;
    let cut = everything[4].position();
    let streamed: Vec<StoredEvent> = archive
        .stream(w.a, cut)
        .try_collect()
        .await
        .expect("the stream");
    assert_eq!(streamed, everything[..5].to_vec());
    assert_eq!(archive.count(w.a, cut).await.expect("count"), 5);
    assert_eq!(
        archive.count(w.a, i64::MAX).await.expect("count"),
        w.a_events as u64
    );
    // The position of an instant: the meetup's last event recorded by then.
    for event in &everything {
        let at = event.recorded_at;
        let expected = everything
            .iter()
            .filter(|e| e.recorded_at <= at)
            .map(StoredEvent::position)
            .max();
        assert_eq!(
            Some(archive.position_at(w.a, at).await.expect("position")),
            expected
        );
    }
    let before = everything[0].recorded_at - chrono::TimeDelta::seconds(60);
    assert_eq!(archive.position_at(w.a, before).await.expect("position"), 0);
    setup.drop_all().await;
}

per_adapter_set!(Setup::of => #[tokio::test] the_settled_position_stops_below_an_uncommitted_event);
async fn the_settled_position_stops_below_an_uncommitted_event(setup: Setup) {
    let archive = archive_of(&setup.events);
    let w = world(&setup.events).await;
    let head = archive.settled_position().await.expect("settled");
    assert!(head > 0);
    let EventStore::Postgres { pool, .. } = &setup.events else {
        // SQLite serializes writers: everything stored is settled.
        setup
            .events
            .append(&[vote(w.b, QuestionId::new(), ParticipantId::new(), true)])
            .await;
        assert_eq!(archive.settled_position().await.expect("settled"), head + 1);
        setup.drop_all().await;
        return;
    };
    // A transaction draws a position and has not committed; a later one
    // commits a higher position.
    let mut slow = pool.begin().await.expect("begin");
    let held = pg_insert(&mut slow, &vote(w.a, w.q1, ParticipantId::new(), true)).await;
    let later = setup
        .events
        .append(&[vote(w.b, QuestionId::new(), ParticipantId::new(), true)])
        .await[0];
    assert!(later > held);
    let settled = archive.settled_position().await.expect("settled");
    assert!(
        settled < held,
        "settled {settled} must stay below the uncommitted {held}"
    );
    // A page up to the settled position cannot change when it commits.
    let before = archive
        .page(w.a, &EventFilter::default(), 0, settled, 100)
        .await
        .expect("page");
    slow.commit().await.expect("commit");
    assert_eq!(archive.settled_position().await.expect("settled"), later);
    let after = archive
        .page(w.a, &EventFilter::default(), 0, settled, 100)
        .await
        .expect("page");
    assert_eq!(before, after);
    setup.drop_all().await;
}
