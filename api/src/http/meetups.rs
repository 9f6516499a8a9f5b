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
use crate::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized,
    Unavailable, Unprocessable, UnsupportedMediaType,
};
use crate::path::Path;
use crate::query::Query;
use crate::ratelimit::{ClientAddr, Group, Subject};
use crate::request::RequestMeta;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/meetups", post(create))
        .route("/meetups/{id}", get(read).patch(update))
}

/// A meetup to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateMeetup {
    /// Shown to everyone in the room (trimmed first).
    #[schema(min_length = 1, max_length = 120)]
    title: String,
    /// Whether questions wait for the organizer's approval.
    #[serde(default)]
    moderated: bool,
}

/// A new meetup, with the key that organizes it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MeetupCreated)]
pub(crate) struct Created {
    meetup: MeetupBody,
    /// Shown once: only its hash is stored.
    organizer_key: String,
    position: i64,
}

/// Creates a meetup; its organizer key is in the answer, and only there.
#[utoipa::path(
    post,
    path = "/meetups",
    operation_id = "create_meetup",
    tag = "meetups",
    request_body = CreateMeetup,
    responses(
        (status = 201, description = "The meetup and its organizer key.", body = Created),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    meta: RequestMeta,
    client: ClientAddr,
    Json(body): Json<CreateMeetup>,
) -> Result<(StatusCode, axum::Json<Created>), ApiError> {
    state
        .rate_limit(Group::Meetups, Subject::Client(client))
        .await?;
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReadParams {
    /// Wait (briefly) until the read model reflects this position: read your writes.
    #[param(value_type = Option<i64>, minimum = 0)]
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

/// Reads a meetup by id or by join code.
#[utoipa::path(
    get,
    path = "/meetups/{id}",
    operation_id = "read_meetup",
    tag = "meetups",
    params(
        ("id" = String, Path, description = "The meetup's id, or its join code (any case)."),
        ReadParams,
    ),
    responses(
        (status = 200, description = "The meetup.", body = MeetupBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn read(
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

/// The settings to change; absent ones stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateMeetup {
    /// A new title (trimmed first).
    #[schema(min_length = 1, max_length = 120)]
    title: Option<String>,
    qa_open: Option<bool>,
    moderated: Option<bool>,
    archived: Option<bool>,
}

/// Changes a meetup's settings (organizer only); archiving is final.
#[utoipa::path(
    patch,
    path = "/meetups/{id}",
    operation_id = "update_meetup",
    tag = "meetups",
    params(("id" = String, Path, format = Uuid, description = "The meetup's id.")),
    request_body = UpdateMeetup,
    security(("organizer_key" = [])),
    responses(
        (status = 200, description = "The meetup as it now is.", body = MeetupResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn update(
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
