//! Replay: rebuilds projections from position zero into fresh storage while
//! the live one keeps serving, then swaps it in. A lease in the read model's
//! database keeps a second replay from running at the same time.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::bulk_pass;
use super::rebuild::{Fresh, Rebuildable};
use super::ReadSide;
use crate::error::ReadSideError;
use crate::event::FeedPosition;
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
    /// swaps them in atomically. The events are read once for all the
    /// projections rebuilt and folded in memory, the result written in bulk
    /// ([`bulk_pass`]); each projection then catches up from there on the
    /// normal path and is swapped in. The running workers notice that their
    /// checkpoint moved and carry on from the rebuilt one. `progress` gets
    /// (projection, events done, events in total so far); during the bulk
    /// pass the projection is named by the names of all those rebuilt.
    /// Refuses to run while another replay runs.
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
        let result = self
            .replay_chosen(&chosen, &lock, &mut progress, &cancel)
            .await;
        lock.release().await;
        result
    }

    async fn replay_chosen(
        &self,
        chosen: &[&dyn Rebuildable],
        lock: &ReplayLock<'_>,
        progress: &mut (dyn FnMut(&str, u64, u64) + Send),
        cancel: &CancellationToken,
    ) -> Result<Vec<Replayed>, ReadSideError> {
        let mut replayed = Vec::with_capacity(chosen.len());
        let mut building: Vec<(&dyn Rebuildable, Arc<dyn Projection>)> = Vec::new();
        let mut loads = Vec::new();
        for &rebuildable in chosen {
            let name = rebuildable.name();
            match rebuildable.prepare_fresh().await {
                Ok(Fresh::Build { bulk, projection }) => {
                    tracing::info!(projection = name, "replay started");
                    building.push((rebuildable, projection));
                    loads.push(bulk);
                    replayed.push(Replayed::Rebuilt { projection: name });
                }
                Ok(Fresh::NothingToRebuild(reason)) => {
                    tracing::info!(projection = name, reason, "nothing to rebuild");
                    replayed.push(Replayed::NothingToRebuild {
                        projection: name,
                        reason,
                    });
                }
                Err(e) => {
                    discard(&building).await;
                    return Err(e.into());
                }
            }
        }
        if building.is_empty() {
            return Ok(replayed);
        }
        let label = building
            .iter()
            .map(|(r, _)| r.name())
            .collect::<Vec<_>>()
            .join(" + ");
        let total = self.feed.count_after(FeedPosition::START).await?;
        progress(&label, 0, total);
        let folded = {
            let progress = &mut *progress;
            bulk_pass::fold_all(self.feed.clone(), loads, cancel, |done| {
                progress(&label, done, total.max(done));
                lock.renew()
            })
            .await
        };
        let reached = match folded {
            Ok(reached) => reached,
            Err(e) => {
                discard(&building).await;
                return Err(e);
            }
        };
        tracing::info!(
            events = reached.events,
            checkpoint = ?reached.checkpoint,
            "bulk pass of the replay done"
        );
        for (i, (rebuildable, projection)) in building.iter().enumerate() {
            let name = rebuildable.name();
            let done = self
                .catch_up(
                    projection.as_ref(),
                    name,
                    reached.events,
                    lock,
                    progress,
                    cancel,
                )
                .await;
            let swapped = match done {
                Ok(()) => swap_in(*rebuildable).await,
                Err(e) => Err(e),
            };
            if let Err(e) = swapped {
                discard(building.get(i..).unwrap_or_default()).await;
                return Err(e);
            }
            tracing::info!(projection = name, "replay finished and swapped in");
        }
        Ok(replayed)
    }

    /// Applies, on the normal path, whatever the fresh storage of
    /// `projection` lacks, up to the head. `already`: events the bulk pass
    /// applied (for the progress figures).
    async fn catch_up(
        &self,
        projection: &dyn Projection,
        name: &str,
        already: u64,
        lock: &ReplayLock<'_>,
        progress: &mut (dyn FnMut(&str, u64, u64) + Send),
        cancel: &CancellationToken,
    ) -> Result<(), ReadSideError> {
        let mut checkpoint = projection.load().await?;
        let mut total = already
            + self
                .feed
                .count_after(checkpoint.unwrap_or_default().feed)
                .await?;
        let mut done = already;
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
                        break;
                    }
                }
                Ok(Step::Idle) => break,
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
        progress(name, total.max(done), total.max(done));
        Ok(())
    }
}

/// Drops the fresh storage of a failed or cancelled rebuild.
async fn discard(building: &[(&dyn Rebuildable, Arc<dyn Projection>)]) {
    for (rebuildable, _) in building {
        if let Err(d) = rebuildable.discard_fresh().await {
            tracing::warn!(projection = rebuildable.name(), error = %d, "cannot drop the replay's fresh tables");
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
