//! What Qicoo's write side (`qicoo-commands`) and read side
//! (`qicoo-projections`) both need to know about databases, in one place so
//! the two can never disagree: which database a URL names ([`DatabaseKind`]),
//! how a SQLite file is opened ([`sqlite_options`]), and how a sqlx or Redis
//! error is sorted ([`SqlErrorClass`], [`redis_is_unavailable`]).
//!
//! It knows nothing of events, projections or HTTP.

mod errors;
mod kind;
#[cfg(feature = "redis")]
mod redis_errors;
mod schema;
mod sqlite;

pub use errors::SqlErrorClass;
pub use kind::{redacted, DatabaseKind};
#[cfg(feature = "redis")]
pub use redis_errors::redis_is_unavailable;
pub use schema::{applied_or_none, is_missing_table, SchemaStatus, APPLIED_VERSIONS};
pub use sqlite::{read_model_beside, sqlite_options};
