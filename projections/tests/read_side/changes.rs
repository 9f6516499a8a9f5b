//! The change stream's contract, run against the in-process and the Redis
//! adapter: one test per adapter per point, so a failure names the adapter.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use qicoo_domain::{MeetupId, ParticipantId, QuestionId, QuestionStatus};
use qicoo_projections::changes::{
    Change, ChangeBatch, ChangeGap, ChangeItem, ChangeStream, InProcessChanges, RedisChanges,
    Subscription,
};
use qicoo_projections::{MeetupView, QuestionView};
use qicoo_testkit::RedisTestPrefix;

/// Batches either adapter holds for a subscriber before it counts as behind:
/// small, so that falling behind takes few publications.
const IN_PROCESS_CAPACITY: usize = 16;
/// Entries the Redis Stream keeps (approximately: Redis trims whole nodes of
/// about a hundred entries).
const REDIS_RETAINED: usize = 10;

/// One adapter under test.
struct Adapter {
    stream: Arc<dyn ChangeStream>,
    /// Whether the stream remembers its last position (Redis does; the
    /// in-process one has nothing to remember across a restart).
    remembers: bool,
    prefix: Option<RedisTestPrefix>,
}

impl Adapter {
    fn in_process() -> Self {
        Self {
            stream: Arc::new(InProcessChanges::new(IN_PROCESS_CAPACITY)),
            remembers: false,
            prefix: None,
        }
    }

    async fn redis() -> Option<Self> {
        let prefix = RedisTestPrefix::create().await?;
        let stream = RedisChanges::with_retention(&prefix.url, &prefix.prefix, REDIS_RETAINED)
            .expect("redis url");
        Some(Self {
            stream: Arc::new(stream),
            remembers: true,
            prefix: Some(prefix),
        })
    }

    async fn drop_all(self) {
        if let Some(prefix) = self.prefix {
            prefix.drop_keys().await;
        }
    }
}

/// Runs a contract point against each adapter, one test each.
macro_rules! contract {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn in_process() {
                let adapter = super::Adapter::in_process();
                super::$name(&adapter).await;
                adapter.drop_all().await;
            }

            #[tokio::test]
            async fn redis() {
                if let Some(adapter) = super::Adapter::redis().await {
                    super::$name(&adapter).await;
                    adapter.drop_all().await;
                }
            }
        }
    };
}

/// A batch at `position` with a question (every field set, the ones clients
/// never see included) and its meetup.
fn batch(position: i64) -> ChangeBatch {
    let meetup = MeetupId::new();
    let now = Utc::now();
    ChangeBatch {
        position,
        committed_at: now,
        changes: vec![
            Change::Question {
                question: QuestionView {
                    id: QuestionId::new(),
                    meetup_id: meetup,
                    text: format!("Question at {position}?"),
                    author_name: Some("Ada".into()),
                    likes: position % 7,
                    status: QuestionStatus::Published,
                    answered: false,
                    highlighted: true,
                    created_at: now,
                    updated_at: now,
                    liked_by_me: None,
                    author: ParticipantId::new(),
                    position,
                    posted_position: position - 1,
                },
            },
            Change::Meetup {
                meetup: MeetupView {
                    id: meetup,
                    code: "ABC123".into(),
                    title: "Rust meetup".into(),
                    qa_open: true,
                    moderated: false,
                    archived: false,
                    created_at: now,
                    updated_at: now,
                },
            },
        ],
        resync: false,
    }
}

async fn next(subscription: &mut Subscription) -> ChangeItem {
    tokio::time::timeout(Duration::from_secs(10), subscription.recv())
        .await
        .expect("an item within 10 s")
        .expect("the subscription is open")
}

async fn publish(adapter: &Adapter, batch: &ChangeBatch) {
    adapter.stream.publish(batch).await.expect("published");
}

async fn batches_published_after_a_subscriber_arrive_whole_and_in_order(adapter: &Adapter) {
    let mut subscription = adapter.stream.subscribe(0);
    let sent: Vec<ChangeBatch> = [3, 4, 9].map(batch).into();
    for b in &sent {
        publish(adapter, b).await;
    }
    for b in &sent {
        assert_eq!(&next(&mut subscription).await.expect("no gap"), b);
    }
    subscription.close().await;
}
contract!(batches_published_after_a_subscriber_arrive_whole_and_in_order);

/// Only Redis keeps entries for a subscriber yet to come (an API node that
/// restarts resumes from the read model's position).
#[tokio::test]
async fn a_redis_subscriber_gets_what_was_published_before_it_subscribed_in_order() {
    let Some(adapter) = Adapter::redis().await else {
        return;
    };
    let sent: Vec<ChangeBatch> = [2, 5, 7].map(batch).into();
    for b in &sent {
        publish(&adapter, b).await;
    }
    let mut subscription = adapter.stream.subscribe(2);
    for b in &sent[1..] {
        assert_eq!(&next(&mut subscription).await.expect("no gap"), b);
    }
    subscription.close().await;
    adapter.drop_all().await;
}

async fn a_subscriber_after_a_position_never_gets_that_position_or_older(adapter: &Adapter) {
    let mut subscription = adapter.stream.subscribe(5);
    for position in [3, 5, 6, 8] {
        publish(adapter, &batch(position)).await;
    }
    assert_eq!(next(&mut subscription).await.expect("no gap").position, 6);
    assert_eq!(next(&mut subscription).await.expect("no gap").position, 8);
    subscription.close().await;
}
contract!(a_subscriber_after_a_position_never_gets_that_position_or_older);

async fn republishing_a_position_is_harmless(adapter: &Adapter) {
    let mut subscription = adapter.stream.subscribe(0);
    let first = batch(1);
    let second = batch(2);
    publish(adapter, &first).await;
    publish(adapter, &second).await;
    // A restarted publisher repeats itself, with rows read again.
    publish(adapter, &batch(2)).await;
    publish(adapter, &batch(1)).await;
    publish(adapter, &batch(3)).await;
    assert_eq!(next(&mut subscription).await.expect("no gap"), first);
    assert_eq!(next(&mut subscription).await.expect("no gap"), second);
    assert_eq!(next(&mut subscription).await.expect("no gap").position, 3);
    subscription.close().await;
}
contract!(republishing_a_position_is_harmless);

async fn the_last_position_is_the_last_published_one_if_remembered(adapter: &Adapter) {
    assert_eq!(adapter.stream.last_position().await.expect("read"), None);
    for position in [2, 4] {
        publish(adapter, &batch(position)).await;
    }
    let expected = adapter.remembers.then_some(4);
    assert_eq!(
        adapter.stream.last_position().await.expect("read"),
        expected
    );
}
contract!(the_last_position_is_the_last_published_one_if_remembered);

async fn a_subscriber_that_fell_behind_the_retained_window_is_told_of_the_gap(adapter: &Adapter) {
    const LAST: i64 = 500;
    publish(adapter, &batch(1)).await;
    let mut subscription = adapter.stream.subscribe(1);
    // The subscriber reads nothing while far more than either adapter retains
    // is published: its reader stops once its buffer is full.
    for position in 2..=LAST {
        publish(adapter, &batch(position)).await;
    }
    let mut seen = 1;
    let mut gaps = 0;
    let mut gap_since_last_batch = false;
    while seen < LAST {
        match next(&mut subscription).await {
            Ok(b) => {
                assert!(b.position > seen, "{} after {seen}", b.position);
                assert!(
                    b.position == seen + 1 || gap_since_last_batch,
                    "skipped from {seen} to {} without a gap",
                    b.position
                );
                seen = b.position;
                gap_since_last_batch = false;
            }
            Err(ChangeGap) => {
                gaps += 1;
                gap_since_last_batch = true;
            }
        }
    }
    assert!(gaps > 0, "nothing was lost, so the window was not exceeded");
    subscription.close().await;
}
contract!(a_subscriber_that_fell_behind_the_retained_window_is_told_of_the_gap);
