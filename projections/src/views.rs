//! Meetups and questions as clients see them: what the read model answers,
//! the queries return and the change stream carries. They serialise with the
//! wire field names of the design, and never include a question author's
//! participant id.

use chrono::{DateTime, Utc};
use qicoo_domain::{MeetupId, ParticipantId, QuestionId, QuestionStatus};
use serde::{Deserialize, Serialize};

/// A meetup as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetupView {
    pub id: MeetupId,
    pub code: String,
    pub title: String,
    pub qa_open: bool,
    pub moderated: bool,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    /// When anything about the meetup last changed.
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
}

/// A question as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionView {
    pub id: QuestionId,
    pub meetup_id: MeetupId,
    pub text: String,
    pub author_name: Option<String>,
    pub likes: i64,
    pub status: QuestionStatus,
    pub answered: bool,
    pub highlighted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Present when the caller is a participant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liked_by_me: Option<bool>,
    /// The author, for "is this mine" checks; never sent to clients.
    #[serde(skip)]
    pub author: ParticipantId,
    /// Global position of the event that last changed the question.
    #[serde(skip)]
    pub position: i64,
    /// Global position of the event that posted the question: among questions
    /// with as many likes, the earlier posted ranks first.
    #[serde(skip)]
    pub posted_position: i64,
}
