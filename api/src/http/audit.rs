//! Audit: `GET /meetups/{id}/history` and `GET /questions/{id}/history`
//! (organizer key), `GET /meetups/{id}/state?as_of=` (anyone; the organizer
//! sees every question) and `GET /meetups/{id}/changes?from=&to=`
//! (organizer key). All read the event store through the read side's
//! archive, below its settled position.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use qicoo_domain::{MeetupId, QuestionId};
use qicoo_projections::archive::EventFilter;
use qicoo_projections::audit::as_of::{self, Changes, Instant, StateAsOf};
use qicoo_projections::audit::history::{self, ActorFilter, HistoryPage, HistoryQuery};
use qicoo_projections::audit::pseudonym::Pseudonyms;
use serde::Deserialize;

use super::parse_id;
use super::reads::field_error;
use crate::auth::Credential;
use crate::error::ApiError;
use crate::openapi::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable};
use crate::path::Path;
use crate::query::Query;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/meetups/{id}/history", get(meetup_history))
        .route("/questions/{id}/history", get(question_history))
        .route("/meetups/{id}/state", get(state_as_of))
        .route("/meetups/{id}/changes", get(changes))
}

/// The media type of a history streamed as JSON Lines.
pub const NDJSON: &str = "application/x-ndjson";

/// History pages hold at most this many events.
const MAX_HISTORY_LIMIT: u32 = 1_000;

/// Events fetched at a time while streaming JSON Lines.
const STREAM_PAGE: u32 = 500;

/// The pseudonyms of a meetup whose organizer key `credential` is: 404 for
/// no such meetup, 401 without a credential, 403 with another one.
pub async fn require_organizer(
    state: &AppState,
    credential: &Credential,
    meetup: MeetupId,
) -> Result<Pseudonyms, ApiError> {
    let hash = state
        .queries
        .organizer_key_hash(meetup)
        .await?
        .ok_or(ApiError::NotFound("No such meetup."))?;
    match credential {
        Credential::None => Err(ApiError::Unauthorized(
            "The meetup's organizer key is required.",
        )),
        c if c.holds_key_of(meetup, &hash) => Ok(Pseudonyms::for_meetup(hash.as_str())),
        _ => Err(ApiError::Forbidden(
            "This credential does not authorize auditing this meetup.".into(),
        )),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryParams {
    /// Only events of these types, comma-separated (e.g. `QuestionPosted,VoteCast`).
    #[param(rename = "type", value_type = Option<String>, pattern = r"^[A-Za-z0-9]{1,64}(,[A-Za-z0-9]{1,64})*$")]
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// Only events of this actor: `organizer`, `system`, `participant` (any) or
    /// `participant:<pseudonym>`.
    actor: Option<String>,
    /// Only events recorded at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// Only events recorded at or before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// Continue after this position (a page's `next_cursor`).
    cursor: Option<String>,
    /// Events per page, 1 to 1000 (default 100). Ignored when streaming.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|raw| {
        DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| field_error(field, "must be an RFC 3339 time, e.g. 2026-12-07T20:15:00Z"))
    })
    .transpose()
}

impl HistoryParams {
    fn query(&self, question: Option<QuestionId>) -> Result<HistoryQuery, ApiError> {
        let types: Vec<String> = self
            .event_type
            .as_deref()
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(bad) = types
            .iter()
            .find(|t| t.len() > 64 || !t.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(field_error(
                "type",
                &format!("{bad:?} is not an event type"),
            ));
        }
        let from_time = parse_time("from", self.from.as_deref())?;
        let to_time = parse_time("to", self.to.as_deref())?;
        if let (Some(f), Some(t)) = (from_time, to_time) {
            if f > t {
                return Err(field_error("to", "must not be before from"));
            }
        }
        let after = match self.cursor.as_deref() {
            None => 0,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|p| *p >= 0)
                .ok_or_else(|| field_error("cursor", "must be a next_cursor of a page"))?,
        };
        let limit = match self.limit.as_deref() {
            None => 100,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_HISTORY_LIMIT).contains(l))
                .ok_or_else(|| field_error("limit", "must be an integer from 1 to 1000"))?,
        };
        Ok(HistoryQuery {
            filter: EventFilter {
                question,
                types,
                from_time,
                to_time,
            },
            actor: self.actor.as_deref().map(ActorFilter::parse),
            after,
            limit,
        })
    }
}

/// Whether the client asked for JSON Lines.
fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with(NDJSON)))
}

/// A page of history as JSON, or all of it (from the cursor on) as JSON Lines.
async fn history_response(
    state: AppState,
    meetup: MeetupId,
    pseudonyms: Pseudonyms,
    mut query: HistoryQuery,
    ndjson: bool,
) -> Result<Response, ApiError> {
    let archive = state.read_side.archive();
    let model = state.read_side.read_model();
    if !ndjson {
        let page = history::page(
            archive.as_ref(),
            model.as_ref(),
            meetup,
            &pseudonyms,
            &query,
        )
        .await
        .map_err(|e| ApiError::from(qicoo_projections::QueryError::Store(e)))?;
        return Ok(axum::Json(page).into_response());
    }
    // The first page is read before answering, so a store that is down is
    // a 503, not a stream that breaks at once.
    query.limit = STREAM_PAGE;
    let first = history::page(
        archive.as_ref(),
        model.as_ref(),
        meetup,
        &pseudonyms,
        &query,
    )
    .await
    .map_err(|e| ApiError::from(qicoo_projections::QueryError::Store(e)))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let settled = first.position;
    tokio::spawn(async move {
        let mut page: HistoryPage = first;
        loop {
            let mut chunk = Vec::with_capacity(page.items.len() * 300);
            for item in &page.items {
                if serde_json::to_writer(&mut chunk, item).is_err() {
                    return;
                }
                chunk.push(b'\n');
            }
            if tx.send(Ok(chunk)).await.is_err() {
                return; // the client went away
            }
            let Some(cursor) = page.next_cursor.as_deref().and_then(|c| c.parse().ok()) else {
                return;
            };
            query.after = cursor;
            match history::page(
                archive.as_ref(),
                model.as_ref(),
                meetup,
                &pseudonyms,
                &query,
            )
            .await
            {
                Ok(next) => page = next,
                Err(e) => {
                    tracing::warn!(error = %e, "history stream broke off");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert("qicoo-position", HeaderValue::from(settled));
    Ok(response)
}

/// Every event of a meetup, in position order, with its actor (participants
/// under a pseudonym stable within the meetup), time, request id and
/// hash-chain link. Paged by `cursor`, or streamed whole as JSON Lines with
/// `Accept: application/x-ndjson`.
#[utoipa::path(
    get,
    path = "/meetups/{id}/history",
    tag = "audit",
    params(("id" = String, Path, format = Uuid, description = "The meetup's id."), HistoryParams),
    security(("organizer_key" = [])),
    responses(
        (status = 200, description = "A page of the history (or JSON Lines, one event a line).",
         content(
             (crate::openapi::HistoryPageSchema = "application/json"),
             (String = "application/x-ndjson"),
         )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn meetup_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    headers: HeaderMap,
    Query(params): Query<HistoryParams>,
) -> Result<Response, ApiError> {
    let meetup: MeetupId = parse_id(&id, "No such meetup.")?;
    let pseudonyms = require_organizer(&state, &credential, meetup).await?;
    let query = params.query(None)?;
    history_response(state, meetup, pseudonyms, query, wants_ndjson(&headers)).await
}

/// Every event of a question: its own and the likes of it, as the meetup's
/// history shows them.
#[utoipa::path(
    get,
    path = "/questions/{id}/history",
    tag = "audit",
    params(("id" = String, Path, format = Uuid, description = "The question's id."), HistoryParams),
    security(("organizer_key" = [])),
    responses(
        (status = 200, description = "A page of the question's history (or JSON Lines).",
         content(
             (crate::openapi::HistoryPageSchema = "application/json"),
             (String = "application/x-ndjson"),
         )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn question_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    headers: HeaderMap,
    Query(params): Query<HistoryParams>,
) -> Result<Response, ApiError> {
    let question: QuestionId = parse_id(&id, "No such question.")?;
    let meetup = state
        .queries
        .question_meetup(question)
        .await?
        .ok_or(ApiError::NotFound("No such question."))?;
    let pseudonyms = require_organizer(&state, &credential, meetup).await?;
    let query = params.query(Some(question))?;
    history_response(state, meetup, pseudonyms, query, wants_ndjson(&headers)).await
}

/// Parses an instant: an RFC 3339 time or a position.
pub fn parse_instant(field: &str, raw: Option<&str>) -> Result<Option<Instant>, ApiError> {
    raw.map(|raw| {
        Instant::parse(raw).ok_or_else(|| {
            field_error(
                field,
                "must be an RFC 3339 time (e.g. 2026-12-07T20:15:00Z) or a position",
            )
        })
    })
    .transpose()
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StateParams {
    /// The instant: an RFC 3339 time, or a position (default: now).
    as_of: Option<String>,
}

/// The meetup and its questions as they were at an instant, folded from the
/// meetup's events with the rules the projections apply. The organizer sees
/// every question; anyone else the published ones.
#[utoipa::path(
    get,
    path = "/meetups/{id}/state",
    tag = "audit",
    params(("id" = String, Path, format = Uuid, description = "The meetup's id."), StateParams),
    security((), ("participant_token" = []), ("organizer_key" = [])),
    responses(
        (status = 200, description = "The meetup as of the instant.",
         body = crate::openapi::StateSchema),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn state_as_of(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    Query(params): Query<StateParams>,
) -> Result<axum::Json<StateAsOf>, ApiError> {
    let meetup: MeetupId = parse_id(&id, "No such meetup.")?;
    let instant = parse_instant("as_of", params.as_of.as_deref())?;
    let viewer = super::reads::viewer(&state, &credential, meetup).await?;
    if state.queries.meetup(meetup).await?.is_none() {
        return Err(ApiError::NotFound("No such meetup."));
    }
    let archive = state.read_side.archive();
    let upto = as_of::resolve(archive.as_ref(), meetup, instant)
        .await
        .map_err(|e| ApiError::from_audit(e, "as_of"))?;
    let answer = as_of::state(archive.as_ref(), meetup, upto, viewer.organizer)
        .await
        .map_err(|e| ApiError::from_audit(e, "as_of"))?;
    Ok(axum::Json(answer))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangesParams {
    /// The first instant: an RFC 3339 time or a position (default: before
    /// the meetup was created).
    from: Option<String>,
    /// The second instant (default: now).
    to: Option<String>,
}

/// What changed between two instants: questions posted, fields changed
/// (status, answered, highlighted, text) and likes gained and lost per
/// question.
#[utoipa::path(
    get,
    path = "/meetups/{id}/changes",
    tag = "audit",
    params(("id" = String, Path, format = Uuid, description = "The meetup's id."), ChangesParams),
    security(("organizer_key" = [])),
    responses(
        (status = 200, description = "The changes between the two instants.",
         body = crate::openapi::ChangesSchema),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn changes(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    Query(params): Query<ChangesParams>,
) -> Result<axum::Json<Changes>, ApiError> {
    let meetup: MeetupId = parse_id(&id, "No such meetup.")?;
    require_organizer(&state, &credential, meetup).await?;
    let from = parse_instant("from", params.from.as_deref())?.unwrap_or(Instant::Position(0));
    let to = parse_instant("to", params.to.as_deref())?;
    let archive = state.read_side.archive();
    let from = as_of::resolve(archive.as_ref(), meetup, Some(from))
        .await
        .map_err(|e| ApiError::from_audit(e, "from"))?;
    let to = as_of::resolve(archive.as_ref(), meetup, to)
        .await
        .map_err(|e| ApiError::from_audit(e, "to"))?;
    if from > to {
        return Err(field_error("to", "must not be before from"));
    }
    let answer = as_of::changes(archive.as_ref(), meetup, from, to, true)
        .await
        .map_err(|e| ApiError::from_audit(e, "from"))?;
    Ok(axum::Json(answer))
}
