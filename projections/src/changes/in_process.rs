//! The in-process change stream of the embedded default: a tokio broadcast.
//! A subscriber that falls more than the buffer behind gets a [`ChangeGap`].

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{ChangeBatch, ChangeGap, ChangeStream, Subscription};
use crate::error::StoreError;

/// The in-process change stream of the embedded default.
pub struct InProcessChanges {
    tx: broadcast::Sender<ChangeBatch>,
}

impl InProcessChanges {
    /// A stream that buffers `capacity` batches per subscriber.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity.max(1)).0,
        }
    }

    /// How many subscriptions are open (what the projector role must keep
    /// at zero: it has no WebSocket clients to feed).
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

impl Default for InProcessChanges {
    fn default() -> Self {
        Self::new(1024)
    }
}

#[async_trait]
impl ChangeStream for InProcessChanges {
    async fn publish(&self, batch: &ChangeBatch) -> Result<(), StoreError> {
        // No subscriber is not an error: nobody is watching.
        let _ = self.tx.send(batch.clone());
        Ok(())
    }

    async fn last_position(&self) -> Result<Option<i64>, StoreError> {
        // Nothing survives the process, and nobody outlives it to miss anything.
        Ok(None)
    }

    fn subscribe(&self, after: i64) -> Subscription {
        let mut rx = self.tx.subscribe();
        Subscription::spawn(move |out, stop| async move {
            // Positions only grow: anything at or below the last one delivered
            // (a publisher repeating itself) is not news.
            let mut last = after;
            loop {
                let received = tokio::select! {
                    received = rx.recv() => received,
                    () = stop.cancelled() => return,
                };
                let item = match received {
                    Ok(batch) if batch.position <= last => continue,
                    Ok(batch) => {
                        last = batch.position;
                        Ok(batch)
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => Err(ChangeGap),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if out.send(item).await.is_err() {
                    return;
                }
            }
        })
    }
}
