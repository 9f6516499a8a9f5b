//! Bulk building: how a rebuild fills a projection's fresh storage without
//! going batch by batch through [`crate::runner::Projection::apply`].
//!
//! A rebuild reads the events once, in feed order and in large pages, and
//! folds each into every projection's [`BulkLoad`] in memory (state per
//! meetup, question and vote, never per event). What a projection keeps per
//! event (the read model's hash-chain links) is written out page by page in
//! [`BulkLoad::flush`]. Once the head is reached, [`BulkLoad::finish`] writes
//! the folded state with multi-row statements and the checkpoint last; the
//! normal path then carries on from that checkpoint.

use async_trait::async_trait;

use crate::error::{ApplyError, StoreError};
use crate::event::{Checkpoint, DomainEvent, StoredEvent};

/// A projection's fresh storage, filled in bulk.
#[async_trait]
pub trait BulkLoad: Send {
    /// Folds one event, in feed order, into the state held in memory. Fails
    /// on an event the projection cannot apply, as the normal path would.
    fn fold(&mut self, stored: &StoredEvent, event: &DomainEvent) -> Result<(), ApplyError>;

    /// Writes what the events folded so far produced one by one (and that
    /// the state in memory does not keep). Called after every page; may
    /// leave its writes running until the next call or [`BulkLoad::finish`].
    async fn flush(&mut self) -> Result<(), StoreError>;

    /// Writes the folded state, then `checkpoint`: the fresh storage then
    /// holds exactly the events folded.
    async fn finish(self: Box<Self>, checkpoint: &Checkpoint) -> Result<(), StoreError>;
}
