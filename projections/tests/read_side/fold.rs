//! Property: for any sequence of command-like events (only those the
//! aggregates would emit), the read model and the leaderboard equal a plain
//! fold of the same events, in both setups.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use qicoo_domain::{
    MeetupEvent, MeetupId, ParticipantId, QuestionEvent, QuestionId, QuestionStatus,
};
use qicoo_projections::{QuestionQuery, ReadQueries, Sort, Viewer};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

use crate::support::{
    eventually, meetup_changed, meetup_created, question_changed, question_posted, vote, Ev, Setup,
};

const SLOTS: usize = 5;
const PARTICIPANTS: usize = 3;

/// A question as the fold sees it.
#[derive(Clone, Debug)]
struct ModelQuestion {
    meetup: usize,
    author: usize,
    text: String,
    status: QuestionStatus,
    answered: bool,
    highlighted: bool,
    voters: HashSet<usize>,
    order: usize,
}

/// The fold: the state the events describe.
struct Model {
    meetups: Vec<(MeetupId, bool)>,
    ids: Vec<QuestionId>,
    participants: Vec<ParticipantId>,
    questions: Vec<Option<ModelQuestion>>,
    posts: usize,
    casts: usize,
}

impl Model {
    fn new() -> Self {
        Self {
            meetups: vec![(MeetupId::new(), false), (MeetupId::new(), true)],
            ids: (0..SLOTS).map(|_| QuestionId::new()).collect(),
            participants: (0..PARTICIPANTS).map(|_| ParticipantId::new()).collect(),
            questions: vec![None; SLOTS],
            posts: 0,
            casts: 0,
        }
    }

    fn setup_events(&self) -> Vec<Ev> {
        vec![
            meetup_created(self.meetups[0].0, "FOLD22", false),
            meetup_created(self.meetups[1].0, "FOLD33", true),
        ]
    }

    /// The event an operation produces, if the aggregates would accept it,
    /// applied to the fold.
    fn step(&mut self, kind: u8, slot: usize, who: usize) -> Option<Ev> {
        use QuestionStatus as S;
        let id = self.ids[slot];
        if kind == 11 {
            let (m, moderated) = &mut self.meetups[slot % 2];
            *moderated = !*moderated;
            let event = if *moderated {
                MeetupEvent::ModerationEnabled
            } else {
                MeetupEvent::ModerationDisabled
            };
            return Some(meetup_changed(*m, event));
        }
        if kind == 0 {
            if self.questions[slot].is_some() {
                return None;
            }
            let meetup = slot % 2;
            let pending = self.meetups[meetup].1;
            self.questions[slot] = Some(ModelQuestion {
                meetup,
                author: who,
                text: format!("Question {id}?"),
                status: if pending { S::Pending } else { S::Published },
                answered: false,
                highlighted: false,
                voters: HashSet::new(),
                order: self.posts,
            });
            self.posts += 1;
            return Some(question_posted(
                self.meetups[meetup].0,
                id,
                self.participants[who],
                pending,
            ));
        }
        let meetup_id = self.meetups[slot % 2].0;
        let participant = self.participants[who];
        let q = self.questions[slot].as_mut()?;
        let event = match kind {
            1 if q.status == S::Pending => {
                q.status = S::Published;
                QuestionEvent::QuestionApproved
            }
            2 if q.status == S::Pending => {
                q.status = S::Rejected;
                QuestionEvent::QuestionRejected
            }
            3 if matches!(q.status, S::Pending | S::Published) && !q.answered => {
                q.status = S::Withdrawn;
                QuestionEvent::QuestionWithdrawn
            }
            4 if q.status == S::Published && !q.answered => {
                q.answered = true;
                QuestionEvent::QuestionAnswered
            }
            5 if q.status == S::Published && q.answered => {
                q.answered = false;
                QuestionEvent::QuestionReopened
            }
            6 if q.status == S::Published && !q.highlighted => {
                q.highlighted = true;
                QuestionEvent::QuestionHighlighted
            }
            7 if q.highlighted => {
                q.highlighted = false;
                QuestionEvent::QuestionUnhighlighted
            }
            8 if q.status != S::Removed => {
                q.status = S::Removed;
                q.highlighted = false;
                QuestionEvent::QuestionRemoved { reason: None }
            }
            9 if q.status == S::Published && !q.voters.contains(&who) => {
                q.voters.insert(who);
                self.casts += 1;
                return Some(vote(meetup_id, id, participant, true));
            }
            10 if q.voters.contains(&who) => {
                q.voters.remove(&who);
                return Some(vote(meetup_id, id, participant, false));
            }
            12 if matches!(q.status, S::Pending | S::Published) && !q.answered => {
                q.text = format!("Edited {who} {}", q.text);
                QuestionEvent::QuestionEdited {
                    text: q.text.clone(),
                }
            }
            _ => return None,
        };
        Some(question_changed(meetup_id, id, event))
    }
}

async fn check(setup: &Setup, queries: &dyn ReadQueries, model: &Model) -> Result<(), String> {
    let organizer = Viewer {
        participant: None,
        organizer: true,
    };
    for (m_index, (meetup, moderated)) in model.meetups.iter().enumerate() {
        let view = queries
            .meetup(*meetup)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("meetup missing")?;
        if view.moderated != *moderated {
            return Err(format!("moderation of {meetup}"));
        }
        let in_meetup: Vec<(QuestionId, &ModelQuestion)> = model
            .questions
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.as_ref().map(|q| (model.ids[i], q)))
            .filter(|(_, q)| q.meetup == m_index)
            .collect();
        for status in [
            QuestionStatus::Pending,
            QuestionStatus::Published,
            QuestionStatus::Rejected,
            QuestionStatus::Withdrawn,
            QuestionStatus::Removed,
        ] {
            let page = queries
                .questions(
                    *meetup,
                    &QuestionQuery {
                        sort: Sort::Recent,
                        status: Some(status),
                        limit: 100,
                        viewer: organizer,
                        ..QuestionQuery::default()
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            let got: HashMap<QuestionId, (String, i64, bool, bool)> = page
                .items
                .iter()
                .map(|q| (q.id, (q.text.clone(), q.likes, q.answered, q.highlighted)))
                .collect();
            let want: HashMap<QuestionId, (String, i64, bool, bool)> = in_meetup
                .iter()
                .filter(|(_, q)| q.status == status)
                .map(|(id, q)| {
                    (
                        *id,
                        (
                            q.text.clone(),
                            q.voters.len() as i64,
                            q.answered,
                            q.highlighted,
                        ),
                    )
                })
                .collect();
            if got != want {
                return Err(format!("{status:?} questions: got {got:?}, want {want:?}"));
            }
        }
        // What one participant sees, sorted by likes, with liked_by_me.
        let who = 1;
        let page = queries
            .questions(
                *meetup,
                &QuestionQuery {
                    sort: Sort::Top,
                    limit: 100,
                    viewer: Viewer {
                        participant: Some(model.participants[who]),
                        organizer: false,
                    },
                    ..QuestionQuery::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut visible: Vec<&(QuestionId, &ModelQuestion)> = in_meetup
            .iter()
            .filter(|(_, q)| {
                q.status == QuestionStatus::Published
                    || (q.status == QuestionStatus::Pending && q.author == who)
            })
            .collect();
        visible.sort_by_key(|(_, q)| (-(q.voters.len() as i64), q.order));
        let got: Vec<(QuestionId, Option<bool>)> =
            page.items.iter().map(|q| (q.id, q.liked_by_me)).collect();
        let want: Vec<(QuestionId, Option<bool>)> = visible
            .iter()
            .map(|(id, q)| (*id, Some(q.voters.contains(&who))))
            .collect();
        if got != want {
            return Err(format!(
                "participant's top list: got {got:?}, want {want:?}"
            ));
        }
        // The leaderboard.
        let mut ranked: Vec<&(QuestionId, &ModelQuestion)> = in_meetup
            .iter()
            .filter(|(_, q)| q.status == QuestionStatus::Published && !q.answered)
            .collect();
        ranked.sort_by_key(|(_, q)| (-(q.voters.len() as i64), q.order));
        let want: Vec<(QuestionId, i64)> = ranked
            .iter()
            .map(|(id, q)| (*id, q.voters.len() as i64))
            .collect();
        let matched = eventually(Duration::from_secs(30), || async {
            let board = queries
                .leaderboard(*meetup, 100, &Viewer::default())
                .await
                .ok()?;
            let got: Vec<(QuestionId, i64)> = board.items.iter().map(|q| (q.id, q.likes)).collect();
            (got == want).then_some(())
        })
        .await;
        if matched.is_none() {
            return Err(format!("leaderboard of {meetup} never became {want:?}"));
        }
    }
    // Activity: every post and every cast is counted in some minute.
    let (questions, likes) = activity_totals(setup).await;
    if (questions, likes) != (model.posts as i64, model.casts as i64) {
        return Err(format!(
            "activity totals ({questions}, {likes}) != ({}, {})",
            model.posts, model.casts
        ));
    }
    Ok(())
}

/// Total questions and likes in the activity table.
async fn activity_totals(setup: &Setup) -> (i64, i64) {
    const SQL: &str = "SELECT CAST(coalesce(sum(questions), 0) AS SIGNED), CAST(coalesce(sum(likes), 0) AS SIGNED) FROM activity";
    match &setup.config.read_model_url {
        Some(url) => {
            let mut conn = sqlx::MySqlConnection::connect(url).await.expect("mysql");
            sqlx::query_as(SQL)
                .fetch_one(&mut conn)
                .await
                .expect("activity")
        }
        None => {
            // The embedded read model's own file, beside the events'.
            let url = qicoo_storage::read_model_beside(&setup.config.event_store_url)
                .expect("a SQLite file");
            let pool = sqlx::SqlitePool::connect(&url).await.expect("read model");
            let totals = sqlx::query_as(
                "SELECT coalesce(sum(questions), 0), coalesce(sum(likes), 0) FROM activity",
            )
            .fetch_one(&pool)
            .await
            .expect("activity");
            pool.close().await;
            totals
        }
    }
}

async fn run_case(
    setup: Setup,
    ops: Vec<(u8, usize, usize)>,
    group: usize,
    late: bool,
) -> Result<(), String> {
    let read_side = setup.read_side().await;
    let cancel = CancellationToken::new();
    // Started before the events are appended, the projectors mostly follow
    // them a few at a time; started after, they read them in full batches,
    // where runs of votes are written together.
    let early = (!late).then(|| read_side.spawn_projectors(cancel.clone()));
    let queries = read_side.queries();
    let mut model = Model::new();
    let mut last = *setup
        .events
        .append(&model.setup_events())
        .await
        .last()
        .unwrap_or(&0);
    let events: Vec<Ev> = ops
        .into_iter()
        .filter_map(|(kind, slot, who)| model.step(kind, slot, who))
        .collect();
    for chunk in events.chunks(group) {
        last = last.max(*setup.events.append(chunk).await.iter().max().unwrap_or(&0));
    }
    let workers = match early {
        Some(workers) => workers,
        None => read_side.spawn_projectors(cancel.clone()),
    };
    let reached = queries
        .wait_for_position(last, Duration::from_secs(60))
        .await
        .map_err(|e| e.to_string())?;
    let result = if reached < last {
        Err(format!("read model reached {reached} of {last}"))
    } else {
        match check(&setup, queries.as_ref(), &model).await {
            Ok(()) => crate::support::audit_fold_agrees(&read_side).await,
            Err(e) => Err(e),
        }
    };
    cancel.cancel();
    let _ = workers.await;
    let name = setup.name();
    setup.drop_all().await;
    result.map_err(|e| format!("{name}: {e}"))
}

/// Operation kinds, weighted so that questions get posted early and liked
/// and unliked a lot.
const KINDS: [u8; 24] = [
    0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 9, 9, 10, 10, 10, 11, 12,
];

fn ops() -> impl Strategy<Value = Vec<(u8, usize, usize)>> {
    proptest::collection::vec(
        (
            proptest::sample::select(KINDS.to_vec()),
            0..SLOTS,
            0..PARTICIPANTS,
        ),
        1..120,
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_embedded_read_side_equals_a_fold_of_the_events(ops in ops(), group in 1usize..5, late in any::<bool>()) {
        let result = runtime().block_on(async {
            run_case(Setup::embedded().await, ops, group, late).await
        });
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn the_scaled_out_read_side_equals_a_fold_of_the_events(ops in ops(), group in 1usize..5, late in any::<bool>()) {
        let result = runtime().block_on(async {
            match Setup::scaled().await {
                Some(setup) => run_case(setup, ops, group, late).await,
                None => Ok(()),
            }
        });
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
