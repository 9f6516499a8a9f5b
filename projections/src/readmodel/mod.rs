//! The read model: meetups, questions, votes and per-minute activity in MySQL
//! or SQLite, built by the read-model projection and read by the queries.
//!
//! The projection logic is written once, over the small SQL layer in [`sql`];
//! the two adapters ([`sqlite`], [`mysql`]) supply the connection and the
//! few statements that differ. A batch of events and the checkpoint are written
//! in one transaction, the checkpoint first (compare-and-set), so a worker
//! that lost its place finds out before it writes anything.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use qicoo_domain::{MeetupEvent, ParticipantId, QuestionEvent, QuestionStatus, VoteEvent};
use sqlx::{MySqlPool, SqlitePool};

use crate::error::{ApplyError, StoreError};
use crate::event::{Checkpoint, DomainEvent, FeedPosition, StoredEvent};
use crate::runner::Projection;

mod batch;
pub(crate) mod mysql;
pub(crate) mod sql;
pub(crate) mod sqlite;
#[cfg(test)]
mod tests;

use sql::{Kind, SqlPool, SqlTx, Value, STORE};

/// The read-model projection's name (its checkpoint row and lock).
pub const READ_MODEL: &str = "read_model";

/// The tables a replay rebuilds and swaps in together. The checkpoint table is
/// one of them, so data and checkpoint always match.
pub(crate) const TABLES: [&str; 6] = [
    "meetups",
    "questions",
    "votes",
    "activity",
    "activity_participants",
    "projection_checkpoints",
];

/// Suffix of the fresh tables a replay builds.
const FRESH: &str = "_replay";

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<sqlite::SqliteBackend>),
    MySql(Arc<mysql::MySqlBackend>),
}

/// The read model in a SQL database, either adapter.
#[derive(Clone)]
pub struct SqlReadModel {
    backend: Backend,
    /// Appended to every table name: empty for the live tables, [`FRESH`] for
    /// the ones a replay is building.
    suffix: &'static str,
}

pub(crate) fn sql_err(e: sqlx::Error) -> StoreError {
    StoreError::from_sqlx(STORE, e)
}

impl SqlReadModel {
    /// The read model in a SQLite database (usually the event store's file).
    pub fn sqlite(pool: SqlitePool) -> Self {
        Self {
            backend: Backend::Sqlite(Arc::new(sqlite::SqliteBackend::new(pool))),
            suffix: "",
        }
    }

    /// The read model in MySQL / MariaDB.
    pub fn mysql(pool: MySqlPool) -> Self {
        Self {
            backend: Backend::MySql(Arc::new(mysql::MySqlBackend::new(pool))),
            suffix: "",
        }
    }

    pub(crate) fn pool(&self) -> &dyn SqlPool {
        match &self.backend {
            Backend::Sqlite(p) => p.as_ref(),
            Backend::MySql(p) => p.as_ref(),
        }
    }

    /// Applies the read-model migrations (versions 1001–1999). Rows of other
    /// migrators in the same database (the event store's, in the embedded
    /// SQLite file) are left alone.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match &self.backend {
            Backend::Sqlite(p) => {
                let mut migrator = sqlx::migrate!("../migrations/readmodel/sqlite");
                migrator.set_ignore_missing(true);
                migrator.run(&p.0).await
            }
            Backend::MySql(p) => {
                let mut migrator = sqlx::migrate!("../migrations/readmodel/mysql");
                migrator.set_ignore_missing(true);
                migrator.run(&p.0).await
            }
        }
    }

    /// The name of a table in this set.
    pub(crate) fn t(&self, base: &str) -> String {
        format!("{base}{}", self.suffix)
    }

    /// The same database, but the fresh tables a replay builds.
    pub(crate) fn fresh(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            suffix: FRESH,
        }
    }

    /// Creates the fresh tables, empty (dropping leftovers of an earlier,
    /// interrupted replay).
    pub(crate) async fn create_fresh_tables(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(p) => sqlite::create_copies(p, &TABLES, FRESH).await,
            Backend::MySql(p) => mysql::create_copies(p, &TABLES, FRESH).await,
        }
        .map_err(sql_err)
    }

    /// Swaps the fresh tables in, atomically; the old ones are dropped.
    pub(crate) async fn swap_in_fresh(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(p) => sqlite::swap_in(p, &TABLES, FRESH).await,
            Backend::MySql(p) => mysql::swap_in(p, &TABLES, FRESH).await,
        }
        .map_err(sql_err)
    }

    /// Drops the fresh tables (a cancelled or failed replay).
    pub(crate) async fn drop_fresh_tables(&self) -> Result<(), StoreError> {
        for table in TABLES {
            self.pool()
                .execute(&format!("DROP TABLE IF EXISTS {table}{FRESH}"), vec![])
                .await
                .map_err(sql_err)?;
        }
        Ok(())
    }

    /// Reads the checkpoint of the read-model projection.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let rows = self
            .pool()
            .fetch(
                &format!(
                    "SELECT transaction_id, global_position, max_position, watermark
                     FROM {} WHERE name = ?",
                    self.t("projection_checkpoints")
                ),
                vec![READ_MODEL.into()],
                &[Kind::Int, Kind::Int, Kind::Int, Kind::Int],
            )
            .await
            .map_err(sql_err)?;
        rows.first()
            .map(|row| {
                Ok(Checkpoint {
                    feed: FeedPosition {
                        transaction_id: row.int(0)?,
                        global_position: row.int(1)?,
                    },
                    max_position: row.int(2)?,
                    watermark: row.int(3)?,
                })
            })
            .transpose()
    }

    /// Writes `next` if the stored checkpoint is still `expected`.
    async fn swap_checkpoint(
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

    async fn apply_one(
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
                    ..
                },
            ) => {
                tx.execute(
                    &format!(
                        "INSERT INTO {} (id, code, title, qa_open, moderated, archived,
                            created_at, updated_at, last_position)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        self.t("meetups")
                    ),
                    vec![
                        id.to_string().into(),
                        code.as_str().into(),
                        title.as_str().into(),
                        true.into(),
                        (*moderated).into(),
                        false.into(),
                        at.into(),
                        at.into(),
                        position.into(),
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
                let status = if *pending {
                    QuestionStatus::Pending
                } else {
                    QuestionStatus::Published
                };
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

/// The start of the minute `at` falls in.
pub(crate) fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    TimeDelta::try_minutes(1)
        .and_then(|m| at.duration_trunc(m).ok())
        .unwrap_or(at)
}

/// The column a meetup event changes (none for its creation).
fn meetup_column(change: &MeetupEvent) -> Option<(&'static str, Value)> {
    Some(match change {
        MeetupEvent::MeetupCreated { .. } => return None,
        MeetupEvent::MeetupRenamed { title } => ("title", title.as_str().into()),
        MeetupEvent::QaOpened => ("qa_open", true.into()),
        MeetupEvent::QaClosed => ("qa_open", false.into()),
        MeetupEvent::ModerationEnabled => ("moderated", true.into()),
        MeetupEvent::ModerationDisabled => ("moderated", false.into()),
        MeetupEvent::MeetupArchived => ("archived", true.into()),
    })
}

/// The columns a question event changes besides its timestamps (none for
/// its posting).
fn question_columns(change: &QuestionEvent) -> Vec<(&'static str, Value)> {
    let status = |s: QuestionStatus| ("status", Value::from(s.as_str()));
    match change {
        QuestionEvent::QuestionPosted { .. } => vec![],
        QuestionEvent::QuestionEdited { text } => vec![("text", text.as_str().into())],
        QuestionEvent::QuestionWithdrawn => vec![status(QuestionStatus::Withdrawn)],
        QuestionEvent::QuestionApproved => vec![status(QuestionStatus::Published)],
        QuestionEvent::QuestionRejected => vec![status(QuestionStatus::Rejected)],
        QuestionEvent::QuestionAnswered => vec![("answered", true.into())],
        QuestionEvent::QuestionReopened => vec![("answered", false.into())],
        QuestionEvent::QuestionHighlighted => vec![("highlighted", true.into())],
        QuestionEvent::QuestionUnhighlighted => vec![("highlighted", false.into())],
        QuestionEvent::QuestionRemoved { .. } => vec![
            status(QuestionStatus::Removed),
            ("highlighted", false.into()),
        ],
    }
}

#[async_trait]
impl Projection for SqlReadModel {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    async fn load(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.checkpoint().await
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
        tx.commit().await.map_err(sql_err)?;
        Ok(())
    }
}
