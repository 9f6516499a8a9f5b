//! The rows of an export, one type per table. The audit fold produces them
//! (`qicoo-export` writes them as CSV, JSON Lines, Excel or an HTML report).
//! Times are UTC; durations are whole seconds.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The tables an export holds, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Questions,
    Votes,
    Activity,
    Moderation,
    Summary,
}

impl Table {
    /// Every table, in export order.
    pub const ALL: [Table; 5] = [
        Table::Questions,
        Table::Votes,
        Table::Activity,
        Table::Moderation,
        Table::Summary,
    ];

    /// The name in URLs (`table=`), file names and the `table` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Questions => "questions",
            Self::Votes => "votes",
            Self::Activity => "activity",
            Self::Moderation => "moderation",
            Self::Summary => "summary",
        }
    }

    /// The table named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// What an export reflects: which meetup, up to which event, and the hash
/// chain's head at that event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExportHeader {
    pub meetup_id: String,
    pub code: String,
    pub title: String,
    /// The global position of the last event the export reflects (0: none).
    pub position: i64,
    /// The meetup's hash-chain link at that event, lowercase hex (64 zeros
    /// before the first event).
    pub chain_head: String,
    /// The store's time of that event (`None` when there is none).
    pub as_of: Option<DateTime<Utc>>,
}

/// One question as it stood.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuestionRow {
    pub id: String,
    pub text: String,
    pub author_name: Option<String>,
    /// `pending`, `published`, `rejected`, `withdrawn` or `removed`.
    pub status: &'static str,
    pub likes: i64,
    pub answered: bool,
    pub highlighted: bool,
    pub posted_at: DateTime<Utc>,
    /// When it was last marked answered (`None` when it is not answered).
    pub answered_at: Option<DateTime<Utc>>,
    /// From posting to being answered, in seconds.
    pub time_to_answer_s: Option<i64>,
    /// How often its author edited it.
    pub edits: i64,
}

/// Whether a vote event cast or withdrew a like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteAction {
    Cast,
    Withdrawn,
}

impl VoteAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cast => "cast",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// One like cast or withdrawn.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VoteRow {
    pub position: i64,
    pub question_id: String,
    /// The voter's pseudonym, stable within the meetup.
    pub participant: String,
    pub at: DateTime<Utc>,
    pub action: VoteAction,
}

/// One minute of a meetup's activity (only minutes with any).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActivityRow {
    /// The start of the minute.
    pub minute: DateTime<Utc>,
    pub questions: i64,
    pub likes: i64,
    /// Participants who posted or liked in that minute.
    pub active_participants: i64,
}

/// One moderation action (or an author taking back their question).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModerationRow {
    pub position: i64,
    pub at: DateTime<Utc>,
    /// `approve`, `reject`, `answer`, `reopen`, `highlight`, `unhighlight`,
    /// `remove`, `withdraw`, or a meetup setting: `rename`, `open_qa`,
    /// `close_qa`, `enable_moderation`, `disable_moderation`, `archive`.
    pub action: &'static str,
    /// `organizer`, `participant` or `system`.
    pub actor: &'static str,
    /// The question acted on (`None` for meetup settings).
    pub question_id: Option<String>,
    pub reason: Option<String>,
}

/// One of the top questions in the summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopQuestion {
    pub rank: i64,
    pub id: String,
    pub text: String,
    pub likes: i64,
    pub answered: bool,
}

/// The meetup in figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Participants who did anything: posted, or liked.
    pub participants: i64,
    pub posters: i64,
    pub voters: i64,
    /// Questions posted (whatever became of them).
    pub questions: i64,
    /// Likes standing at the end (cast minus withdrawn).
    pub likes: i64,
    /// Share (0..=1) of the participants who posted.
    pub posted_share: f64,
    /// Share (0..=1) of the participants who liked.
    pub liked_share: f64,
    pub answered: i64,
    /// Median of the answered questions' time to answer, seconds.
    pub median_time_to_answer_s: Option<f64>,
    /// The ten most-liked visible questions, by the leaderboard's rule.
    pub top: Vec<TopQuestion>,
}
