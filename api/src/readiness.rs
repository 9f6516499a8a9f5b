//! What `/readyz` is built from: whether *this* process can serve, answered
//! at once however slow a dependency is.
//!
//! A pod is ready when its own conditions hold: the schema carries every
//! migration its binary needs (a new version over an old schema is not
//! ready; see [`crate::schema`]), and no projection in this process has
//! failed. Conditions every pod shares — a store that is down or slow, a read
//! model lagging behind — are reported (in the body, as
//! `qicoo_dependency_up`, and as the `Qicoo-Read-Model-Lag` header on
//! answers) but never make a pod unready: that would take every pod out of
//! the Service at once, and clients would get the ingress's bare 503 instead
//! of the API's own answers (503 with `Retry-After` where a store is needed).
//!
//! The dependency checks run at most once per [`FRESH_FOR`], each bounded by
//! [`CHECK_TIMEOUT`], as one task whose result every caller shares; a caller
//! waits at most [`ANSWER_WITHIN`] for it and otherwise gets the previous
//! result. A refresh is one bounded task, never a loop: nothing outlives it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::watch;

use crate::http::health::ProjectionReadiness;
use crate::schema::SchemaState;
use crate::state::AppState;

/// Longest wait for one dependency: one that accepts connections but never
/// answers counts as unavailable after this.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(800);
/// Longest a `/readyz` caller waits for a fresh check (below the probe's
/// 2-second timeout, with room to spare).
pub const ANSWER_WITHIN: Duration = Duration::from_millis(1000);
/// A check younger than this is answered as it is.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// The header answers carry while the read model lags more than the limit
/// (`QICOO_READY_MAX_LAG`) behind the event store: how many events.
pub const LAG_HEADER: &str = "qicoo-read-model-lag";

/// Whether a dependency answered in the last check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Ok,
    Unavailable,
    /// Not checked yet.
    Unknown,
}

impl Dependency {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unavailable => "unavailable",
            Self::Unknown => "unknown",
        }
    }
}

/// One round of checks.
#[derive(Debug)]
pub struct Checked {
    pub at: Instant,
    pub event_store: Dependency,
    pub read_model: Dependency,
    pub leaderboard: Dependency,
    pub change_stream: Dependency,
    /// Each projection's state; empty when the status did not come in time.
    pub projections: Vec<ProjectionReadiness>,
    /// How many events the read model is behind the event store, if known.
    pub read_model_lag: Option<i64>,
}

/// The shared, cached view of this process's dependencies.
pub struct Readiness {
    event_store_schema: Mutex<SchemaState>,
    latest: watch::Sender<Option<Arc<Checked>>>,
    refreshing: AtomicBool,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness").finish_non_exhaustive()
    }
}

/// Clears the single-flight flag however the refresh ends (a panic too).
struct Refreshing<'a>(&'a AtomicBool);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Readiness {
    /// Starts with the event store's schema as found at start.
    pub fn new(event_store_schema: SchemaState) -> Self {
        Self {
            event_store_schema: Mutex::new(event_store_schema),
            latest: watch::channel(None).0,
            refreshing: AtomicBool::new(false),
        }
    }

    /// Where the event store's schema stands.
    pub fn event_store_schema(&self) -> SchemaState {
        self.event_store_schema
            .lock()
            .map(|s| s.clone())
            .unwrap_or(SchemaState::Unknown)
    }

    /// The latest check, refreshed first when stale; waits at most
    /// [`ANSWER_WITHIN`] for the refresh, then answers with what it has.
    pub async fn current(self: &Arc<Self>, state: &AppState) -> Option<Arc<Checked>> {
        let mut updates = self.latest.subscribe();
        if let Some(fresh) = updates
            .borrow_and_update()
            .as_ref()
            .filter(|c| c.at.elapsed() < FRESH_FOR)
        {
            return Some(fresh.clone());
        }
        self.refresh(state);
        let _ = tokio::time::timeout(ANSWER_WITHIN, updates.changed()).await;
        let latest = updates.borrow().clone();
        latest
    }

    /// The latest check without waiting (refreshing it in the background
    /// when stale): for answers that only report it.
    pub fn latest(self: &Arc<Self>, state: &AppState) -> Option<Arc<Checked>> {
        let latest = self.latest.borrow().clone();
        if latest.as_ref().is_none_or(|c| c.at.elapsed() >= FRESH_FOR) {
            self.refresh(state);
        }
        latest
    }

    /// Starts one round of checks unless one is running.
    fn refresh(self: &Arc<Self>, state: &AppState) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let _flag = Refreshing(&this.refreshing);
            let checked = this.check(&state).await;
            this.latest.send_replace(Some(Arc::new(checked)));
        });
    }

    async fn check(&self, state: &AppState) -> Checked {
        let changes = state.read_side.changes();
        let store = state.commands.store();
        let schema_known = self.event_store_schema() == SchemaState::Current;
        let (event_store, read_model, leaderboard, change_stream, statuses, schema) = tokio::join!(
            within(state.commands.ping()),
            within(state.queries.position()),
            within(state.read_side.leaderboard_position()),
            within(changes.last_position()),
            tokio::time::timeout(CHECK_TIMEOUT, state.read_side.status()),
            async {
                if schema_known {
                    None
                } else {
                    Some(tokio::time::timeout(CHECK_TIMEOUT, store.schema_status()).await)
                }
            },
        );
        if let Some(check) = schema {
            let now = SchemaState::from_check("event store", check);
            if let Ok(mut known) = self.event_store_schema.lock() {
                if now == SchemaState::Current && *known != SchemaState::Current {
                    tracing::info!("the event store's schema is current");
                }
                // What was seen once is not forgotten because the store
                // stopped answering.
                if !(now == SchemaState::Unknown && matches!(*known, SchemaState::Behind(_))) {
                    *known = now;
                }
            }
        }
        let projections: Vec<ProjectionReadiness> = statuses
            .unwrap_or_default()
            .into_iter()
            .map(ProjectionReadiness::from_status)
            .collect();
        let read_model_lag = projections
            .iter()
            .find(|p| p.name == qicoo_projections::READ_MODEL)
            .and_then(|p| p.lag);
        let checked = Checked {
            at: Instant::now(),
            event_store: dependency("event_store", event_store),
            read_model: dependency("read_model", read_model),
            leaderboard: dependency("leaderboard", leaderboard),
            change_stream: dependency("change_stream", change_stream),
            projections,
            read_model_lag,
        };
        for (name, up) in [
            ("event_store", checked.event_store),
            ("read_model", checked.read_model),
            ("leaderboard", checked.leaderboard),
            ("change_stream", checked.change_stream),
        ] {
            metrics::gauge!("qicoo_dependency_up", "dependency" => name)
                .set(if up == Dependency::Ok { 1.0 } else { 0.0 });
        }
        checked
    }
}

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

/// A dependency as `/readyz` shows it. Its error text (addresses, user names,
/// driver messages) goes to the log only, since anyone who can reach the
/// port can read the body.
fn dependency(name: &str, result: Result<(), String>) -> Dependency {
    match result {
        Ok(()) => Dependency::Ok,
        Err(detail) => {
            tracing::warn!(dependency = name, %detail, "readiness: a dependency does not answer");
            Dependency::Unavailable
        }
    }
}

/// Adds [`LAG_HEADER`] to the API's answers while the read model lags more
/// than the limit; costs a look at the cached check, never a query.
pub async fn lag_header(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if api {
        let lag = state
            .readiness
            .latest(&state)
            .and_then(|checked| checked.read_model_lag);
        if let Some(lag) = lag.filter(|lag| *lag > state.health.max_lag) {
            response
                .headers_mut()
                .insert(LAG_HEADER, HeaderValue::from(lag));
        }
    }
    response
}
