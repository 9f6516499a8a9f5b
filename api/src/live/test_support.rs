//! A read model held in memory for the live stream's unit tests: one meetup,
//! its published questions and a position the test sets.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use qicoo_domain::{MeetupId, ParticipantId, QuestionId, QuestionStatus};
use qicoo_projections::{
    MeetupView, Page, QueryError, QuestionQuery, QuestionView, ReadQueries, StoreError, Viewer,
};

/// One meetup's read model, in memory.
pub struct MemoryQueries {
    pub meetup: MeetupView,
    pub questions: Mutex<Vec<QuestionView>>,
    pub position: AtomicI64,
}

impl MemoryQueries {
    /// An empty meetup at position `position`.
    pub fn new(position: i64) -> Self {
        let now = Utc::now();
        Self {
            meetup: MeetupView {
                id: MeetupId::new(),
                code: "LIVE01".into(),
                title: "Live".into(),
                qa_open: true,
                moderated: false,
                archived: false,
                created_at: now,
                updated_at: now,
            },
            questions: Mutex::new(Vec::new()),
            position: AtomicI64::new(position),
        }
    }

    /// A published question of the meetup, posted at `posted_position`.
    pub fn question(&self, likes: i64, posted_position: i64) -> QuestionView {
        let now = Utc::now();
        QuestionView {
            id: QuestionId::new(),
            meetup_id: self.meetup.id,
            text: format!("Question {posted_position}?"),
            author_name: None,
            likes,
            status: QuestionStatus::Published,
            answered: false,
            highlighted: false,
            created_at: now,
            updated_at: now,
            liked_by_me: None,
            author: ParticipantId::new(),
            position: posted_position,
            posted_position,
        }
    }
}

fn unsupported() -> QueryError {
    QueryError::Store(StoreError::Failed {
        store: "read model",
        message: "not kept by this test read model".into(),
    })
}

#[async_trait]
impl ReadQueries for MemoryQueries {
    async fn meetup(&self, id: MeetupId) -> Result<Option<MeetupView>, QueryError> {
        Ok((id == self.meetup.id).then(|| self.meetup.clone()))
    }

    async fn meetup_by_code(&self, _: &str) -> Result<Option<MeetupView>, QueryError> {
        Err(unsupported())
    }

    async fn organizer_key_hash(
        &self,
        _: MeetupId,
    ) -> Result<Option<qicoo_domain::OrganizerKeyHash>, QueryError> {
        Err(unsupported())
    }

    async fn questions(
        &self,
        _: MeetupId,
        _: &QuestionQuery,
    ) -> Result<Page<QuestionView>, QueryError> {
        Ok(Page {
            items: self
                .questions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            next_cursor: None,
            position: self.position.load(Ordering::SeqCst),
        })
    }

    async fn question(
        &self,
        _: QuestionId,
        _: &Viewer,
    ) -> Result<Option<QuestionView>, QueryError> {
        Err(unsupported())
    }

    async fn question_meetup(&self, _: QuestionId) -> Result<Option<MeetupId>, QueryError> {
        Err(unsupported())
    }

    async fn leaderboard(
        &self,
        _: MeetupId,
        _: u32,
        _: &Viewer,
    ) -> Result<Page<QuestionView>, QueryError> {
        Err(unsupported())
    }

    async fn position(&self) -> Result<i64, QueryError> {
        Ok(self.position.load(Ordering::SeqCst))
    }

    async fn wait_for_position(&self, _: i64, _: Duration) -> Result<i64, QueryError> {
        self.position().await
    }
}
