//! Liveness and readiness for orchestrators.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is alive and serving HTTP.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can do its work: its stores answer.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .commands
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!({"status": "ready", "event_store": "ok"})))
}
