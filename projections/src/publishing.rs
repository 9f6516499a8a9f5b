//! The read-model projection, publishing what it changed: after each batch
//! commits, the changed questions and meetups are read back and published on
//! the change stream with the read model's position.
//!
//! Publication follows the watermark, not the batch: a batch whose watermark did
//! not advance (an older transaction is still open) keeps its changes pending
//! until one does, so positions on the stream only grow and each one means
//! "everything up to here is reflected".

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use qicoo_domain::{MeetupId, QuestionId, VoteEvent};
use tokio::sync::Mutex;

use crate::changes::{Change, ChangeBatch, ChangeStream};
use crate::error::{ApplyError, StoreError};
use crate::event::{Checkpoint, DomainEvent, StoredEvent};
use crate::queries::{ModelQueries, ReadQueries, Viewer};
use crate::readmodel::ReadModelStore;
use crate::runner::Projection;

/// Rows changed since the last publication.
#[derive(Default)]
struct Pending {
    questions: BTreeSet<QuestionId>,
    meetups: BTreeSet<MeetupId>,
    /// A publication failed or a restart may have lost one: tell consumers to
    /// refresh instead of trusting the stream.
    resync: bool,
    /// The position of the last publication.
    published: i64,
    /// After a failed publication, when to try again (until then changes only
    /// accumulate as a resync, so that an outage of the stream does not slow
    /// the read model down).
    retry_at: Option<std::time::Instant>,
}

/// How long publication pauses after a failure.
const PUBLISH_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// The read model, publishing its changes.
pub struct PublishingReadModel {
    inner: Arc<dyn ReadModelStore>,
    queries: Arc<ModelQueries>,
    changes: Arc<dyn ChangeStream>,
    pending: Mutex<Pending>,
}

impl PublishingReadModel {
    pub fn new(
        inner: Arc<dyn ReadModelStore>,
        queries: Arc<ModelQueries>,
        changes: Arc<dyn ChangeStream>,
    ) -> Self {
        Self {
            inner,
            queries,
            changes,
            pending: Mutex::new(Pending::default()),
        }
    }

    async fn rows(&self, pending: &Pending) -> Result<Vec<Change>, StoreError> {
        let everything = Viewer {
            participant: None,
            organizer: true,
        };
        let mut changes = Vec::with_capacity(pending.meetups.len() + pending.questions.len());
        for id in &pending.meetups {
            if let Some(meetup) = self.queries.meetup(*id).await.map_err(query_err)? {
                changes.push(Change::Meetup { meetup });
            }
        }
        for id in &pending.questions {
            if let Some(question) = self
                .queries
                .question(*id, &everything)
                .await
                .map_err(query_err)?
            {
                changes.push(Change::Question { question });
            }
        }
        Ok(changes)
    }

    async fn publish(&self, pending: &mut Pending, position: i64) {
        if pending
            .retry_at
            .is_some_and(|at| std::time::Instant::now() < at)
        {
            pending.questions.clear();
            pending.meetups.clear();
            pending.resync = true;
            return;
        }
        let changes = match self.rows(pending).await {
            Ok(changes) => changes,
            Err(e) => {
                tracing::warn!(error = %e, "reading changed rows failed; consumers will resync");
                Vec::new()
            }
        };
        let resync = pending.resync || (changes.is_empty() && !pending.questions.is_empty());
        let batch = ChangeBatch {
            position,
            committed_at: chrono::Utc::now(),
            changes: if resync { Vec::new() } else { changes },
            resync,
        };
        match self.changes.publish(&batch).await {
            Ok(()) => {
                pending.questions.clear();
                pending.meetups.clear();
                pending.resync = false;
                pending.published = position;
                pending.retry_at = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "publishing changes failed; consumers will resync");
                pending.questions.clear();
                pending.meetups.clear();
                pending.resync = true;
                pending.retry_at = Some(std::time::Instant::now() + PUBLISH_RETRY);
            }
        }
    }
}

fn query_err(e: crate::error::QueryError) -> StoreError {
    match e {
        crate::error::QueryError::Store(e) => e,
        other => StoreError::Failed {
            store: "read model",
            message: other.to_string(),
        },
    }
}

#[async_trait]
impl Projection for PublishingReadModel {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn load(&self) -> Result<Option<Checkpoint>, StoreError> {
        let checkpoint = self.inner.load().await?;
        let watermark = checkpoint.as_ref().map_or(0, |c| c.watermark);
        let mut pending = self.pending.lock().await;
        pending.published = watermark;
        // A previous publisher may have committed batches it never published.
        let last = self.changes.last_position().await.unwrap_or(None);
        if last.is_some_and(|last| last < watermark) {
            pending.resync = true;
        }
        Ok(checkpoint)
    }

    async fn apply(
        &self,
        expected: Option<&Checkpoint>,
        events: &[(&StoredEvent, DomainEvent)],
        next: &Checkpoint,
    ) -> Result<(), ApplyError> {
        self.inner.apply(expected, events, next).await?;
        let mut pending = self.pending.lock().await;
        for (_, event) in events {
            match event {
                DomainEvent::Meetup(id, _) => {
                    pending.meetups.insert(*id);
                }
                DomainEvent::Question(id, _) => {
                    pending.questions.insert(*id);
                }
                DomainEvent::Vote(VoteEvent::VoteCast { question_id, .. })
                | DomainEvent::Vote(VoteEvent::VoteWithdrawn { question_id, .. }) => {
                    pending.questions.insert(*question_id);
                }
                DomainEvent::Ignored => {}
            }
        }
        let has_news =
            pending.resync || !pending.questions.is_empty() || !pending.meetups.is_empty();
        if next.watermark > pending.published && has_news {
            self.publish(&mut pending, next.watermark).await;
        }
        Ok(())
    }
}
