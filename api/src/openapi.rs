//! The OpenAPI 3.1 contract of Qicoo's HTTP API, served at
//! `GET /api/v1/openapi.json`.
//!
//! The document is generated from the handlers' `#[utoipa::path]` attributes and
//! from `ToSchema` derives on the structs they really send, so that it changes
//! with the code. What has no handler of its own here (the WebSocket upgrade,
//! `/metrics`, the read model's views) is described in this module.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, RefOr, Type};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use crate::error::{ApiError, Problem};
use crate::http::views::QuestionBody;
use crate::http::{audit, export, health, leaderboard, meetups, participants, questions, votes};

/// The security scheme of a participant token (`POST /api/v1/participants`).
pub const PARTICIPANT_TOKEN: &str = "participant_token";
/// The security scheme of a meetup's organizer key (shown once, at creation).
pub const ORGANIZER_KEY: &str = "organizer_key";

/// Everything under `/api/v1`.
#[derive(OpenApi)]
#[openapi(paths(
    participants::create,
    meetups::create,
    meetups::read,
    meetups::update,
    questions::create,
    questions::list,
    questions::read,
    questions::edit,
    questions::delete,
    questions::moderate,
    votes::like,
    votes::unlike,
    leaderboard::leaderboard,
    audit::meetup_history,
    audit::question_history,
    audit::state_as_of,
    audit::changes,
    export::export,
    live_stream,
    document,
))]
struct V1;

/// The whole document: `/api/v1` plus the operational endpoints at the root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Qicoo",
        description = "A live Q&A service: meetups, questions, likes, moderation and a live \
                       WebSocket stream. Errors are `application/problem+json` (RFC 9457)."
    ),
    paths(health::healthz, health::readyz, metrics),
    nest((path = "/api/v1", api = V1)),
    components(schemas(Problem), responses(
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unprocessable,
        TooManyRequests,
        Unavailable,
        RequestTimeout,
    )),
    modifiers(&Credentials, &ServerLimits),
    tags(
        (name = "participants", description = "Anonymous participants and their tokens."),
        (name = "meetups", description = "Meetups and their settings."),
        (name = "questions", description = "Questions: post, read, edit, withdraw, moderate."),
        (name = "votes", description = "Likes."),
        (name = "live", description = "The live WebSocket stream of a meetup."),
        (name = "audit", description = "History, state as of an instant, changes and exports."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once: it cannot change while the process runs.
static DOCUMENT: LazyLock<Result<String, String>> =
    LazyLock::new(|| ApiDoc::openapi().to_json().map_err(|e| e.to_string()));

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "This OpenAPI 3.1 document.", content_type = "application/json",
         body = Object),
    )
)]
pub async fn document() -> Result<Response, ApiError> {
    match &*DOCUMENT {
        Ok(json) => {
            Ok(([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response())
        }
        Err(e) => Err(ApiError::Internal(format!(
            "the OpenAPI document does not serialize: {e}"
        ))),
    }
}

/// The live stream has its handler in `crate::live`; this describes it.
#[utoipa::path(
    get,
    path = "/meetups/{id}/live",
    tag = "live",
    description = "Upgrades to a WebSocket carrying the meetup's live stream: a snapshot on \
                   connect, then changes in position order. With `after`, a reconnecting client \
                   gets exactly the frames it missed when this node still has them, otherwise a \
                   fresh snapshot. The organizer's view (pending and rejected questions too) is \
                   granted by authenticating inside the stream, never in the URL.",
    params(
        ("id" = String, Path, format = Uuid, description = "The meetup's id."),
        ("after" = Option<i64>, Query, minimum = 0,
         description = "The position of the last frame the client received."),
    ),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket stream begins."),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn live_stream() {}

/// `/metrics` has its handler in `crate::metrics`; this describes it.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus metrics in the text exposition format.",
         content_type = "text/plain", body = String),
    )
)]
#[allow(dead_code)]
fn metrics() {}

/// Adds the two bearer credentials as security schemes.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            PARTICIPANT_TOKEN,
            bearer("A participant token from `POST /api/v1/participants`."),
        );
        components.add_security_scheme(
            ORGANIZER_KEY,
            bearer("A meetup's organizer key, shown once when the meetup is created."),
        );
    }
}

/// A problem+json response, with `Retry-After` when the client should come back.
fn problem(description: &str, retry_after: bool) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new()
        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            Problem::name(),
        ))))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content);
    if retry_after {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                )
                .description(Some("Seconds to wait before trying again."))
                .build(),
        );
    }
    RefOr::T(response.build())
}

/// Declares a reusable problem+json response component.
macro_rules! problem_response {
    ($name:ident, $description:literal, $retry_after:literal) => {
        #[doc = $description]
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                (stringify!($name), problem($description, $retry_after))
            }
        }
    };
}

problem_response!(
    BadRequest,
    "Bad request: malformed JSON, or a query string that does not fit the parameters.",
    false
);
problem_response!(
    Unauthorized,
    "A credential is needed and none, or a malformed or invalid one, was sent.",
    false
);
problem_response!(Forbidden, "The credential does not allow this.", false);
problem_response!(NotFound, "No such meetup, question or route.", false);
problem_response!(
    Conflict,
    "The state forbids it (Q&A closed, meetup archived, question not published, id already used…).",
    false
);
problem_response!(
    PayloadTooLarge,
    "The request body is over the limit.",
    false
);
problem_response!(
    UnsupportedMediaType,
    "The request body is not `application/json`.",
    false
);
problem_response!(
    Unprocessable,
    "Invalid fields; `errors` names each one with its messages.",
    false
);
problem_response!(
    TooManyRequests,
    "Over the rate limit of this route group; retry after `Retry-After` seconds.",
    true
);
problem_response!(
    Unavailable,
    "A storage service is temporarily unavailable, or this node has too many connections; \
     retry after `Retry-After` seconds.",
    true
);
problem_response!(
    RequestTimeout,
    "The request body did not arrive within the body timeout; the connection is closed.",
    false
);

/// What the HTTP server itself may answer, whatever the route: 503 when the
/// node has too many connections, and, to a request with a body, 408 when
/// the body arrives too slowly (see `crate::server`).
struct ServerLimits;

impl Modify for ServerLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let reference = |name: &str| RefOr::Ref(utoipa::openapi::Ref::from_response_name(name));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses
                    .entry("503".to_owned())
                    .or_insert_with(|| reference("Unavailable"));
                if operation.request_body.is_some() {
                    responses
                        .entry("408".to_owned())
                        .or_insert_with(|| reference("RequestTimeout"));
                }
            }
        }
    }
}

/// A question's status on the wire.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = QuestionStatus)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
pub enum QuestionStatusSchema {
    Pending,
    Published,
    Rejected,
    Withdrawn,
    Removed,
}

/// A page of questions, as lists and the leaderboard answer (the read model's
/// `Page<QuestionView>`, whose items have the shape of `QuestionBody`).
#[derive(ToSchema)]
#[schema(as = QuestionPage)]
#[allow(dead_code)]
pub struct QuestionPageSchema {
    items: Vec<QuestionBody>,
    /// Pass back as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
    /// How far the read model had caught up when it answered.
    position: i64,
}

/// An export's format.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = ExportFormat)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormatSchema {
    Csv,
    Jsonl,
    Xlsx,
    Html,
}

/// A table of an export.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = ExportTable)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
pub enum ExportTableSchema {
    Questions,
    Votes,
    Activity,
    Moderation,
    Summary,
}

/// The report's language.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = ReportLanguage)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
pub enum ReportLanguageSchema {
    En,
    Ja,
}

/// One event as the history shows it.
#[derive(ToSchema)]
#[schema(as = HistoryEntry)]
#[allow(dead_code)]
pub struct HistoryEntrySchema {
    /// The event's global position.
    position: i64,
    /// The event type, e.g. `QuestionPosted`.
    #[schema(rename = "type")]
    event_type: String,
    /// The aggregate it happened to: `Meetup`, `Question`, `Vote`, `JoinCode`.
    aggregate: String,
    /// The event's data; participant ids replaced by pseudonyms.
    #[schema(value_type = Object)]
    data: serde_json::Value,
    /// `participant:<pseudonym>`, `organizer` or `system`.
    actor: String,
    /// When the store recorded it (UTC).
    time: chrono::DateTime<chrono::Utc>,
    request_id: Option<String>,
    /// Its hash-chain link (hex), once the read model has chained it.
    link: Option<String>,
}

/// A page of history.
#[derive(ToSchema)]
#[schema(as = HistoryPage)]
#[allow(dead_code)]
pub struct HistoryPageSchema {
    items: Vec<HistoryEntrySchema>,
    /// Pass back as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
    /// The settled position the page was read below.
    position: i64,
}

/// A meetup's own fields as they were.
#[derive(ToSchema)]
#[schema(as = MeetupAsOf)]
#[allow(dead_code)]
pub struct MeetupAsOfSchema {
    id: uuid::Uuid,
    code: String,
    title: String,
    qa_open: bool,
    moderated: bool,
    archived: bool,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// A question as it was.
#[derive(ToSchema)]
#[schema(as = QuestionAsOf)]
#[allow(dead_code)]
pub struct QuestionAsOfSchema {
    id: uuid::Uuid,
    text: String,
    author_name: Option<String>,
    status: QuestionStatusSchema,
    likes: i64,
    answered: bool,
    highlighted: bool,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    /// The position of the event that posted it (ranks ties).
    posted_position: i64,
}

/// A meetup as of an instant.
#[derive(ToSchema)]
#[schema(as = StateAsOf)]
#[allow(dead_code)]
pub struct StateSchema {
    meetup: MeetupAsOfSchema,
    /// The questions the caller may see, in the order they were posted.
    questions: Vec<QuestionAsOfSchema>,
    /// The last event reflected.
    position: i64,
    /// When the store recorded it.
    as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// The meetup's hash-chain link after it (hex).
    chain_head: String,
}

/// One end of a comparison.
#[derive(ToSchema)]
#[schema(as = InstantPoint)]
#[allow(dead_code)]
pub struct PointSchema {
    position: i64,
    time: Option<chrono::DateTime<chrono::Utc>>,
}

/// A field of a question that changed.
#[derive(ToSchema)]
#[schema(as = FieldChange)]
#[allow(dead_code)]
pub struct FieldChangeSchema {
    question_id: uuid::Uuid,
    /// `status`, `answered`, `highlighted` or `text`.
    field: String,
    #[schema(value_type = Value)]
    from: serde_json::Value,
    #[schema(value_type = Value)]
    to: serde_json::Value,
}

/// Likes a question gained and lost.
#[derive(ToSchema)]
#[schema(as = LikeChange)]
#[allow(dead_code)]
pub struct LikeChangeSchema {
    question_id: uuid::Uuid,
    gained: i64,
    lost: i64,
    /// Its likes at the end.
    likes: i64,
}

/// What changed between two instants.
#[derive(ToSchema)]
#[schema(as = Changes)]
#[allow(dead_code)]
pub struct ChangesSchema {
    from: PointSchema,
    to: PointSchema,
    /// Questions posted in between, as they stood at the end.
    posted: Vec<QuestionAsOfSchema>,
    changed: Vec<FieldChangeSchema>,
    likes: Vec<LikeChangeSchema>,
}

/// What a projection's worker in this process is doing.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = WorkerState)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStateSchema {
    NotRunning,
    Standby,
    Active,
    Failed,
    Stopped,
}

/// What `/healthz` answers.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = Health)]
#[allow(dead_code)]
pub struct HealthSchema {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    status: String,
}

/// Whether a dependency answered.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = DependencyState)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum DependencyStateSchema {
    Ok,
    Unavailable,
    /// Not checked yet.
    Unknown,
}

/// Where the schemas stand: `current` (every migration this version needs is
/// applied), `behind`, `pending` or `unknown` (not checked yet).
#[derive(serde::Serialize, ToSchema)]
#[schema(as = SchemaReadiness)]
#[allow(dead_code)]
pub struct SchemaReadinessSchema {
    event_store: String,
    read_model: String,
}

/// Whether the process is ready.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = ReadinessState)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStateSchema {
    Ready,
    NotReady,
}

/// What `/readyz` answers, ready or not.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = Readiness)]
#[allow(dead_code)]
pub struct ReadinessSchema {
    status: ReadinessStateSchema,
    /// The role this process plays (`all`, `api`, `projector`…).
    role: String,
    schema: SchemaReadinessSchema,
    event_store: DependencyStateSchema,
    read_model: DependencyStateSchema,
    leaderboard: DependencyStateSchema,
    change_stream: DependencyStateSchema,
    /// Events the read model is behind the event store, when known.
    read_model_lag: Option<i64>,
    /// Whether that is more than the configured limit.
    read_model_lagging: bool,
    projections: Vec<health::ProjectionReadiness>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_the_servers_own_refusals() {
        let document = serde_json::to_value(ApiDoc::openapi()).expect("serializes");
        let paths = document["paths"].as_object().expect("paths");
        let create = &paths["/api/v1/meetups"]["post"]["responses"];
        assert_eq!(
            create["408"]["$ref"],
            "#/components/responses/RequestTimeout"
        );
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("an item") {
                let responses = &operation["responses"];
                assert!(responses.get("503").is_some(), "{method} {path} lacks 503");
                assert_eq!(
                    operation.get("requestBody").is_some(),
                    responses.get("408").is_some(),
                    "{method} {path}: 408 goes with a body"
                );
            }
        }
    }
}
