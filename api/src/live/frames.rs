//! The messages of the live stream (`GET /api/v1/meetups/{id}/live`), version 1.
//! Every frame is a JSON object with `"v": 1`, a `type` and the `position` it
//! reflects; positions only grow along a connection.
//!
//! - `snapshot`: the whole public state: `meetup`, `questions` (published ones,
//!   with likes), `leaderboard` (question ids in rank order).
//! - `changes`: what changed since the previous frame, as a list of typed changes:
//!   `question.upserted` (`question`), `question.removed` (`id`: no longer
//!   public — withdrawn, removed, rejected), `meetup.updated` (`meetup`),
//!   `leaderboard` (`items`: ids in rank order), and `committed_at`: when the
//!   newest event behind them was committed (RFC 3339), so that a client can
//!   tell how fresh its view is. A change after a quiet spell is sent at once;
//!   changes that keep coming are merged per tick (20 ms by default, longer
//!   with many clients): a burst
//!   of likes costs a client one frame per tick.
//!
//! The organizer's view: a client whose first text message, within 5 s of
//! connecting, is `{"type":"auth","organizer_key":"<key>"}` with the meetup's
//! key is answered `{"v":1,"type":"auth","ok":true}`, then a fresh `snapshot`
//! and `changes` that also carry pending and rejected questions (each with its
//! `status`; `question.removed` then means withdrawn or removed). A wrong key
//! is closed with 1008 (policy violation), and so is an `auth` message at any
//! other time. Clients that send none get the public view from the start.

use chrono::{DateTime, Utc};
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
        /// When the newest event behind these changes was committed.
        #[serde(skip_serializing_if = "Option::is_none")]
        committed_at: Option<DateTime<Utc>>,
        changes: Vec<ChangeMessage<'a>>,
    },
    /// The answer to a client's `auth` message.
    #[serde(rename = "auth")]
    Auth { v: u32, ok: bool },
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
