//! `GET /meetups/{id}/leaderboard`: the most-liked open questions, in rank order.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use qicoo_domain::MeetupId;
use qicoo_projections::{Page, QueryError, QuestionView, MAX_LIMIT};
use serde::Deserialize;

use super::meetups::parse_min_position;
use super::parse_id;
use super::reads::{field_error, reach, viewer, MIN_POSITION_WAIT};
use crate::auth::Credential;
use crate::error::ApiError;
use crate::openapi::{BadRequest, NotFound, Unauthorized, Unavailable, Unprocessable};
use crate::path::Path;
use crate::query::Query;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/meetups/{id}/leaderboard", get(leaderboard))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Params {
    /// Questions to return, 1 to 100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Wait (briefly) until the read model and the ranking reflect this position.
    #[param(value_type = Option<i64>, minimum = 0)]
    min_position: Option<String>,
}

/// Parses `limit` (1..=100), defaulting to `default`.
pub fn parse_limit(raw: Option<&str>, default: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| field_error("limit", "must be an integer from 1 to 100")),
    }
}

/// The most-liked published, unanswered questions, in rank order (ties: the
/// earlier question first).
#[utoipa::path(
    get,
    path = "/meetups/{id}/leaderboard",
    tag = "questions",
    params(("id" = String, Path, format = Uuid, description = "The meetup's id."), Params),
    security((), ("participant_token" = []), ("organizer_key" = [])),
    responses(
        (status = 200, description = "The top questions.", body = crate::openapi::QuestionPageSchema),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn leaderboard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    Query(params): Query<Params>,
) -> Result<axum::Json<Page<QuestionView>>, ApiError> {
    let id: MeetupId = parse_id(&id, "No such meetup.")?;
    let limit = parse_limit(params.limit.as_deref(), 10)?;
    let min_position = parse_min_position(params.min_position.as_deref())?;
    reach(&state, min_position).await?;
    if let Some(position) = min_position.filter(|p| *p > 0) {
        state
            .read_side
            .wait_for_leaderboard(position, MIN_POSITION_WAIT)
            .await
            .map_err(|e| ApiError::from(QueryError::Store(e)))?;
    }
    if state.queries.meetup(id).await?.is_none() {
        return Err(ApiError::NotFound("No such meetup."));
    }
    let viewer = viewer(&state, &credential, id).await?;
    let ranked_up_to = state
        .read_side
        .leaderboard_position()
        .await
        .map_err(|e| ApiError::from(QueryError::Store(e)))?;
    let mut page = state.queries.leaderboard(id, limit, &viewer).await?;
    // The ranking is only as recent as the leaderboard projection.
    page.position = page.position.min(ranked_up_to);
    Ok(axum::Json(page))
}
