//! Filling a rebuild's fresh leaderboard in bulk: every question's entry
//! folded in memory with the projection's own rule ([`super::fold`]), then
//! written with the checkpoint in one transaction of the store (for Redis,
//! one pipelined MULTI/EXEC).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use qicoo_domain::QuestionId;

use super::{fold, Entry, LeaderboardStore};
use crate::bulk::BulkLoad;
use crate::error::{ApplyError, StoreError};
use crate::event::{Checkpoint, DomainEvent, StoredEvent};

/// The fresh leaderboard, filled in bulk.
pub(crate) struct LeaderboardBulkLoad {
    store: Arc<dyn LeaderboardStore>,
    entries: HashMap<QuestionId, Entry>,
}

impl LeaderboardBulkLoad {
    /// A loader of `store`, which must be empty.
    pub(crate) fn new(store: Arc<dyn LeaderboardStore>) -> Self {
        Self {
            store,
            entries: HashMap::new(),
        }
    }
}

#[async_trait]
impl BulkLoad for LeaderboardBulkLoad {
    fn fold(&mut self, stored: &StoredEvent, event: &DomainEvent) -> Result<(), ApplyError> {
        // Every entry is "touched": nothing is stored yet to look up.
        fold(&mut self.entries, &HashMap::new(), stored, event)
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn finish(self: Box<Self>, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let mut changes: Vec<(QuestionId, Entry)> = self.entries.into_iter().collect();
        changes.sort_by_key(|(id, _)| *id);
        match self.store.commit(None, &changes, checkpoint).await {
            Ok(()) => Ok(()),
            Err(ApplyError::Store(e)) => Err(e),
            Err(other) => Err(StoreError::failed(super::LEADERBOARD, other)),
        }
    }
}
