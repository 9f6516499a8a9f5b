//! The leaderboard store's contract, run against the in-memory and the Redis
//! adapter, and the Redis leaderboard rebuilding itself after losing its data.

use std::sync::Arc;
use std::time::Duration;

use qicoo_domain::{MeetupId, ParticipantId, QuestionId, QuestionStatus};
use qicoo_projections::{
    ApplyError, Checkpoint, FeedPosition, LeaderboardStore, MemoryLeaderboard, Ranked,
    RedisLeaderboard, Viewer,
};
use qicoo_testkit::RedisTestPrefix;

use crate::support::{
    eventually, meetup_created, per_adapter_set, question_posted, vote, AdapterSet, Setup,
};

/// The leaderboard store of an adapter set, with the Redis prefix to drop
/// after.
type Fixture = (Arc<dyn LeaderboardStore>, Option<RedisTestPrefix>);

/// The in-memory store (embedded) or the Redis one (scaled), or `None` when
/// Redis is down (outside CI).
async fn store(set: AdapterSet) -> Option<Fixture> {
    match set {
        AdapterSet::Embedded => Some((Arc::new(MemoryLeaderboard::new()), None)),
        AdapterSet::Scaled => {
            let prefix = RedisTestPrefix::create().await?;
            let store = RedisLeaderboard::new(&prefix.url, &prefix.prefix).expect("redis url");
            Some((Arc::new(store), Some(prefix)))
        }
    }
}

fn checkpoint(position: i64) -> Checkpoint {
    Checkpoint {
        feed: FeedPosition {
            transaction_id: 0,
            global_position: position,
        },
        max_position: position,
        watermark: position,
    }
}

fn entry(meetup: MeetupId, posted: i64, likes: i64) -> qicoo_projections::leaderboard::Entry {
    qicoo_projections::leaderboard::Entry {
        meetup_id: meetup,
        posted_position: posted,
        likes,
        status: QuestionStatus::Published,
        answered: false,
    }
}

per_adapter_set!(
    store => #[tokio::test]
    questions_rank_by_likes_and_the_earlier_question_wins_a_tie
);
async fn questions_rank_by_likes_and_the_earlier_question_wins_a_tie((store, prefix): Fixture) {
    let (m, other) = (MeetupId::new(), MeetupId::new());
    let [a, b, c, d, e] = [(); 5].map(|_| QuestionId::new());
    let mut pending = entry(m, 5, 9);
    pending.status = QuestionStatus::Pending;
    let mut answered = entry(m, 6, 9);
    answered.answered = true;
    let changes = vec![
        (a, entry(m, 3, 2)),
        (b, entry(m, 1, 2)),
        (c, entry(m, 2, 7)),
        (d, pending),
        (e, answered),
        (QuestionId::new(), entry(other, 4, 50)),
    ];
    store
        .commit(None, &changes, &checkpoint(10))
        .await
        .expect("commits");
    let top = store.top(m, 10).await.expect("top");
    assert_eq!(
        top,
        vec![
            Ranked {
                question_id: c,
                likes: 7
            },
            Ranked {
                question_id: b,
                likes: 2
            },
            Ranked {
                question_id: a,
                likes: 2
            },
        ]
    );
    assert_eq!(store.top(m, 1).await.expect("top").len(), 1);
    assert!(store.top(MeetupId::new(), 5).await.expect("top").is_empty());

    // An entry that stops being ranked leaves; likes move the order.
    let mut withdrawn = entry(m, 2, 7);
    withdrawn.status = QuestionStatus::Withdrawn;
    store
        .commit(
            Some(&checkpoint(10)),
            &[(c, withdrawn), (a, entry(m, 3, 3))],
            &checkpoint(11),
        )
        .await
        .expect("commits");
    let order: Vec<QuestionId> = store
        .top(m, 10)
        .await
        .expect("top")
        .iter()
        .map(|r| r.question_id)
        .collect();
    assert_eq!(order, vec![a, b]);

    let (loaded_checkpoint, entries) = store.load().await.expect("loads");
    assert_eq!(loaded_checkpoint, Some(checkpoint(11)));
    assert_eq!(entries.len(), 6);
    assert_eq!(entries[&a].likes, 3);
    if let Some(prefix) = prefix {
        prefix.drop_keys().await;
    }
}

per_adapter_set!(
    store => #[tokio::test]
    a_commit_against_a_checkpoint_that_moved_writes_nothing
);
async fn a_commit_against_a_checkpoint_that_moved_writes_nothing((store, prefix): Fixture) {
    let m = MeetupId::new();
    let q = QuestionId::new();
    store
        .commit(None, &[(q, entry(m, 1, 1))], &checkpoint(1))
        .await
        .expect("commits");
    let stale = store
        .commit(None, &[(q, entry(m, 1, 5))], &checkpoint(2))
        .await;
    assert!(matches!(stale, Err(ApplyError::CheckpointMoved { .. })));
    let stale = store
        .commit(Some(&checkpoint(7)), &[(q, entry(m, 1, 5))], &checkpoint(8))
        .await;
    assert!(matches!(stale, Err(ApplyError::CheckpointMoved { .. })));
    assert_eq!(store.top(m, 5).await.expect("top")[0].likes, 1);
    assert_eq!(
        store.checkpoint().await.expect("reads"),
        Some(checkpoint(1))
    );
    if let Some(prefix) = prefix {
        prefix.drop_keys().await;
    }
}

per_adapter_set!(
    store => #[tokio::test]
    a_fresh_leaderboard_replaces_the_live_one_in_one_step
);
async fn a_fresh_leaderboard_replaces_the_live_one_in_one_step((store, prefix): Fixture) {
    let m = MeetupId::new();
    let (old, new) = (QuestionId::new(), QuestionId::new());
    store
        .commit(None, &[(old, entry(m, 1, 4))], &checkpoint(3))
        .await
        .expect("commits");
    let fresh = store.fresh();
    store.clear_fresh().await.expect("clears");
    assert_eq!(fresh.checkpoint().await.expect("reads"), None);
    fresh
        .commit(None, &[(new, entry(m, 2, 1))], &checkpoint(9))
        .await
        .expect("commits");
    assert_eq!(
        store.top(m, 5).await.expect("top")[0].question_id,
        old,
        "live untouched"
    );
    store.swap_in_fresh().await.expect("swaps");
    let top = store.top(m, 5).await.expect("top");
    assert_eq!(
        top,
        vec![Ranked {
            question_id: new,
            likes: 1
        }]
    );
    assert_eq!(
        store.checkpoint().await.expect("reads"),
        Some(checkpoint(9))
    );
    if let Some(prefix) = prefix {
        prefix.drop_keys().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_leaderboard_that_lost_its_data_rebuilds_itself_from_position_zero() {
    let Some(setup) = Setup::scaled().await else {
        return;
    };
    let running = setup.start().await;
    let queries = running.queries();

    let m = MeetupId::new();
    let (q1, q2) = (QuestionId::new(), QuestionId::new());
    let (p1, p2) = (ParticipantId::new(), ParticipantId::new());
    setup
        .events
        .append(&[
            meetup_created(m, "RED234", false),
            question_posted(m, q1, p1, false),
            question_posted(m, q2, p1, false),
            vote(m, q2, p1, true),
            vote(m, q2, p2, true),
            vote(m, q1, p2, true),
        ])
        .await;
    let ranked = |want: Vec<(QuestionId, i64)>| {
        let queries = queries.clone();
        async move {
            eventually(Duration::from_secs(30), || async {
                let board = queries.leaderboard(m, 10, &Viewer::default()).await.ok()?;
                let got: Vec<(QuestionId, i64)> =
                    board.items.iter().map(|q| (q.id, q.likes)).collect();
                (got == want).then_some(())
            })
            .await
        }
    };
    assert!(ranked(vec![(q2, 2), (q1, 1)]).await.is_some());

    // Redis restarts empty.
    setup.clear_redis().await;

    setup.events.append(&[vote(m, q1, p1, true)]).await;
    assert!(
        ranked(vec![(q1, 2), (q2, 2)]).await.is_some(),
        "rebuilt from position zero, the earlier question first on a tie"
    );

    running.stop().await;
    setup.drop_all().await;
}
