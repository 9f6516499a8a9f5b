//! Audit: the event store read per meetup, the state of a meetup folded from
//! its events, the per-meetup hash chain, pseudonyms, and the rows of an
//! export.

pub mod as_of;
pub mod chain;
pub mod fold;
pub mod history;
pub mod pseudonym;
pub mod tables;
pub mod verify;

use crate::error::StoreError;
use fold::FoldError;

/// Why an audit could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The events do not fold: the store holds something no command made.
    #[error(transparent)]
    Fold(#[from] FoldError),
    #[error("event at position {position} does not decode: {reason}")]
    BadEvent { position: i64, reason: String },
    /// A position beyond what is settled: its answer could still change.
    #[error("position {asked} is beyond the settled history (which ends at position {settled})")]
    NotSettled { asked: i64, settled: i64 },
    /// The instant lies before the meetup was created.
    #[error("the meetup did not exist yet at that instant")]
    NotYetCreated,
    /// Writing an export failed (its reader went away, or a disk is full).
    #[error("writing the export failed: {0}")]
    Write(String),
}
