//! The leaderboard: per meetup, the questions [`crate::ranking`] ranks, in
//! its order (by likes, ties broken by the earlier question first).
//!
//! [`LeaderboardProjection`] folds events into per-question [`Entry`]s (kept in
//! memory by the active worker) and hands the changed entries and the new
//! checkpoint to a [`LeaderboardStore`] to write atomically. Two stores:
//! [`RedisLeaderboard`] (sorted sets, one MULTI/EXEC per batch) and
//! [`MemoryLeaderboard`] (rebuilt from position zero at every start).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use qicoo_domain::{MeetupId, QuestionEvent, QuestionId, QuestionStatus};
use serde::{Deserialize, Serialize};

use crate::error::{ApplyError, StoreError};
use crate::event::{Checkpoint, DomainEvent, StoredEvent};
use crate::ranking::Rank;
use crate::runner::Projection;
use crate::transitions::{like_change, posted_status, question_change};

pub(crate) mod bulk;
mod memory;
mod redis;

pub use memory::MemoryLeaderboard;
pub use redis::RedisLeaderboard;

/// The leaderboard projection's name.
pub const LEADERBOARD: &str = "leaderboard";

/// What the leaderboard knows of one question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub meetup_id: MeetupId,
    /// Global position of `QuestionPosted`: the earlier question wins a tie.
    pub posted_position: i64,
    pub likes: i64,
    pub status: QuestionStatus,
    pub answered: bool,
}

impl Entry {
    /// Whether the question belongs on the leaderboard.
    pub fn is_ranked(&self) -> bool {
        crate::ranking::is_ranked(self.status, self.answered)
    }

    /// What it is ranked by.
    pub fn rank(&self) -> Rank {
        Rank {
            likes: self.likes,
            posted_position: self.posted_position,
        }
    }
}

/// A question on the leaderboard with its like count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ranked {
    pub question_id: QuestionId,
    pub likes: i64,
}

/// Where the leaderboard is kept.
#[async_trait]
pub trait LeaderboardStore: Send + Sync {
    /// Every entry and the checkpoint. No checkpoint means the store is empty
    /// (new, or Redis restarted without its data): rebuild from position zero.
    async fn load(&self) -> Result<(Option<Checkpoint>, HashMap<QuestionId, Entry>), StoreError>;

    /// Writes the changed entries and `next` atomically, if the stored
    /// checkpoint is still `expected`; otherwise writes nothing and answers
    /// [`ApplyError::CheckpointMoved`].
    async fn commit(
        &self,
        expected: Option<&Checkpoint>,
        changes: &[(QuestionId, Entry)],
        next: &Checkpoint,
    ) -> Result<(), ApplyError>;

    /// The checkpoint alone.
    async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError>;

    /// The `limit` best-ranked questions of a meetup, best first.
    async fn top(&self, meetup: MeetupId, limit: usize) -> Result<Vec<Ranked>, StoreError>;

    /// The same store, but the fresh, empty space a replay builds in.
    fn fresh(&self) -> Arc<dyn LeaderboardStore>;

    /// Empties the fresh space.
    async fn clear_fresh(&self) -> Result<(), StoreError>;

    /// Replaces the live leaderboard with the fresh one, atomically.
    async fn swap_in_fresh(&self) -> Result<(), StoreError>;
}

/// Builds the leaderboard from events.
pub struct LeaderboardProjection {
    store: Arc<dyn LeaderboardStore>,
    /// The entries as of the stored checkpoint. Only the active worker holds
    /// them; they are reloaded whenever the checkpoint moves under it.
    entries: tokio::sync::Mutex<HashMap<QuestionId, Entry>>,
}

impl LeaderboardProjection {
    /// A projection writing to `store`.
    pub fn new(store: Arc<dyn LeaderboardStore>) -> Self {
        Self {
            store,
            entries: Default::default(),
        }
    }
}

/// The entry of `id` in this batch's scratch map, copied from `current` on
/// first touch.
fn entry_mut<'a>(
    touched: &'a mut HashMap<QuestionId, Entry>,
    current: &HashMap<QuestionId, Entry>,
    id: QuestionId,
    position: i64,
) -> Result<&'a mut Entry, ApplyError> {
    match touched.entry(id) {
        std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
        std::collections::hash_map::Entry::Vacant(e) => {
            let entry = current.get(&id).cloned().ok_or(ApplyError::BadEvent {
                position,
                reason: format!("question {id} is not on the leaderboard"),
            })?;
            Ok(e.insert(entry))
        }
    }
}

/// Applies one event to the entries it touches. `current` looks up entries
/// not yet touched in this batch.
pub(crate) fn fold(
    touched: &mut HashMap<QuestionId, Entry>,
    current: &HashMap<QuestionId, Entry>,
    stored: &StoredEvent,
    event: &DomainEvent,
) -> Result<(), ApplyError> {
    let position = stored.position();
    match event {
        DomainEvent::Question(
            _,
            QuestionEvent::QuestionPosted {
                id,
                meetup_id,
                pending,
                ..
            },
        ) => {
            if touched.contains_key(id) || current.contains_key(id) {
                return Err(ApplyError::BadEvent {
                    position,
                    reason: format!("question {id} was posted twice"),
                });
            }
            touched.insert(
                *id,
                Entry {
                    meetup_id: *meetup_id,
                    posted_position: position,
                    likes: 0,
                    status: posted_status(*pending),
                    answered: false,
                },
            );
        }
        DomainEvent::Question(id, change) => {
            let change = question_change(change);
            if change.status.is_some() || change.answered.is_some() {
                let entry = entry_mut(touched, current, *id, position)?;
                if let Some(status) = change.status {
                    entry.status = status;
                }
                if let Some(answered) = change.answered {
                    entry.answered = answered;
                }
            }
        }
        DomainEvent::Vote(vote) => {
            let (question_id, delta) = like_change(vote);
            let entry = entry_mut(touched, current, question_id, position)?;
            if entry.likes + delta < 0 {
                return Err(ApplyError::BadEvent {
                    position,
                    reason: format!("question {question_id} has no like to withdraw"),
                });
            }
            entry.likes += delta;
        }
        DomainEvent::Meetup(..) | DomainEvent::Ignored => {}
    }
    Ok(())
}

#[async_trait]
impl Projection for LeaderboardProjection {
    fn name(&self) -> &'static str {
        LEADERBOARD
    }

    async fn load(&self) -> Result<Option<Checkpoint>, StoreError> {
        let (checkpoint, entries) = self.store.load().await?;
        *self.entries.lock().await = entries;
        Ok(checkpoint)
    }

    async fn apply(
        &self,
        expected: Option<&Checkpoint>,
        events: &[(&StoredEvent, DomainEvent)],
        next: &Checkpoint,
    ) -> Result<(), ApplyError> {
        let mut entries = self.entries.lock().await;
        // Changes go to a scratch map first: the entries are only updated
        // once the store has taken the batch.
        let mut touched = HashMap::new();
        for (stored, event) in events {
            fold(&mut touched, &entries, stored, event)?;
        }
        let changes: Vec<(QuestionId, Entry)> = touched.into_iter().collect();
        self.store.commit(expected, &changes, next).await?;
        entries.extend(changes);
        Ok(())
    }
}
