//! Qicoo's write side: the event store (Postgres through postgres-es, or SQLite
//! through sqlite-es), the command executor that loads an aggregate, decides,
//! appends its events (group commit: concurrent commands share one statement and
//! one commit) and retries on a concurrent write, and the
//! [`CommandService`] the API calls.
//!
//! Nothing here knows HTTP. Refusals come back as the domain's error types inside
//! [`CommandError`]; the API maps them to statuses in one place.

pub mod append;
pub mod context;
pub mod error;
pub mod executor;
pub mod load;
pub mod lookups;
pub mod repository;
pub mod service;
pub mod store;

pub use context::{Actor, CommandContext};
pub use error::CommandError;
pub use executor::{AppendHook, Executed};
pub use qicoo_storage::SchemaStatus;
pub use service::{CommandService, CreatedMeetup, PostQuestion};
pub use store::{EventStore, EventStoreError, EventStoreKind};
