//! Workers: status, hand-over on shutdown, standby.

use std::time::Duration;

use qicoo_domain::{MeetupId, ParticipantId, QuestionId};
use qicoo_projections::{ProjectionStatus, ReadSide, WorkerState};

use crate::support::{
    assert_reaches, eventually, meetup_created, per_adapter_set, question_posted, Running, Setup,
};

const WAIT: Duration = Duration::from_secs(60);

async fn states(read_side: &ReadSide) -> Vec<WorkerState> {
    read_side.status().await.iter().map(|s| s.state).collect()
}

async fn until_states(read_side: &ReadSide, want: WorkerState) -> Option<Vec<ProjectionStatus>> {
    eventually(WAIT, || async {
        let status = read_side.status().await;
        status.iter().all(|s| s.state == want).then_some(status)
    })
    .await
}

per_adapter_set!(
    Setup::of => #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    status_reports_each_projection_with_its_checkpoint_and_lag
);
async fn status_reports_each_projection_with_its_checkpoint_and_lag(setup: Setup) {
    let read_side = setup.read_side().await;
    let m = MeetupId::new();
    let positions = setup
        .events
        .append(&[
            meetup_created(m, "STAT22", false),
            question_posted(m, QuestionId::new(), ParticipantId::new(), false),
        ])
        .await;
    let head = *positions.last().expect("appended");

    let idle = read_side.status().await;
    assert_eq!(idle.len(), 2);
    for status in &idle {
        assert_eq!(status.state, WorkerState::NotRunning, "{}", setup.name());
        assert_eq!(status.lag, Some(head - status.checkpoint.unwrap_or(0)));
    }

    let running = Running::spawn(read_side);
    let caught_up = eventually(WAIT, || async {
        let status = running.read_side.status().await;
        status
            .iter()
            // The watermark may follow the checkpoint by one idle step.
            .all(|s| {
                s.state == WorkerState::Active && s.lag == Some(0) && s.watermark == Some(head)
            })
            .then_some(status)
    })
    .await
    .expect("both projections catch up");
    for status in caught_up {
        assert_eq!(
            status.checkpoint,
            Some(head),
            "{}: {}",
            setup.name(),
            status.name
        );
        assert_eq!(status.watermark, Some(head));
        assert_eq!(status.error, None);
    }
    assert!(!running.read_side.any_failed());

    let read_side = running.stop().await;
    assert_eq!(states(&read_side).await, vec![WorkerState::Stopped; 2]);
    setup.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopping_on_request_hands_its_projection_to_the_standby() {
    let Some(setup) = Setup::scaled().await else {
        return;
    };
    let first = setup.start().await;
    until_states(&first.read_side, WorkerState::Active)
        .await
        .expect("first leads");

    let second = setup.start().await;
    until_states(&second.read_side, WorkerState::Standby)
        .await
        .expect("second stands by");

    let m = MeetupId::new();
    let created = setup
        .events
        .append(&[meetup_created(m, "HAND22", false)])
        .await[0];
    let queries = second.queries();
    assert_reaches(queries.as_ref(), created, WAIT).await;

    first.stop().await;
    until_states(&second.read_side, WorkerState::Active)
        .await
        .expect("second takes over");
    let posted = setup
        .events
        .append(&[question_posted(
            m,
            QuestionId::new(),
            ParticipantId::new(),
            false,
        )])
        .await[0];
    assert_reaches(queries.as_ref(), posted, WAIT).await;

    second.stop().await;
    setup.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_reached_is_retried_and_reported_not_failed() {
    let mut setup = Setup::embedded().await;
    // Nothing listens on port 1: every leaderboard write is refused.
    setup.config.redis_url = Some("redis://127.0.0.1:1".into());
    let running = setup.start().await;
    let read_side = &running.read_side;
    let m = MeetupId::new();
    let created = setup
        .events
        .append(&[meetup_created(m, "DOWN22", false)])
        .await[0];

    let reported = eventually(WAIT, || async {
        let status = read_side.status().await;
        let board = status.iter().find(|s| s.name == "leaderboard")?;
        (board.state == WorkerState::Active && board.error.is_some()).then(|| board.clone())
    })
    .await
    .expect("the leaderboard reports its store error while retrying");
    assert!(reported.checkpoint.is_none());
    assert!(
        !read_side.any_failed(),
        "an unreachable store is not a failure"
    );
    // The other projection is not held up.
    let queries = read_side.queries();
    assert_reaches(queries.as_ref(), created, WAIT).await;
    let unavailable = queries.leaderboard(m, 10, &Default::default()).await;
    assert!(
        matches!(&unavailable, Err(e) if e.is_unavailable()),
        "{unavailable:?}"
    );

    // Workers stop even while retrying.
    running.stop().await;
    setup.drop_all().await;
}

#[test]
fn a_configuration_prints_without_the_credentials_in_its_urls() {
    let mut config =
        qicoo_projections::ReadSideConfig::new("postgres://qicoo:s3cret@db:5432/qicoo");
    config.read_model_url = Some("mysql://root:hunter2@mysql/qicoo".into());
    config.redis_url = Some("redis://:pw@redis:6379".into());
    let shown = format!("{config:?}");
    for secret in ["s3cret", "hunter2", ":pw@"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("postgres://***@db:5432/qicoo"), "{shown}");
}
