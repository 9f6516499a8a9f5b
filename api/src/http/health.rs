//! Liveness and readiness for orchestrators. Readiness failing never stops the
//! process; it only takes it out of the load balancer until things recover.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use qicoo_projections::{WorkerState, READ_MODEL};
use serde_json::{json, Value};

use crate::config::Role;
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

/// The process can do its work: its stores answer, no projection here has
/// failed, and (API nodes) the read model is not too far behind.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut ready = true;
    let event_store = match state.commands.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => {
            ready = false;
            e.to_string()
        }
    };
    let read_model = match state.queries.position().await {
        Ok(_) => "ok".to_owned(),
        Err(e) => {
            ready = false;
            e.to_string()
        }
    };
    let projections = state.read_side.status().await;
    for projection in &projections {
        if projection.state == WorkerState::Failed {
            ready = false;
        }
        let lagging = projection.name == READ_MODEL
            && state.health.role != Role::Projector
            && projection.lag.is_some_and(|lag| lag > state.health.max_lag);
        if lagging {
            ready = false;
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "role": format!("{:?}", state.health.role).to_lowercase(),
        "event_store": event_store,
        "read_model": read_model,
        "projections": projections,
    });
    (status, Json(body))
}
