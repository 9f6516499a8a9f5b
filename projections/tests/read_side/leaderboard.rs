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
use tokio_util::sync::CancellationToken;

use crate::support::{eventually, init_logs, meetup_created, question_posted, vote, Setup};

/// Every leaderboard store available here; the Redis prefix to drop after.
async fn stores() -> Vec<(Arc<dyn LeaderboardStore>, Option<RedisTestPrefix>)> {
    let mut out: Vec<(Arc<dyn LeaderboardStore>, Option<RedisTestPrefix>)> =
        vec![(Arc::new(MemoryLeaderboard::new()), None)];
    if let Some(prefix) = RedisTestPrefix::create().await {
        let store = RedisLeaderboard::new(&prefix.url, &prefix.prefix).expect("redis url");
        out.push((Arc::new(store), Some(prefix)));
    }
    out
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

#[tokio::test]
async fn questions_rank_by_likes_and_the_earlier_question_wins_a_tie() {
    for (store, prefix) in stores().await {
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
}

#[tokio::test]
async fn a_commit_against_a_checkpoint_that_moved_writes_nothing() {
    for (store, prefix) in stores().await {
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
}

#[tokio::test]
async fn a_fresh_leaderboard_replaces_the_live_one_in_one_step() {
    for (store, prefix) in stores().await {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_leaderboard_that_lost_its_data_rebuilds_itself_from_position_zero() {
    init_logs();
    let Some(setup) = Setup::scaled().await else {
        return;
    };
    let read_side = setup.read_side().await;
    let cancel = CancellationToken::new();
    let workers = read_side.spawn_projectors(cancel.clone());
    let queries = read_side.queries();

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
    let client = redis::Client::open(setup.config.redis_url.clone().expect("redis")).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connects");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", setup.config.redis_prefix))
        .query_async(&mut conn)
        .await
        .expect("keys");
    let _: () = redis::cmd("DEL")
        .arg(keys)
        .query_async(&mut conn)
        .await
        .expect("del");

    setup.events.append(&[vote(m, q1, p1, true)]).await;
    assert!(
        ranked(vec![(q1, 2), (q2, 2)]).await.is_some(),
        "rebuilt from position zero, the earlier question first on a tie"
    );

    cancel.cancel();
    workers.await.expect("workers stop");
    setup.drop_all().await;
}
