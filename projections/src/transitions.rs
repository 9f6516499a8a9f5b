//! How each event changes a meetup or a question: the one statement of these
//! rules. The read model turns a change into column assignments, the
//! leaderboard into its entries, and the audit fold into the state of a
//! meetup as of any instant, so none of them can drift from the others.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use qicoo_domain::{MeetupEvent, QuestionEvent, QuestionId, QuestionStatus, VoteEvent};

/// The fields of a meetup an event sets (its creation aside).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeetupChange<'a> {
    pub title: Option<&'a str>,
    pub qa_open: Option<bool>,
    pub moderated: Option<bool>,
    pub archived: Option<bool>,
}

/// What `event` sets on an existing meetup (nothing for its creation).
pub fn meetup_change(event: &MeetupEvent) -> MeetupChange<'_> {
    let none = MeetupChange::default();
    match event {
        MeetupEvent::MeetupCreated { .. } => none,
        MeetupEvent::MeetupRenamed { title } => MeetupChange {
            title: Some(title),
            ..none
        },
        MeetupEvent::QaOpened => MeetupChange {
            qa_open: Some(true),
            ..none
        },
        MeetupEvent::QaClosed => MeetupChange {
            qa_open: Some(false),
            ..none
        },
        MeetupEvent::ModerationEnabled => MeetupChange {
            moderated: Some(true),
            ..none
        },
        MeetupEvent::ModerationDisabled => MeetupChange {
            moderated: Some(false),
            ..none
        },
        MeetupEvent::MeetupArchived => MeetupChange {
            archived: Some(true),
            ..none
        },
    }
}

/// A meetup's switches when it is created: Q&A open, not archived.
pub const CREATED_QA_OPEN: bool = true;

/// The fields of a question an event sets (its posting aside).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuestionChange<'a> {
    pub status: Option<QuestionStatus>,
    pub text: Option<&'a str>,
    pub answered: Option<bool>,
    pub highlighted: Option<bool>,
}

/// What `event` sets on an existing question (nothing for its posting).
pub fn question_change(event: &QuestionEvent) -> QuestionChange<'_> {
    let none = QuestionChange::default();
    let status = |s| QuestionChange {
        status: Some(s),
        ..QuestionChange::default()
    };
    match event {
        QuestionEvent::QuestionPosted { .. } => none,
        QuestionEvent::QuestionEdited { text } => QuestionChange {
            text: Some(text),
            ..none
        },
        QuestionEvent::QuestionWithdrawn => status(QuestionStatus::Withdrawn),
        QuestionEvent::QuestionApproved => status(QuestionStatus::Published),
        QuestionEvent::QuestionRejected => status(QuestionStatus::Rejected),
        QuestionEvent::QuestionAnswered => QuestionChange {
            answered: Some(true),
            ..none
        },
        QuestionEvent::QuestionReopened => QuestionChange {
            answered: Some(false),
            ..none
        },
        QuestionEvent::QuestionHighlighted => QuestionChange {
            highlighted: Some(true),
            ..none
        },
        QuestionEvent::QuestionUnhighlighted => QuestionChange {
            highlighted: Some(false),
            ..none
        },
        // A removed question is taken off the screen too.
        QuestionEvent::QuestionRemoved { .. } => QuestionChange {
            status: Some(QuestionStatus::Removed),
            highlighted: Some(false),
            ..none
        },
    }
}

/// The status a question is posted in.
pub fn posted_status(pending: bool) -> QuestionStatus {
    if pending {
        QuestionStatus::Pending
    } else {
        QuestionStatus::Published
    }
}

/// The question a vote event is about, and how it changes its like count.
pub fn like_change(event: &VoteEvent) -> (QuestionId, i64) {
    match event {
        VoteEvent::VoteCast { question_id, .. } => (*question_id, 1),
        VoteEvent::VoteWithdrawn { question_id, .. } => (*question_id, -1),
    }
}

/// The start of the minute `at` falls in: activity is counted per minute.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    TimeDelta::try_minutes(1)
        .and_then(|m| at.duration_trunc(m).ok())
        .unwrap_or(at)
}
