//! Questions: post (participant), read, edit and withdraw (author), moderate
//! (organizer).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use qicoo_commands::{Actor, Executed, PostQuestion};
use qicoo_domain::{
    AuthorName, MeetupId, Question, QuestionCommand, QuestionId, QuestionText, RemovalReason,
};
use qicoo_projections::{Page, QuestionQuery, QuestionView, Sort, Viewer};
use serde::Deserialize;

use super::leaderboard::parse_limit;
use super::meetups::parse_min_position;
use super::parse_id;
use super::reads::{field_error, parse_status, reach, viewer, MIN_POSITION_WAIT};
use super::views::{QuestionBody, QuestionResponse};
use crate::auth::Credential;
use crate::error::ApiError;
use crate::json::Json;
use crate::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized,
    Unavailable, Unprocessable, UnsupportedMediaType,
};
use crate::path::Path;
use crate::query::Query;
use crate::ratelimit::{Group, Subject};
use crate::request::RequestMeta;
use crate::state::AppState;

const NO_SUCH_QUESTION: &str = "No such question.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/meetups/{id}/questions", post(create).get(list))
        .route("/questions/{id}", get(read).patch(edit).delete(delete))
        .route("/questions/{id}/{action}", post(moderate))
}

/// A question to post.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateQuestion {
    /// The question (trimmed first; newlines allowed).
    #[schema(min_length = 1, max_length = 1000)]
    text: String,
    /// Shown with the question; anonymous without it (trimmed first).
    #[schema(max_length = 40)]
    author_name: Option<String>,
    /// Chosen by the client so that a retried post is recognised.
    #[schema(format = Uuid)]
    id: Option<String>,
}

/// Posts a question (participant). The same post again, under the same `id`,
/// answers 200 with the same body.
#[utoipa::path(
    post,
    path = "/meetups/{id}/questions",
    operation_id = "post_question",
    tag = "questions",
    params(("id" = String, Path, format = Uuid, description = "The meetup's id.")),
    request_body = CreateQuestion,
    security(("participant_token" = [])),
    responses(
        (status = 201, description = "The question, posted.", body = QuestionResponse),
        (status = 200, description = "The same post again: the question as first posted.",
         body = QuestionResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
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
    Path(meetup_id): Path<String>,
    credential: Credential,
    meta: RequestMeta,
    Json(body): Json<CreateQuestion>,
) -> Result<(StatusCode, axum::Json<QuestionResponse>), ApiError> {
    let meetup_id: MeetupId = parse_id(&meetup_id, "No such meetup.")?;
    let author = credential.participant()?;
    state
        .rate_limit(Group::Questions, Subject::Participant(author))
        .await?;
    let mut errors = std::collections::BTreeMap::new();
    let text = QuestionText::parse(&body.text)
        .map_err(|e| errors.insert("text".to_owned(), vec![e.to_string()]))
        .ok();
    let author_name = AuthorName::parse_optional(body.author_name.as_deref())
        .map_err(|e| errors.insert("author_name".to_owned(), vec![e.to_string()]))
        .ok();
    let id = match body.id.as_deref() {
        None => Some(QuestionId::new()),
        Some(raw) => raw
            .parse::<QuestionId>()
            .map_err(|_| errors.insert("id".to_owned(), vec!["must be a UUID".to_owned()]))
            .ok(),
    };
    let (Some(text), Some(author_name), Some(id)) = (text, author_name, id) else {
        return Err(ApiError::Validation(errors));
    };
    let post = PostQuestion {
        id,
        meetup_id,
        author,
        text,
        author_name,
    };
    let executed = state
        .commands
        .post_question(post, &meta.context(Actor::Participant(author)))
        .await?;
    let status = if executed.appended > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(respond(&state, &executed).await)))
}

/// The answer to a command: the question as the write side now knows it, with
/// what only the read side knows (likes, timestamps) once the read model has
/// caught up with the command (waiting as long as a `min_position` query would),
/// so that the answer matches what a read right after it returns.
async fn respond(state: &AppState, executed: &Executed<Question>) -> QuestionResponse {
    let everything = Viewer {
        participant: None,
        organizer: true,
    };
    let read = match executed.state.id {
        Some(id) => {
            let reached = state
                .queries
                .wait_for_position(executed.position, MIN_POSITION_WAIT)
                .await;
            match reached {
                Ok(p) if p >= executed.position => {
                    state.queries.question(id, &everything).await.ok().flatten()
                }
                _ => None,
            }
        }
        None => None,
    };
    QuestionResponse {
        question: QuestionBody::from_state(&executed.state, read.as_ref()),
        position: executed.position,
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReadParams {
    /// Wait (briefly) until the read model reflects this position: read your writes.
    #[param(value_type = Option<i64>, minimum = 0)]
    min_position: Option<String>,
}

/// Reads one question; pending ones only for their author and the organizer.
#[utoipa::path(
    get,
    path = "/questions/{id}",
    operation_id = "read_question",
    tag = "questions",
    params(("id" = String, Path, format = Uuid, description = "The question's id."), ReadParams),
    security((), ("participant_token" = []), ("organizer_key" = [])),
    responses(
        (status = 200, description = "The question.", body = QuestionBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    Query(params): Query<ReadParams>,
) -> Result<axum::Json<QuestionView>, ApiError> {
    let id: QuestionId = parse_id(&id, NO_SUCH_QUESTION)?;
    reach(&state, parse_min_position(params.min_position.as_deref())?).await?;
    let meetup = state
        .queries
        .question_meetup(id)
        .await?
        .ok_or(ApiError::NotFound(NO_SUCH_QUESTION))?;
    let viewer = viewer(&state, &credential, meetup).await?;
    let question = state
        .queries
        .question(id, &viewer)
        .await?
        .ok_or(ApiError::NotFound(NO_SUCH_QUESTION))?;
    Ok(axum::Json(question))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// `top` (most liked first, the default) or `recent`.
    #[param(value_type = Option<String>, pattern = "^(top|recent)$")]
    sort: Option<String>,
    /// Only questions in this status.
    #[param(value_type = Option<crate::openapi::QuestionStatusSchema>)]
    status: Option<String>,
    /// Questions per page, 1 to 100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Wait (briefly) until the read model reflects this position: read your writes.
    #[param(value_type = Option<i64>, minimum = 0)]
    min_position: Option<String>,
}

/// Lists a meetup's questions, a page at a time. The organizer also sees pending
/// and rejected ones; an author their own pending ones.
#[utoipa::path(
    get,
    path = "/meetups/{id}/questions",
    operation_id = "list_questions",
    tag = "questions",
    params(("id" = String, Path, format = Uuid, description = "The meetup's id."), ListParams),
    security((), ("participant_token" = []), ("organizer_key" = [])),
    responses(
        (status = 200, description = "A page of questions.",
         body = crate::openapi::QuestionPageSchema),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(meetup): Path<String>,
    credential: Credential,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<QuestionView>>, ApiError> {
    let meetup: MeetupId = parse_id(&meetup, "No such meetup.")?;
    let sort = match params.sort.as_deref() {
        None => Sort::Top,
        Some(raw) => raw
            .parse::<Sort>()
            .map_err(|()| field_error("sort", "must be top or recent"))?,
    };
    let status = params.status.as_deref().map(parse_status).transpose()?;
    let limit = parse_limit(params.limit.as_deref(), 50)?;
    reach(&state, parse_min_position(params.min_position.as_deref())?).await?;
    if state.queries.meetup(meetup).await?.is_none() {
        return Err(ApiError::NotFound("No such meetup."));
    }
    let query = QuestionQuery {
        sort,
        status,
        limit,
        cursor: params.cursor,
        viewer: viewer(&state, &credential, meetup).await?,
    };
    Ok(axum::Json(state.queries.questions(meetup, &query).await?))
}

/// A question's new text.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditQuestion {
    /// The new text (trimmed first; newlines allowed).
    #[schema(min_length = 1, max_length = 1000)]
    text: String,
}

/// Edits a question's text (its author, not once answered).
#[utoipa::path(
    patch,
    path = "/questions/{id}",
    operation_id = "edit_question",
    tag = "questions",
    params(("id" = String, Path, format = Uuid, description = "The question's id.")),
    request_body = EditQuestion,
    security(("participant_token" = [])),
    responses(
        (status = 200, description = "The question as it now is.", body = QuestionResponse),
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
pub(crate) async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    meta: RequestMeta,
    Json(body): Json<EditQuestion>,
) -> Result<axum::Json<QuestionResponse>, ApiError> {
    let id: QuestionId = parse_id(&id, NO_SUCH_QUESTION)?;
    let by = credential.participant()?;
    let text = QuestionText::parse(&body.text).map_err(|e| ApiError::invalid("text", e))?;
    let executed = state
        .commands
        .question(
            id,
            QuestionCommand::Edit { by, text },
            &meta.context(Actor::Participant(by)),
        )
        .await?;
    Ok(axum::Json(respond(&state, &executed).await))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteParams {
    /// Why the organizer removes the question (optional).
    #[param(max_length = 500)]
    reason: Option<String>,
}

/// Withdraws a question (its author) or removes it (the organizer).
#[utoipa::path(
    delete,
    path = "/questions/{id}",
    operation_id = "delete_question",
    tag = "questions",
    params(("id" = String, Path, format = Uuid, description = "The question's id."), DeleteParams),
    security(("participant_token" = []), ("organizer_key" = [])),
    responses(
        (status = 200, description = "The question as it now is.", body = QuestionResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<DeleteParams>,
    credential: Credential,
    meta: RequestMeta,
) -> Result<axum::Json<QuestionResponse>, ApiError> {
    let id: QuestionId = parse_id(&id, NO_SUCH_QUESTION)?;
    let (command, actor) = match &credential {
        Credential::Participant(by) => (
            QuestionCommand::Withdraw { by: *by },
            Actor::Participant(*by),
        ),
        _ => {
            let meetup_id = organizer_meetup(&state, &credential).await?;
            let reason = params
                .reason
                .as_deref()
                .filter(|r| !r.trim().is_empty())
                .map(RemovalReason::parse)
                .transpose()
                .map_err(|e| ApiError::invalid("reason", e))?;
            (
                QuestionCommand::Remove { meetup_id, reason },
                Actor::Organizer,
            )
        }
    };
    let executed = state
        .commands
        .question(id, command, &meta.context(actor))
        .await?;
    Ok(axum::Json(respond(&state, &executed).await))
}

/// The meetup whose organizer key was presented, once the key is verified:
/// 401 without a credential, 403 with anything but a valid organizer key.
async fn organizer_meetup(state: &AppState, credential: &Credential) -> Result<MeetupId, ApiError> {
    let Some(meetup_id) = credential.claimed_meetup() else {
        return match credential {
            Credential::None => Err(ApiError::Unauthorized(
                "The meetup's organizer key is required.",
            )),
            _ => Err(ApiError::Forbidden(
                "This action needs the meetup's organizer key.".into(),
            )),
        };
    };
    let meetup = match state.commands.load_meetup(meetup_id).await? {
        Some(meetup) => meetup,
        None => {
            return Err(ApiError::Forbidden(
                "This credential does not authorize organizing this meetup.".into(),
            ))
        }
    };
    credential.require_organizer_of(&meetup)?;
    Ok(meetup_id)
}

/// Moderates a question (the organizer).
#[utoipa::path(
    post,
    path = "/questions/{id}/{action}",
    operation_id = "moderate_question",
    tag = "questions",
    params(
        ("id" = String, Path, format = Uuid, description = "The question's id."),
        ("action" = String, Path, pattern = "^(approve|reject|answer|reopen|highlight|unhighlight)$",
         description = "approve, reject, answer, reopen, highlight or unhighlight."),
    ),
    security(("organizer_key" = [])),
    responses(
        (status = 200, description = "The question as it now is.", body = QuestionResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn moderate(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    credential: Credential,
    meta: RequestMeta,
) -> Result<axum::Json<QuestionResponse>, ApiError> {
    let id: QuestionId = parse_id(&id, NO_SUCH_QUESTION)?;
    type Make = fn(MeetupId) -> QuestionCommand;
    let make: Make = match action.as_str() {
        "approve" => |meetup_id| QuestionCommand::Approve { meetup_id },
        "reject" => |meetup_id| QuestionCommand::Reject { meetup_id },
        "answer" => |meetup_id| QuestionCommand::Answer { meetup_id },
        "reopen" => |meetup_id| QuestionCommand::Reopen { meetup_id },
        "highlight" => |meetup_id| QuestionCommand::Highlight { meetup_id },
        "unhighlight" => |meetup_id| QuestionCommand::Unhighlight { meetup_id },
        _ => return Err(ApiError::NotFound("No such action.")),
    };
    let meetup_id = organizer_meetup(&state, &credential).await?;
    let executed = state
        .commands
        .question(id, make(meetup_id), &meta.context(Actor::Organizer))
        .await?;
    Ok(axum::Json(respond(&state, &executed).await))
}
