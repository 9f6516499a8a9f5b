//! The messages of the live stream (`GET /api/v1/meetups/{id}/live`), version 1.
//! Every frame is a JSON object with `"v": 1`, a `type` and the `position` it
//! reflects; positions only grow along a connection.
//!
//! - `snapshot`: the whole public state: `meetup`, `questions` (published ones,
//!   with likes), `leaderboard` (question ids in rank order).
//! - `changes`: what changed since the previous frame, as a list of typed changes:
//!   `question.upserted` (`question`), `question.removed` (`id`: no longer
//!   public — withdrawn, removed, rejected), `meetup.updated` (`meetup`),
//!   `leaderboard` (`items`: ids in rank order). A change after a quiet spell
//!   is sent at once; changes that keep coming are merged per tick (100 ms by
//!   default): a burst of likes costs a client one frame per tick.

use qicoo_domain::QuestionId;
use qicoo_projections::{MeetupView, QuestionView};
use serde::Serialize;

/// Version of the message schema.
pub const VERSION: u32 = 1;

/// A whole frame.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum Frame<'a> {
    #[serde(rename = "snapshot")]
    Snapshot {
        v: u32,
        position: i64,
        meetup: &'a MeetupView,
        questions: Vec<&'a QuestionView>,
        leaderboard: &'a [QuestionId],
    },
    #[serde(rename = "changes")]
    Changes {
        v: u32,
        position: i64,
        changes: Vec<ChangeMessage<'a>>,
    },
}

/// One change inside a `changes` frame.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum ChangeMessage<'a> {
    #[serde(rename = "question.upserted")]
    QuestionUpserted { question: &'a QuestionView },
    #[serde(rename = "question.removed")]
    QuestionRemoved { id: QuestionId },
    #[serde(rename = "meetup.updated")]
    MeetupUpdated { meetup: &'a MeetupView },
    #[serde(rename = "leaderboard")]
    Leaderboard { items: &'a [QuestionId] },
}
