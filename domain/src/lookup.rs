//! What one aggregate may ask about another while it decides a command.
//!
//! The write side implements these traits by loading the other aggregate from the
//! event store; tests implement them with fixed answers.

use async_trait::async_trait;

use crate::ids::{MeetupId, QuestionId};
use crate::question::QuestionStatus;

/// A lookup could not be answered (the store did not respond). Not a refusal: the
/// command may succeed when tried again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lookup failed: {0}")]
pub struct LookupError(pub String);

/// The facts about a meetup that decide whether questions may be posted into it,
/// and whether its questions and likes may change at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeetupFacts {
    /// Whether participants may post questions now.
    pub qa_open: bool,
    /// Archived meetups are read-only: no command on them, their questions or
    /// their likes is accepted.
    pub archived: bool,
    /// Whether new questions wait for the organizer's approval.
    pub moderated: bool,
}

/// Answers questions about meetups.
#[async_trait]
pub trait MeetupLookup: Send + Sync {
    /// The meetup's current facts, or `None` if there is no such meetup.
    async fn meetup(&self, id: MeetupId) -> Result<Option<MeetupFacts>, LookupError>;
}

/// The facts about a question that decide whether it may be liked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuestionFacts {
    /// The meetup the question was posted into.
    pub meetup_id: MeetupId,
    /// Only published questions can be liked.
    pub status: QuestionStatus,
}

/// Answers questions about questions.
#[async_trait]
pub trait QuestionLookup: Send + Sync {
    /// The question's current facts, or `None` if there is no such question.
    async fn question(&self, id: QuestionId) -> Result<Option<QuestionFacts>, LookupError>;
}
