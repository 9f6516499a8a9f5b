//! `POST /participants`: anonymous participants get a signed token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use qicoo_domain::ParticipantId;
use serde::Serialize;

use crate::error::ApiError;
use crate::openapi::TooManyRequests;
use crate::ratelimit::{ClientAddr, Group, Subject};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/participants", post(create))
}

/// A new participant and the token that speaks for them.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ParticipantCreated)]
pub(crate) struct Created {
    #[schema(value_type = String, format = Uuid)]
    participant_id: ParticipantId,
    /// Send as `Authorization: Bearer <token>`.
    token: String,
}

/// Creates an anonymous participant and signs a token for them.
#[utoipa::path(
    post,
    path = "/participants",
    operation_id = "create_participant",
    tag = "participants",
    responses(
        (status = 201, description = "The participant and their token.", body = Created),
        (status = 429, response = TooManyRequests),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    client: ClientAddr,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    state
        .rate_limit(Group::Participants, Subject::Client(client))
        .await?;
    let participant_id = ParticipantId::new();
    let token = state.signer.participant_token(participant_id);
    Ok((
        StatusCode::CREATED,
        Json(Created {
            participant_id,
            token,
        }),
    ))
}
