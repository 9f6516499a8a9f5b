//! What a projection that can be rebuilt from position zero offers the
//! replay: its stored checkpoint, fresh storage and the projection that
//! fills it, and the swap that puts the fresh storage in place of the live one.

use std::sync::Arc;

use async_trait::async_trait;

use crate::bulk::BulkLoad;
use crate::error::StoreError;
use crate::event::Checkpoint;
use crate::leaderboard::bulk::LeaderboardBulkLoad;
use crate::leaderboard::{LeaderboardProjection, LeaderboardStore, LEADERBOARD};
use crate::readmodel::{ReadModelStore, READ_MODEL};
use crate::runner::Projection;

/// What a rebuild starts from.
pub enum Fresh {
    /// Empty fresh storage: the loader that fills it in bulk from position
    /// zero, and the projection that carries on from where that stopped.
    Build {
        bulk: Box<dyn BulkLoad>,
        projection: Arc<dyn Projection>,
    },
    /// The projection keeps nothing that outlives the process running it, so
    /// there is nothing here to rebuild; says why.
    NothingToRebuild(&'static str),
}

/// A projection a replay can rebuild.
#[async_trait]
pub trait Rebuildable: Send + Sync {
    /// Its name, as in [`super::PROJECTIONS`].
    fn name(&self) -> &'static str;

    /// Its stored checkpoint (for the status of a projection whose worker
    /// runs elsewhere).
    async fn stored_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError>;

    /// Creates empty fresh storage (dropping leftovers of an interrupted
    /// rebuild) and returns what writes it.
    async fn prepare_fresh(&self) -> Result<Fresh, StoreError>;

    /// Puts the fresh storage in place of the live one, atomically.
    async fn swap_in_fresh(&self) -> Result<(), StoreError>;

    /// Drops the fresh storage (a cancelled or failed rebuild).
    async fn discard_fresh(&self) -> Result<(), StoreError>;
}

/// The read model: fresh tables beside the live ones.
pub(super) struct ReadModelRebuild(pub Arc<dyn ReadModelStore>);

#[async_trait]
impl Rebuildable for ReadModelRebuild {
    fn name(&self) -> &'static str {
        READ_MODEL
    }

    async fn stored_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.0.checkpoint().await
    }

    async fn prepare_fresh(&self) -> Result<Fresh, StoreError> {
        self.0.create_fresh().await?;
        let fresh = self.0.fresh();
        Ok(Fresh::Build {
            bulk: fresh.bulk_load(),
            projection: fresh,
        })
    }

    async fn swap_in_fresh(&self) -> Result<(), StoreError> {
        self.0.swap_in_fresh().await
    }

    async fn discard_fresh(&self) -> Result<(), StoreError> {
        self.0.drop_fresh().await
    }
}

/// The leaderboard: a fresh key space beside the live one (Redis), or
/// nothing at all (in memory).
pub(super) struct LeaderboardRebuild {
    pub store: Arc<dyn LeaderboardStore>,
    /// False for the in-memory leaderboard.
    pub persists: bool,
}

#[async_trait]
impl Rebuildable for LeaderboardRebuild {
    fn name(&self) -> &'static str {
        LEADERBOARD
    }

    async fn stored_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.store.checkpoint().await
    }

    async fn prepare_fresh(&self) -> Result<Fresh, StoreError> {
        if !self.persists {
            return Ok(Fresh::NothingToRebuild(
                "the leaderboard is kept in memory by each `qicoo serve`, \
                 which rebuilds it from the events every time it starts",
            ));
        }
        self.store.clear_fresh().await?;
        let fresh = self.store.fresh();
        Ok(Fresh::Build {
            bulk: Box::new(LeaderboardBulkLoad::new(fresh.clone())),
            projection: Arc::new(LeaderboardProjection::new(fresh)),
        })
    }

    async fn swap_in_fresh(&self) -> Result<(), StoreError> {
        self.store.swap_in_fresh().await
    }

    async fn discard_fresh(&self) -> Result<(), StoreError> {
        self.store.clear_fresh().await
    }
}
