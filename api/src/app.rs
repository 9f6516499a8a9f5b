//! The HTTP application: routes plus the layers every request passes through.

use std::any::Any;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::error::ApiError;
use crate::request::REQUEST_ID_HEADER;
use crate::state::AppState;
use crate::{http, metrics, openapi, web};

/// Settings of the HTTP layer itself.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// The browser interface's settings.
    pub web: web::WebSettings,
}

/// The whole application, ready to serve.
pub fn app(state: AppState, settings: HttpSettings) -> Router {
    // Install the recorder before the first request is counted.
    metrics::handle();
    let request_id = axum::http::HeaderName::from_static(REQUEST_ID_HEADER);
    routes()
        // The pages are not API routes: `routes` (and so the OpenAPI
        // document) does not have them.
        .merge(web::router(settings.web))
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::readiness::lag_header,
        ))
        .layer(middleware::from_fn_with_state(
            state,
            crate::ratelimit::client::resolve,
        ))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(
            TraceLayer::new_for_http()
                // A 5xx is logged once, where it is made (`ApiError`); a flood of
                // refusals at a connection cap is not logged at all.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG))
                .make_span_with(|request: &Request| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str)
                        .unwrap_or("unmatched");
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %request.method(), route, request_id)
                }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Every route of the API node, before state and the outer layers: what
/// [`app`] serves, and what the OpenAPI document must describe.
pub fn routes() -> Router<AppState> {
    let api = http::router()
        .route("/openapi.json", get(openapi::document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .merge(http::health::router())
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
        .route_layer(middleware::from_fn(metrics::track))
}

/// What a projector serves: health, readiness and metrics only.
pub fn operations_app(state: AppState) -> Router {
    metrics::handle();
    Router::new()
        .merge(http::health::router())
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
        .route_layer(middleware::from_fn(metrics::track))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("No such resource.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A panic is a bug: log it and answer 500 instead of dropping the connection.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned());
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}
