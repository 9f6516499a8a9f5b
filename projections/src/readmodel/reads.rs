//! The read half of the SQL read model: the rows the queries and the change
//! stream read, the checkpoint, and the replay lease.

use std::str::FromStr;

use qicoo_domain::{MeetupId, OrganizerKeyHash, ParticipantId, QuestionId, QuestionStatus};

use super::sql::{Kind, Row, Value};
use super::{sql_err, After, Lease, MeetupKey, QuestionList, Sort, SqlReadModel, Visible};
use super::{READ_MODEL, STORE};
use crate::error::StoreError;
use crate::event::{Checkpoint, FeedPosition};
use crate::views::{MeetupView, QuestionView};

const QUESTION_COLUMNS: &str = "q.id, q.meetup_id, q.author_id, q.text, q.author_name, q.likes,
    q.status, q.answered, q.highlighted, q.created_at, q.updated_at, q.posted_position,
    q.last_position";

/// The kinds of [`QUESTION_COLUMNS`] and of the `liked_by_me` column after them.
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

const MEETUP_KINDS: [Kind; 8] = [
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Bool,
    Kind::Bool,
    Kind::Bool,
    Kind::Time,
    Kind::Time,
];

fn bad_row(what: impl std::fmt::Display) -> StoreError {
    StoreError::failed(STORE, what)
}

/// The statuses a question in the read model can have.
const STATUSES: [QuestionStatus; 5] = [
    QuestionStatus::Pending,
    QuestionStatus::Published,
    QuestionStatus::Rejected,
    QuestionStatus::Withdrawn,
    QuestionStatus::Removed,
];

fn parse_status(text: &str) -> Result<QuestionStatus, StoreError> {
    STATUSES
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| bad_row(format!("unknown status {text:?}")))
}

pub(super) fn parse_id<T: FromStr>(text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| bad_row(format!("bad id {text:?}: {e}")))
}

/// A question row, with `liked_by_me` as the 14th column.
fn question_from_row(
    row: &Row,
    liked_by: Option<ParticipantId>,
) -> Result<QuestionView, StoreError> {
    Ok(QuestionView {
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
        posted_position: row.int(11)?,
        position: row.int(12)?,
        liked_by_me: liked_by.map(|_| row.int(13).map(|n| n != 0)).transpose()?,
    })
}

/// The SQL condition (and its arguments) of what is [`Visible`].
fn visible_sql(visible: &Visible) -> (String, Vec<Value>) {
    let mut any = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if !visible.statuses.is_empty() {
        any.push(format!(
            "q.status IN ({})",
            vec!["?"; visible.statuses.len()].join(", ")
        ));
        args.extend(visible.statuses.iter().map(|s| Value::from(s.as_str())));
    }
    if let Some(author) = visible.pending_of {
        any.push("(q.status = 'pending' AND q.author_id = ?)".into());
        args.push(author.to_string().into());
    }
    let mut condition = if any.is_empty() {
        "1 = 0".to_owned()
    } else {
        format!("({})", any.join(" OR "))
    };
    if visible.unanswered_only {
        condition.push_str(" AND q.answered = ?");
        args.push(false.into());
    }
    (condition, args)
}

impl SqlReadModel {
    /// `liked_by_me` as a column: whether `liked_by` has a vote on the row's
    /// question (bound first).
    fn liked_column(&self) -> String {
        format!(
            "EXISTS (SELECT 1 FROM {} v WHERE v.question_id = q.id AND v.participant_id = ?)",
            self.t("votes")
        )
    }

    pub(super) async fn read_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let rows = self
            .pool()
            .fetch(
                &format!(
                    "SELECT transaction_id, global_position, max_position, watermark
                     FROM {} WHERE name = ?",
                    self.t("projection_checkpoints")
                ),
                vec![READ_MODEL.into()],
                &[Kind::Int, Kind::Int, Kind::Int, Kind::Int],
            )
            .await
            .map_err(sql_err)?;
        rows.first()
            .map(|row| {
                Ok(Checkpoint {
                    feed: FeedPosition {
                        transaction_id: row.int(0)?,
                        global_position: row.int(1)?,
                    },
                    max_position: row.int(2)?,
                    watermark: row.int(3)?,
                })
            })
            .transpose()
    }

    pub(super) async fn read_position(&self) -> Result<i64, StoreError> {
        let rows = self
            .pool()
            .fetch(
                &format!(
                    "SELECT watermark FROM {} WHERE name = ?",
                    self.t("projection_checkpoints")
                ),
                vec![READ_MODEL.into()],
                &[Kind::Int],
            )
            .await
            .map_err(sql_err)?;
        Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0))
    }

    pub(super) async fn read_meetup(
        &self,
        key: MeetupKey<'_>,
    ) -> Result<Option<MeetupView>, StoreError> {
        let (condition, arg) = match key {
            MeetupKey::Id(id) => ("id = ?", id.to_string()),
            MeetupKey::Code(code) => ("code = ?", code.to_owned()),
        };
        let rows = self
            .pool()
            .fetch(
                &format!(
                    "SELECT id, code, title, qa_open, moderated, archived, created_at, updated_at
                     FROM {} WHERE {condition}",
                    self.t("meetups")
                ),
                vec![arg.into()],
                &MEETUP_KINDS,
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

    pub(super) async fn read_organizer_key_hash(
        &self,
        meetup: MeetupId,
    ) -> Result<Option<OrganizerKeyHash>, StoreError> {
        let rows = self
            .pool()
            .fetch(
                &format!(
                    "SELECT organizer_key_hash FROM {} WHERE id = ?",
                    self.t("meetups")
                ),
                vec![meetup.to_string().into()],
                &[Kind::Text],
            )
            .await
            .map_err(sql_err)?;
        rows.first()
            .map(|row| Ok(OrganizerKeyHash::new(row.text(0)?)))
            .transpose()
    }

    pub(super) async fn read_questions(
        &self,
        meetup: MeetupId,
        list: &QuestionList,
    ) -> Result<Vec<QuestionView>, StoreError> {
        let (visible, visible_args) = visible_sql(&list.visible);
        let mut args: Vec<Value> = vec![
            list.liked_by
                .map(|p| p.to_string())
                .unwrap_or_default()
                .into(),
            meetup.to_string().into(),
        ];
        args.extend(visible_args);
        let keyset = match (list.sort, list.after) {
            (_, None) => "",
            (
                Sort::Top,
                Some(After {
                    likes,
                    posted_position,
                }),
            ) => {
                args.extend([likes.into(), likes.into(), posted_position.into()]);
                " AND (q.likes < ? OR (q.likes = ? AND q.posted_position > ?))"
            }
            (
                Sort::Recent,
                Some(After {
                    posted_position, ..
                }),
            ) => {
                args.push(posted_position.into());
                " AND q.posted_position < ?"
            }
        };
        let order = match list.sort {
            Sort::Top => "q.likes DESC, q.posted_position ASC",
            Sort::Recent => "q.posted_position DESC",
        };
        args.push(i64::from(list.limit).into());
        let rows = self
            .pool()
            .fetch(
                &format!(
                    "SELECT {QUESTION_COLUMNS}, {} FROM {} q
                     WHERE q.meetup_id = ? AND {visible}{keyset}
                     ORDER BY {order} LIMIT ?",
                    self.liked_column(),
                    self.t("questions")
                ),
                args,
                &QUESTION_KINDS,
            )
            .await
            .map_err(sql_err)?;
        rows.iter()
            .map(|row| question_from_row(row, list.liked_by))
            .collect()
    }

    pub(super) async fn read_questions_by_id(
        &self,
        ids: &[QuestionId],
        visible: &Visible,
        liked_by: Option<ParticipantId>,
    ) -> Result<Vec<QuestionView>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (condition, condition_args) = visible_sql(visible);
        let marks = vec!["?"; ids.len()].join(", ");
        let mut args: Vec<Value> = vec![liked_by.map(|p| p.to_string()).unwrap_or_default().into()];
        args.extend(ids.iter().map(|id| Value::from(id.to_string())));
        args.extend(condition_args);
        let rows = self
            .pool()
            .fetch(
                &format!(
                    "SELECT {QUESTION_COLUMNS}, {} FROM {} q WHERE q.id IN ({marks}) AND {condition}",
                    self.liked_column(),
                    self.t("questions")
                ),
                args,
                &QUESTION_KINDS,
            )
            .await
            .map_err(sql_err)?;
        rows.iter()
            .map(|row| question_from_row(row, liked_by))
            .collect()
    }

    pub(super) async fn read_question_meetup(
        &self,
        id: QuestionId,
    ) -> Result<Option<MeetupId>, StoreError> {
        let rows = self
            .pool()
            .fetch(
                &format!("SELECT meetup_id FROM {} WHERE id = ?", self.t("questions")),
                vec![id.to_string().into()],
                &[Kind::Text],
            )
            .await
            .map_err(sql_err)?;
        rows.first().map(|r| parse_id(&r.text(0)?)).transpose()
    }

    pub(super) async fn write_take_lease(
        &self,
        lease: &Lease,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let pool = self.pool();
        pool.execute(
            "DELETE FROM replay_locks WHERE name = ? AND expires_at < ?",
            vec![lease.name.into(), now_ms.into()],
        )
        .await
        .map_err(sql_err)?;
        let inserted = pool
            .execute(
                &format!(
                    "{} INTO replay_locks (name, holder, expires_at) VALUES (?, ?, ?)",
                    pool.dialect().insert_ignore()
                ),
                vec![
                    lease.name.into(),
                    lease.holder.clone().into(),
                    expires_at_ms.into(),
                ],
            )
            .await
            .map_err(sql_err)?;
        Ok(inserted == 1)
    }

    pub(super) async fn write_renew_lease(
        &self,
        lease: &Lease,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let renewed = self
            .pool()
            .execute(
                "UPDATE replay_locks SET expires_at = ? WHERE name = ? AND holder = ?",
                vec![
                    expires_at_ms.into(),
                    lease.name.into(),
                    lease.holder.clone().into(),
                ],
            )
            .await
            .map_err(sql_err)?;
        Ok(renewed == 1)
    }

    pub(super) async fn write_release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.pool()
            .execute(
                "DELETE FROM replay_locks WHERE name = ? AND holder = ?",
                vec![lease.name.into(), lease.holder.clone().into()],
            )
            .await
            .map_err(sql_err)?;
        Ok(())
    }
}
