//! What a replay does with each kind of leaderboard: the in-memory one is
//! said to have nothing to rebuild; the Redis one is rebuilt under the key
//! names it already knows, all in one Redis Cluster hash slot.

use std::time::Duration;

use qicoo_domain::{MeetupId, ParticipantId, QuestionId};
use qicoo_projections::{Replayed, Viewer, LEADERBOARD, READ_MODEL};
use tokio_util::sync::CancellationToken;

use crate::support::{init_logs, meetup_created, question_posted, vote, Setup};

const WAIT: Duration = Duration::from_secs(30);

/// A meetup with three questions and a few likes; the position of the last
/// event.
async fn seed(setup: &Setup) -> (MeetupId, i64) {
    let m = MeetupId::new();
    let qs: Vec<QuestionId> = (0..3).map(|_| QuestionId::new()).collect();
    let mut events = vec![meetup_created(m, "REBLD1", false)];
    events.extend(
        qs.iter()
            .map(|q| question_posted(m, *q, ParticipantId::new(), false)),
    );
    for (i, q) in qs.iter().enumerate() {
        events.extend((0..=i).map(|_| vote(m, *q, ParticipantId::new(), true)));
    }
    let last = *setup.events.append(&events).await.last().expect("events");
    (m, last)
}

#[tokio::test]
async fn replaying_the_in_memory_leaderboard_says_there_is_nothing_to_rebuild() {
    init_logs();
    let setup = Setup::embedded().await;
    let read_side = setup.read_side().await;
    let (_, last) = seed(&setup).await;
    let cancel = CancellationToken::new();
    let workers = read_side.spawn_projectors(cancel.clone());
    assert!(
        read_side
            .queries()
            .wait_for_position(last, WAIT)
            .await
            .expect("waits")
            >= last
    );

    let only = read_side
        .replay(Some(LEADERBOARD), |_, _, _| {}, CancellationToken::new())
        .await
        .expect("replays");
    assert!(
        matches!(only.as_slice(), [Replayed::NothingToRebuild { projection, reason }]
            if *projection == LEADERBOARD && reason.contains("memory")),
        "{only:?}"
    );
    let all = read_side
        .replay(None, |_, _, _| {}, CancellationToken::new())
        .await
        .expect("replays");
    assert_eq!(
        all.iter()
            .map(|r| match r {
                Replayed::Rebuilt { projection } => (*projection, true),
                Replayed::NothingToRebuild { projection, .. } => (*projection, false),
            })
            .collect::<Vec<_>>(),
        vec![(READ_MODEL, true), (LEADERBOARD, false)]
    );
    cancel.cancel();
    workers.await.expect("workers stop");
    setup.drop_all().await;
}

/// Every key under `prefix`, found with `SCAN` (the test may list keys;
/// Qicoo never does).
async fn keys_under(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connects");
    let mut cursor = 0_u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("scans");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_leaderboard_is_rebuilt_in_place_under_one_hash_tag() {
    init_logs();
    let Some(setup) = Setup::scaled().await else {
        return;
    };
    let read_side = setup.read_side().await;
    let (m, last) = seed(&setup).await;
    let cancel = CancellationToken::new();
    let workers = read_side.spawn_projectors(cancel.clone());
    assert!(
        read_side
            .queries()
            .wait_for_position(last, WAIT)
            .await
            .expect("waits")
            >= last
    );
    assert!(
        read_side
            .wait_for_leaderboard(last, WAIT)
            .await
            .expect("waits")
            >= last
    );
    let viewer = Viewer::default();
    let before = read_side
        .queries()
        .leaderboard(m, 10, &viewer)
        .await
        .expect("ranks")
        .items;
    assert_eq!(
        before.iter().map(|q| q.likes).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );

    let replayed = read_side
        .replay(Some(LEADERBOARD), |_, _, _| {}, CancellationToken::new())
        .await
        .expect("replays");
    assert_eq!(
        replayed,
        vec![Replayed::Rebuilt {
            projection: LEADERBOARD
        }]
    );
    let after = read_side
        .queries()
        .leaderboard(m, 10, &viewer)
        .await
        .expect("ranks")
        .items;
    assert_eq!(
        after.iter().map(|q| (q.id, q.likes)).collect::<Vec<_>>(),
        before.iter().map(|q| (q.id, q.likes)).collect::<Vec<_>>()
    );

    let prefix = setup.config.redis_prefix.clone();
    let url = setup.config.redis_url.clone().expect("redis");
    let tag = format!("{prefix}{{lb}}:");
    let keys: Vec<String> = keys_under(&url, &prefix)
        .await
        .into_iter()
        .filter(|k| k.starts_with(&tag))
        .collect();
    assert_eq!(
        keys,
        vec![
            format!("{tag}live:checkpoint"),
            format!("{tag}live:entries"),
            format!("{tag}live:meetup:{m}"),
        ],
        "only the live keys are left, all under one hash tag"
    );
    cancel.cancel();
    workers.await.expect("workers stop");
    setup.drop_all().await;
}
