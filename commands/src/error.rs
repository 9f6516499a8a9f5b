//! The outcome of a command that did not succeed.

use std::error::Error as StdError;

use cqrs_es::AggregateError;
use qicoo_storage::SqlErrorClass;

/// Why a command did not take effect. `E` is the aggregate's own refusal type.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: StdError> {
    /// The domain refused the command (validation of state, permissions…).
    #[error(transparent)]
    Refused(E),
    /// Other writers kept winning the race for the same aggregate.
    #[error("the command kept conflicting with concurrent changes")]
    Conflict,
    /// The event store could not be reached; trying again later may work.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// Something that should not happen (a bug, corrupt data).
    #[error("internal error: {0}")]
    Internal(String),
}

/// How the executor should treat a failure from cqrs-es.
pub(crate) enum Failure<E: StdError> {
    /// A concurrent write to the same aggregate: load again and retry.
    Retry,
    Fail(CommandError<E>),
}

/// Sorts a cqrs-es error. The store adapters report unique-key violations and
/// lost connections in different ways (sqlite-es only recognises one SQLite
/// constraint code, postgres-es files pool time-outs as "unknown"), so the
/// underlying `sqlx::Error` is inspected where there is one.
pub(crate) fn classify<E: StdError>(err: AggregateError<E>) -> Failure<E> {
    match err {
        AggregateError::UserError(e) => Failure::Fail(CommandError::Refused(e)),
        AggregateError::AggregateConflict => Failure::Retry,
        AggregateError::DatabaseConnectionError(e) => {
            Failure::Fail(CommandError::Unavailable(e.to_string()))
        }
        AggregateError::DeserializationError(e) => Failure::Fail(CommandError::Internal(format!(
            "stored event unreadable: {e}"
        ))),
        AggregateError::UnexpectedError(e) => match e.downcast_ref::<sqlx::Error>() {
            Some(sqlx_err) => classify_sqlx(sqlx_err),
            None => Failure::Fail(CommandError::Internal(e.to_string())),
        },
    }
}

pub(crate) fn classify_sqlx<E: StdError>(err: &sqlx::Error) -> Failure<E> {
    match SqlErrorClass::of(err) {
        // Another writer appended to the aggregate first, or held SQLite's
        // writer lock: load again and retry.
        SqlErrorClass::UniqueViolation | SqlErrorClass::Contention => Failure::Retry,
        SqlErrorClass::Unavailable => Failure::Fail(CommandError::Unavailable(err.to_string())),
        SqlErrorClass::Other => Failure::Fail(CommandError::Internal(err.to_string())),
    }
}
