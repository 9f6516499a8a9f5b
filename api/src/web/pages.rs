//! The page routes. Every page is the one HTML shell (`web/static/index.html`);
//! the script reads the path. For a join code that names no meetup the shell is
//! still sent, with status 404 and `<meta name="qicoo-status"
//! content="not-found">`, so that the browser shows a clear page rather than a
//! blank one. Each shell also carries `<meta name="qicoo-public-url">`: the
//! base URL attendees join at (the QR code's).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use qicoo_domain::JoinCode;
use qicoo_projections::MeetupView;
use sha2::{Digest, Sha256};

use super::assets::{self, PAGE_CACHE, SHELL};
use super::{headers, public_base, WebSettings};
use crate::error::ApiError;
use crate::state::AppState;

/// The status tag a shell may carry for pages whose meetup exists.
const STATUS_OK: &str = r#"<meta name="qicoo-status" content="ok">"#;

/// What the server knows of the page's meetup, told to the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageStatus {
    /// The landing page, or a meetup that exists.
    Ok,
    /// No meetup has this code.
    NotFound,
    /// The read model could not be asked.
    Unavailable,
}

/// `GET /`: join by code, or create a meetup.
pub async fn landing(
    Extension(settings): Extension<Arc<WebSettings>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    shell(&settings, &headers, PageStatus::Ok)
}

/// `GET /m/{code}`: the attendee view.
pub async fn attendee(
    State(state): State<AppState>,
    Extension(settings): Extension<Arc<WebSettings>>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let status = lookup(&state, &code).await;
    shell(&settings, &headers, status)
}

/// `GET /m/{code}/screen`: the speaker screen, which may be framed.
pub async fn screen(
    State(state): State<AppState>,
    Extension(settings): Extension<Arc<WebSettings>>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let status = lookup(&state, &code).await;
    let mut response = shell(&settings, &headers, status)?;
    let csp = headers::screen_csp(&settings.screen_frame_ancestors);
    let csp = HeaderValue::from_str(&csp)
        .map_err(|_| ApiError::Internal("the screen's frame-ancestors is not a header".into()))?;
    response.headers_mut().insert(CONTENT_SECURITY_POLICY, csp);
    Ok(response)
}

/// `GET /m/{code}/organize`: the organizer console (the key stays in the
/// browser; the page itself needs none).
pub async fn organize(
    State(state): State<AppState>,
    Extension(settings): Extension<Arc<WebSettings>>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let status = lookup(&state, &code).await;
    shell(&settings, &headers, status)
}

/// The meetup of a join code, if any.
pub async fn meetup_of_code(state: &AppState, code: &str) -> Result<Option<MeetupView>, ApiError> {
    let Ok(code) = JoinCode::parse(code) else {
        return Ok(None);
    };
    Ok(state.queries.meetup_by_code(code.as_str()).await?)
}

async fn lookup(state: &AppState, code: &str) -> PageStatus {
    match meetup_of_code(state, code).await {
        Ok(Some(_)) => PageStatus::Ok,
        Ok(None) => PageStatus::NotFound,
        Err(e) => {
            tracing::warn!(error = %e, "page: cannot look up a join code");
            PageStatus::Unavailable
        }
    }
}

fn shell(
    settings: &WebSettings,
    headers: &HeaderMap,
    status: PageStatus,
) -> Result<Response, ApiError> {
    let file = assets::file(SHELL)
        .ok_or_else(|| ApiError::Internal("the binary embeds no index.html".into()))?;
    let html = String::from_utf8_lossy(&file.bytes);
    let base = public_base(settings, headers);
    let mut meta = format!(
        r#"<meta name="qicoo-public-url" content="{}">"#,
        escape_attribute(&base)
    );
    let (code, told) = match status {
        PageStatus::Ok => (StatusCode::OK, "ok"),
        PageStatus::NotFound => (StatusCode::NOT_FOUND, "not-found"),
        PageStatus::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    let status_meta = format!(r#"<meta name="qicoo-status" content="{told}">"#);
    // The shell may say "ok" itself: that tag is replaced, not contradicted.
    let html = if html.contains(STATUS_OK) {
        html.replace(STATUS_OK, &status_meta)
    } else {
        meta.push_str(&status_meta);
        html.into_owned()
    };
    let body = inject(&html, &meta);
    let etag = assets::etag_of_hash(&Sha256::digest(body.as_bytes()));
    // Only a page that exists is revalidated: a 304 would turn a 404 into a
    // cached success.
    let no_headers = HeaderMap::new();
    let request = if code == StatusCode::OK {
        headers
    } else {
        &no_headers
    };
    Ok(assets::respond(
        request,
        etag,
        file.content_type,
        PAGE_CACHE,
        code,
        body.into_bytes(),
    ))
}

/// `html` with `meta` at the end of its `<head>` (or first, without one).
fn inject(html: &str, meta: &str) -> String {
    match html.find("</head>") {
        Some(at) => format!("{}{meta}{}", &html[..at], &html[at..]),
        None => format!("{meta}{html}"),
    }
}

/// Text safe inside a double-quoted HTML attribute.
fn escape_attribute(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meta_tags_go_at_the_end_of_the_head() {
        let html = "<html><head><title>Q</title></head><body></body></html>";
        assert_eq!(
            inject(html, "<meta x>"),
            "<html><head><title>Q</title><meta x></head><body></body></html>"
        );
    }

    #[test]
    fn a_hostile_host_cannot_break_out_of_the_attribute() {
        assert_eq!(
            escape_attribute(r#"http://x"><script>"#),
            "http://x&quot;&gt;&lt;script&gt;"
        );
    }
}
