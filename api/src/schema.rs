//! One owner for migrations. Scaled out, the migration Job (`qicoo migrate`,
//! with credentials that may run DDL) is the only thing that changes the
//! schema; `qicoo serve` checks that the schema carries every migration it
//! was built with and stays not ready until it does. In the embedded default
//! (and with `--auto-migrate`) `serve` migrates by itself.

use std::time::Duration;

use qicoo_commands::{EventStore, SchemaStatus};

/// How long the start-up check of the event store's schema may take: a
/// database that does not answer is checked again by readiness.
const START_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a store's schema stands, as far as this process knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Not checked yet (the store did not answer).
    Unknown,
    /// Older than this binary needs: `qicoo migrate` has not run.
    Behind(String),
    /// Carries every migration this binary needs.
    Current,
}

impl SchemaState {
    /// What `/readyz` shows.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Behind(_) => "behind",
            Self::Current => "current",
        }
    }

    /// From a check's outcome; logs what an operator must do.
    pub fn from_check<E: std::fmt::Display>(
        store: &str,
        check: Result<Result<SchemaStatus, E>, tokio::time::error::Elapsed>,
    ) -> Self {
        match check {
            Ok(Ok(SchemaStatus::Current)) => Self::Current,
            Ok(Ok(status)) => {
                tracing::error!(
                    store,
                    %status,
                    "the schema is older than this version of Qicoo needs; run `qicoo migrate` \
                     (the migration Job): not ready until then"
                );
                Self::Behind(status.to_string())
            }
            Ok(Err(e)) => {
                tracing::warn!(store, error = %e, "cannot check the schema yet");
                Self::Unknown
            }
            Err(_) => {
                tracing::warn!(store, "the schema check got no answer in time");
                Self::Unknown
            }
        }
    }
}

/// Migrates the event store (`auto_migrate`) or checks its schema.
pub async fn prepare_event_store(
    store: &EventStore,
    auto_migrate: bool,
) -> Result<SchemaState, qicoo_commands::EventStoreError> {
    if auto_migrate {
        store.migrate().await?;
        return Ok(SchemaState::Current);
    }
    let check = tokio::time::timeout(START_CHECK_TIMEOUT, store.schema_status()).await;
    Ok(SchemaState::from_check("event store", check))
}
