//! Audit: the event store read per meetup, the state of a meetup folded from
//! its events, the per-meetup hash chain, and the rows of an export.

pub mod tables;
