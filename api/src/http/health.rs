//! Liveness and readiness for orchestrators. Readiness failing never stops the
//! process; it only takes it out of the load balancer until things recover.

use std::future::Future;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use qicoo_projections::{ProjectionStatus, WorkerState, READ_MODEL};
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Role;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is alive and serving HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Alive.", body = crate::openapi::HealthSchema))
)]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// How long `/readyz` waits for each dependency: one that accepts connections
/// but never answers must not hold the probe (or the orchestrator) open.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs one check, counting no answer within [`CHECK_TIMEOUT`] as an error.
async fn within<T, E: std::fmt::Display>(
    check: impl Future<Output = Result<T, E>>,
) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    }
}

/// What `/readyz` says about a dependency: whether it answered. Its error text
/// (addresses, user names, driver messages) goes to the log only, since anyone
/// who can reach the port can read this body.
fn dependency(name: &str, result: Result<(), String>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(detail) => {
            tracing::warn!(dependency = name, %detail, "readiness: a dependency does not answer");
            "unavailable"
        }
    }
}

/// A projection as `/readyz` shows it: which one, what its worker is doing, and
/// how far it has come — never the text of its last error.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProjectionReadiness {
    name: String,
    #[schema(value_type = crate::openapi::WorkerStateSchema)]
    state: WorkerState,
    checkpoint: Option<i64>,
    watermark: Option<i64>,
    lag: Option<i64>,
}

impl ProjectionReadiness {
    fn from_status(status: ProjectionStatus) -> Self {
        if let Some(detail) = &status.error {
            tracing::warn!(
                projection = %status.name,
                state = ?status.state,
                %detail,
                "readiness: a projection reports an error"
            );
        }
        Self {
            name: status.name,
            state: status.state,
            checkpoint: status.checkpoint,
            watermark: status.watermark,
            lag: status.lag,
        }
    }
}

/// The process can do its work: its stores (event store, read model,
/// leaderboard, change stream) answer within a bound, no projection here has
/// failed, and (API nodes) the read model is not too far behind.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready.", body = crate::openapi::ReadinessSchema),
        (status = 503, description = "Not ready: a store does not answer, a projection failed, \
                                      or the read model lags too far behind.",
         body = crate::openapi::ReadinessSchema),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let changes = state.read_side.changes();
    let (event_store, read_model, leaderboard, change_stream, statuses) = tokio::join!(
        within(state.commands.ping()),
        within(state.queries.position()),
        within(state.read_side.leaderboard_position()),
        within(changes.last_position()),
        state.read_side.status(),
    );
    let event_store = dependency("event_store", event_store);
    let read_model = dependency("read_model", read_model);
    let leaderboard = dependency("leaderboard", leaderboard);
    let change_stream = dependency("change_stream", change_stream);
    let mut ready = [event_store, read_model, leaderboard, change_stream]
        .iter()
        .all(|d| *d == "ok");
    let projections: Vec<ProjectionReadiness> = statuses
        .into_iter()
        .map(ProjectionReadiness::from_status)
        .collect();
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
        "leaderboard": leaderboard,
        "change_stream": change_stream,
        "projections": projections,
    });
    (status, Json(body))
}
