//! The JSON shapes clients rely on (see DESIGN.md, "Wire shapes").

use chrono::{DateTime, Utc};
use qicoo_domain::{Meetup, Question};
use qicoo_projections::QuestionView;
use serde::Serialize;

/// A meetup on the wire. The read model's `MeetupView` has this shape too, with
/// `created_at` always known.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Meetup)]
pub struct MeetupBody {
    #[schema(format = Uuid)]
    pub id: String,
    /// The join code attendees type in.
    pub code: String,
    pub title: String,
    pub qa_open: bool,
    pub moderated: bool,
    pub archived: bool,
    /// `null` when the read model had not caught up with the command yet.
    pub created_at: Option<DateTime<Utc>>,
}

impl MeetupBody {
    /// From the write side's state.
    pub fn from_state(meetup: &Meetup, created_at: Option<DateTime<Utc>>) -> Self {
        Self {
            id: meetup.id.map(|id| id.to_string()).unwrap_or_default(),
            code: meetup.code.clone(),
            title: meetup.title.clone(),
            qa_open: meetup.qa_open,
            moderated: meetup.moderated,
            archived: meetup.archived,
            created_at,
        }
    }
}

/// A question on the wire. The read model's `QuestionView` has this shape too,
/// with its timestamps always known.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Question)]
pub struct QuestionBody {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub meetup_id: String,
    pub text: String,
    pub author_name: Option<String>,
    pub likes: i64,
    #[schema(value_type = crate::openapi::QuestionStatusSchema)]
    pub status: &'static str,
    pub answered: bool,
    pub highlighted: bool,
    /// `null` when the read model had not caught up with the command yet.
    pub created_at: Option<DateTime<Utc>>,
    /// `null` when the read model had not caught up with the command yet.
    pub updated_at: Option<DateTime<Utc>>,
    /// Present when the caller is a participant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liked_by_me: Option<bool>,
}

impl QuestionBody {
    /// From the write side's state, with the likes and timestamps of the read
    /// model's view when it has one.
    pub fn from_state(question: &Question, read: Option<&QuestionView>) -> Self {
        Self {
            id: question.id.map(|id| id.to_string()).unwrap_or_default(),
            meetup_id: question
                .meetup_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            text: question.text.clone(),
            author_name: question.author_name.clone(),
            likes: read.map(|r| r.likes).unwrap_or(0),
            status: question.status.as_str(),
            answered: question.answered,
            highlighted: question.highlighted,
            created_at: read.map(|r| r.created_at),
            updated_at: read.map(|r| r.updated_at),
            liked_by_me: None,
        }
    }
}

/// `{"meetup": …, "position": …}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeetupResponse {
    pub meetup: MeetupBody,
    pub position: i64,
}

/// `{"question": …, "position": …}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuestionResponse {
    pub question: QuestionBody,
    pub position: i64,
}
