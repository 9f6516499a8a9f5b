//! The read model and the queries over it, against both setups (SQLite with
//! the in-memory leaderboard; MariaDB with Redis over a Postgres event store):
//! sorting, pagination, visibility, meetups, read-your-writes.

use std::time::Duration;

use qicoo_domain::{
    MeetupEvent, MeetupId, ParticipantId, QuestionEvent, QuestionId, QuestionStatus,
};
use qicoo_projections::{QuestionQuery, Sort, Viewer, WorkerState};

use crate::support::{
    assert_reaches, eventually, join_code_claimed, meetup_changed, meetup_created, per_adapter_set,
    question_changed, question_posted, vote, wait_until_applied, Ev, Running, Setup,
};

const WAIT: Duration = Duration::from_secs(30);

/// Appends `events` in one transaction and waits until every projection has
/// applied them: the read model answers for their position, and the
/// leaderboard has ranked them (its reads do not wait on their own).
async fn append_and_wait(setup: &Setup, running: &Running, events: &[Ev]) -> i64 {
    let positions = setup.events.append(events).await;
    let last = *positions.iter().max().expect("some events");
    assert_reaches(running.queries().as_ref(), last, WAIT).await;
    wait_until_applied(&running.read_side, last, WAIT).await;
    last
}

fn ids(page: &[qicoo_projections::QuestionView]) -> Vec<QuestionId> {
    page.iter().map(|q| q.id).collect()
}

fn organizer() -> Viewer {
    Viewer {
        participant: None,
        organizer: true,
    }
}

fn participant(p: ParticipantId) -> Viewer {
    Viewer {
        participant: Some(p),
        organizer: false,
    }
}

per_adapter_set!(
    Setup::of => #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    questions_sort_by_likes_then_age_and_page_with_a_cursor
);
async fn questions_sort_by_likes_then_age_and_page_with_a_cursor(setup: Setup) {
    let running = setup.start().await;
    let queries = running.queries();

    let m = MeetupId::new();
    let author = ParticipantId::new();
    let q: Vec<QuestionId> = (0..5).map(|_| QuestionId::new()).collect();
    let voters: Vec<ParticipantId> = (0..3).map(|_| ParticipantId::new()).collect();
    let mut events = vec![meetup_created(m, "TOP234", false)];
    events.extend(q.iter().map(|id| question_posted(m, *id, author, false)));
    append_and_wait(&setup, &running, &events).await;
    let mut votes = Vec::new();
    for v in &voters {
        votes.push(vote(m, q[2], *v, true));
    }
    votes.push(vote(m, q[0], voters[0], true));
    votes.push(vote(m, q[0], voters[1], true));
    votes.push(vote(m, q[4], voters[0], true));
    votes.push(vote(m, q[4], voters[2], true));
    votes.push(vote(m, q[3], voters[1], true));
    append_and_wait(&setup, &running, &votes).await;
    append_and_wait(&setup, &running, &[vote(m, q[3], voters[1], false)]).await;

    // Top: q2 (3), q0 (2, earlier), q4 (2), q1 (0, earlier), q3 (0).
    let mut query = QuestionQuery {
        limit: 2,
        ..QuestionQuery::default()
    };
    let page1 = queries.questions(m, &query).await.expect("page 1");
    assert_eq!(ids(&page1.items), vec![q[2], q[0]], "{}", setup.name());
    assert_eq!(page1.items[0].likes, 3);
    query.cursor = page1.next_cursor.clone();
    let page2 = queries.questions(m, &query).await.expect("page 2");
    assert_eq!(ids(&page2.items), vec![q[4], q[1]]);
    query.cursor = page2.next_cursor.clone();
    let page3 = queries.questions(m, &query).await.expect("page 3");
    assert_eq!(ids(&page3.items), vec![q[3]]);
    assert_eq!(page3.next_cursor, None);
    assert!(page3.position > 0);

    let recent = queries
        .questions(
            m,
            &QuestionQuery {
                sort: Sort::Recent,
                limit: 100,
                ..QuestionQuery::default()
            },
        )
        .await
        .expect("recent");
    assert_eq!(
        ids(&recent.items),
        q.iter().rev().copied().collect::<Vec<_>>()
    );

    // A cursor of one sort is refused by the other; limits are checked.
    let wrong = QuestionQuery {
        sort: Sort::Recent,
        cursor: page1.next_cursor.clone(),
        ..QuestionQuery::default()
    };
    assert!(queries.questions(m, &wrong).await.is_err());
    let too_many = QuestionQuery {
        limit: 101,
        ..QuestionQuery::default()
    };
    assert!(queries.questions(m, &too_many).await.is_err());

    // The leaderboard ranks the same way, and drops answered questions.
    let board = queries
        .leaderboard(m, 3, &Viewer::default())
        .await
        .expect("leaderboard");
    assert_eq!(
        ids(&board.items),
        vec![q[2], q[0], q[4]],
        "{}",
        setup.name()
    );
    assert_eq!(
        board.items.iter().map(|i| i.likes).collect::<Vec<_>>(),
        vec![3, 2, 2]
    );
    append_and_wait(
        &setup,
        &running,
        &[question_changed(m, q[2], QuestionEvent::QuestionAnswered)],
    )
    .await;
    let board = eventually(WAIT, || async {
        let board = queries.leaderboard(m, 3, &Viewer::default()).await.ok()?;
        (ids(&board.items) == vec![q[0], q[4], q[1]]).then_some(board)
    })
    .await;
    assert!(
        board.is_some(),
        "{}: answered question leaves the leaderboard",
        setup.name()
    );

    running.stop().await;
    setup.drop_all().await;
}

per_adapter_set!(
    Setup::of => #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    pending_and_rejected_questions_are_seen_only_by_the_organizer_and_pending_by_its_author
);
async fn pending_and_rejected_questions_are_seen_only_by_the_organizer_and_pending_by_its_author(
    setup: Setup,
) {
    let running = setup.start().await;
    let queries = running.queries();

    let m = MeetupId::new();
    let (a, b, fan) = (
        ParticipantId::new(),
        ParticipantId::new(),
        ParticipantId::new(),
    );
    let [qa, qb, qc, qd, qe] = [(); 5].map(|_| QuestionId::new());
    let events = vec![
        meetup_created(m, "VIS234", true),
        question_posted(m, qa, a, true),
        question_posted(m, qb, b, true),
        question_posted(m, qc, b, true),
        question_posted(m, qd, b, true),
        question_posted(m, qe, b, true),
        question_changed(m, qb, QuestionEvent::QuestionApproved),
        question_changed(m, qc, QuestionEvent::QuestionRejected),
        question_changed(m, qd, QuestionEvent::QuestionApproved),
        question_changed(m, qd, QuestionEvent::QuestionWithdrawn),
        question_changed(m, qe, QuestionEvent::QuestionApproved),
        question_changed(m, qe, QuestionEvent::QuestionRemoved { reason: None }),
        vote(m, qb, fan, true),
    ];
    append_and_wait(&setup, &running, &events).await;

    let list = |viewer: Viewer, status: Option<QuestionStatus>| {
        let queries = queries.clone();
        async move {
            let query = QuestionQuery {
                sort: Sort::Recent,
                status,
                viewer,
                ..QuestionQuery::default()
            };
            let mut got = ids(&queries.questions(m, &query).await.expect("lists").items);
            got.sort();
            got
        }
    };
    let sorted = |mut v: Vec<QuestionId>| {
        v.sort();
        v
    };
    let name = setup.name();
    assert_eq!(
        list(Viewer::default(), None).await,
        vec![qb],
        "{name}: anyone"
    );
    assert_eq!(
        list(participant(a), None).await,
        sorted(vec![qa, qb]),
        "{name}: author"
    );
    assert_eq!(
        list(participant(a), Some(QuestionStatus::Pending)).await,
        vec![qa]
    );
    assert_eq!(
        list(participant(b), Some(QuestionStatus::Rejected)).await,
        vec![]
    );
    assert_eq!(
        list(organizer(), None).await,
        sorted(vec![qa, qb, qc]),
        "{name}: organizer"
    );
    assert_eq!(
        list(organizer(), Some(QuestionStatus::Withdrawn)).await,
        vec![qd]
    );
    assert_eq!(
        list(organizer(), Some(QuestionStatus::Removed)).await,
        vec![qe]
    );

    assert!(queries
        .question(qa, &Viewer::default())
        .await
        .expect("q")
        .is_none());
    assert!(queries
        .question(qa, &participant(a))
        .await
        .expect("q")
        .is_some());
    assert!(queries
        .question(qc, &organizer())
        .await
        .expect("q")
        .is_some());
    assert!(queries
        .question(qd, &organizer())
        .await
        .expect("q")
        .is_some());
    assert!(queries
        .question(qd, &participant(b))
        .await
        .expect("q")
        .is_none());
    assert_eq!(queries.question_meetup(qa).await.expect("q"), Some(m));

    let liked = queries
        .question(qb, &participant(fan))
        .await
        .expect("q")
        .expect("visible");
    assert_eq!(liked.liked_by_me, Some(true));
    assert_eq!(liked.likes, 1);
    let not_liked = queries
        .question(qb, &participant(a))
        .await
        .expect("q")
        .expect("visible");
    assert_eq!(not_liked.liked_by_me, Some(false));
    let anonymous = queries
        .question(qb, &Viewer::default())
        .await
        .expect("q")
        .expect("visible");
    assert_eq!(anonymous.liked_by_me, None);

    let wire = serde_json::to_value(&liked).expect("serialises");
    for field in [
        "id",
        "meetup_id",
        "text",
        "author_name",
        "likes",
        "status",
        "answered",
        "highlighted",
        "created_at",
        "updated_at",
        "liked_by_me",
    ] {
        assert!(wire.get(field).is_some(), "{field} on the wire");
    }
    assert_eq!(wire["status"], "published");
    assert!(wire.get("author").is_none() && wire.get("position").is_none());
    assert!(serde_json::to_value(&anonymous)
        .expect("json")
        .get("liked_by_me")
        .is_none());

    running.stop().await;
    setup.drop_all().await;
}

per_adapter_set!(
    Setup::of => #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_meetup_is_found_by_id_and_by_join_code_and_follows_its_changes
);
async fn a_meetup_is_found_by_id_and_by_join_code_and_follows_its_changes(setup: Setup) {
    let running = setup.start().await;
    let queries = running.queries();

    let m = MeetupId::new();
    append_and_wait(
        &setup,
        &running,
        &[
            join_code_claimed(m, "RUST42"),
            meetup_created(m, "RUST42", false),
        ],
    )
    .await;
    let created = queries.meetup(m).await.expect("reads").expect("exists");
    assert_eq!(created.code, "RUST42");
    assert!(created.qa_open && !created.moderated && !created.archived);
    let by_code = queries.meetup_by_code("rust42").await.expect("reads");
    assert_eq!(by_code.as_ref().map(|v| v.id), Some(m));
    assert!(queries
        .meetup_by_code("NOPE22")
        .await
        .expect("reads")
        .is_none());

    append_and_wait(
        &setup,
        &running,
        &[
            meetup_changed(
                m,
                MeetupEvent::MeetupRenamed {
                    title: "Renamed".into(),
                },
            ),
            meetup_changed(m, MeetupEvent::QaClosed),
            meetup_changed(m, MeetupEvent::ModerationEnabled),
            meetup_changed(m, MeetupEvent::MeetupArchived),
        ],
    )
    .await;
    let changed = queries.meetup(m).await.expect("reads").expect("exists");
    assert_eq!(changed.title, "Renamed");
    assert!(!changed.qa_open && changed.moderated && changed.archived);
    assert_eq!(changed.created_at, created.created_at);
    let wire = serde_json::to_value(&changed).expect("json");
    for field in [
        "id",
        "code",
        "title",
        "qa_open",
        "moderated",
        "archived",
        "created_at",
    ] {
        assert!(wire.get(field).is_some(), "{field} on the wire");
    }

    running.stop().await;
    setup.drop_all().await;
}

per_adapter_set!(
    Setup::of => #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    an_event_that_cannot_be_applied_stops_the_projection_where_everyone_can_see
);
async fn an_event_that_cannot_be_applied_stops_the_projection_where_everyone_can_see(setup: Setup) {
    let running = setup.start().await;
    let queries = running.queries();

    let m = MeetupId::new();
    let good = append_and_wait(&setup, &running, &[meetup_created(m, "BAD234", false)]).await;
    let mut broken = meetup_changed(m, MeetupEvent::QaClosed);
    broken.payload = serde_json::json!({"NoSuchEvent": {}});
    let bad = setup.events.append(&[broken]).await[0];
    setup
        .events
        .append(&[meetup_changed(m, MeetupEvent::QaClosed)])
        .await;

    let failed = eventually(WAIT, || async {
        let status = running.read_side.status().await;
        status
            .iter()
            .all(|s| s.state == WorkerState::Failed)
            .then_some(status)
    })
    .await
    .expect("both projections fail");
    for status in &failed {
        let error = status.error.as_deref().unwrap_or_default();
        assert!(
            error.contains(&bad.to_string()),
            "{}: {error}",
            setup.name()
        );
        assert_eq!(
            status.checkpoint,
            Some(good),
            "stopped right before the bad event"
        );
    }
    assert!(running.read_side.any_failed());
    assert!(
        queries
            .meetup(m)
            .await
            .expect("reads")
            .expect("exists")
            .qa_open,
        "nothing after it applied"
    );

    running.stop().await;
    setup.drop_all().await;
}
