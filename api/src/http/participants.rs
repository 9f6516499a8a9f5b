//! `POST /participants`: anonymous participants get a signed token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use qicoo_domain::ParticipantId;
use serde::Serialize;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/participants", post(create))
}

#[derive(Serialize)]
struct Created {
    participant_id: ParticipantId,
    token: String,
}

async fn create(State(state): State<AppState>) -> (StatusCode, Json<Created>) {
    let participant_id = ParticipantId::new();
    let token = state.signer.participant_token(participant_id);
    (
        StatusCode::CREATED,
        Json(Created {
            participant_id,
            token,
        }),
    )
}
