//! Meetups: create, read by id or join code, change (organizer only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use qicoo_commands::Actor;
use qicoo_domain::{JoinCode, Meetup, MeetupId, MeetupTitle, MeetupUpdate};
use qicoo_projections::MeetupView;
use serde::{Deserialize, Serialize};

use super::parse_id;
use super::reads::{field_error, reach, MIN_POSITION_WAIT};
use super::views::{MeetupBody, MeetupResponse};
use crate::auth::{new_organizer_key, Credential};
use crate::error::ApiError;
use crate::json::Json;
use crate::path::Path;
use crate::query::Query;
use crate::request::RequestMeta;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/meetups", post(create))
        .route("/meetups/{id}", get(read).patch(update))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMeetup {
    title: String,
    #[serde(default)]
    moderated: bool,
}

#[derive(Serialize)]
struct Created {
    meetup: MeetupBody,
    /// Shown once: only its hash is stored.
    organizer_key: String,
    position: i64,
}

async fn create(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<CreateMeetup>,
) -> Result<(StatusCode, axum::Json<Created>), ApiError> {
    let title = MeetupTitle::parse(&body.title).map_err(|e| ApiError::invalid("title", e))?;
    let id = MeetupId::new();
    let (organizer_key, hash) = new_organizer_key(id);
    let created = state
        .commands
        .create_meetup(
            id,
            title,
            body.moderated,
            hash,
            &meta.context(Actor::Organizer),
        )
        .await?;
    let body = Created {
        meetup: MeetupBody::from_state(
            &created.meetup,
            created_at(&state, id, created.position).await,
        ),
        organizer_key,
        position: created.position,
    };
    Ok((StatusCode::CREATED, axum::Json(body)))
}

/// When the meetup was created, as the read model knows it once it has caught
/// up with `position` (waiting as long as a `min_position` query would).
async fn created_at(
    state: &AppState,
    id: MeetupId,
    position: i64,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let reached = state
        .queries
        .wait_for_position(position, MIN_POSITION_WAIT)
        .await
        .ok()?;
    if reached < position {
        return None;
    }
    state
        .queries
        .meetup(id)
        .await
        .ok()
        .flatten()
        .map(|m| m.created_at)
}

/// Loads a meetup by id, or 404.
pub async fn load_meetup(state: &AppState, id: MeetupId) -> Result<Meetup, ApiError> {
    state
        .commands
        .load_meetup(id)
        .await?
        .ok_or(ApiError::NotFound("No such meetup."))
}

#[derive(Deserialize)]
struct ReadParams {
    min_position: Option<String>,
}

/// Parses `min_position`: a non-negative integer.
pub fn parse_min_position(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|raw| {
        raw.parse::<i64>()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| field_error("min_position", "must be a non-negative integer"))
    })
    .transpose()
}

async fn read(
    State(state): State<AppState>,
    Path(id_or_code): Path<String>,
    Query(params): Query<ReadParams>,
) -> Result<axum::Json<MeetupView>, ApiError> {
    reach(&state, parse_min_position(params.min_position.as_deref())?).await?;
    let meetup = if let Ok(id) = id_or_code.parse::<MeetupId>() {
        state.queries.meetup(id).await?
    } else if let Ok(code) = JoinCode::parse(&id_or_code) {
        state.queries.meetup_by_code(code.as_str()).await?
    } else {
        None
    };
    let meetup = meetup.ok_or(ApiError::NotFound("No such meetup."))?;
    Ok(axum::Json(meetup))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMeetup {
    title: Option<String>,
    qa_open: Option<bool>,
    moderated: Option<bool>,
    archived: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    meta: RequestMeta,
    Json(body): Json<UpdateMeetup>,
) -> Result<axum::Json<MeetupResponse>, ApiError> {
    let id: MeetupId = parse_id(&id, "No such meetup.")?;
    let meetup = load_meetup(&state, id).await?;
    credential.require_organizer_of(&meetup)?;
    let title = body
        .title
        .as_deref()
        .map(MeetupTitle::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("title", e))?;
    let update = MeetupUpdate {
        title,
        qa_open: body.qa_open,
        moderated: body.moderated,
        archived: body.archived,
    };
    let executed = state
        .commands
        .update_meetup(id, update, &meta.context(Actor::Organizer))
        .await?;
    let created_at = created_at(&state, id, executed.position).await;
    Ok(axum::Json(MeetupResponse {
        meetup: MeetupBody::from_state(&executed.state, created_at),
        position: executed.position,
    }))
}
