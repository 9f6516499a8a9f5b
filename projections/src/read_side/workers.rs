//! Starting the projection workers of a read side.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ReadSide;
use crate::leaderboard::LeaderboardProjection;
use crate::publishing::PublishingReadModel;
use crate::runner::{Projection, Worker};

impl ReadSide {
    /// Runs every projection's worker until `cancel`, once the read model is
    /// migrated (at once, unless it was unreachable at start); the handle
    /// finishes once all of them have finished their batch and released their
    /// locks.
    pub fn spawn_projectors(&self, cancel: CancellationToken) -> JoinHandle<()> {
        let projections: [(Arc<dyn Projection>, watch::Sender<i64>); 2] = [
            (
                Arc::new(PublishingReadModel::new(
                    self.model.clone(),
                    self.queries.clone(),
                    self.changes.clone(),
                )),
                self.watermark.clone(),
            ),
            (
                Arc::new(LeaderboardProjection::new(self.leaderboard.clone())),
                // Only the read model's watermark answers read-your-writes.
                watch::channel(0).0,
            ),
        ];
        let workers: Vec<Worker> = projections
            .into_iter()
            .map(|(projection, watermark)| Worker {
                projection,
                feed: self.feed.clone(),
                leadership: self.leadership.clone(),
                settings: self.settings,
                board: self.board.clone(),
                watermark,
            })
            .collect();
        let mut migrated = self.migrated.subscribe();
        tokio::spawn(async move {
            let ready = tokio::select! {
                () = cancel.cancelled() => false,
                ready = migrated.wait_for(|m| *m) => ready.is_ok(),
            };
            if !ready {
                return;
            }
            let handles: Vec<JoinHandle<()>> = workers
                .into_iter()
                .map(|worker| tokio::spawn(worker.run(cancel.clone())))
                .collect();
            for handle in handles {
                if let Err(e) = handle.await {
                    tracing::error!(error = %e, "a projection worker panicked");
                }
            }
        })
    }
}
