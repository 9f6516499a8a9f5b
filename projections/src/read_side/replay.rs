//! Replay: rebuilds projections from position zero into fresh storage while
//! the live one keeps serving, then swaps it in. A lease in the read model's
//! database keeps a second replay from running at the same time.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::rebuild::{Fresh, Rebuildable};
use super::ReadSide;
use crate::error::ReadSideError;
use crate::readmodel::{Lease, ReadModelStore};
use crate::runner::{step, Projection, Step, StepError};

/// What a replay did with one projection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replayed {
    /// Rebuilt and swapped in.
    Rebuilt { projection: &'static str },
    /// Nothing to rebuild; says why.
    NothingToRebuild {
        projection: &'static str,
        reason: &'static str,
    },
}

/// The lease that keeps a second replay from starting, renewed while the
/// replay makes progress and taken over once expired (a replay that crashed).
struct ReplayLock<'a> {
    model: &'a dyn ReadModelStore,
    lease: Lease,
}

const REPLAY_LEASE_MS: i64 = 60_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl<'a> ReplayLock<'a> {
    async fn acquire(model: &'a dyn ReadModelStore) -> Result<Self, ReadSideError> {
        let lease = Lease {
            name: "replay",
            holder: uuid::Uuid::new_v4().to_string(),
        };
        let now = now_ms();
        if !model.take_lease(&lease, now, now + REPLAY_LEASE_MS).await? {
            return Err(ReadSideError::ReplayRunning);
        }
        Ok(Self { model, lease })
    }

    async fn renew(&self) -> Result<(), ReadSideError> {
        if self
            .model
            .renew_lease(&self.lease, now_ms() + REPLAY_LEASE_MS)
            .await?
        {
            Ok(())
        } else {
            Err(ReadSideError::ReplayRunning)
        }
    }

    async fn release(self) {
        if let Err(e) = self.model.release_lease(&self.lease).await {
            tracing::warn!(error = %e, "cannot release the replay lock; it expires by itself");
        }
    }
}

impl ReadSide {
    /// Rebuilds `projection` (`None` or `"all"`: every one) from position zero
    /// into fresh tables / keys while the current ones keep serving, then
    /// swaps them in atomically. The running workers notice that their
    /// checkpoint moved and carry on from the rebuilt one. `progress` gets
    /// (projection, events done, events in total so far). Refuses to run while
    /// another replay runs.
    pub async fn replay(
        &self,
        projection: Option<&str>,
        mut progress: impl FnMut(&str, u64, u64) + Send,
        cancel: CancellationToken,
    ) -> Result<Vec<Replayed>, ReadSideError> {
        let chosen: Vec<&dyn Rebuildable> = match projection {
            None | Some("all") => self.rebuildables.iter().map(|r| r.as_ref()).collect(),
            Some(name) => match self.rebuildables.iter().find(|r| r.name() == name) {
                Some(r) => vec![r.as_ref()],
                None => {
                    return Err(ReadSideError::Config(format!(
                        "no projection named {name:?} (known: {})",
                        super::PROJECTIONS.join(", ")
                    )))
                }
            },
        };
        let lock = ReplayLock::acquire(self.model.as_ref()).await?;
        let mut done = Vec::with_capacity(chosen.len());
        let mut result = Ok(());
        for rebuildable in chosen {
            match self
                .replay_one(rebuildable, &lock, &mut progress, &cancel)
                .await
            {
                Ok(replayed) => done.push(replayed),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        lock.release().await;
        result.map(|()| done)
    }

    async fn replay_one(
        &self,
        rebuildable: &dyn Rebuildable,
        lock: &ReplayLock<'_>,
        progress: &mut (dyn FnMut(&str, u64, u64) + Send),
        cancel: &CancellationToken,
    ) -> Result<Replayed, ReadSideError> {
        let name = rebuildable.name();
        let fresh = match rebuildable.prepare_fresh().await? {
            Fresh::Build(fresh) => fresh,
            Fresh::NothingToRebuild(reason) => {
                tracing::info!(projection = name, reason, "nothing to rebuild");
                return Ok(Replayed::NothingToRebuild {
                    projection: name,
                    reason,
                });
            }
        };
        tracing::info!(projection = name, "replay started");
        match self
            .catch_up(fresh.as_ref(), name, lock, progress, cancel)
            .await
        {
            Ok(()) => {
                swap_in(rebuildable).await?;
                tracing::info!(projection = name, "replay finished and swapped in");
                Ok(Replayed::Rebuilt { projection: name })
            }
            Err(e) => {
                if let Err(d) = rebuildable.discard_fresh().await {
                    tracing::warn!(projection = name, error = %d, "cannot drop the replay's fresh tables");
                }
                Err(e)
            }
        }
    }

    async fn catch_up(
        &self,
        projection: &dyn Projection,
        name: &str,
        lock: &ReplayLock<'_>,
        progress: &mut (dyn FnMut(&str, u64, u64) + Send),
        cancel: &CancellationToken,
    ) -> Result<(), ReadSideError> {
        let mut checkpoint = projection.load().await?;
        let mut total = self
            .feed
            .count_after(checkpoint.unwrap_or_default().feed)
            .await?;
        let mut done = 0_u64;
        let mut backoff = Duration::from_millis(100);
        progress(name, done, total);
        loop {
            if cancel.is_cancelled() {
                return Err(ReadSideError::Cancelled);
            }
            match step(
                projection,
                self.feed.as_ref(),
                &mut checkpoint,
                self.settings.batch_size,
            )
            .await
            {
                Ok(Step::Applied(n)) => {
                    backoff = Duration::from_millis(100);
                    done += n as u64;
                    total = total.max(done);
                    progress(name, done, total);
                    lock.renew().await?;
                    // A short batch means the head was reached. Waiting for an
                    // empty one could take forever while events keep coming;
                    // the live workers carry on from here after the swap.
                    if n < self.settings.batch_size {
                        return Ok(());
                    }
                }
                Ok(Step::Idle) => return Ok(()),
                Err(StepError::Transient(e)) => {
                    tracing::warn!(projection = name, error = %e, "store error during replay; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
                Err(StepError::Moved) => {
                    return Err(ReadSideError::Replay(
                        "something else wrote the replay's fresh tables".into(),
                    ))
                }
                Err(StepError::Fatal(reason)) => return Err(ReadSideError::Replay(reason)),
            }
        }
    }
}

/// Swaps the fresh storage in, retrying a few times when the store reports
/// a passing error (a deadlock with a worker's batch, in MySQL, is one).
async fn swap_in(rebuildable: &dyn Rebuildable) -> Result<(), ReadSideError> {
    let mut attempt = 0;
    loop {
        match rebuildable.swap_in_fresh().await {
            Err(e) if e.is_transient() && attempt < 5 => {
                attempt += 1;
                tracing::warn!(projection = rebuildable.name(), error = %e, "swapping in the replay failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            other => return other.map_err(Into::into),
        }
    }
}
