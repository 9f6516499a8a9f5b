//! The query side the API calls: meetups, questions (sorted, filtered,
//! paginated, with the visibility rules), the leaderboard, and the position
//! the read model has reached, with a wait for read-your-writes.
//!
//! The rules live here, the rows in the [`ReadModelStore`]: who sees which
//! questions, pages and their cursors, how the leaderboard's ranking and the
//! read model's rows are put together. Nothing here knows HTTP or SQL.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use qicoo_domain::{MeetupId, OrganizerKeyHash, ParticipantId, QuestionId, QuestionStatus};
use serde::Serialize;
use tokio::sync::watch;

use crate::error::QueryError;
use crate::leaderboard::LeaderboardStore;
pub use crate::readmodel::Sort;
use crate::readmodel::{After, MeetupKey, QuestionList, ReadModelStore, Visible};
pub use crate::views::{MeetupView, QuestionView};

/// The largest page a list returns.
pub const MAX_LIMIT: u32 = 100;

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

    /// The hash of a meetup's organizer key, to check a presented key against.
    async fn organizer_key_hash(
        &self,
        meetup: MeetupId,
    ) -> Result<Option<OrganizerKeyHash>, QueryError>;

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

    /// The questions among `ids` that `viewer` may see (as
    /// [`ReadQueries::question`] would show each), in no particular order.
    /// One read where the store allows it; one per id by default.
    async fn questions_by_ids(
        &self,
        ids: &[QuestionId],
        viewer: &Viewer,
    ) -> Result<Vec<QuestionView>, QueryError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(question) = self.question(*id, viewer).await? {
                found.push(question);
            }
        }
        Ok(found)
    }

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

/// [`ReadQueries`] over a read model and a leaderboard store.
pub struct ModelQueries {
    model: Arc<dyn ReadModelStore>,
    leaderboard: Arc<dyn LeaderboardStore>,
    /// The read-model worker's watermark, when it runs in this process.
    watermark: watch::Receiver<i64>,
    /// How often to re-read the position while waiting for it.
    poll: Duration,
}

/// Keyset cursors: `t:<likes>:<posted position>` or `r:<posted position>`,
/// base64url so clients treat them as opaque.
fn encode_cursor(sort: Sort, after: After) -> String {
    let raw = match sort {
        Sort::Top => format!("t:{}:{}", after.likes, after.posted_position),
        Sort::Recent => format!("r:{}", after.posted_position),
    };
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(sort: Sort, cursor: &str) -> Result<After, QueryError> {
    let raw = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(QueryError::InvalidCursor)?;
    let parts: Vec<&str> = raw.split(':').collect();
    let num = |s: &str| s.parse::<i64>().map_err(|_| QueryError::InvalidCursor);
    let (likes, posted_position) = match (sort, parts.as_slice()) {
        (Sort::Top, ["t", likes, posted]) => (num(likes)?, num(posted)?),
        (Sort::Recent, ["r", posted]) => (0, num(posted)?),
        _ => return Err(QueryError::InvalidCursor),
    };
    Ok(After {
        likes,
        posted_position,
    })
}

/// What `viewer` may see, optionally only in `status`: the published
/// questions and their own pending ones; an organizer also pending and
/// rejected ones, and withdrawn or removed ones when asking for that status.
pub fn visibility(viewer: &Viewer, status: Option<QuestionStatus>) -> Visible {
    use QuestionStatus::{Pending, Published, Rejected};
    let (statuses, pending_of) = match (viewer.organizer, status) {
        (true, Some(s)) => (vec![s], None),
        (true, None) => (vec![Pending, Published, Rejected], None),
        (false, None) => (vec![Published], viewer.participant),
        (false, Some(Published)) => (vec![Published], None),
        (false, Some(Pending)) => (vec![], viewer.participant),
        (false, Some(_)) => (vec![], None),
    };
    Visible {
        statuses,
        pending_of,
        unanswered_only: false,
    }
}

impl ModelQueries {
    /// Queries over `model` and `leaderboard`; `watermark` wakes waiters when
    /// a worker in this process moves the read model's watermark (otherwise
    /// they poll the store).
    pub fn new(
        model: Arc<dyn ReadModelStore>,
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
}

fn check_limit(limit: u32) -> Result<(), QueryError> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(QueryError::InvalidLimit { max: MAX_LIMIT })
    }
}

#[async_trait]
impl ReadQueries for ModelQueries {
    async fn meetup(&self, id: MeetupId) -> Result<Option<MeetupView>, QueryError> {
        Ok(self.model.meetup(MeetupKey::Id(id)).await?)
    }

    async fn meetup_by_code(&self, code: &str) -> Result<Option<MeetupView>, QueryError> {
        let code = code.trim().to_ascii_uppercase();
        Ok(self.model.meetup(MeetupKey::Code(&code)).await?)
    }

    async fn organizer_key_hash(
        &self,
        meetup: MeetupId,
    ) -> Result<Option<OrganizerKeyHash>, QueryError> {
        Ok(self.model.organizer_key_hash(meetup).await?)
    }

    async fn questions(
        &self,
        meetup: MeetupId,
        query: &QuestionQuery,
    ) -> Result<Page<QuestionView>, QueryError> {
        check_limit(query.limit)?;
        let after = query
            .cursor
            .as_deref()
            .map(|c| decode_cursor(query.sort, c))
            .transpose()?;
        // The position first: the rows read after it reflect at least it.
        let position = self.position().await?;
        let list = QuestionList {
            visible: visibility(&query.viewer, query.status),
            sort: query.sort,
            after,
            // One more than asked, to know whether another page follows.
            limit: query.limit + 1,
            liked_by: query.viewer.participant,
        };
        let mut items = self.model.questions(meetup, &list).await?;
        let more = items.len() > query.limit as usize;
        items.truncate(query.limit as usize);
        let next_cursor = more.then(|| items.last()).flatten().map(|last| {
            encode_cursor(
                query.sort,
                After {
                    likes: last.likes,
                    posted_position: last.posted_position,
                },
            )
        });
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
        Ok(self.questions_by_ids(&[id], viewer).await?.pop())
    }

    async fn questions_by_ids(
        &self,
        ids: &[QuestionId],
        viewer: &Viewer,
    ) -> Result<Vec<QuestionView>, QueryError> {
        // The organizer may look at a withdrawn or removed question by id.
        let visible = if viewer.organizer {
            Visible {
                statuses: vec![
                    QuestionStatus::Pending,
                    QuestionStatus::Published,
                    QuestionStatus::Rejected,
                    QuestionStatus::Withdrawn,
                    QuestionStatus::Removed,
                ],
                ..Visible::default()
            }
        } else {
            visibility(viewer, None)
        };
        Ok(self
            .model
            .questions_by_id(ids, &visible, viewer.participant)
            .await?)
    }

    async fn question_meetup(&self, id: QuestionId) -> Result<Option<MeetupId>, QueryError> {
        Ok(self.model.question_meetup(id).await?)
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
        let visible = Visible {
            statuses: vec![QuestionStatus::Published],
            pending_of: None,
            unanswered_only: true,
        };
        let mut rows = self
            .model
            .questions_by_id(&ids, &visible, viewer.participant)
            .await?;
        rows.retain(|q| q.meetup_id == meetup);
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
        Ok(self.model.position().await?)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn participant() -> ParticipantId {
        ParticipantId::new()
    }

    #[test]
    fn an_attendee_sees_published_questions_and_their_own_pending_ones() {
        let me = participant();
        let viewer = Viewer {
            participant: Some(me),
            organizer: false,
        };
        let visible = visibility(&viewer, None);
        assert_eq!(visible.statuses, vec![QuestionStatus::Published]);
        assert_eq!(visible.pending_of, Some(me));
        let pending = visibility(&viewer, Some(QuestionStatus::Pending));
        assert!(pending.statuses.is_empty());
        assert_eq!(pending.pending_of, Some(me));
    }

    #[test]
    fn only_the_organizer_sees_rejected_withdrawn_or_removed_questions() {
        let attendee = Viewer {
            participant: Some(participant()),
            organizer: false,
        };
        for status in [
            QuestionStatus::Rejected,
            QuestionStatus::Withdrawn,
            QuestionStatus::Removed,
        ] {
            let visible = visibility(&attendee, Some(status));
            assert!(visible.statuses.is_empty() && visible.pending_of.is_none());
            let organizer = Viewer {
                participant: None,
                organizer: true,
            };
            assert_eq!(visibility(&organizer, Some(status)).statuses, vec![status]);
        }
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let after = After {
            likes: 7,
            posted_position: 42,
        };
        let top = encode_cursor(Sort::Top, after);
        assert_eq!(decode_cursor(Sort::Top, &top).ok(), Some(after));
        assert!(decode_cursor(Sort::Recent, &top).is_err());
        assert!(decode_cursor(Sort::Top, "not a cursor").is_err());
    }
}
