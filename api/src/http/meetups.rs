//! Meetups: create, read by id or join code, change (organizer only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use qicoo_commands::Actor;
use qicoo_domain::{JoinCode, Meetup, MeetupId, MeetupTitle, MeetupUpdate};
use serde::{Deserialize, Serialize};

use super::parse_id;
use super::views::{MeetupBody, MeetupResponse};
use crate::auth::{new_organizer_key, Credential};
use crate::error::ApiError;
use crate::json::Json;
use crate::path::Path;
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
        meetup: MeetupBody::from_state(&created.meetup, Some(chrono::Utc::now())),
        organizer_key,
        position: created.position,
    };
    Ok((StatusCode::CREATED, axum::Json(body)))
}

/// Loads a meetup by id, or 404.
pub async fn load_meetup(state: &AppState, id: MeetupId) -> Result<Meetup, ApiError> {
    state
        .commands
        .load_meetup(id)
        .await?
        .ok_or(ApiError::NotFound("No such meetup."))
}

async fn read(
    State(state): State<AppState>,
    Path(id_or_code): Path<String>,
) -> Result<axum::Json<MeetupBody>, ApiError> {
    let meetup = if let Ok(id) = id_or_code.parse::<MeetupId>() {
        state.commands.load_meetup(id).await?
    } else if let Ok(code) = JoinCode::parse(&id_or_code) {
        state.commands.meetup_by_code(&code).await?
    } else {
        None
    };
    let meetup = meetup.ok_or(ApiError::NotFound("No such meetup."))?;
    Ok(axum::Json(MeetupBody::from_state(&meetup, None)))
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
    Ok(axum::Json(MeetupResponse {
        meetup: MeetupBody::from_state(&executed.state, None),
        position: executed.position,
    }))
}
