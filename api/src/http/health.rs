//! Liveness and readiness for orchestrators. Readiness failing never stops the
//! process; it only takes it out of the load balancer until things recover,
//! and only for what is this process's own (see [`crate::readiness`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use qicoo_projections::{ProjectionStatus, WorkerState};
use serde::Serialize;
use serde_json::{json, Value};

use crate::readiness::{Checked, Dependency};
use crate::schema::SchemaState;
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

/// A projection as `/readyz` shows it: which one, what its worker is doing, and
/// how far it has come — never the text of its last error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectionReadiness {
    pub(crate) name: String,
    #[schema(value_type = crate::openapi::WorkerStateSchema)]
    pub(crate) state: WorkerState,
    checkpoint: Option<i64>,
    watermark: Option<i64>,
    pub(crate) lag: Option<i64>,
}

impl ProjectionReadiness {
    pub(crate) fn from_status(status: ProjectionStatus) -> Self {
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

/// Whether this process can serve: its schema carries every migration it
/// needs and no projection here has failed. Dependencies, and how far the
/// read model lags, are reported but decide nothing (see
/// [`crate::readiness`]); the answer comes within a second whatever they do.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready.", body = crate::openapi::ReadinessSchema),
        (status = 503, description = "Not ready: the schema is older than this version needs \
                                      (run the migrations), or a projection here failed.",
         body = crate::openapi::ReadinessSchema),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let checked = state.readiness.current(&state).await;
    let event_store_schema = state.readiness.event_store_schema();
    let read_model_schema = state.read_side.migrated();
    let failed = state.read_side.any_failed();
    let ready = event_store_schema == SchemaState::Current && read_model_schema && !failed;
    let dependency = |pick: fn(&Checked) -> Dependency| {
        checked.as_deref().map_or(Dependency::Unknown, pick).label()
    };
    let lag = checked.as_deref().and_then(|c| c.read_model_lag);
    let empty = Vec::new();
    let projections = checked.as_deref().map_or(&empty, |c| &c.projections);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "role": format!("{:?}", state.health.role).to_lowercase(),
        "schema": {
            "event_store": event_store_schema.label(),
            "read_model": if read_model_schema { "current" } else { "pending" },
        },
        "event_store": dependency(|c| c.event_store),
        "read_model": dependency(|c| c.read_model),
        "leaderboard": dependency(|c| c.leaderboard),
        "change_stream": dependency(|c| c.change_stream),
        "read_model_lag": lag,
        "read_model_lagging": lag.is_some_and(|lag| lag > state.health.max_lag),
        "projections": projections,
    });
    (status, Json(body))
}
