//! The read-model store's contract, run against the SQLite and the MySQL
//! (MariaDB) adapter: one test per adapter for each point, so a failure names
//! the adapter that broke.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use qicoo_domain::{
    MeetupEvent, MeetupId, OrganizerKeyHash, ParticipantId, QuestionEvent, QuestionId,
    QuestionStatus, VoteEvent,
};
use qicoo_projections::readmodel::{
    mysql, sqlite, After, Lease, MeetupKey, QuestionList, ReadModelStore, Sort, Visible,
};
use qicoo_projections::{ApplyError, Checkpoint, DomainEvent, FeedPosition, StoredEvent};
use qicoo_testkit::MySqlTestDb;
use sqlx::sqlite::SqlitePoolOptions;

/// A store of one adapter and what to drop once the test is done.
struct Store {
    model: Arc<dyn ReadModelStore>,
    mysql: Option<MySqlTestDb>,
    _dir: Option<tempfile::TempDir>,
}

impl Store {
    async fn sqlite() -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join("readmodel.db").display());
        let options = qicoo_storage::sqlite_options(&url).expect("sqlite url");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .expect("opens sqlite");
        let model: Arc<dyn ReadModelStore> = Arc::new(sqlite::read_model(pool));
        model.migrate().await.expect("migrates");
        Some(Self {
            model,
            mysql: None,
            _dir: Some(dir),
        })
    }

    async fn mysql() -> Option<Self> {
        let db = MySqlTestDb::create().await?;
        let pool = sqlx::MySqlPool::connect(&db.url).await.expect("connects");
        let model: Arc<dyn ReadModelStore> = Arc::new(mysql::read_model(pool));
        model.migrate().await.expect("migrates");
        Some(Self {
            model,
            mysql: Some(db),
            _dir: None,
        })
    }

    async fn drop_all(self) {
        if let Some(db) = self.mysql {
            db.drop_db().await;
        }
    }
}

/// Declares, for each contract point `f(model)`, one test per adapter.
macro_rules! contract {
    ($($point:ident),* $(,)?) => {
        mod sqlite_adapter {
            $(
                #[tokio::test]
                async fn $point() {
                    let store = super::Store::sqlite().await.expect("sqlite");
                    super::$point(store.model.clone()).await;
                    store.drop_all().await;
                }
            )*
        }
        mod mysql_adapter {
            $(
                #[tokio::test]
                async fn $point() {
                    let Some(store) = super::Store::mysql().await else { return };
                    super::$point(store.model.clone()).await;
                    store.drop_all().await;
                }
            )*
        }
    };
}

contract!(
    a_new_read_model_is_empty_and_migrating_again_is_harmless,
    a_batch_and_its_checkpoint_are_visible_together,
    questions_list_most_liked_first_with_the_earlier_posted_first_among_equals,
    a_page_continues_after_the_question_it_names,
    pending_questions_are_visible_only_as_asked,
    a_stale_checkpoint_writes_nothing,
    a_vote_on_an_unknown_question_stops_the_batch_at_it,
    fresh_tables_fill_beside_the_live_ones_and_swap_in_whole,
    a_lease_has_one_holder_until_it_expires_or_is_released,
);

fn at(second: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + second, 0).expect("a valid time")
}

fn stored(position: i64) -> StoredEvent {
    StoredEvent {
        feed: FeedPosition {
            transaction_id: 0,
            global_position: position,
        },
        aggregate_type: String::new(),
        aggregate_id: String::new(),
        sequence: 1,
        event_type: String::new(),
        payload: serde_json::Value::Null,
        metadata: HashMap::new(),
        recorded_at: at(position),
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

fn created(meetup: MeetupId, code: &str, moderated: bool) -> DomainEvent {
    DomainEvent::Meetup(
        meetup,
        MeetupEvent::MeetupCreated {
            id: meetup,
            title: format!("Meetup {code}"),
            code: code.to_owned(),
            moderated,
            organizer_key_hash: OrganizerKeyHash::new(format!("hash-of-{code}")),
        },
    )
}

fn posted(
    meetup: MeetupId,
    question: QuestionId,
    author: ParticipantId,
    pending: bool,
) -> DomainEvent {
    DomainEvent::Question(
        question,
        QuestionEvent::QuestionPosted {
            id: question,
            meetup_id: meetup,
            author,
            text: format!("Question {question}?"),
            author_name: Some("Ada".into()),
            pending,
        },
    )
}

fn cast(meetup: MeetupId, question: QuestionId, participant: ParticipantId) -> DomainEvent {
    DomainEvent::Vote(VoteEvent::VoteCast {
        question_id: question,
        meetup_id: meetup,
        participant,
    })
}

/// Applies `events` at positions `first..` as one batch after `expected`;
/// returns the checkpoint written.
async fn apply(
    model: &dyn ReadModelStore,
    expected: Option<Checkpoint>,
    first: i64,
    events: Vec<DomainEvent>,
) -> Result<Checkpoint, ApplyError> {
    let stored: Vec<StoredEvent> = (first..).take(events.len()).map(stored).collect();
    let batch: Vec<(&StoredEvent, DomainEvent)> = stored.iter().zip(events).collect();
    let last = first + i64::try_from(batch.len()).expect("small") - 1;
    let next = checkpoint(last);
    model.apply(expected.as_ref(), &batch, &next).await?;
    Ok(next)
}

fn public() -> Visible {
    Visible {
        statuses: vec![QuestionStatus::Published],
        ..Visible::default()
    }
}

fn list(visible: Visible, liked_by: Option<ParticipantId>) -> QuestionList {
    QuestionList {
        visible,
        sort: Sort::Top,
        after: None,
        limit: 50,
        liked_by,
    }
}

fn ids(questions: &[qicoo_projections::QuestionView]) -> Vec<QuestionId> {
    questions.iter().map(|q| q.id).collect()
}

async fn a_new_read_model_is_empty_and_migrating_again_is_harmless(model: Arc<dyn ReadModelStore>) {
    model.migrate().await.expect("migrates again");
    assert_eq!(model.checkpoint().await.expect("checkpoint"), None);
    assert_eq!(model.position().await.expect("position"), 0);
    let nobody = MeetupId::new();
    assert_eq!(
        model.meetup(MeetupKey::Id(nobody)).await.expect("reads"),
        None
    );
    assert!(model
        .organizer_key_hash(nobody)
        .await
        .expect("reads")
        .is_none());
}

async fn a_batch_and_its_checkpoint_are_visible_together(model: Arc<dyn ReadModelStore>) {
    let (m, q, author) = (MeetupId::new(), QuestionId::new(), ParticipantId::new());
    let cp = apply(
        model.as_ref(),
        None,
        1,
        vec![created(m, "RUST42", false), posted(m, q, author, false)],
    )
    .await
    .expect("applies");
    assert_eq!(model.checkpoint().await.expect("checkpoint"), Some(cp));
    assert_eq!(model.position().await.expect("position"), 2);
    let by_id = model.meetup(MeetupKey::Id(m)).await.expect("reads");
    let by_code = model
        .meetup(MeetupKey::Code("RUST42"))
        .await
        .expect("reads");
    assert_eq!(
        by_id.as_ref().map(|v| v.title.as_str()),
        Some("Meetup RUST42")
    );
    assert_eq!(by_id, by_code);
    assert_eq!(
        model
            .organizer_key_hash(m)
            .await
            .expect("reads")
            .map(|h| h.as_str().to_owned()),
        Some("hash-of-RUST42".to_owned())
    );
    assert_eq!(model.question_meetup(q).await.expect("reads"), Some(m));
    let questions = model
        .questions(m, &list(public(), None))
        .await
        .expect("reads");
    assert_eq!(ids(&questions), vec![q]);
    assert_eq!(questions[0].author, author);
    assert_eq!(questions[0].posted_position, 2);
    assert_eq!(questions[0].liked_by_me, None);
}

async fn questions_list_most_liked_first_with_the_earlier_posted_first_among_equals(
    model: Arc<dyn ReadModelStore>,
) {
    let m = MeetupId::new();
    let [first, second, third] = [(); 3].map(|_| QuestionId::new());
    let (author, fan, other) = (
        ParticipantId::new(),
        ParticipantId::new(),
        ParticipantId::new(),
    );
    apply(
        model.as_ref(),
        None,
        1,
        vec![
            created(m, "TIES01", false),
            posted(m, first, author, false),
            posted(m, second, author, false),
            posted(m, third, author, false),
            // The later question is liked first: ties go by posting, not by
            // who reached the count first.
            cast(m, third, fan),
            cast(m, second, other),
            cast(m, first, fan),
        ],
    )
    .await
    .expect("applies");
    let top = model
        .questions(m, &list(public(), Some(fan)))
        .await
        .expect("reads");
    assert_eq!(ids(&top), vec![first, second, third]);
    assert_eq!(
        top.iter().map(|q| q.likes).collect::<Vec<_>>(),
        vec![1, 1, 1]
    );
    assert_eq!(
        top.iter().map(|q| q.liked_by_me).collect::<Vec<_>>(),
        vec![Some(true), Some(false), Some(true)]
    );
    let recent = QuestionList {
        sort: Sort::Recent,
        ..list(public(), None)
    };
    assert_eq!(
        ids(&model.questions(m, &recent).await.expect("reads")),
        vec![third, second, first]
    );
}

async fn a_page_continues_after_the_question_it_names(model: Arc<dyn ReadModelStore>) {
    let m = MeetupId::new();
    let qs: Vec<QuestionId> = (0..5).map(|_| QuestionId::new()).collect();
    let author = ParticipantId::new();
    let mut events = vec![created(m, "PAGE01", false)];
    events.extend(qs.iter().map(|q| posted(m, *q, author, false)));
    events.push(cast(m, qs[4], ParticipantId::new()));
    apply(model.as_ref(), None, 1, events)
        .await
        .expect("applies");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = QuestionList {
            after,
            limit: 2,
            ..list(public(), None)
        };
        let rows = model.questions(m, &page).await.expect("reads");
        let Some(last) = rows.last() else { break };
        after = Some(After {
            likes: last.likes,
            posted_position: last.posted_position,
        });
        seen.extend(ids(&rows));
    }
    assert_eq!(seen, vec![qs[4], qs[0], qs[1], qs[2], qs[3]]);
}

async fn pending_questions_are_visible_only_as_asked(model: Arc<dyn ReadModelStore>) {
    let m = MeetupId::new();
    let (shown, waiting) = (QuestionId::new(), QuestionId::new());
    let (author, stranger) = (ParticipantId::new(), ParticipantId::new());
    apply(
        model.as_ref(),
        None,
        1,
        vec![
            created(m, "MODR01", true),
            posted(m, shown, author, false),
            posted(m, waiting, author, true),
        ],
    )
    .await
    .expect("applies");
    let as_stranger = Visible {
        pending_of: Some(stranger),
        ..public()
    };
    let as_author = Visible {
        pending_of: Some(author),
        ..public()
    };
    let organizer = Visible {
        statuses: vec![QuestionStatus::Pending, QuestionStatus::Published],
        ..Visible::default()
    };
    let nothing = Visible::default();
    assert_eq!(
        ids(&model
            .questions(m, &list(as_stranger, None))
            .await
            .expect("reads")),
        vec![shown]
    );
    assert_eq!(
        ids(&model
            .questions(m, &list(as_author, None))
            .await
            .expect("reads")),
        vec![shown, waiting]
    );
    assert_eq!(
        ids(&model
            .questions(m, &list(organizer, None))
            .await
            .expect("reads")),
        vec![shown, waiting]
    );
    assert!(model
        .questions(m, &list(nothing.clone(), None))
        .await
        .expect("reads")
        .is_empty());
    let by_id = model
        .questions_by_id(&[shown, waiting], &public(), None)
        .await
        .expect("reads");
    assert_eq!(ids(&by_id), vec![shown]);
    assert!(model
        .questions_by_id(&[shown], &nothing, None)
        .await
        .expect("reads")
        .is_empty());
}

async fn a_stale_checkpoint_writes_nothing(model: Arc<dyn ReadModelStore>) {
    let m = MeetupId::new();
    let first = apply(model.as_ref(), None, 1, vec![created(m, "STALE1", false)])
        .await
        .expect("applies");
    let q = QuestionId::new();
    // Written by a worker that never saw the first batch.
    let stale = apply(
        model.as_ref(),
        None,
        2,
        vec![posted(m, q, ParticipantId::new(), false)],
    )
    .await;
    assert!(
        matches!(stale, Err(ApplyError::CheckpointMoved { .. })),
        "{stale:?}"
    );
    assert_eq!(model.checkpoint().await.expect("checkpoint"), Some(first));
    assert_eq!(model.question_meetup(q).await.expect("reads"), None);
}

async fn a_vote_on_an_unknown_question_stops_the_batch_at_it(model: Arc<dyn ReadModelStore>) {
    let m = MeetupId::new();
    let (q, ghost, voter) = (QuestionId::new(), QuestionId::new(), ParticipantId::new());
    let result = apply(
        model.as_ref(),
        None,
        1,
        vec![
            created(m, "BADEV1", false),
            posted(m, q, ParticipantId::new(), false),
            cast(m, q, voter),
            cast(m, ghost, voter),
        ],
    )
    .await;
    assert!(
        matches!(result, Err(ApplyError::BadEvent { position: 4, .. })),
        "{result:?}"
    );
    assert_eq!(model.checkpoint().await.expect("checkpoint"), None);
    assert_eq!(model.meetup(MeetupKey::Id(m)).await.expect("reads"), None);
}

async fn fresh_tables_fill_beside_the_live_ones_and_swap_in_whole(model: Arc<dyn ReadModelStore>) {
    let (old, new) = (MeetupId::new(), MeetupId::new());
    apply(model.as_ref(), None, 1, vec![created(old, "OLD001", false)])
        .await
        .expect("applies");
    let fresh = model.fresh();
    model.create_fresh().await.expect("creates fresh tables");
    assert_eq!(fresh.checkpoint().await.expect("checkpoint"), None);
    let rebuilt = apply(fresh.as_ref(), None, 1, vec![created(new, "NEW001", false)])
        .await
        .expect("applies to the fresh tables");
    // The live tables serve as before until the swap.
    assert!(model
        .meetup(MeetupKey::Id(old))
        .await
        .expect("reads")
        .is_some());
    assert!(model
        .meetup(MeetupKey::Id(new))
        .await
        .expect("reads")
        .is_none());
    model.swap_in_fresh().await.expect("swaps in");
    assert!(model
        .meetup(MeetupKey::Id(old))
        .await
        .expect("reads")
        .is_none());
    assert!(model
        .meetup(MeetupKey::Id(new))
        .await
        .expect("reads")
        .is_some());
    assert_eq!(model.checkpoint().await.expect("checkpoint"), Some(rebuilt));
    // Another rebuild can start over, and one that is given up leaves the
    // live tables alone.
    model
        .create_fresh()
        .await
        .expect("creates fresh tables again");
    model.drop_fresh().await.expect("drops them");
    assert!(model
        .meetup(MeetupKey::Id(new))
        .await
        .expect("reads")
        .is_some());
}

async fn a_lease_has_one_holder_until_it_expires_or_is_released(model: Arc<dyn ReadModelStore>) {
    let now = Utc::now().timestamp_millis();
    let minute = TimeDelta::minutes(1).num_milliseconds();
    let first = Lease {
        name: "replay",
        holder: "first".into(),
    };
    let second = Lease {
        name: "replay",
        holder: "second".into(),
    };
    assert!(model
        .take_lease(&first, now, now + minute)
        .await
        .expect("takes"));
    assert!(!model
        .take_lease(&second, now, now + minute)
        .await
        .expect("asks"));
    assert!(model
        .renew_lease(&first, now + 2 * minute)
        .await
        .expect("renews"));
    assert!(!model
        .renew_lease(&second, now + 2 * minute)
        .await
        .expect("asks"));
    // Once expired (its holder crashed), another takes it over, and the
    // first can no longer renew it.
    let later = now + 3 * minute;
    assert!(model
        .take_lease(&second, later, later + minute)
        .await
        .expect("takes over"));
    assert!(!model
        .renew_lease(&first, later + minute)
        .await
        .expect("asks"));
    model.release_lease(&second).await.expect("releases");
    assert!(model
        .take_lease(&first, later, later + minute)
        .await
        .expect("takes again"));
}
