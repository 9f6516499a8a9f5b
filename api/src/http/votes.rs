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
use crate::path::Path;
use crate::request::RequestMeta;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/questions/{id}/vote", put(like).delete(unlike))
}

#[derive(Serialize)]
struct VoteResponse {
    liked: bool,
    position: i64,
}

async fn like(
    state: State<AppState>,
    id: Path<String>,
    credential: Credential,
    meta: RequestMeta,
) -> Result<axum::Json<VoteResponse>, ApiError> {
    vote(state, id, credential, meta, true).await
}

async fn unlike(
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
