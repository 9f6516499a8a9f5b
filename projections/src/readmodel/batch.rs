//! Runs of consecutive votes written with a few multi-row statements.
//!
//! Likes are by far the most frequent events, and event by event each costs
//! four or five round trips. A run of consecutive votes (`VoteCast`,
//! `VoteWithdrawn`; events the read model ignores do not break a run) is
//! written instead as one multi-row insert of the new votes, one delete of
//! the withdrawn ones, one update of the like counts of the questions
//! involved, and one upsert of the minutes of activity involved (plus one
//! insert of active participants per meetup and minute), each split in
//! chunks of [`CHUNK`] rows.
//!
//! The result is the same as applying the events one by one:
//! - a run never holds the same (question, participant) twice, so its casts
//!   and withdrawals touch distinct votes and commute; a repeated vote ends
//!   the run before it and starts the next one;
//! - like counts and activity counts are sums, so their order does not
//!   matter; a question's `last_position` is that of its last vote in the
//!   run, as the last of the single updates would leave it;
//! - every row count the single statements check is checked in total. When
//!   one does not match, some event of the batch is bad: the caller rolls the
//!   batch back and applies it event by event, which stops at that event
//!   with the same error as always.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use qicoo_domain::{MeetupId, ParticipantId, QuestionId, VoteEvent};

use super::sql::{placeholders, SqlTx, Value};
use super::{sql_err, SqlReadModel};
use crate::error::{ApplyError, StoreError};
use crate::event::{DomainEvent, StoredEvent};
use crate::transitions::minute_of;

/// Rows per multi-row statement. At five values a row at most, statements
/// stay far below the limits on bound values (SQLite 32,766, MySQL 65,535)
/// and on packet size, while a batch of 500 votes needs only a few of them.
pub(super) const CHUNK: usize = 200;

/// Why a batched write stopped.
#[derive(Debug)]
pub(super) enum Stop {
    /// A row count differs from what the events imply: some event is bad.
    /// The transaction holds part of the run and must be rolled back.
    Mismatch,
    /// A database error, or a bad event found by the event-by-event path.
    Failed(ApplyError),
}

impl From<ApplyError> for Stop {
    fn from(e: ApplyError) -> Self {
        Self::Failed(e)
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Self::Failed(e.into())
    }
}

/// One vote of a run.
#[derive(Clone, Copy)]
struct Vote<'a> {
    stored: &'a StoredEvent,
    event: &'a DomainEvent,
    question: QuestionId,
    meetup: MeetupId,
    participant: ParticipantId,
    cast: bool,
}

/// Consecutive votes not yet written, no two of the same (question,
/// participant).
#[derive(Default)]
struct VoteRun<'a> {
    votes: Vec<Vote<'a>>,
    keys: HashSet<(QuestionId, ParticipantId)>,
}

impl<'a> VoteRun<'a> {
    /// Adds a vote; `false` (and nothing added) if the run already holds one
    /// of the same (question, participant).
    fn push(&mut self, vote: Vote<'a>) -> bool {
        if !self.keys.insert((vote.question, vote.participant)) {
            return false;
        }
        self.votes.push(vote);
        true
    }

    fn take(&mut self) -> Vec<Vote<'a>> {
        self.keys.clear();
        std::mem::take(&mut self.votes)
    }
}

fn vote<'a>(stored: &'a StoredEvent, event: &'a DomainEvent, v: &VoteEvent) -> Vote<'a> {
    let (question, meetup, participant, cast) = match v {
        VoteEvent::VoteCast {
            question_id,
            meetup_id,
            participant,
        } => (*question_id, *meetup_id, *participant, true),
        VoteEvent::VoteWithdrawn {
            question_id,
            meetup_id,
            participant,
        } => (*question_id, *meetup_id, *participant, false),
    };
    Vote {
        stored,
        event,
        question,
        meetup,
        participant,
        cast,
    }
}

/// A minute of a meetup's activity that a run adds likes to.
struct Minute {
    meetup: String,
    minute: DateTime<Utc>,
    likes: i64,
    participants: Vec<String>,
}

fn mismatch_unless(matched: u64, expected: usize) -> Result<(), Stop> {
    if usize::try_from(matched).ok() == Some(expected) {
        Ok(())
    } else {
        Err(Stop::Mismatch)
    }
}

impl SqlReadModel {
    /// Applies a batch, runs of votes batched, everything else event by
    /// event.
    pub(super) async fn apply_batched(
        &self,
        tx: &mut dyn SqlTx,
        events: &[(&StoredEvent, DomainEvent)],
    ) -> Result<(), Stop> {
        let mut run = VoteRun::default();
        for (stored, event) in events {
            match event {
                DomainEvent::Vote(v) => {
                    let next = vote(stored, event, v);
                    if !run.push(next) {
                        self.write_votes(tx, &run.take()).await?;
                        run.push(next);
                    }
                }
                DomainEvent::Ignored => {}
                _ => {
                    self.write_votes(tx, &run.take()).await?;
                    self.apply_one(tx, stored, event).await?;
                }
            }
        }
        self.write_votes(tx, &run.take()).await
    }

    /// Writes a run of votes, no two of the same (question, participant).
    async fn write_votes(&self, tx: &mut dyn SqlTx, votes: &[Vote<'_>]) -> Result<(), Stop> {
        if votes.is_empty() {
            return Ok(());
        }
        if let [only] = votes {
            // One vote costs as many statements either way, and this way a
            // bad one fails with its own error at once.
            return Ok(self.apply_one(tx, only.stored, only.event).await?);
        }
        let casts: Vec<&Vote> = votes.iter().filter(|v| v.cast).collect();
        let withdrawals: Vec<&Vote> = votes.iter().filter(|v| !v.cast).collect();
        self.insert_votes(tx, &casts).await?;
        self.delete_votes(tx, &withdrawals).await?;
        self.add_run_likes(tx, votes).await?;
        self.add_run_activity(tx, &casts).await
    }

    /// Inserts the votes cast; every one must be new.
    async fn insert_votes(&self, tx: &mut dyn SqlTx, casts: &[&Vote<'_>]) -> Result<(), Stop> {
        for chunk in casts.chunks(CHUNK) {
            let mut args: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
            for v in chunk {
                args.extend([
                    v.question.to_string().into(),
                    v.participant.to_string().into(),
                    v.meetup.to_string().into(),
                    v.stored.recorded_at.into(),
                ]);
            }
            let inserted = tx
                .execute(
                    &format!(
                        "{} INTO {} (question_id, participant_id, meetup_id, cast_at) VALUES {}",
                        self.pool().dialect().insert_ignore(),
                        self.t("votes"),
                        placeholders(chunk.len(), 4)
                    ),
                    args,
                )
                .await
                .map_err(sql_err)?;
            mismatch_unless(inserted, chunk.len())?;
        }
        Ok(())
    }

    /// Deletes the votes withdrawn; every one must exist.
    async fn delete_votes(
        &self,
        tx: &mut dyn SqlTx,
        withdrawals: &[&Vote<'_>],
    ) -> Result<(), Stop> {
        for chunk in withdrawals.chunks(CHUNK) {
            let mut args: Vec<Value> = Vec::with_capacity(chunk.len() * 2);
            for v in chunk {
                args.extend([
                    v.question.to_string().into(),
                    v.participant.to_string().into(),
                ]);
            }
            let deleted = tx
                .execute(
                    &self
                        .pool()
                        .dialect()
                        .delete_votes(&self.t("votes"), chunk.len()),
                    args,
                )
                .await
                .map_err(sql_err)?;
            mismatch_unless(deleted, chunk.len())?;
        }
        Ok(())
    }

    /// Adds each question's likes and withdrawals and sets its
    /// `last_position` to its last vote's; every question must exist.
    async fn add_run_likes(&self, tx: &mut dyn SqlTx, votes: &[Vote<'_>]) -> Result<(), Stop> {
        // (question, like delta, position of its last vote), in order of
        // first appearance.
        let mut questions: Vec<(String, i64, i64)> = Vec::new();
        let mut index: HashMap<QuestionId, usize> = HashMap::new();
        for v in votes {
            let delta = if v.cast { 1 } else { -1 };
            let position = v.stored.position();
            match index.get(&v.question) {
                Some(&i) => {
                    if let Some(q) = questions.get_mut(i) {
                        q.1 += delta;
                        q.2 = position;
                    }
                }
                None => {
                    index.insert(v.question, questions.len());
                    questions.push((v.question.to_string(), delta, position));
                }
            }
        }
        for chunk in questions.chunks(CHUNK) {
            let mut args: Vec<Value> = Vec::with_capacity(chunk.len() * 3);
            for (id, delta, position) in chunk {
                args.extend([id.as_str().into(), (*delta).into(), (*position).into()]);
            }
            let updated = tx
                .execute(
                    &self
                        .pool()
                        .dialect()
                        .add_likes_rows(&self.t("questions"), chunk.len()),
                    args,
                )
                .await
                .map_err(sql_err)?;
            mismatch_unless(updated, chunk.len())?;
        }
        Ok(())
    }

    /// Counts the likes cast in the minutes they were cast in, and their
    /// voters as active in them.
    async fn add_run_activity(&self, tx: &mut dyn SqlTx, casts: &[&Vote<'_>]) -> Result<(), Stop> {
        let mut minutes: Vec<Minute> = Vec::new();
        let mut index: HashMap<(MeetupId, DateTime<Utc>), usize> = HashMap::new();
        let mut seen: HashSet<(MeetupId, DateTime<Utc>, ParticipantId)> = HashSet::new();
        for v in casts {
            let minute = minute_of(v.stored.recorded_at);
            let i = *index.entry((v.meetup, minute)).or_insert_with(|| {
                minutes.push(Minute {
                    meetup: v.meetup.to_string(),
                    minute,
                    likes: 0,
                    participants: Vec::new(),
                });
                minutes.len() - 1
            });
            let Some(m) = minutes.get_mut(i) else {
                continue;
            };
            m.likes += 1;
            if seen.insert((v.meetup, minute, v.participant)) {
                m.participants.push(v.participant.to_string());
            }
        }
        // Per minute, the participants not yet active in it are the rows
        // the insert adds: that count goes into the minute's row.
        let mut rows: Vec<(&Minute, i64)> = Vec::with_capacity(minutes.len());
        for m in &minutes {
            let mut newly_active = 0;
            for chunk in m.participants.chunks(CHUNK) {
                let mut args: Vec<Value> = Vec::with_capacity(chunk.len() * 3);
                for p in chunk {
                    args.extend([m.meetup.as_str().into(), m.minute.into(), p.as_str().into()]);
                }
                let inserted = tx
                    .execute(
                        &format!(
                            "{} INTO {} (meetup_id, minute, participant_id) VALUES {}",
                            self.pool().dialect().insert_ignore(),
                            self.t("activity_participants"),
                            placeholders(chunk.len(), 3)
                        ),
                        args,
                    )
                    .await
                    .map_err(sql_err)?;
                newly_active += i64::try_from(inserted).map_err(|_| Stop::Mismatch)?;
            }
            rows.push((m, newly_active));
        }
        for chunk in rows.chunks(CHUNK) {
            let mut args: Vec<Value> = Vec::with_capacity(chunk.len() * 5);
            for (m, newly_active) in chunk {
                args.extend([
                    m.meetup.as_str().into(),
                    m.minute.into(),
                    0_i64.into(),
                    m.likes.into(),
                    (*newly_active).into(),
                ]);
            }
            tx.execute(
                &self
                    .pool()
                    .dialect()
                    .add_activity_rows(&self.t("activity"), chunk.len()),
                args,
            )
            .await
            .map_err(sql_err)?;
        }
        Ok(())
    }
}
