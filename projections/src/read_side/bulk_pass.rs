//! The bulk pass of a rebuild: reads the event store once from position
//! zero, in large pages (the next page is read while the last one is
//! folded), folds every event into each projection's [`BulkLoad`], and
//! finishes them with the checkpoint reached. The normal path carries on
//! from that checkpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bulk::BulkLoad;
use crate::error::{ApplyError, ReadSideError, StoreError};
use crate::event::{advance, decode_batch, Checkpoint, FeedPosition, StoredEvent};
use crate::feed::EventFeed;

/// Events per page read.
pub(super) const PAGE: usize = 5_000;

/// How often a page that fails to read for a reason that may pass is tried
/// again before the rebuild gives up.
const READ_ATTEMPTS: u32 = 5;

/// What the bulk pass reached.
pub(super) struct Reached {
    /// The checkpoint the loaders were finished with (`None`: the store held
    /// no event, nothing was written).
    pub checkpoint: Option<Checkpoint>,
    /// Events folded.
    pub events: u64,
}

/// Hands out pages of the feed from position zero; stops after the first
/// short page (the head) or an error.
async fn read_pages(
    feed: Arc<dyn EventFeed>,
    pages: mpsc::Sender<Result<Vec<StoredEvent>, StoreError>>,
    stop: CancellationToken,
) {
    let mut after = FeedPosition::START;
    let mut attempt = 0;
    loop {
        let page = tokio::select! {
            () = stop.cancelled() => return,
            page = feed.read(after, PAGE) => page,
        };
        let page = match page {
            Err(e) if e.is_transient() && attempt + 1 < READ_ATTEMPTS => {
                attempt += 1;
                tracing::warn!(error = %e, "reading the events for a rebuild failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                continue;
            }
            other => other,
        };
        attempt = 0;
        let last = match &page {
            Ok(events) if events.len() == PAGE => events.last().map(|e| e.feed),
            _ => None,
        };
        if pages.send(page).await.is_err() {
            return;
        }
        match last {
            Some(feed) => after = feed,
            None => return,
        }
    }
}

/// Folds every event from position zero into `loads` and finishes them.
/// `tick` is called after each page with the events folded so far; it may
/// stop the pass with an error (a lost replay lease).
pub(super) async fn fold_all<F, Fut>(
    feed: Arc<dyn EventFeed>,
    loads: Vec<Box<dyn BulkLoad>>,
    cancel: &CancellationToken,
    mut tick: F,
) -> Result<Reached, ReadSideError>
where
    F: FnMut(u64) -> Fut + Send,
    Fut: std::future::Future<Output = Result<(), ReadSideError>> + Send,
{
    let mut loads = loads;
    let (tx, mut rx) = mpsc::channel(1);
    let stop = cancel.child_token();
    let _stop_reader = stop.clone().drop_guard();
    let reader = tokio::spawn(read_pages(feed.clone(), tx, stop));
    let mut checkpoint = Checkpoint::default();
    let mut events = 0_u64;
    // Where the time goes, for the log: waiting for pages, folding them,
    // waiting for the writes of the last page, and finishing.
    let (mut reading, mut folding, mut writing) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut clock = Instant::now();
    while let Some(page) = rx.recv().await {
        reading += clock.elapsed();
        clock = Instant::now();
        if cancel.is_cancelled() {
            return Err(ReadSideError::Cancelled);
        }
        let page = page?;
        let (decoded, bad) = decode_batch(&page);
        for (stored, event) in &decoded {
            for load in &mut loads {
                load.fold(stored, event).map_err(not_applied)?;
            }
        }
        if let Some((position, reason)) = bad {
            return Err(not_applied(ApplyError::BadEvent { position, reason }));
        }
        let applied: Vec<&StoredEvent> = page.iter().collect();
        checkpoint = advance(&checkpoint, &applied, checkpoint.watermark);
        events += applied.len() as u64;
        folding += clock.elapsed();
        clock = Instant::now();
        try_join_all(loads.iter_mut().map(|load| load.flush())).await?;
        tick(events).await?;
        writing += clock.elapsed();
        clock = Instant::now();
    }
    if let Err(e) = reader.await {
        return Err(ReadSideError::Replay(format!(
            "the event reader of the rebuild failed: {e}"
        )));
    }
    if events == 0 {
        return Ok(Reached {
            checkpoint: None,
            events,
        });
    }
    checkpoint.watermark = feed.watermark(&checkpoint).await?;
    let finishing = Instant::now();
    try_join_all(loads.into_iter().map(|load| load.finish(&checkpoint))).await?;
    tracing::info!(
        events,
        reading_ms = reading.as_millis(),
        folding_ms = folding.as_millis(),
        writing_ms = writing.as_millis(),
        finishing_ms = finishing.elapsed().as_millis(),
        "bulk pass: events read, folded and written"
    );
    Ok(Reached {
        checkpoint: Some(checkpoint),
        events,
    })
}

fn not_applied(e: ApplyError) -> ReadSideError {
    match e {
        ApplyError::Store(e) => e.into(),
        other => ReadSideError::Replay(other.to_string()),
    }
}
