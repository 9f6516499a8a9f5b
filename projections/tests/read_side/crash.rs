//! Projector processes killed with SIGKILL at random moments while votes pour
//! in, then restarted: every question's like count must equal cast minus
//! withdrawn in the store. And two projectors side by side: when the active
//! one dies, the standby takes over.
//!
//! The projector process is this test binary itself, running the same test
//! with the configuration in an environment variable: a test started that way
//! acts as the projector instead of as the test.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use qicoo_domain::{MeetupId, ParticipantId, QuestionId};
use qicoo_projections::{ReadSide, ReadSideConfig, Viewer};
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::support::{
    eventually, init_logs, meetup_created, per_adapter_set, question_posted, test_worker_settings,
    vote, AdapterSet, EventStore, Setup,
};

const CHILD_ENV: &str = "QICOO_TEST_PROJECTOR_CONFIG";
/// The test the crash test's projectors run, but for the adapter set's name.
const KILLED: &str =
    "crash::projectors_killed_at_random_moments_neither_lose_nor_double_count_a_like";
/// How long a projector may take to start and make progress.
const WAIT: Duration = Duration::from_secs(120);
const TAKEOVER: &str = "crash::when_the_active_projector_dies_the_standby_takes_over";

/// How many vote events the crash test appends (`QICOO_CRASH_EVENTS`).
fn crash_events() -> usize {
    std::env::var("QICOO_CRASH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// When this process was started as a projector by one of these tests, runs
/// the projector until killed (and never returns); otherwise returns at once.
async fn run_as_projector_if_asked() {
    let Ok(raw) = std::env::var(CHILD_ENV) else {
        return;
    };
    init_logs();
    let (event_store_url, read_model_url, redis_url, redis_prefix): (
        String,
        Option<String>,
        Option<String>,
        String,
    ) = serde_json::from_str(&raw).expect("child configuration");
    let config = ReadSideConfig {
        event_store_url,
        read_model_url,
        redis_url,
        redis_prefix,
        worker: test_worker_settings(),
        max_connections: 10,
    };
    let read_side = ReadSide::connect(config).await.expect("child connects");
    // Runs until killed.
    let _ = read_side.spawn_projectors(CancellationToken::new()).await;
    std::future::pending::<()>().await;
}

/// A projector process, killed (SIGKILL) when dropped.
struct Projector(Child);

impl Projector {
    /// Starts this test binary as a projector, running the test `test` (which
    /// calls [`run_as_projector_if_asked`] first).
    fn start(config: &ReadSideConfig, test: &str) -> Self {
        let raw = serde_json::to_string(&(
            &config.event_store_url,
            &config.read_model_url,
            &config.redis_url,
            &config.redis_prefix,
        ))
        .expect("json");
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", test, "--test-threads=1"])
            .env(CHILD_ENV, raw)
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("child starts");
        Self(child)
    }

    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Projector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Appends `count` vote events (casts and withdrawals that the vote
/// aggregates would accept) on `questions`, one transaction each.
async fn pour_votes(setup: Arc<Setup>, meetup: MeetupId, questions: Vec<QuestionId>, count: usize) {
    let participants: Vec<ParticipantId> = (0..40).map(|_| ParticipantId::new()).collect();
    let mut liked: HashSet<(usize, usize)> = HashSet::new();
    for _ in 0..count {
        let (q, p) = {
            let mut rng = rand::thread_rng();
            (
                rng.gen_range(0..questions.len()),
                rng.gen_range(0..participants.len()),
            )
        };
        let cast = liked.insert((q, p));
        if !cast {
            liked.remove(&(q, p));
        }
        setup
            .events
            .append(&[vote(meetup, questions[q], participants[p], cast)])
            .await;
    }
}

/// Waits until the read model has applied everything in the store, then
/// compares each question's likes with the store's votes.
async fn assert_likes_match_the_store(
    setup: &Setup,
    meetup: MeetupId,
    questions: &[QuestionId],
    check_leaderboard: bool,
) {
    let read_side = setup.read_side().await;
    let queries = read_side.queries();
    let head = {
        let status = read_side.status().await;
        status
            .iter()
            .map(|s| s.lag.unwrap_or(0) + s.checkpoint.unwrap_or(0))
            .max()
            .unwrap_or(0)
    };
    let reached = queries
        .wait_for_position(head, Duration::from_secs(180))
        .await
        .expect("waits");
    assert!(
        reached >= head,
        "{}: read model reached {reached} of {head}",
        setup.name()
    );
    let in_store = setup.events.likes_in_store().await;
    let organizer = Viewer {
        participant: None,
        organizer: true,
    };
    for q in questions {
        let view = queries
            .question(*q, &organizer)
            .await
            .expect("reads")
            .expect("exists");
        assert_eq!(
            view.likes,
            in_store.get(q).copied().unwrap_or(0),
            "{}: likes of {q}",
            setup.name()
        );
    }
    if check_leaderboard {
        let expected: HashMap<QuestionId, i64> = questions
            .iter()
            .map(|q| (*q, in_store.get(q).copied().unwrap_or(0)))
            .collect();
        let matched = eventually(WAIT, || async {
            let board = queries
                .leaderboard(meetup, 100, &Viewer::default())
                .await
                .ok()?;
            (board.items.len() == questions.len()
                && board
                    .items
                    .iter()
                    .all(|q| expected.get(&q.id) == Some(&q.likes)))
            .then_some(())
        })
        .await;
        assert!(
            matched.is_some(),
            "{}: leaderboard likes match the store",
            setup.name()
        );
    }
}

async fn seed(setup: &Setup) -> (MeetupId, Vec<QuestionId>) {
    let meetup = MeetupId::new();
    let questions: Vec<QuestionId> = (0..25).map(|_| QuestionId::new()).collect();
    let mut events = vec![meetup_created(meetup, "CRASH2", false)];
    events.extend(
        questions
            .iter()
            .map(|q| question_posted(meetup, *q, ParticipantId::new(), false)),
    );
    setup.events.append(&events).await;
    (meetup, questions)
}

/// The largest position the read model has applied, as stored (read by a
/// read side that runs no projector of its own).
async fn applied(observer: &ReadSide) -> i64 {
    observer
        .status()
        .await
        .iter()
        .find(|s| s.name == "read_model")
        .and_then(|s| s.checkpoint)
        .unwrap_or(0)
}

per_adapter_set!(
    Setup::of => #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    projectors_killed_at_random_moments_neither_lose_nor_double_count_a_like,
    before run_as_projector_if_asked
);
async fn projectors_killed_at_random_moments_neither_lose_nor_double_count_a_like(setup: Setup) {
    // Migrations run here, before any child races to run them.
    let observer = setup.read_side().await;
    let child = format!("{KILLED}::{}", setup.set.test_name());
    let setup = Arc::new(setup);
    let (meetup, questions) = seed(&setup).await;
    let writer = tokio::spawn(pour_votes(
        setup.clone(),
        meetup,
        questions.clone(),
        crash_events(),
    ));
    let mut kills = 0;
    while !writer.is_finished() {
        // Each projector is killed once it has applied a random number of
        // further events (or the votes stopped coming), wherever in a batch
        // it is by then.
        let target = applied(&observer).await + rand::thread_rng().gen_range(1..=300);
        let projector = Projector::start(&setup.config, &child);
        eventually(WAIT, || async {
            (writer.is_finished() || applied(&observer).await >= target).then_some(())
        })
        .await
        .expect("a started projector applies events");
        projector.kill();
        kills += 1;
    }
    writer.await.expect("writer finishes");
    let projector = Projector::start(&setup.config, &child);
    assert_likes_match_the_store(&setup, meetup, &questions, setup.set == AdapterSet::Scaled).await;
    projector.kill();
    eprintln!("{}: {kills} projector kills", setup.name());
    assert!(kills > 0);
    drop(observer);
    if let Ok(setup) = Arc::try_unwrap(setup) {
        setup.drop_all().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_active_projector_dies_the_standby_takes_over() {
    run_as_projector_if_asked().await;
    let Some(setup) = Setup::scaled().await else {
        return;
    };
    drop(setup.read_side().await);
    let setup = Arc::new(setup);
    let (meetup, questions) = seed(&setup).await;
    let first = Projector::start(&setup.config, TAKEOVER);
    pour_votes(setup.clone(), meetup, questions.clone(), 200).await;
    assert_likes_match_the_store(&setup, meetup, &questions, true).await;

    let second = Projector::start(&setup.config, TAKEOVER);
    // The second one stands by: exactly one holder of each projection's lock.
    let pool = match &setup.events {
        EventStore::Postgres { pool, .. } => pool.clone(),
        EventStore::Sqlite { .. } => unreachable!("scaled setup"),
    };
    let leaders = || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 1 AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND classid::bigint >> 16 = 20816",
        )
        .fetch_one(&pool)
        .await
        .expect("pg_locks");
        n
    };
    // Standing by shows as sessions that asked for a lock and hold none.
    let standing_by = || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity a
             WHERE a.datname = current_database()
               AND a.query = 'SELECT pg_try_advisory_lock($1)'
               AND NOT EXISTS (SELECT 1 FROM pg_locks l
                               WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)",
        )
        .fetch_one(&pool)
        .await
        .expect("pg_stat_activity");
        n
    };
    eventually(WAIT, || async { (standing_by().await >= 2).then_some(()) })
        .await
        .expect("the second projector asks for both locks");
    assert_eq!(
        leaders().await,
        2,
        "one lock per projection, held by the first projector"
    );
    pour_votes(setup.clone(), meetup, questions.clone(), 100).await;

    first.kill();
    pour_votes(setup.clone(), meetup, questions.clone(), 200).await;
    assert_likes_match_the_store(&setup, meetup, &questions, true).await;
    assert_eq!(
        leaders().await,
        2,
        "the second projector holds both locks now"
    );
    second.kill();
    if let Ok(setup) = Arc::try_unwrap(setup) {
        setup.drop_all().await;
    }
}
