//! Queries with a deadline: a read model or Redis that accepts connections
//! but stops answering (a partition, a hung server) turns into "unavailable"
//! within [`QUERY_TIMEOUT`] rather than a request held open until it returns.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use qicoo_domain::{MeetupId, OrganizerKeyHash, QuestionId};

use crate::error::{QueryError, StoreError};
use crate::queries::{MeetupView, Page, QuestionQuery, QuestionView, ReadQueries, Viewer};

/// The longest one query may take (beyond a wait the caller asked for).
/// Longer than the pools' acquire timeout, so that an exhausted pool reports
/// itself first.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(8);

/// [`ReadQueries`] that give up after [`QUERY_TIMEOUT`].
pub(super) struct Bounded(pub Arc<dyn ReadQueries>);

async fn within<T>(
    store: &'static str,
    limit: Duration,
    query: impl Future<Output = Result<T, QueryError>>,
) -> Result<T, QueryError> {
    tokio::time::timeout(limit, query)
        .await
        .unwrap_or_else(|_| {
            Err(QueryError::Store(StoreError::Unavailable {
                store,
                message: format!("no answer within {limit:?}"),
            }))
        })
}

const READ_MODEL: &str = "read model";

#[async_trait]
impl ReadQueries for Bounded {
    async fn meetup(&self, id: MeetupId) -> Result<Option<MeetupView>, QueryError> {
        within(READ_MODEL, QUERY_TIMEOUT, self.0.meetup(id)).await
    }

    async fn meetup_by_code(&self, code: &str) -> Result<Option<MeetupView>, QueryError> {
        within(READ_MODEL, QUERY_TIMEOUT, self.0.meetup_by_code(code)).await
    }

    async fn organizer_key_hash(
        &self,
        meetup: MeetupId,
    ) -> Result<Option<OrganizerKeyHash>, QueryError> {
        within(READ_MODEL, QUERY_TIMEOUT, self.0.organizer_key_hash(meetup)).await
    }

    async fn questions(
        &self,
        meetup: MeetupId,
        query: &QuestionQuery,
    ) -> Result<Page<QuestionView>, QueryError> {
        within(READ_MODEL, QUERY_TIMEOUT, self.0.questions(meetup, query)).await
    }

    async fn question(
        &self,
        id: QuestionId,
        viewer: &Viewer,
    ) -> Result<Option<QuestionView>, QueryError> {
        within(READ_MODEL, QUERY_TIMEOUT, self.0.question(id, viewer)).await
    }

    async fn question_meetup(&self, id: QuestionId) -> Result<Option<MeetupId>, QueryError> {
        within(READ_MODEL, QUERY_TIMEOUT, self.0.question_meetup(id)).await
    }

    async fn leaderboard(
        &self,
        meetup: MeetupId,
        limit: u32,
        viewer: &Viewer,
    ) -> Result<Page<QuestionView>, QueryError> {
        // The ranking is in the leaderboard store, the rows in the read model.
        within(
            "leaderboard",
            QUERY_TIMEOUT,
            self.0.leaderboard(meetup, limit, viewer),
        )
        .await
    }

    async fn position(&self) -> Result<i64, QueryError> {
        within(READ_MODEL, QUERY_TIMEOUT, self.0.position()).await
    }

    async fn wait_for_position(&self, position: i64, timeout: Duration) -> Result<i64, QueryError> {
        within(
            READ_MODEL,
            timeout + QUERY_TIMEOUT,
            self.0.wait_for_position(position, timeout),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_query_that_never_answers_fails_as_unavailable_at_the_deadline() {
        let started = tokio::time::Instant::now();
        let outcome: Result<(), QueryError> =
            within(READ_MODEL, QUERY_TIMEOUT, std::future::pending()).await;
        let err = outcome.expect_err("gives up");
        assert!(err.is_unavailable(), "{err}");
        assert_eq!(started.elapsed(), QUERY_TIMEOUT);
    }
}
