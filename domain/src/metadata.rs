//! The keys of the metadata stored with every event, shared by the write side
//! (which stamps them) and the read side (which reads them for audit and
//! timestamps). Values are strings.

/// The meetup the event belongs to (the store indexes it for per-meetup reads).
pub const MEETUP_ID: &str = "meetup_id";
/// Who caused the event: `participant:<id>`, `organizer` or `system`.
pub const ACTOR: &str = "actor";
/// The request that caused it (from `x-request-id`, or generated).
pub const REQUEST_ID: &str = "request_id";
/// Server time when the command was decided, RFC 3339 in UTC.
pub const TIME: &str = "time";
/// Salted hash of the client's address; never the address itself.
pub const CLIENT: &str = "client";
