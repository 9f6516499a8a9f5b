//! Batched writes against event-by-event ones: for random event sequences
//! (vote runs with repeated voters, withdrawals, posts and other events in
//! between, several minutes and meetups), every table a batch writes ends
//! up row for row the same, and a bad vote inside a run fails with the same
//! error, naming that vote, and writes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use qicoo_domain::{MeetupEvent, MeetupId, ParticipantId, QuestionEvent, QuestionId, VoteEvent};
use qicoo_testkit::MySqlTestDb;
use sqlx::sqlite::SqlitePoolOptions;

use super::sql::{Kind, Row};
use super::{mysql, sqlite, ReadModelStore, SqlReadModel};
use crate::error::ApplyError;
use crate::event::{Checkpoint, DomainEvent, FeedPosition, StoredEvent};
use crate::runner::Projection;

const SLOTS: usize = 6;
const PARTICIPANTS: usize = 4;

/// An event with where and when it was stored.
fn stored(position: i64, at: DateTime<Utc>) -> StoredEvent {
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
        recorded_at: at,
    }
}

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

/// The ids a sequence uses and what the aggregates would still accept.
struct Model {
    meetups: [MeetupId; 2],
    questions: Vec<QuestionId>,
    participants: Vec<ParticipantId>,
    posted: Vec<bool>,
    answered: Vec<bool>,
    qa_open: [bool; 2],
    voters: HashSet<(usize, usize)>,
}

impl Model {
    fn new() -> Self {
        Self {
            meetups: [MeetupId::new(), MeetupId::new()],
            questions: (0..SLOTS).map(|_| QuestionId::new()).collect(),
            participants: (0..PARTICIPANTS).map(|_| ParticipantId::new()).collect(),
            posted: vec![false; SLOTS],
            answered: vec![false; SLOTS],
            qa_open: [true, true],
            voters: HashSet::new(),
        }
    }

    fn created(&self, m: usize) -> DomainEvent {
        DomainEvent::Meetup(
            self.meetups[m],
            MeetupEvent::MeetupCreated {
                id: self.meetups[m],
                title: format!("Meetup {m}"),
                code: format!("BATCH{m}"),
                moderated: false,
                organizer_key_hash: qicoo_domain::OrganizerKeyHash::new("hash"),
            },
        )
    }

    fn vote(&self, slot: usize, who: usize, cast: bool) -> DomainEvent {
        let question_id = self.questions[slot];
        let meetup_id = self.meetups[slot % 2];
        let participant = self.participants[who];
        DomainEvent::Vote(if cast {
            VoteEvent::VoteCast {
                question_id,
                meetup_id,
                participant,
            }
        } else {
            VoteEvent::VoteWithdrawn {
                question_id,
                meetup_id,
                participant,
            }
        })
    }

    /// The event an operation produces, if valid.
    fn step(&mut self, kind: u8, slot: usize, who: usize) -> Option<DomainEvent> {
        let meetup = slot % 2;
        match kind {
            0 if !self.posted[slot] => {
                self.posted[slot] = true;
                Some(DomainEvent::Question(
                    self.questions[slot],
                    QuestionEvent::QuestionPosted {
                        id: self.questions[slot],
                        meetup_id: self.meetups[meetup],
                        author: self.participants[who],
                        text: format!("Question {slot}?"),
                        author_name: None,
                        pending: false,
                    },
                ))
            }
            1..=6 if self.posted[slot] && self.voters.insert((slot, who)) => {
                Some(self.vote(slot, who, true))
            }
            7 | 8 if self.voters.remove(&(slot, who)) => Some(self.vote(slot, who, false)),
            9 => Some(DomainEvent::Ignored),
            10 if self.posted[slot] => {
                self.answered[slot] = !self.answered[slot];
                Some(DomainEvent::Question(
                    self.questions[slot],
                    if self.answered[slot] {
                        QuestionEvent::QuestionAnswered
                    } else {
                        QuestionEvent::QuestionReopened
                    },
                ))
            }
            11 => {
                self.qa_open[meetup] = !self.qa_open[meetup];
                Some(DomainEvent::Meetup(
                    self.meetups[meetup],
                    if self.qa_open[meetup] {
                        MeetupEvent::QaOpened
                    } else {
                        MeetupEvent::QaClosed
                    },
                ))
            }
            _ => None,
        }
    }
}

/// Every row of the tables the projection writes, in a fixed order.
async fn dump(model: &SqlReadModel) -> Vec<(String, Vec<Vec<super::sql::Value>>)> {
    let tables: [(&str, &str, &[Kind]); 6] = [
        (
            "meetups",
            "id, qa_open, updated_at, last_position",
            &[Kind::Text, Kind::Bool, Kind::Time, Kind::Int],
        ),
        (
            "questions",
            "id, status, likes, answered, updated_at, last_position",
            &[
                Kind::Text,
                Kind::Text,
                Kind::Int,
                Kind::Bool,
                Kind::Time,
                Kind::Int,
            ],
        ),
        (
            "votes",
            "question_id, participant_id, meetup_id, cast_at",
            &[Kind::Text, Kind::Text, Kind::Text, Kind::Time],
        ),
        (
            "activity",
            "meetup_id, minute, questions, likes, active_participants",
            &[Kind::Text, Kind::Time, Kind::Int, Kind::Int, Kind::Int],
        ),
        (
            "activity_participants",
            "meetup_id, minute, participant_id",
            &[Kind::Text, Kind::Time, Kind::Text],
        ),
        (
            "projection_checkpoints",
            "name, global_position",
            &[Kind::Text, Kind::Int],
        ),
    ];
    let mut out = Vec::new();
    for (table, columns, kinds) in tables {
        let rows: Vec<Row> = model
            .pool()
            .fetch(
                &format!(
                    "SELECT {columns} FROM {} ORDER BY {columns}",
                    model.t(table)
                ),
                vec![],
                kinds,
            )
            .await
            .expect("reads the table");
        out.push((table.to_owned(), rows.into_iter().map(|r| r.0).collect()));
    }
    out
}

/// Applies `events` to `model` in batches of `size`, each with its
/// checkpoint; returns the first error.
async fn apply_in_batches(
    model: &SqlReadModel,
    events: &[(StoredEvent, DomainEvent)],
    size: usize,
) -> Result<(), ApplyError> {
    let mut checkpoint: Option<Checkpoint> = model.checkpoint().await.expect("checkpoint");
    for chunk in events.chunks(size) {
        let batch: Vec<(&StoredEvent, DomainEvent)> =
            chunk.iter().map(|(s, e)| (s, e.clone())).collect();
        let last = chunk.last().map_or(0, |(s, _)| s.position());
        let next = Checkpoint {
            feed: FeedPosition {
                transaction_id: 0,
                global_position: last,
            },
            max_position: last,
            watermark: last,
        };
        model.apply(checkpoint.as_ref(), &batch, &next).await?;
        checkpoint = Some(next);
    }
    Ok(())
}

async fn sqlite_model() -> SqlReadModel {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("opens sqlite");
    let model = sqlite::read_model(pool);
    model.migrate().await.expect("migrates");
    model
}

async fn mysql_model() -> Option<(SqlReadModel, MySqlTestDb)> {
    let db = MySqlTestDb::create().await?;
    let pool = sqlx::MySqlPool::connect(&db.url).await.expect("connects");
    let model = mysql::read_model(pool);
    model.migrate().await.expect("migrates");
    Some((model, db))
}

/// The events of a random sequence, stored in order at increasing times.
fn events_of(ops: &[(u8, usize, usize, u8)]) -> Vec<(StoredEvent, DomainEvent)> {
    let mut model = Model::new();
    let mut at = start();
    let mut events = vec![
        (stored(1, at), model.created(0)),
        (stored(2, at), model.created(1)),
    ];
    for (kind, slot, who, gap) in ops {
        at += TimeDelta::seconds(i64::from(*gap));
        if let Some(event) = model.step(*kind, *slot, *who) {
            let position = 3 + i64::try_from(events.len()).expect("small");
            events.push((stored(position, at), event));
        }
    }
    events
}

/// Applies the events batched in `live` and one by one in its fresh
/// tables, and compares the two.
async fn compare(live: &SqlReadModel, events: &[(StoredEvent, DomainEvent)], size: usize) {
    let single = live.fresh_tables();
    single.create_fresh().await.expect("fresh tables");
    apply_in_batches(live, events, size).await.expect("batched");
    apply_in_batches(&single, events, 1)
        .await
        .expect("one by one");
    assert_eq!(dump(live).await, dump(&single).await);
}

fn ops() -> impl Strategy<Value = Vec<(u8, usize, usize, u8)>> {
    proptest::collection::vec(
        (
            // Mostly votes, so that runs are long and repeat voters.
            prop_oneof![3 => Just(0_u8), 14 => 1_u8..=8, 3 => 9_u8..=11],
            0..SLOTS,
            0..PARTICIPANTS,
            prop_oneof![4 => Just(0_u8), 1 => 1_u8..90],
        ),
        1..160,
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn batches_write_what_single_events_write_in_sqlite(ops in ops(), size in 2_usize..200) {
        runtime().block_on(async {
            let events = events_of(&ops);
            compare(&sqlite_model().await, &events, size).await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn batches_write_what_single_events_write_in_mysql(ops in ops(), size in 2_usize..200) {
        runtime().block_on(async {
            let Some((model, db)) = mysql_model().await else {
                return;
            };
            let events = events_of(&ops);
            compare(&model, &events, size).await;
            db.drop_db().await;
        });
    }
}

/// A batch whose runs hold one bad vote each way a vote can be bad.
async fn bad_votes_are_named(model: &SqlReadModel) {
    let m = Model::new();
    let at = start();
    let setup = vec![
        (stored(1, at), m.created(0)),
        (
            stored(2, at),
            DomainEvent::Question(
                m.questions[0],
                QuestionEvent::QuestionPosted {
                    id: m.questions[0],
                    meetup_id: m.meetups[0],
                    author: m.participants[0],
                    text: "Why?".into(),
                    author_name: None,
                    pending: false,
                },
            ),
        ),
        (stored(3, at), m.vote(0, 0, true)),
    ];
    apply_in_batches(model, &setup, 10).await.expect("setup");
    let before = dump(model).await;
    // Question 1 was never posted.
    let cases = [
        (m.vote(0, 0, true), "already likes"),
        (m.vote(0, 2, false), "does not like"),
        (m.vote(1, 1, true), "is not in the read model"),
    ];
    for (bad, reason) in cases {
        let batch = [
            (stored(4, at), m.vote(0, 1, true)),
            (stored(5, at), bad),
            (stored(6, at), m.vote(0, 3, true)),
        ];
        let result = apply_in_batches(model, &batch, 10).await;
        match result {
            Err(ApplyError::BadEvent {
                position,
                reason: why,
            }) => {
                assert_eq!(position, 5);
                assert!(why.contains(reason), "{why}");
            }
            other => panic!("expected a bad event, got {other:?}"),
        }
        assert_eq!(dump(model).await, before, "a failed batch writes nothing");
    }
}

#[tokio::test]
async fn a_bad_vote_in_a_run_fails_with_its_own_error_and_writes_nothing_in_sqlite() {
    bad_votes_are_named(&sqlite_model().await).await;
}

#[tokio::test]
async fn a_bad_vote_in_a_run_fails_with_its_own_error_and_writes_nothing_in_mysql() {
    let Some((model, db)) = mysql_model().await else {
        return;
    };
    bad_votes_are_named(&model).await;
    db.drop_db().await;
}

/// The events with a meetup in their metadata (alternating between the two),
/// so that they are chained.
fn chained(events: Vec<(StoredEvent, DomainEvent)>) -> Vec<(StoredEvent, DomainEvent)> {
    let m = Model::new();
    events
        .into_iter()
        .map(|(mut stored, event)| {
            let meetup = m.meetups[usize::from(stored.position() % 2 == 0)];
            stored
                .metadata
                .insert(qicoo_domain::metadata::MEETUP_ID.into(), meetup.to_string());
            (stored, event)
        })
        .collect()
}

/// Every row of the chain's tables, in a fixed order.
async fn dump_chain(model: &SqlReadModel) -> Vec<Vec<super::sql::Value>> {
    let mut out = Vec::new();
    for (sql, kinds) in [
        (
            format!(
                "SELECT meetup_id, link, position FROM {} ORDER BY position",
                model.t("event_links")
            ),
            [Kind::Text, Kind::Text, Kind::Int],
        ),
        (
            format!(
                "SELECT meetup_id, link, position FROM {} ORDER BY meetup_id",
                model.t("chain_heads")
            ),
            [Kind::Text, Kind::Text, Kind::Int],
        ),
        (
            format!(
                "SELECT meetup_id, link, events FROM {} ORDER BY meetup_id",
                model.t("chain_heads")
            ),
            [Kind::Text, Kind::Text, Kind::Int],
        ),
    ] {
        let rows = model
            .pool()
            .fetch(&sql, vec![], &kinds)
            .await
            .expect("reads the chain");
        out.extend(rows.into_iter().map(|r| r.0));
    }
    out
}

/// Applies the events batched in `live` and in bulk in its fresh tables,
/// and compares the two, chain included.
async fn compare_bulk(live: &SqlReadModel, events: &[(StoredEvent, DomainEvent)], size: usize) {
    let fresh = live.fresh_tables();
    fresh.create_fresh().await.expect("fresh tables");
    apply_in_batches(live, events, size).await.expect("batched");
    let mut bulk = fresh.bulk_load();
    for (stored, event) in events {
        bulk.fold(stored, event).expect("folds");
        if stored.position() % 7 == 0 {
            bulk.flush().await.expect("flushes");
        }
    }
    let last = events.last().map_or(0, |(s, _)| s.position());
    let checkpoint = Checkpoint {
        feed: FeedPosition {
            transaction_id: 0,
            global_position: last,
        },
        max_position: last,
        watermark: last,
    };
    bulk.finish(&checkpoint).await.expect("finishes");
    assert_eq!(dump(live).await, dump(&fresh).await);
    assert_eq!(dump_chain(live).await, dump_chain(&fresh).await);
    assert_eq!(
        fresh.checkpoint().await.expect("checkpoint"),
        Some(checkpoint)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn a_bulk_load_writes_what_batches_write_in_sqlite(ops in ops(), size in 2_usize..200) {
        runtime().block_on(async {
            let events = chained(events_of(&ops));
            compare_bulk(&sqlite_model().await, &events, size).await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn a_bulk_load_writes_what_batches_write_in_mysql(ops in ops(), size in 2_usize..200) {
        runtime().block_on(async {
            let Some((model, db)) = mysql_model().await else {
                return;
            };
            let events = chained(events_of(&ops));
            compare_bulk(&model, &events, size).await;
            db.drop_db().await;
        });
    }
}

/// A bad vote stops the bulk fold with the error the projection gives it.
#[tokio::test]
async fn a_bulk_fold_stops_at_a_bad_vote_with_the_projections_error() {
    let m = Model::new();
    let at = start();
    let setup = vec![
        (stored(1, at), m.created(0)),
        (
            stored(2, at),
            DomainEvent::Question(
                m.questions[0],
                QuestionEvent::QuestionPosted {
                    id: m.questions[0],
                    meetup_id: m.meetups[0],
                    author: m.participants[0],
                    text: "Why?".into(),
                    author_name: None,
                    pending: false,
                },
            ),
        ),
        (stored(3, at), m.vote(0, 0, true)),
    ];
    let cases = [
        (m.vote(0, 0, true), "already likes"),
        (m.vote(0, 2, false), "does not like"),
        (m.vote(1, 1, true), "is not in the read model"),
    ];
    for (bad, reason) in cases {
        let mut fold = super::fold::ReadModelFold::default();
        for (stored, event) in &setup {
            fold.fold(stored, event).expect("setup folds");
        }
        match fold.fold(&stored(5, at), &bad) {
            Err(ApplyError::BadEvent {
                position,
                reason: why,
            }) => {
                assert_eq!(position, 5);
                assert!(why.contains(reason), "{why}");
            }
            other => panic!("expected a bad event, got {other:?}"),
        }
    }
}
