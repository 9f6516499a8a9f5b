//! `GET /meetups/{id}/export?format=csv|jsonl|xlsx|html&table=&as_of=`: the
//! organizer's export, streamed as it is written.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{FixedOffset, Offset as _};
use qicoo_domain::MeetupId;
use qicoo_export::{Lang, Table};
use qicoo_projections::audit::as_of;
use qicoo_projections::audit::AuditError;
use serde::Deserialize;

use super::audit::{parse_instant, require_organizer};
use super::parse_id;
use super::reads::field_error;
use crate::auth::Credential;
use crate::error::ApiError;
use crate::export::{self, ChunkSink, ExportRequest, Format};
use crate::openapi::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable};
use crate::path::Path;
use crate::query::Query;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/meetups/{id}/export", get(export))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportParams {
    /// `csv` (one table with `table=`, else every table in a zip), `jsonl`,
    /// `xlsx` or `html` (the report). Default `csv`.
    #[param(value_type = Option<crate::openapi::ExportFormatSchema>)]
    format: Option<String>,
    /// One table: `questions`, `votes`, `activity`, `moderation` or `summary`.
    #[param(value_type = Option<crate::openapi::ExportTableSchema>)]
    table: Option<String>,
    /// The instant the export reflects: an RFC 3339 time or a position
    /// (default: now). The same position gives the same bytes.
    as_of: Option<String>,
    /// CSV: start each file with a UTF-8 byte-order mark, for Excel (`true`).
    #[param(value_type = Option<bool>)]
    bom: Option<String>,
    /// The report's language: `en` or `ja` (default `en`).
    #[param(value_type = Option<crate::openapi::ReportLanguageSchema>)]
    lang: Option<String>,
    /// The offset the report shows times in, e.g. `+09:00` (default: UTC, or
    /// +09:00 with `lang=ja`).
    #[param(value_type = Option<String>, pattern = r"^(Z|[+-](0\d|1[0-4]):[0-5]\d)$")]
    tz: Option<String>,
}

/// The fields of a request as parsed; each bad one is named.
pub struct Parsed {
    pub format: Format,
    pub table: Option<Table>,
    pub bom: bool,
    pub lang: Lang,
    pub offset: FixedOffset,
}

impl Parsed {
    /// The export of `meetup` up to `upto` with these settings.
    pub fn request(&self, meetup: MeetupId, upto: i64) -> ExportRequest {
        ExportRequest {
            meetup,
            format: self.format,
            table: self.table,
            upto,
            bom: self.bom,
            lang: self.lang,
            offset: self.offset,
        }
    }
}

/// Parses the export's settings (shared with `qicoo export`).
pub fn parse_settings(
    format: Option<&str>,
    table: Option<&str>,
    bom: Option<&str>,
    lang: Option<&str>,
    tz: Option<&str>,
) -> Result<Parsed, ApiError> {
    let format = match format {
        None => Format::Csv,
        Some(raw) => Format::parse(raw)
            .ok_or_else(|| field_error("format", "must be csv, jsonl, xlsx or html"))?,
    };
    let table = table
        .map(|raw| {
            Table::parse(raw).ok_or_else(|| {
                field_error(
                    "table",
                    "must be questions, votes, activity, moderation or summary",
                )
            })
        })
        .transpose()?;
    if format == Format::Html && table.is_some() {
        return Err(field_error(
            "table",
            "the html report has no tables to choose",
        ));
    }
    let bom = match bom {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(_) => return Err(field_error("bom", "must be true or false")),
    };
    let lang = match lang {
        None => Lang::En,
        Some(raw) => Lang::parse(raw).ok_or_else(|| field_error("lang", "must be en or ja"))?,
    };
    let offset = match tz {
        Some(raw) => parse_offset(raw)
            .ok_or_else(|| field_error("tz", "must be an offset such as +09:00 or Z"))?,
        None if lang == Lang::Ja => FixedOffset::east_opt(9 * 3600).unwrap_or(utc()),
        None => utc(),
    };
    Ok(Parsed {
        format,
        table,
        bom,
        lang,
        offset,
    })
}

fn utc() -> FixedOffset {
    chrono::Utc.fix()
}

/// `Z`, `+09:00`, `-05:30`.
fn parse_offset(raw: &str) -> Option<FixedOffset> {
    if raw == "Z" || raw == "z" {
        return Some(utc());
    }
    let (sign, rest) = match raw.as_bytes().first()? {
        b'+' => (1, &raw[1..]),
        b'-' => (-1, &raw[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Sends chunks to an HTTP body.
struct BodySink(tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>);

#[async_trait::async_trait]
impl ChunkSink for BodySink {
    async fn send(&mut self, chunk: Vec<u8>) -> Result<(), AuditError> {
        self.0
            .send(Ok(chunk))
            .await
            .map_err(|_| AuditError::Write("the client went away".into()))
    }
}

/// The meetup's questions, votes, activity per minute, moderation and
/// summary as CSV, JSON Lines or an Excel workbook, or a self-contained HTML
/// report. Headers `Qicoo-Position` and `Qicoo-Chain-Head` state the last
/// event it reflects and the meetup's hash-chain link there; with
/// `as_of=<position>` the bytes are the same on every call.
#[utoipa::path(
    get,
    path = "/meetups/{id}/export",
    tag = "audit",
    params(("id" = String, Path, format = Uuid, description = "The meetup's id."), ExportParams),
    security(("organizer_key" = [])),
    responses(
        (status = 200, description = "The export, streamed.",
         headers(
             ("qicoo-position" = i64, description = "The last event the export reflects."),
             ("qicoo-chain-head" = String, description = "The meetup's hash-chain link there."),
         ),
         content(
             (String = "text/csv"),
             (Vec<u8> = "application/zip"),
             (String = "application/x-ndjson"),
             (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
             (String = "text/html"),
         )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    Path(id): Path<String>,
    credential: Credential,
    Query(params): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let meetup: MeetupId = parse_id(&id, "No such meetup.")?;
    let settings = parse_settings(
        params.format.as_deref(),
        params.table.as_deref(),
        params.bom.as_deref(),
        params.lang.as_deref(),
        params.tz.as_deref(),
    )?;
    let instant = parse_instant("as_of", params.as_of.as_deref())?;
    require_organizer(&state, &credential, meetup).await?;
    let archive = state.read_side.archive();
    let upto = as_of::resolve(archive.as_ref(), meetup, instant)
        .await
        .map_err(|e| ApiError::from_audit(e, "as_of"))?;
    let request = settings.request(meetup, upto);
    let prepared = export::prepare(archive.as_ref(), &request, &mut || {})
        .await
        .map_err(|e| ApiError::from_audit(e, "as_of"))?;
    let file_name = request.file_name(&prepared.header);
    let position = prepared.header.position;
    let chain_head = prepared.header.chain_head.clone();
    let media_type = request.media_type();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut sink = BodySink(tx.clone());
        if let Err(e) =
            export::write(&prepared, archive.as_ref(), &request, &mut sink, &mut || {}).await
        {
            tracing::warn!(error = %e, "an export broke off");
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert("qicoo-position", HeaderValue::from(position));
    if let Ok(v) = HeaderValue::from_str(&chain_head) {
        headers.insert("qicoo-chain-head", v);
    }
    Ok(response)
}
