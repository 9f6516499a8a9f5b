//! The query side the API calls: meetups, questions (sorted, filtered,
//! paginated, with the visibility rules), the leaderboard, and the position
//! the read model has reached, with a wait for read-your-writes.
//!
//! Nothing here knows HTTP; views serialise with the wire field names of the
//! design, and never include a question author's participant id.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use qicoo_domain::{MeetupId, ParticipantId, QuestionId, QuestionStatus};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::watch;

use crate::error::{QueryError, StoreError};
use crate::leaderboard::LeaderboardStore;
use crate::readmodel::sql::{Kind, Row, Value};
use crate::readmodel::{sql_err, SqlReadModel, READ_MODEL};

/// The largest page a list returns.
pub const MAX_LIMIT: u32 = 100;

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

/// Who is asking, which decides what they may see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Viewer {
    /// The participant, if the caller presented a participant token: sees
    /// their own pending questions and gets `liked_by_me`.
    pub participant: Option<ParticipantId>,
    /// The caller proved to be the organizer of the meetup concerned: sees
    /// pending and rejected questions, and withdrawn or removed ones when
    /// asking for that status.
    pub organizer: bool,
}

/// Order of a question list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// Most liked first, earlier question first among equals.
    #[default]
    Top,
    /// Newest first.
    Recent,
}

impl FromStr for Sort {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "top" => Ok(Self::Top),
            "recent" => Ok(Self::Recent),
            _ => Err(()),
        }
    }
}

/// What list of questions to return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuestionQuery {
    pub sort: Sort,
    /// Only questions in this status (subject to visibility).
    pub status: Option<QuestionStatus>,
    /// Page size, 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub viewer: Viewer,
}

impl Default for QuestionQuery {
    fn default() -> Self {
        Self {
            sort: Sort::Top,
            status: None,
            limit: 50,
            cursor: None,
            viewer: Viewer::default(),
        }
    }
}

/// A page of a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// How far the read model had caught up when it answered.
    pub position: i64,
}

/// The read side's queries.
#[async_trait]
pub trait ReadQueries: Send + Sync {
    /// A meetup by id.
    async fn meetup(&self, id: MeetupId) -> Result<Option<MeetupView>, QueryError>;

    /// A meetup by join code (any case).
    async fn meetup_by_code(&self, code: &str) -> Result<Option<MeetupView>, QueryError>;

    /// Questions of a meetup.
    async fn questions(
        &self,
        meetup: MeetupId,
        query: &QuestionQuery,
    ) -> Result<Page<QuestionView>, QueryError>;

    /// One question, if `viewer` may see it.
    async fn question(
        &self,
        id: QuestionId,
        viewer: &Viewer,
    ) -> Result<Option<QuestionView>, QueryError>;

    /// The meetup a question belongs to, whatever its status (so the API can
    /// check an organizer key before deciding visibility).
    async fn question_meetup(&self, id: QuestionId) -> Result<Option<MeetupId>, QueryError>;

    /// The `limit` (1..=100) most-liked published, unanswered questions, in
    /// rank order, with their like counts as ranked.
    async fn leaderboard(
        &self,
        meetup: MeetupId,
        limit: u32,
        viewer: &Viewer,
    ) -> Result<Page<QuestionView>, QueryError>;

    /// Every event with a global position up to this one is reflected.
    async fn position(&self) -> Result<i64, QueryError>;

    /// Waits until [`ReadQueries::position`] reaches `position` or `timeout`
    /// passes; returns the position reached either way.
    async fn wait_for_position(&self, position: i64, timeout: Duration) -> Result<i64, QueryError>;
}

/// [`ReadQueries`] over a SQL read model and a leaderboard store.
pub struct SqlQueries {
    model: SqlReadModel,
    leaderboard: Arc<dyn LeaderboardStore>,
    /// The read-model worker's watermark, when it runs in this process.
    watermark: watch::Receiver<i64>,
    /// How often to re-read the position while waiting for it.
    poll: Duration,
}

const QUESTION_COLUMNS: &str = "q.id, q.meetup_id, q.author_id, q.text, q.author_name, q.likes,
    q.status, q.answered, q.highlighted, q.created_at, q.updated_at, q.posted_position,
    q.last_position";

const QUESTION_KINDS: [Kind; 14] = [
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::OptText,
    Kind::Int,
    Kind::Text,
    Kind::Bool,
    Kind::Bool,
    Kind::Time,
    Kind::Time,
    Kind::Int,
    Kind::Int,
    Kind::Int,
];

fn bad_row(what: impl std::fmt::Display) -> QueryError {
    QueryError::Store(StoreError::failed("read model", what))
}

fn parse_status(text: &str) -> Result<QuestionStatus, QueryError> {
    Ok(match text {
        "pending" => QuestionStatus::Pending,
        "published" => QuestionStatus::Published,
        "rejected" => QuestionStatus::Rejected,
        "withdrawn" => QuestionStatus::Withdrawn,
        "removed" => QuestionStatus::Removed,
        other => return Err(bad_row(format!("unknown status {other:?}"))),
    })
}

fn parse_id<T: FromStr>(text: &str) -> Result<T, QueryError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| bad_row(format!("bad id {text:?}: {e}")))
}

/// A question row (with `liked_by_me` as the 14th column) and the position
/// it was posted at (for cursors).
fn question_from_row(row: &Row, viewer: &Viewer) -> Result<(QuestionView, i64), QueryError> {
    let view = QuestionView {
        id: parse_id(&row.text(0)?)?,
        meetup_id: parse_id(&row.text(1)?)?,
        author: parse_id(&row.text(2)?)?,
        text: row.text(3)?,
        author_name: row.opt_text(4)?,
        likes: row.int(5)?,
        status: parse_status(&row.text(6)?)?,
        answered: row.bool(7)?,
        highlighted: row.bool(8)?,
        created_at: row.time(9)?,
        updated_at: row.time(10)?,
        position: row.int(12)?,
        posted_position: row.int(11)?,
        liked_by_me: viewer
            .participant
            .map(|_| row.int(13).map(|n| n != 0))
            .transpose()?,
    };
    Ok((view, row.int(11)?))
}

/// Keyset cursors: `t:<likes>:<posted position>` or `r:<posted position>`,
/// base64url so clients treat them as opaque.
fn encode_cursor(sort: Sort, likes: i64, posted: i64) -> String {
    let raw = match sort {
        Sort::Top => format!("t:{likes}:{posted}"),
        Sort::Recent => format!("r:{posted}"),
    };
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(sort: Sort, cursor: &str) -> Result<(i64, i64), QueryError> {
    let raw = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(QueryError::InvalidCursor)?;
    let parts: Vec<&str> = raw.split(':').collect();
    let num = |s: &str| s.parse::<i64>().map_err(|_| QueryError::InvalidCursor);
    match (sort, parts.as_slice()) {
        (Sort::Top, ["t", likes, posted]) => Ok((num(likes)?, num(posted)?)),
        (Sort::Recent, ["r", posted]) => Ok((0, num(posted)?)),
        _ => Err(QueryError::InvalidCursor),
    }
}

/// The SQL condition (and its arguments) of what `viewer` may see, optionally
/// only in `status`.
fn visibility(viewer: &Viewer, status: Option<QuestionStatus>) -> (String, Vec<Value>) {
    let author = viewer
        .participant
        .map(|p| p.to_string())
        .unwrap_or_default();
    if viewer.organizer {
        return match status {
            Some(s) => ("q.status = ?".into(), vec![s.as_str().into()]),
            None => (
                "q.status IN ('pending', 'published', 'rejected')".into(),
                vec![],
            ),
        };
    }
    match status {
        None => (
            "(q.status = 'published' OR (q.status = 'pending' AND q.author_id = ?))".into(),
            vec![author.into()],
        ),
        Some(QuestionStatus::Published) => ("q.status = 'published'".into(), vec![]),
        Some(QuestionStatus::Pending) => (
            "(q.status = 'pending' AND q.author_id = ?)".into(),
            vec![author.into()],
        ),
        Some(_) => ("1 = 0".into(), vec![]),
    }
}

impl SqlQueries {
    /// Queries over `model` and `leaderboard`; `watermark` wakes waiters when
    /// a worker in this process moves the read model's watermark (otherwise
    /// they poll the store).
    pub fn new(
        model: SqlReadModel,
        leaderboard: Arc<dyn LeaderboardStore>,
        watermark: watch::Receiver<i64>,
    ) -> Self {
        Self {
            model,
            leaderboard,
            watermark,
            poll: Duration::from_millis(50),
        }
    }

    fn liked_column(&self) -> String {
        format!(
            "EXISTS (SELECT 1 FROM {} v WHERE v.question_id = q.id AND v.participant_id = ?)",
            self.model.t("votes")
        )
    }

    async fn meetup_where(
        &self,
        condition: &str,
        arg: String,
    ) -> Result<Option<MeetupView>, QueryError> {
        let rows = self
            .model
            .pool()
            .fetch(
                &format!(
                    "SELECT id, code, title, qa_open, moderated, archived, created_at, updated_at
                     FROM {} WHERE {condition}",
                    self.model.t("meetups")
                ),
                vec![arg.into()],
                &[
                    Kind::Text,
                    Kind::Text,
                    Kind::Text,
                    Kind::Bool,
                    Kind::Bool,
                    Kind::Bool,
                    Kind::Time,
                    Kind::Time,
                ],
            )
            .await
            .map_err(sql_err)?;
        rows.first()
            .map(|row| {
                Ok(MeetupView {
                    id: parse_id(&row.text(0)?)?,
                    code: row.text(1)?,
                    title: row.text(2)?,
                    qa_open: row.bool(3)?,
                    moderated: row.bool(4)?,
                    archived: row.bool(5)?,
                    created_at: row.time(6)?,
                    updated_at: row.time(7)?,
                })
            })
            .transpose()
    }

    /// Questions by id, visible to `viewer`, in no particular order.
    async fn questions_by_id(
        &self,
        ids: &[QuestionId],
        viewer: &Viewer,
        condition: &str,
        condition_args: Vec<Value>,
    ) -> Result<Vec<QuestionView>, QueryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let mut args: Vec<Value> = vec![viewer
            .participant
            .map(|p| p.to_string())
            .unwrap_or_default()
            .into()];
        args.extend(ids.iter().map(|id| Value::from(id.to_string())));
        args.extend(condition_args);
        let rows = self
            .model
            .pool()
            .fetch(
                &format!(
                    "SELECT {QUESTION_COLUMNS}, {} FROM {} q WHERE q.id IN ({marks}) AND {condition}",
                    self.liked_column(),
                    self.model.t("questions")
                ),
                args,
                &QUESTION_KINDS,
            )
            .await
            .map_err(sql_err)?;
        rows.iter()
            .map(|row| question_from_row(row, viewer).map(|(q, _)| q))
            .collect()
    }
}

fn check_limit(limit: u32) -> Result<(), QueryError> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(QueryError::InvalidLimit { max: MAX_LIMIT })
    }
}

#[async_trait]
impl ReadQueries for SqlQueries {
    async fn meetup(&self, id: MeetupId) -> Result<Option<MeetupView>, QueryError> {
        self.meetup_where("id = ?", id.to_string()).await
    }

    async fn meetup_by_code(&self, code: &str) -> Result<Option<MeetupView>, QueryError> {
        self.meetup_where("code = ?", code.trim().to_ascii_uppercase())
            .await
    }

    async fn questions(
        &self,
        meetup: MeetupId,
        query: &QuestionQuery,
    ) -> Result<Page<QuestionView>, QueryError> {
        check_limit(query.limit)?;
        // The position first: the rows read after it reflect at least it.
        let position = self.position().await?;
        let viewer = &query.viewer;
        let (visible, visible_args) = visibility(viewer, query.status);
        let mut args: Vec<Value> = vec![
            viewer
                .participant
                .map(|p| p.to_string())
                .unwrap_or_default()
                .into(),
            meetup.to_string().into(),
        ];
        args.extend(visible_args);
        let mut keyset = String::new();
        if let Some(cursor) = &query.cursor {
            let (likes, posted) = decode_cursor(query.sort, cursor)?;
            match query.sort {
                Sort::Top => {
                    keyset = " AND (q.likes < ? OR (q.likes = ? AND q.posted_position > ?))".into();
                    args.extend([likes.into(), likes.into(), posted.into()]);
                }
                Sort::Recent => {
                    keyset = " AND q.posted_position < ?".into();
                    args.push(posted.into());
                }
            }
        }
        let order = match query.sort {
            Sort::Top => "q.likes DESC, q.posted_position ASC",
            Sort::Recent => "q.posted_position DESC",
        };
        args.push(i64::from(query.limit + 1).into());
        let rows = self
            .model
            .pool()
            .fetch(
                &format!(
                    "SELECT {QUESTION_COLUMNS}, {} FROM {} q
                     WHERE q.meetup_id = ? AND {visible}{keyset}
                     ORDER BY {order} LIMIT ?",
                    self.liked_column(),
                    self.model.t("questions")
                ),
                args,
                &QUESTION_KINDS,
            )
            .await
            .map_err(sql_err)?;
        let mut items = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in rows.iter().take(query.limit as usize) {
            let (view, posted) = question_from_row(row, viewer)?;
            last = Some((view.likes, posted));
            items.push(view);
        }
        let next_cursor = (rows.len() > query.limit as usize)
            .then_some(last)
            .flatten()
            .map(|(likes, posted)| encode_cursor(query.sort, likes, posted));
        Ok(Page {
            items,
            next_cursor,
            position,
        })
    }

    async fn question(
        &self,
        id: QuestionId,
        viewer: &Viewer,
    ) -> Result<Option<QuestionView>, QueryError> {
        let (visible, args) = visibility(viewer, None);
        // The organizer may look at a withdrawn or removed question by id.
        let (visible, args) = if viewer.organizer {
            ("1 = 1".to_owned(), vec![])
        } else {
            (visible, args)
        };
        Ok(self
            .questions_by_id(&[id], viewer, &visible, args)
            .await?
            .pop())
    }

    async fn question_meetup(&self, id: QuestionId) -> Result<Option<MeetupId>, QueryError> {
        let rows = self
            .model
            .pool()
            .fetch(
                &format!(
                    "SELECT meetup_id FROM {} WHERE id = ?",
                    self.model.t("questions")
                ),
                vec![id.to_string().into()],
                &[Kind::Text],
            )
            .await
            .map_err(sql_err)?;
        rows.first().map(|r| parse_id(&r.text(0)?)).transpose()
    }

    async fn leaderboard(
        &self,
        meetup: MeetupId,
        limit: u32,
        viewer: &Viewer,
    ) -> Result<Page<QuestionView>, QueryError> {
        check_limit(limit)?;
        let position = self.position().await?;
        let ranked = self.leaderboard.top(meetup, limit as usize).await?;
        let ids: Vec<QuestionId> = ranked.iter().map(|r| r.question_id).collect();
        let mut rows = self
            .questions_by_id(
                &ids,
                viewer,
                "q.status = 'published' AND q.answered = ? AND q.meetup_id = ?",
                vec![false.into(), meetup.to_string().into()],
            )
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for rank in ranked {
            if let Some(i) = rows.iter().position(|q| q.id == rank.question_id) {
                let mut view = rows.swap_remove(i);
                // Shown with the count it is ranked by, so the order reads right.
                view.likes = rank.likes;
                items.push(view);
            }
        }
        Ok(Page {
            items,
            next_cursor: None,
            position,
        })
    }

    async fn position(&self) -> Result<i64, QueryError> {
        let rows = self
            .model
            .pool()
            .fetch(
                &format!(
                    "SELECT watermark FROM {} WHERE name = ?",
                    self.model.t("projection_checkpoints")
                ),
                vec![READ_MODEL.into()],
                &[Kind::Int],
            )
            .await
            .map_err(sql_err)?;
        Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
    }

    async fn wait_for_position(&self, position: i64, timeout: Duration) -> Result<i64, QueryError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut watermark = self.watermark.clone();
        loop {
            let reached = self.position().await?;
            if reached >= position || tokio::time::Instant::now() >= deadline {
                return Ok(reached);
            }
            // Woken by the local worker at once, or by the poll (a worker in
            // another process, or none).
            let wake = deadline.min(tokio::time::Instant::now() + self.poll);
            tokio::select! {
                changed = watermark.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep_until(wake).await;
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}
