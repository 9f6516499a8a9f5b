//! Replay (rebuild from position zero into fresh tables / keys, then swap) and
//! read-your-writes positions.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use qicoo_domain::{MeetupId, ParticipantId, QuestionId};
use qicoo_projections::{QuestionQuery, ReadSideError, Viewer};
use tokio_util::sync::CancellationToken;

use crate::support::{
    assert_reaches, eventually, meetup_created, per_adapter_set, pg_insert, question_posted, vote,
    EventStore, Setup,
};

const WAIT: Duration = Duration::from_secs(60);

async fn seed(setup: &Setup, votes: usize) -> (MeetupId, Vec<QuestionId>, i64) {
    let m = MeetupId::new();
    let qs: Vec<QuestionId> = (0..8).map(|_| QuestionId::new()).collect();
    let mut events = vec![meetup_created(m, "REPLAY", false)];
    events.extend(
        qs.iter()
            .map(|q| question_posted(m, *q, ParticipantId::new(), false)),
    );
    let mut last = *setup.events.append(&events).await.last().expect("events");
    for chunk in (0..votes).collect::<Vec<_>>().chunks(50) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|i| vote(m, qs[i % qs.len()], ParticipantId::new(), true))
            .collect();
        last = *setup.events.append(&batch).await.last().expect("events");
    }
    (m, qs, last)
}

per_adapter_set!(
    Setup::of => #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    a_replay_rebuilds_into_fresh_tables_while_the_old_ones_serve_then_swaps_them_in
);
async fn a_replay_rebuilds_into_fresh_tables_while_the_old_ones_serve_then_swaps_them_in(
    setup: Setup,
) {
    let running = setup.start().await;
    let read_side = running.read_side.clone();
    let queries = running.queries();
    let (m, qs, last) = seed(&setup, 600).await;
    assert_reaches(queries.as_ref(), last, WAIT).await;

    // Queries and new events keep flowing during the replay.
    let busy = {
        let queries = queries.clone();
        tokio::spawn(async move {
            let mut answered = 0;
            for _ in 0..50 {
                let page = queries
                    .questions(m, &QuestionQuery::default())
                    .await
                    .expect("queries work during a replay");
                assert_eq!(page.items.len(), 8);
                answered += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            answered
        })
    };
    let mut progress = Vec::new();
    let replaying = read_side.replay(
        None,
        |name, done, total| progress.push((name.to_owned(), done, total)),
        CancellationToken::new(),
    );
    let more = async {
        let mut last = 0;
        for q in &qs {
            last = setup
                .events
                .append(&[vote(m, *q, ParticipantId::new(), true)])
                .await[0];
        }
        last
    };
    let (replayed, last) = tokio::join!(replaying, more);
    let replayed = replayed.expect("replay succeeds");
    assert_eq!(busy.await.expect("queries ran"), 50);
    // The in-memory leaderboard lives in each serving process: a replay has
    // nothing of it to rebuild, and says so.
    let rebuilt: &[&str] = if setup.config.redis_url.is_some() {
        &["read_model", "leaderboard"]
    } else {
        &["read_model"]
    };
    assert_eq!(
        replayed
            .iter()
            .filter(|r| matches!(r, qicoo_projections::Replayed::Rebuilt { .. }))
            .count(),
        rebuilt.len(),
        "{}: {replayed:?}",
        setup.name()
    );
    for name in rebuilt.iter().copied() {
        let (_, done, total) = progress
            .iter()
            .rfind(|(n, _, _)| n == name)
            .cloned()
            .expect("progress reported");
        assert!(done >= 600 && done == total, "{name}: {done} of {total}");
    }

    assert_reaches(queries.as_ref(), last, WAIT).await;
    let in_store = setup.events.likes_in_store().await;
    let matched = eventually(WAIT, || async {
        let page = queries.questions(m, &QuestionQuery::default()).await.ok()?;
        let board = queries.leaderboard(m, 100, &Viewer::default()).await.ok()?;
        let right = |items: &[qicoo_projections::QuestionView]| {
            items.len() == 8 && items.iter().all(|q| in_store.get(&q.id) == Some(&q.likes))
        };
        (right(&page.items) && right(&board.items)).then_some(())
    })
    .await;
    assert!(
        matched.is_some(),
        "{}: rebuilt state matches the store",
        setup.name()
    );
    // The rebuilt tables carry the hash chain too: a replay of the events in
    // memory agrees with the read model, the chain and the leaderboard.
    let verified = crate::support::audit_fold_agrees(&read_side).await;
    assert_eq!(verified, Ok(()), "{}", setup.name());

    drop(read_side);
    running.stop().await;
    setup.drop_all().await;
}

per_adapter_set!(
    Setup::of => #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    a_second_replay_is_refused_while_one_runs
);
async fn a_second_replay_is_refused_while_one_runs(setup: Setup) {
    let read_side = Arc::new(setup.read_side().await);
    seed(&setup, 300).await;
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let first = {
        let read_side = read_side.clone();
        tokio::spawn(async move {
            let mut signalled = false;
            read_side
                .replay(
                    Some("read_model"),
                    move |_, _, _| {
                        if !signalled {
                            signalled = true;
                            let _ = started_tx.send(());
                            // Holds the replay (and its lock) until told,
                            // handing this worker's other tasks to another
                            // thread meanwhile.
                            tokio::task::block_in_place(|| {
                                let _ = go_rx.recv_timeout(Duration::from_secs(60));
                            });
                        }
                    },
                    CancellationToken::new(),
                )
                .await
        })
    };
    tokio::task::spawn_blocking(move || started_rx.recv_timeout(Duration::from_secs(60)))
        .await
        .expect("joins")
        .expect("first replay started");
    let second = read_side
        .replay(Some("read_model"), |_, _, _| {}, CancellationToken::new())
        .await;
    assert!(
        matches!(second, Err(ReadSideError::ReplayRunning)),
        "{}: {second:?}",
        setup.name()
    );
    go_tx.send(()).expect("first replay waits");
    first.await.expect("joins").expect("first replay succeeds");
    // Once it is done, a replay may run again.
    read_side
        .replay(Some("read_model"), |_, _, _| {}, CancellationToken::new())
        .await
        .expect("replays again");
    let unknown = read_side
        .replay(Some("nope"), |_, _, _| {}, CancellationToken::new())
        .await;
    assert!(matches!(unknown, Err(ReadSideError::Config(_))));
    drop(read_side);
    setup.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_is_not_reached_while_a_lower_one_is_still_uncommitted() {
    let Some(setup) = Setup::scaled().await else {
        return;
    };
    let running = setup.start().await;
    let queries = running.queries();
    let m = MeetupId::new();
    let created = setup
        .events
        .append(&[meetup_created(m, "RYW234", false)])
        .await[0];
    assert_reaches(queries.as_ref(), created, WAIT).await;

    let EventStore::Postgres { pool, .. } = &setup.events else {
        unreachable!("scaled setup");
    };
    let mut open = pool.begin().await.expect("begin");
    let early = pg_insert(
        &mut open,
        &question_posted(m, QuestionId::new(), ParticipantId::new(), false),
    )
    .await;
    let later = setup
        .events
        .append(&[question_posted(
            m,
            QuestionId::new(),
            ParticipantId::new(),
            false,
        )])
        .await[0];
    let reached = queries
        .wait_for_position(later, Duration::from_secs(2))
        .await
        .expect("waits");
    assert!(
        reached < early,
        "reached {reached} while {early} is uncommitted"
    );

    open.commit().await.expect("commit");
    assert_reaches(queries.as_ref(), later, WAIT).await;
    let page = queries
        .questions(m, &QuestionQuery::default())
        .await
        .expect("lists");
    assert_eq!(
        page.items.len(),
        2,
        "both questions visible once the position is reached"
    );
    assert!(page.position >= later);

    running.stop().await;
    setup.drop_all().await;
}
