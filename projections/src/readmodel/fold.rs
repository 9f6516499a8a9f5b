//! The read model folded in memory, for a rebuild: the rows the tables end
//! up with, built by the same rules the projection applies statement by
//! statement ([`crate::transitions`], and the checks of
//! [`super::projection`]), so that writing them out gives the same tables.
//!
//! The state is per meetup, question, vote and active participant per
//! minute; the chain's links, one per event, are handed out page by page
//! ([`ReadModelFold::take_links`]) and not kept.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use qicoo_domain::{metadata, MeetupEvent, MeetupId, ParticipantId, QuestionEvent, QuestionId};
use qicoo_domain::{QuestionStatus, VoteEvent};

use crate::audit::chain::Link;
use crate::error::ApplyError;
use crate::event::{DomainEvent, StoredEvent};
use crate::transitions::{
    like_change, meetup_change, minute_of, posted_status, question_change, CREATED_QA_OPEN,
};

/// A row of `meetups`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct MeetupRow {
    pub id: MeetupId,
    pub code: String,
    pub title: String,
    pub qa_open: bool,
    pub moderated: bool,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_position: i64,
    pub organizer_key_hash: String,
}

/// A row of `questions`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct QuestionRow {
    pub id: QuestionId,
    pub meetup_id: MeetupId,
    pub author_id: ParticipantId,
    pub text: String,
    pub author_name: Option<String>,
    pub status: QuestionStatus,
    pub likes: i64,
    pub answered: bool,
    pub highlighted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub posted_position: i64,
    pub last_position: i64,
}

/// A standing vote: its meetup and when it was cast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct VoteRow {
    pub meetup_id: MeetupId,
    pub cast_at: DateTime<Utc>,
}

/// A row of `activity`, without its key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Activity {
    pub questions: i64,
    pub likes: i64,
    pub active_participants: i64,
}

/// A meetup's chain as far as folded.
#[derive(Clone, Copy, Debug)]
pub(super) struct ChainState {
    pub link: Link,
    /// Position of the last event chained (in feed order).
    pub position: i64,
    pub events: i64,
}

/// One event's link, its meetup by index into [`ReadModelFold::chain_meetups`].
pub(super) type PendingLink = (i64, usize, Link);

/// The read model's tables, folded from the events in feed order.
#[derive(Default)]
pub(super) struct ReadModelFold {
    pub meetups: HashMap<MeetupId, MeetupRow>,
    pub questions: HashMap<QuestionId, QuestionRow>,
    pub votes: HashMap<(QuestionId, ParticipantId), VoteRow>,
    pub activity: HashMap<(MeetupId, DateTime<Utc>), Activity>,
    pub active: HashSet<(MeetupId, DateTime<Utc>, ParticipantId)>,
    /// The meetup ids the chain has met, as the events' metadata spells them.
    pub chain_meetups: Vec<String>,
    chain_index: HashMap<String, usize>,
    /// Per entry of `chain_meetups`.
    pub chains: Vec<ChainState>,
    links: Vec<PendingLink>,
}

impl ReadModelFold {
    /// Folds one event, checking what the projection's statements check.
    pub fn fold(&mut self, stored: &StoredEvent, event: &DomainEvent) -> Result<(), ApplyError> {
        self.apply(stored, event)?;
        self.chain(stored);
        Ok(())
    }

    /// The links made since the last call, in feed order.
    pub fn take_links(&mut self) -> Vec<PendingLink> {
        std::mem::take(&mut self.links)
    }

    fn chain(&mut self, stored: &StoredEvent) {
        let Some(meetup) = stored.metadata.get(metadata::MEETUP_ID) else {
            return;
        };
        let index = match self.chain_index.get(meetup.as_str()) {
            Some(&i) => i,
            None => {
                let i = self.chain_meetups.len();
                self.chain_meetups.push(meetup.clone());
                self.chain_index.insert(meetup.clone(), i);
                self.chains.push(ChainState {
                    link: Link::GENESIS,
                    position: 0,
                    events: 0,
                });
                i
            }
        };
        if let Some(chain) = self.chains.get_mut(index) {
            chain.link = chain.link.next(stored);
            chain.position = stored.position();
            chain.events += 1;
            self.links.push((stored.position(), index, chain.link));
        }
    }

    fn apply(&mut self, stored: &StoredEvent, event: &DomainEvent) -> Result<(), ApplyError> {
        let at = stored.recorded_at;
        let position = stored.position();
        let bad = |reason: String| ApplyError::BadEvent { position, reason };
        match event {
            DomainEvent::Ignored => {}
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
                if self.meetups.contains_key(id) {
                    return Err(bad(format!("meetup {id} is already in the read model")));
                }
                self.meetups.insert(
                    *id,
                    MeetupRow {
                        id: *id,
                        code: code.clone(),
                        title: title.clone(),
                        qa_open: CREATED_QA_OPEN,
                        moderated: *moderated,
                        archived: false,
                        created_at: at,
                        updated_at: at,
                        last_position: position,
                        organizer_key_hash: organizer_key_hash.as_str().to_owned(),
                    },
                );
            }
            DomainEvent::Meetup(id, change) => {
                let c = meetup_change(change);
                // The projection updates the first field an event sets (each
                // sets one), and nothing for an event that sets none.
                if c == Default::default() {
                    return Ok(());
                }
                let meetup = self
                    .meetups
                    .get_mut(id)
                    .ok_or_else(|| bad(format!("meetup {id} is not in the read model")))?;
                if let Some(t) = c.title {
                    meetup.title = t.to_owned();
                } else if let Some(v) = c.qa_open {
                    meetup.qa_open = v;
                } else if let Some(v) = c.moderated {
                    meetup.moderated = v;
                } else if let Some(v) = c.archived {
                    meetup.archived = v;
                }
                meetup.updated_at = at;
                meetup.last_position = position;
            }
            DomainEvent::Question(
                _,
                QuestionEvent::QuestionPosted {
                    id,
                    meetup_id,
                    author,
                    text,
                    author_name,
                    pending,
                },
            ) => {
                if self.questions.contains_key(id) {
                    return Err(bad(format!("question {id} is already in the read model")));
                }
                self.questions.insert(
                    *id,
                    QuestionRow {
                        id: *id,
                        meetup_id: *meetup_id,
                        author_id: *author,
                        text: text.clone(),
                        author_name: author_name.clone(),
                        status: posted_status(*pending),
                        likes: 0,
                        answered: false,
                        highlighted: false,
                        created_at: at,
                        updated_at: at,
                        posted_position: position,
                        last_position: position,
                    },
                );
                self.add_activity(*meetup_id, at, 1, 0, *author);
            }
            DomainEvent::Question(id, change) => {
                let question = self
                    .questions
                    .get_mut(id)
                    .ok_or_else(|| bad(format!("question {id} is not in the read model")))?;
                let c = question_change(change);
                if let Some(status) = c.status {
                    question.status = status;
                }
                if let Some(text) = c.text {
                    question.text = text.to_owned();
                }
                if let Some(answered) = c.answered {
                    question.answered = answered;
                }
                if let Some(highlighted) = c.highlighted {
                    question.highlighted = highlighted;
                }
                question.updated_at = at;
                question.last_position = position;
            }
            DomainEvent::Vote(vote) => {
                let (question_id, delta) = like_change(vote);
                let (meetup_id, participant) = match vote {
                    VoteEvent::VoteCast {
                        meetup_id,
                        participant,
                        ..
                    }
                    | VoteEvent::VoteWithdrawn {
                        meetup_id,
                        participant,
                        ..
                    } => (*meetup_id, *participant),
                };
                let key = (question_id, participant);
                if delta > 0 {
                    if self.votes.contains_key(&key) {
                        return Err(bad(format!(
                            "{participant} already likes question {question_id}"
                        )));
                    }
                } else if !self.votes.contains_key(&key) {
                    return Err(bad(format!(
                        "{participant} does not like question {question_id}"
                    )));
                }
                let question = self.questions.get_mut(&question_id).ok_or_else(|| {
                    bad(format!("question {question_id} is not in the read model"))
                })?;
                question.likes += delta;
                question.last_position = position;
                if delta > 0 {
                    self.votes.insert(
                        key,
                        VoteRow {
                            meetup_id,
                            cast_at: at,
                        },
                    );
                    self.add_activity(meetup_id, at, 0, 1, participant);
                } else {
                    self.votes.remove(&key);
                }
            }
        }
        Ok(())
    }

    /// Counts a question or a like in the minute it happened, and the
    /// participant as active in it.
    fn add_activity(
        &mut self,
        meetup: MeetupId,
        at: DateTime<Utc>,
        questions: i64,
        likes: i64,
        participant: ParticipantId,
    ) {
        let minute = minute_of(at);
        let newly_active = self.active.insert((meetup, minute, participant));
        let row = self.activity.entry((meetup, minute)).or_default();
        row.questions += questions;
        row.likes += likes;
        row.active_participants += i64::from(newly_active);
    }
}
