//! The REST resources under `/api/v1`, one module each.

use std::str::FromStr;

use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

pub mod audit;
pub mod export;
pub mod health;
pub mod leaderboard;
pub mod meetups;
pub mod participants;
pub mod questions;
pub mod reads;
pub mod views;
pub mod votes;

/// Every `/api/v1` route.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(participants::router())
        .merge(meetups::router())
        .merge(questions::router())
        .merge(votes::router())
        .merge(leaderboard::router())
        .merge(audit::router())
        .merge(export::router())
        .merge(crate::live::router())
}

/// Parses an id from the path; anything unparsable names nothing, so 404.
pub fn parse_id<T: FromStr>(raw: &str, not_found: &'static str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound(not_found))
}
