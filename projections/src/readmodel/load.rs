//! Filling the fresh tables of a rebuild in bulk: the chain's links page by
//! page while the events are read (one write in flight beside the fold), then
//! the folded rows in key order with multi-row inserts, and the checkpoint
//! last.

use async_trait::async_trait;
use tokio::task::JoinHandle;

use super::fold::{PendingLink, ReadModelFold};
use super::sql::{placeholders, Dialect, Value};
use super::{sql_err, SqlReadModel};
use crate::bulk::BulkLoad;
use crate::error::{ApplyError, StoreError};
use crate::event::{Checkpoint, DomainEvent, StoredEvent};

/// Most values bound to one statement: below SQLite's limit (32,766) and
/// MySQL's (65,535), and large enough that a statement carries thousands of
/// rows.
const MAX_VALUES: usize = 30_000;

/// Statements per transaction: a commit (a flush of the log) every few tens
/// of thousands of rows.
const STATEMENTS_PER_COMMIT: usize = 8;

/// The fresh tables of a [`SqlReadModel`], filled in bulk.
pub(super) struct SqlBulkLoad {
    model: SqlReadModel,
    fold: ReadModelFold,
    /// The links of the previous page, being written.
    writing: Option<JoinHandle<Result<(), StoreError>>>,
}

impl SqlBulkLoad {
    /// A loader of `model`'s tables, which must be empty.
    pub(super) fn new(model: SqlReadModel) -> Self {
        Self {
            model,
            fold: ReadModelFold::default(),
            writing: None,
        }
    }

    async fn wait_for_writes(&mut self) -> Result<(), StoreError> {
        match self.writing.take() {
            Some(handle) => handle
                .await
                .map_err(|e| StoreError::failed(super::sql::STORE, e))?,
            None => Ok(()),
        }
    }

    /// The links as rows of `event_links`.
    fn link_rows(&self, links: &[PendingLink]) -> Vec<[Value; 3]> {
        links
            .iter()
            .map(|(position, meetup, link)| {
                let meetup = self
                    .fold
                    .chain_meetups
                    .get(*meetup)
                    .map_or("", String::as_str);
                [(*position).into(), meetup.into(), link.to_hex().into()]
            })
            .collect()
    }
}

/// Writes links.
async fn write_links(model: SqlReadModel, rows: Vec<[Value; 3]>) -> Result<(), StoreError> {
    let head = format!(
        "INSERT INTO {} (position, meetup_id, link)",
        model.t("event_links")
    );
    model.insert_rows(head, rows.into_iter()).await
}

impl SqlReadModel {
    /// Inserts `rows` into the columns `head` names (`INSERT INTO t (a, b)`),
    /// as many rows to a statement as fit, committing every
    /// [`STATEMENTS_PER_COMMIT`] statements: the tables are a rebuild's
    /// fresh ones, which nothing reads, and a writer of the same database
    /// (the embedded write side, in SQLite) waits for one commit at most.
    async fn insert_rows<const W: usize>(
        &self,
        head: String,
        rows: impl Iterator<Item = [Value; W]> + Send,
    ) -> Result<(), StoreError> {
        let per_statement = (MAX_VALUES / W).max(1);
        let mut rows = rows.peekable();
        while rows.peek().is_some() {
            let mut tx = self.pool().begin().await.map_err(sql_err)?;
            for _ in 0..STATEMENTS_PER_COMMIT {
                let mut values = Vec::with_capacity(per_statement * W);
                for row in rows.by_ref().take(per_statement) {
                    values.extend(row);
                }
                if values.is_empty() {
                    break;
                }
                let n = values.len() / W;
                tx.execute(&format!("{head} VALUES {}", placeholders(n, W)), values)
                    .await
                    .map_err(sql_err)?;
            }
            tx.commit().await.map_err(sql_err)?;
        }
        Ok(())
    }

    /// Writes the folded rows into this set's (empty) tables, then
    /// `checkpoint`: only a set that has its checkpoint is complete.
    async fn write_folded(
        &self,
        fold: ReadModelFold,
        checkpoint: &Checkpoint,
    ) -> Result<(), ApplyError> {
        self.write_rows(fold).await?;
        let mut tx = self.pool().begin().await.map_err(sql_err)?;
        self.swap_checkpoint(tx.as_mut(), None, checkpoint).await?;
        tx.commit().await.map_err(sql_err)?;
        Ok(())
    }

    /// Writes the folded rows, each table in key order. MySQL writes the
    /// tables side by side, on connections of their own; SQLite, which has
    /// one writer, one after the other.
    async fn write_rows(&self, fold: ReadModelFold) -> Result<(), StoreError> {
        let ReadModelFold {
            meetups,
            questions,
            votes,
            activity,
            active,
            chain_meetups,
            chains,
            ..
        } = fold;
        let mut meetups: Vec<_> = meetups.into_values().collect();
        meetups.sort_by_key(|m| m.id);
        let mut questions: Vec<_> = questions.into_values().collect();
        questions.sort_by_key(|q| q.id);
        // Key order: each insert appends to the primary key.
        let mut votes: Vec<_> = votes.into_iter().collect();
        votes.sort_unstable_by_key(|(key, _)| *key);
        let mut activity: Vec<_> = activity.into_iter().collect();
        activity.sort_unstable_by_key(|(key, _)| *key);
        let mut active: Vec<_> = active.into_iter().collect();
        active.sort_unstable();

        let meetups = self.insert_rows(
            format!(
                "INSERT INTO {} (id, code, title, qa_open, moderated, archived,
                    created_at, updated_at, last_position, organizer_key_hash)",
                self.t("meetups")
            ),
            meetups.into_iter().map(|m| {
                [
                    m.id.to_string().into(),
                    m.code.into(),
                    m.title.into(),
                    m.qa_open.into(),
                    m.moderated.into(),
                    m.archived.into(),
                    m.created_at.into(),
                    m.updated_at.into(),
                    m.last_position.into(),
                    m.organizer_key_hash.into(),
                ]
            }),
        );
        let questions = self.insert_rows(
            format!(
                "INSERT INTO {} (id, meetup_id, author_id, text, author_name, status,
                    likes, answered, highlighted, created_at, updated_at,
                    posted_position, last_position)",
                self.t("questions")
            ),
            questions.into_iter().map(|q| {
                [
                    q.id.to_string().into(),
                    q.meetup_id.to_string().into(),
                    q.author_id.to_string().into(),
                    q.text.into(),
                    q.author_name.into(),
                    q.status.as_str().into(),
                    q.likes.into(),
                    q.answered.into(),
                    q.highlighted.into(),
                    q.created_at.into(),
                    q.updated_at.into(),
                    q.posted_position.into(),
                    q.last_position.into(),
                ]
            }),
        );
        let votes = self.insert_rows(
            format!(
                "INSERT INTO {} (question_id, participant_id, meetup_id, cast_at)",
                self.t("votes")
            ),
            votes.into_iter().map(|((question, participant), vote)| {
                [
                    question.to_string().into(),
                    participant.to_string().into(),
                    vote.meetup_id.to_string().into(),
                    vote.cast_at.into(),
                ]
            }),
        );
        let activity = self.insert_rows(
            format!(
                "INSERT INTO {} (meetup_id, minute, questions, likes, active_participants)",
                self.t("activity")
            ),
            activity.into_iter().map(|((meetup, minute), a)| {
                [
                    meetup.to_string().into(),
                    minute.into(),
                    a.questions.into(),
                    a.likes.into(),
                    a.active_participants.into(),
                ]
            }),
        );
        let active = self.insert_rows(
            format!(
                "INSERT INTO {} (meetup_id, minute, participant_id)",
                self.t("activity_participants")
            ),
            active.into_iter().map(|(meetup, minute, participant)| {
                [
                    meetup.to_string().into(),
                    minute.into(),
                    participant.to_string().into(),
                ]
            }),
        );
        let heads = self.insert_rows(
            format!(
                "INSERT INTO {} (meetup_id, position, link, events)",
                self.t("chain_heads")
            ),
            chain_meetups
                .into_iter()
                .zip(chains)
                .map(|(meetup, chain)| {
                    [
                        meetup.into(),
                        chain.position.into(),
                        chain.link.to_hex().into(),
                        chain.events.into(),
                    ]
                }),
        );
        match self.pool().dialect() {
            Dialect::MySql => {
                let small = async {
                    meetups.await?;
                    questions.await?;
                    activity.await?;
                    heads.await
                };
                tokio::try_join!(votes, active, small)?;
            }
            Dialect::Sqlite => {
                meetups.await?;
                questions.await?;
                votes.await?;
                activity.await?;
                active.await?;
                heads.await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl BulkLoad for SqlBulkLoad {
    fn fold(&mut self, stored: &StoredEvent, event: &DomainEvent) -> Result<(), ApplyError> {
        self.fold.fold(stored, event)
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        let links = self.fold.take_links();
        // One page's links in flight at a time: the next page folds while
        // they are written.
        self.wait_for_writes().await?;
        if !links.is_empty() {
            let rows = self.link_rows(&links);
            self.writing = Some(tokio::spawn(write_links(self.model.clone(), rows)));
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        self.flush().await?;
        self.wait_for_writes().await?;
        let fold = std::mem::take(&mut self.fold);
        self.model
            .write_folded(fold, checkpoint)
            .await
            .map_err(|e| match e {
                ApplyError::Store(e) => e,
                other => StoreError::failed(super::sql::STORE, other),
            })
    }
}
