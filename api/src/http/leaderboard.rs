//! `GET /meetups/{id}/leaderboard`: the most-liked open questions, in rank order.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;
use qicoo_domain::MeetupId;
use qicoo_projections::{Page, QuestionView, MAX_LIMIT};
use serde::Deserialize;

use super::meetups::parse_min_position;
use super::parse_id;
use super::reads::{field_error, reach, viewer};
use crate::auth::Credential;
use crate::error::ApiError;
use crate::path::Path;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/meetups/{id}/leaderboard", get(leaderboard))
}

#[derive(Deserialize)]
struct Params {
    limit: Option<String>,
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

async fn leaderboard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<axum::Json<Page<QuestionView>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id: MeetupId = parse_id(&id, "No such meetup.")?;
    let limit = parse_limit(params.limit.as_deref(), 10)?;
    reach(&state, parse_min_position(params.min_position.as_deref())?).await?;
    if state.queries.meetup(id).await?.is_none() {
        return Err(ApiError::NotFound("No such meetup."));
    }
    let viewer = viewer(&state, &credential, id).await?;
    Ok(axum::Json(
        state.queries.leaderboard(id, limit, &viewer).await?,
    ))
}
