//! A meetup folded from its events, in memory: the state as of any event,
//! what an export lists, and what `qicoo verify` compares the stores with.
//!
//! How each event changes a meetup or question comes from
//! [`crate::transitions`], the rules the read model and the leaderboard
//! apply too; likes are ranked by [`crate::ranking`]. The fold adds only what
//! an audit needs beyond them: when a question was answered, how often it
//! was edited, who posted and who liked, and activity per minute.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use qicoo_domain::{
    MeetupEvent, MeetupId, ParticipantId, QuestionEvent, QuestionId, QuestionStatus, VoteEvent,
};
use serde::Serialize;

use super::chain::Link;
use super::pseudonym::Pseudonyms;
use super::tables::{
    ActivityRow, ModerationRow, QuestionRow, Summary, TopQuestion, VoteAction, VoteRow,
};
use crate::event::{DomainEvent, StoredEvent};
use crate::ranking::{is_ranked, Rank};
use crate::transitions::{
    like_change, meetup_change, minute_of, posted_status, question_change, CREATED_QA_OPEN,
};

/// A question as it stood.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuestionState {
    pub id: QuestionId,
    #[serde(skip)]
    pub author: ParticipantId,
    pub text: String,
    pub author_name: Option<String>,
    pub status: QuestionStatus,
    pub likes: i64,
    pub answered: bool,
    pub highlighted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Global position of the event that posted it (ranks ties).
    pub posted_position: i64,
    #[serde(skip)]
    pub answered_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub edits: i64,
}

impl QuestionState {
    /// Whether it is on the leaderboard.
    pub fn is_ranked(&self) -> bool {
        is_ranked(self.status, self.answered)
    }

    /// What it is ranked by.
    pub fn rank(&self) -> Rank {
        Rank {
            likes: self.likes,
            posted_position: self.posted_position,
        }
    }

    /// Its row in an export.
    pub fn row(&self) -> QuestionRow {
        QuestionRow {
            id: self.id.to_string(),
            text: self.text.clone(),
            author_name: self.author_name.clone(),
            status: self.status.as_str(),
            likes: self.likes,
            answered: self.answered,
            highlighted: self.highlighted,
            posted_at: self.created_at,
            answered_at: self.answered_at,
            time_to_answer_s: self
                .answered_at
                .map(|at| (at - self.created_at).num_seconds().max(0)),
            edits: self.edits,
        }
    }
}

/// A meetup's own fields as they stood.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeetupFields {
    pub id: MeetupId,
    pub code: String,
    pub title: String,
    pub qa_open: bool,
    pub moderated: bool,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why an event does not fit the state it is applied to (a store edited by
/// hand, or a bug).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event at position {position}: {reason}")]
pub struct FoldError {
    pub position: i64,
    pub reason: String,
}

/// What one event was, for the tables that list events one by one.
#[derive(Clone, Debug, PartialEq)]
pub enum Listed {
    Vote(VoteRow),
    Moderation(ModerationRow),
    Nothing,
}

#[derive(Clone, Debug, Default)]
struct Minute {
    questions: i64,
    likes: i64,
    participants: HashSet<ParticipantId>,
}

/// One meetup, folded from its events.
#[derive(Clone, Debug)]
pub struct MeetupFold {
    /// `None` until `MeetupCreated`.
    pub meetup: Option<MeetupFields>,
    /// Every question, by id.
    pub questions: HashMap<QuestionId, QuestionState>,
    /// Standing likes, (question, participant).
    votes: HashSet<(QuestionId, ParticipantId)>,
    posters: HashSet<ParticipantId>,
    voters: HashSet<ParticipantId>,
    minutes: BTreeMap<DateTime<Utc>, Minute>,
    pseudonyms: Option<Pseudonyms>,
    organizer_key_hash: Option<String>,
    /// The last event applied: its position and time.
    pub position: i64,
    pub at: Option<DateTime<Utc>>,
    /// The chain's link after the last event applied.
    pub link: Link,
    /// Events applied (every one of the meetup, including those the state
    /// does not use).
    pub events: u64,
}

impl Default for MeetupFold {
    fn default() -> Self {
        Self {
            meetup: None,
            questions: HashMap::new(),
            votes: HashSet::new(),
            posters: HashSet::new(),
            voters: HashSet::new(),
            minutes: BTreeMap::new(),
            pseudonyms: None,
            organizer_key_hash: None,
            position: 0,
            at: None,
            link: Link::GENESIS,
            events: 0,
        }
    }
}

fn actor_class(stored: &StoredEvent) -> &'static str {
    match stored
        .metadata
        .get(qicoo_domain::metadata::ACTOR)
        .map(String::as_str)
    {
        Some("organizer") => "organizer",
        Some(a) if a.starts_with("participant:") => "participant",
        _ => "system",
    }
}

impl MeetupFold {
    /// Nothing applied yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pseudonyms of this meetup's participants (once it was created).
    pub fn pseudonyms(&self) -> Option<&Pseudonyms> {
        self.pseudonyms.as_ref()
    }

    /// The hash of the organizer key (once it was created).
    pub fn organizer_key_hash(&self) -> Option<&str> {
        self.organizer_key_hash.as_deref()
    }

    /// Applies one of the meetup's events; says what it was for the tables
    /// that list events.
    pub fn apply(
        &mut self,
        stored: &StoredEvent,
        event: &DomainEvent,
    ) -> Result<Listed, FoldError> {
        let position = stored.position();
        let at = stored.recorded_at;
        let bad = |reason: String| FoldError { position, reason };
        self.link = self.link.next(stored);
        self.events += 1;
        self.position = self.position.max(position);
        self.at = Some(self.at.map_or(at, |a| a.max(at)));
        let actor = actor_class(stored);
        let listed = match event {
            DomainEvent::Ignored => Listed::Nothing,
            DomainEvent::Meetup(
                id,
                MeetupEvent::MeetupCreated {
                    title,
                    code,
                    moderated,
                    organizer_key_hash,
                    ..
                },
            ) => {
                if self.meetup.is_some() {
                    return Err(bad(format!("meetup {id} was created twice")));
                }
                self.meetup = Some(MeetupFields {
                    id: *id,
                    code: code.clone(),
                    title: title.clone(),
                    qa_open: CREATED_QA_OPEN,
                    moderated: *moderated,
                    archived: false,
                    created_at: at,
                    updated_at: at,
                });
                self.pseudonyms = Some(Pseudonyms::for_meetup(organizer_key_hash.as_str()));
                self.organizer_key_hash = Some(organizer_key_hash.as_str().to_owned());
                Listed::Nothing
            }
            DomainEvent::Meetup(id, change) => {
                let meetup = self
                    .meetup
                    .as_mut()
                    .ok_or_else(|| bad(format!("meetup {id} does not exist")))?;
                let c = meetup_change(change);
                if let Some(t) = c.title {
                    meetup.title = t.to_owned();
                }
                if let Some(v) = c.qa_open {
                    meetup.qa_open = v;
                }
                if let Some(v) = c.moderated {
                    meetup.moderated = v;
                }
                if let Some(v) = c.archived {
                    meetup.archived = v;
                }
                meetup.updated_at = at;
                Listed::Moderation(ModerationRow {
                    position,
                    at,
                    action: meetup_action(change),
                    actor,
                    question_id: None,
                    reason: None,
                })
            }
            DomainEvent::Question(
                _,
                QuestionEvent::QuestionPosted {
                    id,
                    author,
                    text,
                    author_name,
                    pending,
                    ..
                },
            ) => {
                if self.questions.contains_key(id) {
                    return Err(bad(format!("question {id} was posted twice")));
                }
                self.questions.insert(
                    *id,
                    QuestionState {
                        id: *id,
                        author: *author,
                        text: text.clone(),
                        author_name: author_name.clone(),
                        status: posted_status(*pending),
                        likes: 0,
                        answered: false,
                        highlighted: false,
                        created_at: at,
                        updated_at: at,
                        posted_position: position,
                        answered_at: None,
                        edits: 0,
                    },
                );
                self.posters.insert(*author);
                let minute = self.minutes.entry(minute_of(at)).or_default();
                minute.questions += 1;
                minute.participants.insert(*author);
                Listed::Nothing
            }
            DomainEvent::Question(id, change) => {
                let question = self
                    .questions
                    .get_mut(id)
                    .ok_or_else(|| bad(format!("question {id} does not exist")))?;
                let c = question_change(change);
                if let Some(s) = c.status {
                    question.status = s;
                }
                if let Some(t) = c.text {
                    question.text = t.to_owned();
                    question.edits += 1;
                }
                if let Some(a) = c.answered {
                    question.answered = a;
                    question.answered_at = a.then_some(at);
                }
                if let Some(h) = c.highlighted {
                    question.highlighted = h;
                }
                question.updated_at = at;
                match question_action(change) {
                    Some(action) => Listed::Moderation(ModerationRow {
                        position,
                        at,
                        action,
                        actor,
                        question_id: Some(id.to_string()),
                        reason: match change {
                            QuestionEvent::QuestionRemoved { reason } => reason.clone(),
                            _ => None,
                        },
                    }),
                    None => Listed::Nothing,
                }
            }
            DomainEvent::Vote(vote) => {
                let (question_id, delta) = like_change(vote);
                let participant = match vote {
                    VoteEvent::VoteCast { participant, .. }
                    | VoteEvent::VoteWithdrawn { participant, .. } => *participant,
                };
                let question = self
                    .questions
                    .get_mut(&question_id)
                    .ok_or_else(|| bad(format!("question {question_id} does not exist")))?;
                let key = (question_id, participant);
                if delta > 0 {
                    if !self.votes.insert(key) {
                        return Err(bad(format!(
                            "{participant} already likes question {question_id}"
                        )));
                    }
                    self.voters.insert(participant);
                    let minute = self.minutes.entry(minute_of(at)).or_default();
                    minute.likes += 1;
                    minute.participants.insert(participant);
                } else if !self.votes.remove(&key) {
                    return Err(bad(format!(
                        "{participant} does not like question {question_id}"
                    )));
                }
                question.likes += delta;
                Listed::Vote(vote_row(self.pseudonyms.as_ref(), stored, vote))
            }
        };
        Ok(listed)
    }

    /// The questions, in the order they were posted.
    pub fn questions_in_order(&self) -> Vec<&QuestionState> {
        let mut all: Vec<&QuestionState> = self.questions.values().collect();
        all.sort_by_key(|q| q.posted_position);
        all
    }

    /// The ranked questions, best first (the leaderboard's rule).
    pub fn ranked(&self) -> Vec<&QuestionState> {
        let mut ranked: Vec<&QuestionState> =
            self.questions.values().filter(|q| q.is_ranked()).collect();
        ranked.sort_by_key(|q| q.rank());
        ranked
    }

    /// Activity per minute, in time order.
    pub fn activity(&self) -> Vec<ActivityRow> {
        self.minutes
            .iter()
            .map(|(minute, m)| ActivityRow {
                minute: *minute,
                questions: m.questions,
                likes: m.likes,
                active_participants: i64::try_from(m.participants.len()).unwrap_or(i64::MAX),
            })
            .collect()
    }

    /// The meetup in figures.
    pub fn summary(&self) -> Summary {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let participants = count(self.posters.union(&self.voters).count());
        let share = |n: usize| {
            if participants == 0 {
                0.0
            } else {
                count(n) as f64 / participants as f64
            }
        };
        let mut times: Vec<i64> = self
            .questions
            .values()
            .filter_map(|q| q.row().time_to_answer_s)
            .collect();
        times.sort_unstable();
        let median = match times.len() {
            0 => None,
            n if n % 2 == 1 => times.get(n / 2).map(|t| *t as f64),
            n => match (times.get(n / 2 - 1), times.get(n / 2)) {
                (Some(a), Some(b)) => Some((*a + *b) as f64 / 2.0),
                _ => None,
            },
        };
        let mut visible: Vec<&QuestionState> = self
            .questions
            .values()
            .filter(|q| q.status == QuestionStatus::Published)
            .collect();
        visible.sort_by_key(|q| q.rank());
        Summary {
            participants,
            posters: count(self.posters.len()),
            voters: count(self.voters.len()),
            questions: count(self.questions.len()),
            likes: count(self.votes.len()),
            posted_share: share(self.posters.len()),
            liked_share: share(self.voters.len()),
            answered: count(self.questions.values().filter(|q| q.answered).count()),
            median_time_to_answer_s: median,
            top: visible
                .into_iter()
                .take(10)
                .zip(1..)
                .map(|(q, rank)| TopQuestion {
                    rank,
                    id: q.id.to_string(),
                    text: q.text.clone(),
                    likes: q.likes,
                    answered: q.answered,
                })
                .collect(),
        }
    }
}

/// The row of a vote event in the votes table, its participant shown as a
/// pseudonym (`unknown` before the meetup's creation, which no store holds).
pub fn vote_row(
    pseudonyms: Option<&Pseudonyms>,
    stored: &StoredEvent,
    vote: &VoteEvent,
) -> VoteRow {
    let (question_id, delta) = like_change(vote);
    let participant = match vote {
        VoteEvent::VoteCast { participant, .. } | VoteEvent::VoteWithdrawn { participant, .. } => {
            *participant
        }
    };
    VoteRow {
        position: stored.position(),
        question_id: question_id.to_string(),
        participant: pseudonyms
            .map_or_else(|| "unknown".to_owned(), |p| p.of(&participant.to_string())),
        at: stored.recorded_at,
        action: if delta > 0 {
            VoteAction::Cast
        } else {
            VoteAction::Withdrawn
        },
    }
}

fn meetup_action(event: &MeetupEvent) -> &'static str {
    match event {
        MeetupEvent::MeetupCreated { .. } => "create",
        MeetupEvent::MeetupRenamed { .. } => "rename",
        MeetupEvent::QaOpened => "open_qa",
        MeetupEvent::QaClosed => "close_qa",
        MeetupEvent::ModerationEnabled => "enable_moderation",
        MeetupEvent::ModerationDisabled => "disable_moderation",
        MeetupEvent::MeetupArchived => "archive",
    }
}

fn question_action(event: &QuestionEvent) -> Option<&'static str> {
    Some(match event {
        QuestionEvent::QuestionPosted { .. } | QuestionEvent::QuestionEdited { .. } => return None,
        QuestionEvent::QuestionWithdrawn => "withdraw",
        QuestionEvent::QuestionApproved => "approve",
        QuestionEvent::QuestionRejected => "reject",
        QuestionEvent::QuestionAnswered => "answer",
        QuestionEvent::QuestionReopened => "reopen",
        QuestionEvent::QuestionHighlighted => "highlight",
        QuestionEvent::QuestionUnhighlighted => "unhighlight",
        QuestionEvent::QuestionRemoved { .. } => "remove",
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use std::collections::HashMap;

    use chrono::{TimeDelta, TimeZone};
    use qicoo_domain::{metadata, OrganizerKeyHash};

    use super::*;
    use crate::event::FeedPosition;

    /// Applies events, one a minute from 20:00 UTC, to a fresh fold.
    struct Script {
        fold: MeetupFold,
        meetup: MeetupId,
        position: i64,
        listed: Vec<Listed>,
    }

    impl Script {
        fn new() -> Self {
            let meetup = MeetupId::new();
            let mut s = Self {
                fold: MeetupFold::new(),
                meetup,
                position: 0,
                listed: Vec::new(),
            };
            s.apply(
                "organizer",
                DomainEvent::Meetup(
                    meetup,
                    MeetupEvent::MeetupCreated {
                        id: meetup,
                        title: "Rust Tokyo".into(),
                        code: "FOLD01".into(),
                        moderated: false,
                        organizer_key_hash: OrganizerKeyHash::new("hash"),
                    },
                ),
            );
            s
        }

        fn apply(&mut self, actor: &str, event: DomainEvent) {
            self.position += 1;
            let stored = StoredEvent {
                feed: FeedPosition {
                    transaction_id: 0,
                    global_position: self.position,
                },
                aggregate_type: "Test".into(),
                aggregate_id: "x".into(),
                sequence: self.position,
                event_type: "Test".into(),
                payload: serde_json::Value::Null,
                metadata: HashMap::from([
                    (metadata::ACTOR.to_owned(), actor.to_owned()),
                    (metadata::MEETUP_ID.to_owned(), self.meetup.to_string()),
                ]),
                recorded_at: Utc
                    .with_ymd_and_hms(2026, 12, 7, 20, 0, 0)
                    .single()
                    .expect("time")
                    + TimeDelta::minutes(self.position),
            };
            let listed = self.fold.apply(&stored, &event).expect("applies");
            self.listed.push(listed);
        }

        fn post(&mut self, q: QuestionId, author: ParticipantId) {
            let meetup = self.meetup;
            self.apply(
                "participant:x",
                DomainEvent::Question(
                    q,
                    QuestionEvent::QuestionPosted {
                        id: q,
                        meetup_id: meetup,
                        author,
                        text: format!("Question {q}?"),
                        author_name: None,
                        pending: false,
                    },
                ),
            );
        }

        fn like(&mut self, q: QuestionId, p: ParticipantId, cast: bool) {
            let meetup = self.meetup;
            let event = if cast {
                VoteEvent::VoteCast {
                    question_id: q,
                    meetup_id: meetup,
                    participant: p,
                }
            } else {
                VoteEvent::VoteWithdrawn {
                    question_id: q,
                    meetup_id: meetup,
                    participant: p,
                }
            };
            self.apply("participant:x", DomainEvent::Vote(event));
        }

        fn organizer(&mut self, q: QuestionId, event: QuestionEvent) {
            self.apply("organizer", DomainEvent::Question(q, event));
        }
    }

    #[test]
    fn summary_activity_and_time_to_answer() {
        let mut s = Script::new();
        let (q1, q2, q3) = (QuestionId::new(), QuestionId::new(), QuestionId::new());
        let (a, b, c) = (
            ParticipantId::new(),
            ParticipantId::new(),
            ParticipantId::new(),
        );
        s.post(q1, a); // 20:02
        s.post(q2, a); // 20:03
        s.post(q3, b); // 20:04
        s.like(q2, c, true);
        s.like(q2, b, true);
        s.like(q1, c, true);
        s.like(q1, c, false);
        s.organizer(q1, QuestionEvent::QuestionAnswered); // 20:09, 7 min after posting
        s.organizer(q2, QuestionEvent::QuestionAnswered); // 20:10, 7 min
        s.organizer(q3, QuestionEvent::QuestionAnswered); // 20:11, 7 min
        s.organizer(q3, QuestionEvent::QuestionReopened);
        s.organizer(
            q3,
            QuestionEvent::QuestionRemoved {
                reason: Some("spam".into()),
            },
        );

        let summary = s.fold.summary();
        assert_eq!(summary.participants, 3);
        assert_eq!((summary.posters, summary.voters), (2, 2));
        assert_eq!(summary.questions, 3);
        assert_eq!(summary.likes, 2, "standing likes");
        assert!((summary.posted_share - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(summary.answered, 2);
        assert_eq!(summary.median_time_to_answer_s, Some(420.0));
        let top: Vec<(String, i64)> = summary
            .top
            .iter()
            .map(|t| (t.id.clone(), t.likes))
            .collect();
        assert_eq!(top, vec![(q2.to_string(), 2), (q1.to_string(), 0)]);

        let q3_row = s.fold.questions[&q3].row();
        assert_eq!(
            (q3_row.answered, q3_row.answered_at, q3_row.time_to_answer_s),
            (false, None, None)
        );
        assert_eq!(q3_row.status, "removed");
        assert_eq!(s.fold.questions[&q1].row().time_to_answer_s, Some(420));

        let activity = s.fold.activity();
        assert_eq!(
            activity.len(),
            6,
            "one row per minute with a post or a cast"
        );
        assert_eq!(activity.iter().map(|m| m.questions).sum::<i64>(), 3);
        assert_eq!(
            activity.iter().map(|m| m.likes).sum::<i64>(),
            3,
            "casts, withdrawals aside"
        );

        let moderation: Vec<(&str, Option<String>)> = s
            .listed
            .iter()
            .filter_map(|l| match l {
                Listed::Moderation(m) => Some((m.action, m.reason.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            moderation,
            vec![
                ("answer", None),
                ("answer", None),
                ("answer", None),
                ("reopen", None),
                ("remove", Some("spam".into()))
            ]
        );
        let votes = s
            .listed
            .iter()
            .filter(|l| matches!(l, Listed::Vote(_)))
            .count();
        assert_eq!(votes, 4);
    }

    #[test]
    fn an_event_that_does_not_fit_is_named_by_its_position() {
        let mut s = Script::new();
        let q = QuestionId::new();
        s.post(q, ParticipantId::new());
        let p = ParticipantId::new();
        s.like(q, p, true);
        let stored = StoredEvent {
            feed: FeedPosition {
                transaction_id: 0,
                global_position: 99,
            },
            aggregate_type: "Vote".into(),
            aggregate_id: "x".into(),
            sequence: 2,
            event_type: "VoteCast".into(),
            payload: serde_json::Value::Null,
            metadata: HashMap::new(),
            recorded_at: Utc::now(),
        };
        let again = DomainEvent::Vote(VoteEvent::VoteCast {
            question_id: q,
            meetup_id: s.meetup,
            participant: p,
        });
        let err = s.fold.apply(&stored, &again).expect_err("a second like");
        assert_eq!(err.position, 99);
        assert!(err.reason.contains("already likes"), "{}", err.reason);
    }
}
