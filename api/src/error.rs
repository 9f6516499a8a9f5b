//! The one place where failures become HTTP responses: RFC 9457
//! `application/problem+json`. Lower layers know nothing of statuses; internal
//! detail is logged here, never sent.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use qicoo_commands::CommandError;
use qicoo_domain::{MeetupError, QuestionError, ValidationError, VoteError};
use qicoo_projections::audit::AuditError;
use qicoo_projections::QueryError;
use serde::Serialize;

use crate::ratelimit::RateLimited;

/// Seconds a client is asked to wait when a dependency is down.
const RETRY_AFTER_SECS: &str = "5";

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Input that is well-formed JSON but not acceptable; per-field messages.
    #[error("validation failed")]
    Validation(BTreeMap<String, Vec<String>>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("This method is not allowed here.")]
    MethodNotAllowed,
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request body did not arrive within the body timeout.
    #[error("The request body did not arrive in time.")]
    RequestTimeout,
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Over a rate limit; worth retrying after `retry_after_secs`.
    #[error("Too many requests; try again in {retry_after_secs} s.")]
    TooManyRequests { retry_after_secs: u64 },
    /// A dependency (the event store) is unreachable; worth retrying.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// This node holds as many connections of a kind as it takes; worth
    /// retrying (another node may have room). Expected under a flood, so it
    /// is not logged.
    #[error("This server is at its limit of {0}; try again shortly.")]
    AtCapacity(&'static str),
    /// A bug or corrupt data; details go to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A validation failure of one field.
    pub fn invalid(field: &'static str, err: ValidationError) -> Self {
        Self::Validation(BTreeMap::from([(field.to_owned(), vec![err.to_string()])]))
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::AtCapacity(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client is told. Internal and unavailable details stay in the log.
    fn detail(&self) -> String {
        match self {
            Self::Validation(_) => "The request contains invalid fields.".into(),
            Self::Unavailable(_) => {
                "A storage service is temporarily unavailable; try again shortly.".into()
            }
            Self::Internal(_) => "An unexpected error occurred.".into(),
            other => other.to_string(),
        }
    }
}

/// An RFC 9457 problem, as every error is sent.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Problem<'a> {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[schema(value_type = String)]
    r#type: &'static str,
    /// The status's reason phrase.
    #[schema(value_type = String)]
    title: &'a str,
    /// The HTTP status code.
    status: u16,
    /// What went wrong, for a human.
    detail: String,
    /// For validation failures: each invalid field with its messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, Vec<String>>>)]
    errors: Option<&'a BTreeMap<String, Vec<String>>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(detail) => tracing::error!(%detail, "request failed"),
            Self::Unavailable(detail) => tracing::warn!(%detail, "dependency unavailable"),
            _ => {}
        }
        let errors = match &self {
            Self::Validation(errors) => Some(errors),
            _ => None,
        };
        let problem = Problem {
            r#type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of a body that is still trickling in is not worth reading.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        if let Self::TooManyRequests { retry_after_secs } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

impl From<RateLimited> for ApiError {
    /// `Retry-After` in whole seconds, rounded up and at least 1: a client
    /// that waits that long is allowed again.
    fn from(limited: RateLimited) -> Self {
        let wait = limited.retry_after;
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::TooManyRequests {
            retry_after_secs: secs.max(1),
        }
    }
}

/// Maps the failures every command shares; `refused` maps the domain's own.
fn from_command<E: std::error::Error>(
    err: CommandError<E>,
    refused: impl FnOnce(E) -> ApiError,
) -> ApiError {
    match err {
        CommandError::Refused(e) => refused(e),
        CommandError::Conflict => {
            ApiError::Conflict("The resource is changing too fast; try again.".into())
        }
        CommandError::Unavailable(e) => ApiError::Unavailable(e),
        CommandError::Internal(e) => ApiError::Internal(e),
    }
}

impl From<CommandError<MeetupError>> for ApiError {
    fn from(err: CommandError<MeetupError>) -> Self {
        from_command(err, |e| match e {
            MeetupError::NotFound => ApiError::NotFound("No such meetup."),
            MeetupError::AlreadyExists | MeetupError::Archived => ApiError::Conflict(e.to_string()),
        })
    }
}

impl From<CommandError<QuestionError>> for ApiError {
    fn from(err: CommandError<QuestionError>) -> Self {
        from_command(err, |e| match e {
            QuestionError::NotFound => ApiError::NotFound("No such question."),
            QuestionError::MeetupNotFound => ApiError::NotFound("No such meetup."),
            QuestionError::NotAuthor | QuestionError::OtherMeetup => {
                ApiError::Forbidden(e.to_string())
            }
            QuestionError::QaClosed
            | QuestionError::MeetupArchived
            | QuestionError::IdTaken
            | QuestionError::AlreadyAnswered
            | QuestionError::InvalidState { .. } => ApiError::Conflict(e.to_string()),
            QuestionError::Lookup(e) => ApiError::Unavailable(e.to_string()),
        })
    }
}

impl From<CommandError<VoteError>> for ApiError {
    fn from(err: CommandError<VoteError>) -> Self {
        from_command(err, |e| match e {
            VoteError::QuestionNotFound => ApiError::NotFound("No such question."),
            VoteError::QuestionNotPublished(_) | VoteError::MeetupArchived => {
                ApiError::Conflict(e.to_string())
            }
            VoteError::Lookup(e) => ApiError::Unavailable(e.to_string()),
        })
    }
}

impl ApiError {
    /// An audit's failure; `field` names the instant a validation error is
    /// about.
    pub fn from_audit(err: AuditError, field: &str) -> Self {
        match err {
            AuditError::Store(e) => QueryError::Store(e).into(),
            e @ (AuditError::NotSettled { .. } | AuditError::NotYetCreated) => {
                ApiError::Validation(BTreeMap::from([(field.to_owned(), vec![e.to_string()])]))
            }
            e @ (AuditError::Fold(_) | AuditError::BadEvent { .. } | AuditError::Write(_)) => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::InvalidCursor => ApiError::Validation(BTreeMap::from([(
                "cursor".to_owned(),
                vec![err.to_string()],
            )])),
            QueryError::InvalidLimit { .. } => ApiError::Validation(BTreeMap::from([(
                "limit".to_owned(),
                vec![err.to_string()],
            )])),
            err if err.is_unavailable() => ApiError::Unavailable(err.to_string()),
            err => ApiError::Internal(err.to_string()),
        }
    }
}
