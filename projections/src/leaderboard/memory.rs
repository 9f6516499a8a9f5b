//! The in-memory leaderboard of the embedded default. It starts empty at every
//! start, so the projection rebuilds it from position zero.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use qicoo_domain::{MeetupId, QuestionId};

use super::{Entry, LeaderboardStore, Ranked, LEADERBOARD};
use crate::error::{ApplyError, StoreError};
use crate::event::Checkpoint;
use crate::ranking::Rank;

/// One leaderboard's contents.
#[derive(Default, Clone)]
struct Board {
    checkpoint: Option<Checkpoint>,
    entries: HashMap<QuestionId, Entry>,
    /// Per meetup, ranked questions in rank order (the id only keeps two
    /// entries apart; posted positions already differ).
    ranks: HashMap<MeetupId, BTreeSet<(Rank, QuestionId)>>,
}

impl Board {
    fn put(&mut self, id: QuestionId, entry: Entry) {
        if let Some(old) = self.entries.get(&id) {
            if let Some(set) = self.ranks.get_mut(&old.meetup_id) {
                set.remove(&(old.rank(), id));
            }
        }
        if entry.is_ranked() {
            self.ranks
                .entry(entry.meetup_id)
                .or_default()
                .insert((entry.rank(), id));
        }
        self.entries.insert(id, entry);
    }
}

#[derive(Default)]
struct Boards {
    live: Board,
    fresh: Board,
}

/// A leaderboard kept in this process.
#[derive(Clone, Default)]
pub struct MemoryLeaderboard {
    boards: Arc<Mutex<Boards>>,
    /// Whether this handle works on the fresh board a replay builds.
    fresh: bool,
}

impl MemoryLeaderboard {
    /// An empty leaderboard.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Boards> {
        // A panic while holding the lock cannot leave a board half-written
        // (every write is a whole `put`), so a poisoned lock is still usable.
        self.boards.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn board<'a>(&self, boards: &'a mut Boards) -> &'a mut Board {
        if self.fresh {
            &mut boards.fresh
        } else {
            &mut boards.live
        }
    }
}

#[async_trait]
impl LeaderboardStore for MemoryLeaderboard {
    async fn load(&self) -> Result<(Option<Checkpoint>, HashMap<QuestionId, Entry>), StoreError> {
        let mut boards = self.lock();
        let board = self.board(&mut boards);
        Ok((board.checkpoint, board.entries.clone()))
    }

    async fn commit(
        &self,
        expected: Option<&Checkpoint>,
        changes: &[(QuestionId, Entry)],
        next: &Checkpoint,
    ) -> Result<(), ApplyError> {
        let mut boards = self.lock();
        let board = self.board(&mut boards);
        if board.checkpoint.as_ref().map(|c| c.feed) != expected.map(|c| c.feed) {
            return Err(ApplyError::CheckpointMoved {
                projection: LEADERBOARD.to_owned(),
            });
        }
        for (id, entry) in changes {
            board.put(*id, entry.clone());
        }
        board.checkpoint = Some(*next);
        Ok(())
    }

    async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let mut boards = self.lock();
        Ok(self.board(&mut boards).checkpoint)
    }

    async fn top(&self, meetup: MeetupId, limit: usize) -> Result<Vec<Ranked>, StoreError> {
        let mut boards = self.lock();
        let board = self.board(&mut boards);
        Ok(board
            .ranks
            .get(&meetup)
            .map(|set| {
                set.iter()
                    .take(limit)
                    .map(|(rank, id)| Ranked {
                        question_id: *id,
                        likes: rank.likes,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn fresh(&self) -> Arc<dyn LeaderboardStore> {
        Arc::new(Self {
            boards: self.boards.clone(),
            fresh: true,
        })
    }

    async fn clear_fresh(&self) -> Result<(), StoreError> {
        self.lock().fresh = Board::default();
        Ok(())
    }

    async fn swap_in_fresh(&self) -> Result<(), StoreError> {
        let mut boards = self.lock();
        boards.live = std::mem::take(&mut boards.fresh);
        Ok(())
    }
}
