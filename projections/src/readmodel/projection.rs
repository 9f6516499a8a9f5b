//! The write half of the SQL read model: how each event changes the tables,
//! and the checkpoint written with them. Runs of votes go through [`batch`]
//! (set-wise statements); everything else, and the fallback that finds a bad
//! vote, applies event by event here.
//!
//! [`batch`]: super::batch

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qicoo_domain::{MeetupEvent, ParticipantId, QuestionEvent, VoteEvent};

use super::batch;
use super::sql::{SqlTx, Value};
use super::{sql_err, SqlReadModel, READ_MODEL};
use crate::error::{ApplyError, StoreError};
use crate::event::{Checkpoint, DomainEvent, StoredEvent};
use crate::runner::Projection;
use crate::transitions::{
    meetup_change, minute_of, posted_status, question_change, CREATED_QA_OPEN,
};

impl SqlReadModel {
    /// Writes `next` if the stored checkpoint is still `expected`.
    pub(super) async fn swap_checkpoint(
        &self,
        tx: &mut dyn SqlTx,
        expected: Option<&Checkpoint>,
        next: &Checkpoint,
    ) -> Result<(), ApplyError> {
        let table = self.t("projection_checkpoints");
        let moved = || ApplyError::CheckpointMoved {
            projection: READ_MODEL.to_owned(),
        };
        let now = Utc::now();
        match expected {
            None => {
                let inserted = tx
                    .execute(
                        &format!(
                            "{} INTO {table} (name, transaction_id, global_position,
                                max_position, watermark, updated_at)
                             VALUES (?, ?, ?, ?, ?, ?)",
                            self.pool().dialect().insert_ignore()
                        ),
                        vec![
                            READ_MODEL.into(),
                            next.feed.transaction_id.into(),
                            next.feed.global_position.into(),
                            next.max_position.into(),
                            next.watermark.into(),
                            now.into(),
                        ],
                    )
                    .await
                    .map_err(sql_err)?;
                if inserted != 1 {
                    return Err(moved());
                }
            }
            Some(expected) => {
                let updated = tx
                    .execute(
                        &format!(
                            "UPDATE {table} SET transaction_id = ?, global_position = ?,
                                max_position = ?, watermark = ?, updated_at = ?
                             WHERE name = ? AND transaction_id = ? AND global_position = ?"
                        ),
                        vec![
                            next.feed.transaction_id.into(),
                            next.feed.global_position.into(),
                            next.max_position.into(),
                            next.watermark.into(),
                            now.into(),
                            READ_MODEL.into(),
                            expected.feed.transaction_id.into(),
                            expected.feed.global_position.into(),
                        ],
                    )
                    .await
                    .map_err(sql_err)?;
                if updated != 1 {
                    return Err(moved());
                }
            }
        }
        Ok(())
    }

    pub(super) async fn apply_one(
        &self,
        tx: &mut dyn SqlTx,
        stored: &StoredEvent,
        event: &DomainEvent,
    ) -> Result<(), ApplyError> {
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
                tx.execute(
                    &format!(
                        "INSERT INTO {} (id, code, title, qa_open, moderated, archived,
                            created_at, updated_at, last_position, organizer_key_hash)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        self.t("meetups")
                    ),
                    vec![
                        id.to_string().into(),
                        code.as_str().into(),
                        title.as_str().into(),
                        CREATED_QA_OPEN.into(),
                        (*moderated).into(),
                        false.into(),
                        at.into(),
                        at.into(),
                        position.into(),
                        organizer_key_hash.as_str().into(),
                    ],
                )
                .await
                .map_err(sql_err)?;
            }
            DomainEvent::Meetup(id, change) => {
                let Some((column, value)) = meetup_column(change) else {
                    return Ok(());
                };
                let updated = tx
                    .execute(
                        &format!(
                            "UPDATE {} SET {column} = ?, updated_at = ?, last_position = ?
                             WHERE id = ?",
                            self.t("meetups")
                        ),
                        vec![value, at.into(), position.into(), id.to_string().into()],
                    )
                    .await
                    .map_err(sql_err)?;
                if updated != 1 {
                    return Err(bad(format!("meetup {id} is not in the read model")));
                }
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
                let status = posted_status(*pending);
                tx.execute(
                    &format!(
                        "INSERT INTO {} (id, meetup_id, author_id, text, author_name, status,
                            likes, answered, highlighted, created_at, updated_at,
                            posted_position, last_position)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        self.t("questions")
                    ),
                    vec![
                        id.to_string().into(),
                        meetup_id.to_string().into(),
                        author.to_string().into(),
                        text.as_str().into(),
                        author_name.clone().into(),
                        status.as_str().into(),
                        0_i64.into(),
                        false.into(),
                        false.into(),
                        at.into(),
                        at.into(),
                        position.into(),
                        position.into(),
                    ],
                )
                .await
                .map_err(sql_err)?;
                self.add_activity(tx, &meetup_id.to_string(), at, 1, 0, *author)
                    .await?;
            }
            DomainEvent::Question(id, change) => {
                let sets = question_columns(change);
                let assignments: String = sets.iter().map(|(c, _)| format!("{c} = ?, ")).collect();
                let mut args: Vec<Value> = sets.into_iter().map(|(_, v)| v).collect();
                args.extend([at.into(), position.into(), id.to_string().into()]);
                let updated = tx
                    .execute(
                        &format!(
                            "UPDATE {} SET {assignments}updated_at = ?, last_position = ?
                             WHERE id = ?",
                            self.t("questions")
                        ),
                        args,
                    )
                    .await
                    .map_err(sql_err)?;
                if updated != 1 {
                    return Err(bad(format!("question {id} is not in the read model")));
                }
            }
            DomainEvent::Vote(VoteEvent::VoteCast {
                question_id,
                meetup_id,
                participant,
            }) => {
                let inserted = tx
                    .execute(
                        &format!(
                            "{} INTO {} (question_id, participant_id, meetup_id, cast_at)
                             VALUES (?, ?, ?, ?)",
                            self.pool().dialect().insert_ignore(),
                            self.t("votes")
                        ),
                        vec![
                            question_id.to_string().into(),
                            participant.to_string().into(),
                            meetup_id.to_string().into(),
                            at.into(),
                        ],
                    )
                    .await
                    .map_err(sql_err)?;
                if inserted != 1 {
                    return Err(bad(format!(
                        "{participant} already likes question {question_id}"
                    )));
                }
                self.add_likes(tx, &question_id.to_string(), 1, position)
                    .await?;
                self.add_activity(tx, &meetup_id.to_string(), at, 0, 1, *participant)
                    .await?;
            }
            DomainEvent::Vote(VoteEvent::VoteWithdrawn {
                question_id,
                participant,
                ..
            }) => {
                let deleted = tx
                    .execute(
                        &format!(
                            "DELETE FROM {} WHERE question_id = ? AND participant_id = ?",
                            self.t("votes")
                        ),
                        vec![
                            question_id.to_string().into(),
                            participant.to_string().into(),
                        ],
                    )
                    .await
                    .map_err(sql_err)?;
                if deleted != 1 {
                    return Err(bad(format!(
                        "{participant} does not like question {question_id}"
                    )));
                }
                self.add_likes(tx, &question_id.to_string(), -1, position)
                    .await?;
            }
        }
        Ok(())
    }

    /// Changes a question's like count; the question must exist.
    async fn add_likes(
        &self,
        tx: &mut dyn SqlTx,
        question_id: &str,
        delta: i64,
        position: i64,
    ) -> Result<(), ApplyError> {
        let updated = tx
            .execute(
                &format!(
                    "UPDATE {} SET likes = likes + ?, last_position = ? WHERE id = ?",
                    self.t("questions")
                ),
                vec![delta.into(), position.into(), question_id.into()],
            )
            .await
            .map_err(sql_err)?;
        if updated != 1 {
            return Err(ApplyError::BadEvent {
                position,
                reason: format!("question {question_id} is not in the read model"),
            });
        }
        Ok(())
    }

    /// Counts a question or a like in the minute it happened, and the
    /// participant as active in it.
    async fn add_activity(
        &self,
        tx: &mut dyn SqlTx,
        meetup_id: &str,
        at: DateTime<Utc>,
        questions: i64,
        likes: i64,
        participant: ParticipantId,
    ) -> Result<(), ApplyError> {
        let minute = minute_of(at);
        let newly_active = tx
            .execute(
                &format!(
                    "{} INTO {} (meetup_id, minute, participant_id) VALUES (?, ?, ?)",
                    self.pool().dialect().insert_ignore(),
                    self.t("activity_participants")
                ),
                vec![
                    meetup_id.into(),
                    minute.into(),
                    participant.to_string().into(),
                ],
            )
            .await
            .map_err(sql_err)?;
        tx.execute(
            &self.pool().dialect().add_activity(&self.t("activity")),
            vec![
                meetup_id.into(),
                minute.into(),
                questions.into(),
                likes.into(),
                i64::from(newly_active == 1).into(),
            ],
        )
        .await
        .map_err(sql_err)?;
        Ok(())
    }
}

/// The column a meetup event changes (none for its creation).
fn meetup_column(change: &MeetupEvent) -> Option<(&'static str, Value)> {
    let c = meetup_change(change);
    c.title
        .map(|t| ("title", t.into()))
        .or(c.qa_open.map(|v| ("qa_open", v.into())))
        .or(c.moderated.map(|v| ("moderated", v.into())))
        .or(c.archived.map(|v| ("archived", v.into())))
}

/// The columns a question event changes besides its timestamps (none for
/// its posting).
fn question_columns(change: &QuestionEvent) -> Vec<(&'static str, Value)> {
    let c = question_change(change);
    let mut columns = Vec::new();
    if let Some(status) = c.status {
        columns.push(("status", Value::from(status.as_str())));
    }
    if let Some(text) = c.text {
        columns.push(("text", text.into()));
    }
    if let Some(answered) = c.answered {
        columns.push(("answered", answered.into()));
    }
    if let Some(highlighted) = c.highlighted {
        columns.push(("highlighted", highlighted.into()));
    }
    columns
}

#[async_trait]
impl Projection for SqlReadModel {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    async fn load(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.read_checkpoint().await
    }

    async fn apply(
        &self,
        expected: Option<&Checkpoint>,
        events: &[(&StoredEvent, DomainEvent)],
        next: &Checkpoint,
    ) -> Result<(), ApplyError> {
        let mut tx = self.pool().begin().await.map_err(sql_err)?;
        // The checkpoint first: a worker that lost its place stops before it
        // writes anything, and a replay's table swap (which waits for this
        // transaction) can never interleave with it.
        self.swap_checkpoint(tx.as_mut(), expected, next).await?;
        match self.apply_batched(tx.as_mut(), events).await {
            Ok(()) => {}
            Err(batch::Stop::Failed(e)) => return Err(e),
            Err(batch::Stop::Mismatch) => {
                // Some vote is bad, but the batched statements cannot say
                // which: start over event by event, which stops at it.
                tx.rollback().await.map_err(sql_err)?;
                tx = self.pool().begin().await.map_err(sql_err)?;
                self.swap_checkpoint(tx.as_mut(), expected, next).await?;
                for (stored, event) in events {
                    self.apply_one(tx.as_mut(), stored, event).await?;
                }
            }
        }
        let stored: Vec<&StoredEvent> = events.iter().map(|(stored, _)| *stored).collect();
        self.extend_chain(tx.as_mut(), &stored).await?;
        tx.commit().await.map_err(sql_err)?;
        Ok(())
    }
}
