//! Likes: `PUT` and `DELETE /questions/{id}/vote`, both idempotent.

use axum::extract::State;
use axum::routing::put;
use axum::Router;
use qicoo_commands::Actor;
use qicoo_domain::QuestionId;
use serde::Serialize;

use super::parse_id;
use crate::auth::Credential;
use crate::error::ApiError;
use crate::openapi::{Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, Unavailable};
use crate::path::Path;
use crate::ratelimit::{Group, Subject};
use crate::request::RequestMeta;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/questions/{id}/vote", put(like).delete(unlike))
}

/// Whether the caller now likes the question.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct VoteResponse {
    liked: bool,
    position: i64,
}

/// Likes a question (participant); liking twice counts once.
#[utoipa::path(
    put,
    path = "/questions/{id}/vote",
    operation_id = "like_question",
    tag = "votes",
    params(("id" = String, Path, format = Uuid, description = "The question's id.")),
    security(("participant_token" = [])),
    responses(
        (status = 200, description = "The question is liked.", body = VoteResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn like(
    state: State<AppState>,
    id: Path<String>,
    credential: Credential,
    meta: RequestMeta,
) -> Result<axum::Json<VoteResponse>, ApiError> {
    vote(state, id, credential, meta, true).await
}

/// Takes a like back (participant); idempotent too.
#[utoipa::path(
    delete,
    path = "/questions/{id}/vote",
    operation_id = "unlike_question",
    tag = "votes",
    params(("id" = String, Path, format = Uuid, description = "The question's id.")),
    security(("participant_token" = [])),
    responses(
        (status = 200, description = "The question is not liked.", body = VoteResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn unlike(
    state: State<AppState>,
    id: Path<String>,
    credential: Credential,
    meta: RequestMeta,
) -> Result<axum::Json<VoteResponse>, ApiError> {
    vote(state, id, credential, meta, false).await
}

async fn vote(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    meta: RequestMeta,
    like: bool,
) -> Result<axum::Json<VoteResponse>, ApiError> {
    let id: QuestionId = parse_id(&id, "No such question.")?;
    let participant = credential.participant()?;
    state
        .rate_limit(Group::Likes, Subject::Participant(participant))
        .await?;
    let executed = state
        .commands
        .vote(
            id,
            participant,
            like,
            &meta.context(Actor::Participant(participant)),
        )
        .await?;
    Ok(axum::Json(VoteResponse {
        liked: executed.state.cast,
        position: executed.position,
    }))
}
