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
use chrono::{DateTime, Utc};
use qicoo_domain::{MeetupId, QuestionId, VoteEvent};
use tokio::sync::Mutex;

use crate::changes::{record_stage, Change, ChangeBatch, ChangeStream};
use crate::error::{ApplyError, StoreError};
use crate::event::{Checkpoint, DomainEvent, StoredEvent};
use crate::queries::{ReadQueries, Viewer};
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
    /// The latest watermark committed: where what is pending would be
    /// published.
    latest: i64,
    /// When the newest event noted since the last publication was committed.
    newest_commit: Option<DateTime<Utc>>,
    /// After a failed publication, when to try again (until then changes only
    /// accumulate as a resync, so that an outage of the stream does not slow
    /// the read model down).
    retry_at: Option<std::time::Instant>,
}

/// How long publication pauses after a failure: short, since live clients
/// wait for the resync that follows the stream's return.
const PUBLISH_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The read model, publishing its changes.
pub struct PublishingReadModel {
    inner: Arc<dyn ReadModelStore>,
    publisher: Publisher,
}

impl PublishingReadModel {
    pub fn new(
        inner: Arc<dyn ReadModelStore>,
        queries: Arc<dyn ReadQueries>,
        changes: Arc<dyn ChangeStream>,
    ) -> Self {
        Self {
            inner,
            publisher: Publisher::new(queries, changes),
        }
    }
}

/// Reads changed rows back and publishes them: the half of
/// [`PublishingReadModel`] that knows nothing of how rows are written.
struct Publisher {
    queries: Arc<dyn ReadQueries>,
    changes: Arc<dyn ChangeStream>,
    pending: Mutex<Pending>,
}

impl Publisher {
    fn new(queries: Arc<dyn ReadQueries>, changes: Arc<dyn ChangeStream>) -> Self {
        Self {
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
        // One read for every changed question, however many.
        let ids: Vec<QuestionId> = pending.questions.iter().copied().collect();
        let mut questions = self
            .queries
            .questions_by_ids(&ids, &everything)
            .await
            .map_err(query_err)?;
        questions.sort_by_key(|q| q.id);
        changes.extend(
            questions
                .into_iter()
                .map(|question| Change::Question { question }),
        );
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
        let (changes, unread) = match self.rows(pending).await {
            Ok(changes) => (changes, false),
            Err(e) => {
                // Without the rows, the only honest publication is "refresh".
                tracing::warn!(error = %e, "reading changed rows failed; consumers will resync");
                (Vec::new(), true)
            }
        };
        let resync =
            pending.resync || unread || (changes.is_empty() && !pending.questions.is_empty());
        let batch = ChangeBatch {
            position,
            committed_at: pending.newest_commit.unwrap_or_else(Utc::now),
            changes: if resync { Vec::new() } else { changes },
            resync,
        };
        match self.changes.publish(&batch).await {
            Ok(()) => {
                record_stage("published", batch.committed_at);
                pending.questions.clear();
                pending.meetups.clear();
                pending.newest_commit = None;
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

    /// Takes note of the rows a committed batch changed, and publishes them
    /// once the watermark has moved past the last publication.
    async fn note(&self, events: &[(&StoredEvent, DomainEvent)], watermark: i64) {
        let mut pending = self.pending.lock().await;
        if let Some(newest) = newest_commit(events) {
            record_stage("applied", newest);
            pending.newest_commit = pending.newest_commit.max(Some(newest));
        }
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
        pending.latest = pending.latest.max(watermark);
        let has_news =
            pending.resync || !pending.questions.is_empty() || !pending.meetups.is_empty();
        if watermark > pending.published && has_news {
            self.publish(&mut pending, watermark).await;
        }
    }

    /// Publishes what is still pending (a resync after a failed publication)
    /// once the pause after the failure is over, even when no new batch
    /// comes: otherwise consumers of a quiet room would wait for the next
    /// event to hear that they must refresh.
    async fn flush(&self) {
        let mut pending = self.pending.lock().await;
        let due = pending
            .retry_at
            .is_some_and(|at| std::time::Instant::now() >= at);
        if due && pending.latest > pending.published {
            let latest = pending.latest;
            self.publish(&mut pending, latest).await;
        }
    }

    /// Starts from the read model's watermark after a (re)start.
    async fn start_at(&self, watermark: i64) {
        let mut pending = self.pending.lock().await;
        pending.published = watermark;
        pending.latest = watermark;
        // A previous publisher may have committed batches it never published.
        let last = self.changes.last_position().await.unwrap_or(None);
        if last.is_some_and(|last| last < watermark) {
            pending.resync = true;
        }
    }
}

/// When the newest of `events` was committed.
fn newest_commit(events: &[(&StoredEvent, DomainEvent)]) -> Option<DateTime<Utc>> {
    events.iter().map(|(stored, _)| stored.recorded_at).max()
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
        self.publisher.start_at(watermark).await;
        Ok(checkpoint)
    }

    async fn apply(
        &self,
        expected: Option<&Checkpoint>,
        events: &[(&StoredEvent, DomainEvent)],
        next: &Checkpoint,
    ) -> Result<(), ApplyError> {
        if let Some(newest) = newest_commit(events) {
            record_stage("read", newest);
        }
        self.inner.apply(expected, events, next).await?;
        self.publisher.note(events, next.watermark).await;
        Ok(())
    }

    async fn idle(&self) {
        self.publisher.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use qicoo_domain::{MeetupEvent, QuestionEvent};

    use super::*;
    use crate::changes::InProcessChanges;
    use crate::error::QueryError;
    use crate::event::FeedPosition;
    use crate::queries::{MeetupView, Page, QuestionQuery, QuestionView};

    /// A read model whose every read fails, as when its database drops out
    /// between a commit and the read-back.
    struct Unreadable;

    fn down() -> QueryError {
        QueryError::Store(StoreError::Unavailable {
            store: "read model",
            message: "connection refused".into(),
        })
    }

    #[async_trait]
    impl ReadQueries for Unreadable {
        async fn meetup(&self, _: MeetupId) -> Result<Option<MeetupView>, QueryError> {
            Err(down())
        }
        async fn meetup_by_code(&self, _: &str) -> Result<Option<MeetupView>, QueryError> {
            Err(down())
        }
        async fn organizer_key_hash(
            &self,
            _: MeetupId,
        ) -> Result<Option<qicoo_domain::OrganizerKeyHash>, QueryError> {
            Err(down())
        }
        async fn questions(
            &self,
            _: MeetupId,
            _: &QuestionQuery,
        ) -> Result<Page<QuestionView>, QueryError> {
            Err(down())
        }
        async fn question(
            &self,
            _: QuestionId,
            _: &Viewer,
        ) -> Result<Option<QuestionView>, QueryError> {
            Err(down())
        }
        async fn question_meetup(&self, _: QuestionId) -> Result<Option<MeetupId>, QueryError> {
            Err(down())
        }
        async fn leaderboard(
            &self,
            _: MeetupId,
            _: u32,
            _: &Viewer,
        ) -> Result<Page<QuestionView>, QueryError> {
            Err(down())
        }
        async fn position(&self) -> Result<i64, QueryError> {
            Err(down())
        }
        async fn wait_for_position(&self, _: i64, _: Duration) -> Result<i64, QueryError> {
            Err(down())
        }
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
            recorded_at: chrono::Utc::now(),
        }
    }

    async fn published_after_failed_read(event: DomainEvent) -> ChangeBatch {
        let changes = Arc::new(InProcessChanges::default());
        let mut subscription = changes.subscribe(0);
        let publisher = Publisher::new(Arc::new(Unreadable), changes.clone());
        publisher.start_at(0).await;
        let stored = stored(7);
        publisher.note(&[(&stored, event)], 7).await;
        let batch = tokio::time::timeout(Duration::from_secs(5), subscription.recv())
            .await
            .expect("a publication")
            .expect("the stream is open")
            .expect("no gap");
        subscription.close().await;
        batch
    }

    #[tokio::test]
    async fn a_failed_read_of_a_changed_meetup_goes_out_as_a_resync() {
        let batch = published_after_failed_read(DomainEvent::Meetup(
            MeetupId::new(),
            MeetupEvent::QaClosed,
        ))
        .await;
        assert_eq!(batch.position, 7);
        assert!(batch.resync, "the change was dropped: {batch:?}");
        assert!(batch.changes.is_empty());
    }

    #[tokio::test]
    async fn a_failed_read_of_a_changed_question_goes_out_as_a_resync() {
        let batch = published_after_failed_read(DomainEvent::Question(
            QuestionId::new(),
            QuestionEvent::QuestionAnswered,
        ))
        .await;
        assert!(batch.resync, "the change was dropped: {batch:?}");
    }

    /// A change stream that refuses publications while `down`, and keeps
    /// those it accepts.
    #[derive(Default)]
    struct Flaky {
        down: std::sync::atomic::AtomicBool,
        accepted: std::sync::Mutex<Vec<ChangeBatch>>,
    }

    #[async_trait]
    impl ChangeStream for Flaky {
        async fn publish(&self, batch: &ChangeBatch) -> Result<(), StoreError> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Unavailable {
                    store: "change stream",
                    message: "connection refused".into(),
                });
            }
            self.accepted.lock().expect("lock").push(batch.clone());
            Ok(())
        }

        async fn last_position(&self) -> Result<Option<i64>, StoreError> {
            Ok(self
                .accepted
                .lock()
                .expect("lock")
                .last()
                .map(|b| b.position))
        }

        fn subscribe(&self, _after: i64) -> crate::changes::Subscription {
            crate::changes::Subscription::spawn(|_, stop| async move { stop.cancelled().await })
        }
    }

    #[tokio::test]
    async fn a_failed_publication_becomes_a_resync_when_the_stream_returns_in_a_quiet_room() {
        let changes = Arc::new(Flaky::default());
        let publisher = Publisher::new(Arc::new(Unreadable), changes.clone());
        publisher.start_at(0).await;
        changes
            .down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let stored = stored(7);
        let event = DomainEvent::Question(QuestionId::new(), QuestionEvent::QuestionAnswered);
        publisher.note(&[(&stored, event)], 7).await;
        changes
            .down
            .store(false, std::sync::atomic::Ordering::SeqCst);

        publisher.flush().await;
        assert!(
            changes.accepted.lock().expect("lock").is_empty(),
            "publication pauses after a failure"
        );
        // The pause is over.
        publisher.pending.lock().await.retry_at = Some(std::time::Instant::now());
        publisher.flush().await;
        let accepted = changes.accepted.lock().expect("lock").clone();
        assert_eq!(accepted.len(), 1, "{accepted:?}");
        assert_eq!(accepted[0].position, 7);
        assert!(accepted[0].resync, "consumers are told to refresh");
        publisher.flush().await;
        assert_eq!(changes.accepted.lock().expect("lock").len(), 1, "once");
    }

    #[tokio::test]
    async fn a_publication_carries_the_commit_time_of_its_newest_event() {
        let changes = Arc::new(Flaky::default());
        let publisher = Publisher::new(Arc::new(Unreadable), changes.clone());
        publisher.start_at(0).await;
        let at = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(1_800_000_000_000 + ms).expect("a time")
        };
        let question = || DomainEvent::Question(QuestionId::new(), QuestionEvent::QuestionAnswered);
        let (mut newer, mut older) = (stored(6), stored(7));
        newer.recorded_at = at(30);
        older.recorded_at = at(0);
        publisher
            .note(&[(&newer, question()), (&older, question())], 7)
            .await;
        let mut later = stored(8);
        later.recorded_at = at(10);
        publisher.note(&[(&later, question())], 8).await;
        let accepted = changes.accepted.lock().expect("lock").clone();
        let times: Vec<_> = accepted
            .iter()
            .map(|b| (b.position, b.committed_at))
            .collect();
        // Each publication its own newest, not the largest ever seen.
        assert_eq!(times, [(7, at(30)), (8, at(10))]);
    }
}
