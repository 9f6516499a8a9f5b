//! The browser interface: the pages (`/`, `/m/{code}`, `/m/{code}/screen`,
//! `/m/{code}/organize`), their files under `/assets/…` and the join QR code,
//! all served from files embedded in the binary, so that a venue needs nothing
//! but `qicoo serve`. These are not API routes: the OpenAPI document does not
//! describe them.

pub mod assets;
pub mod headers;
pub mod pages;
pub mod qr;

use std::sync::Arc;

use axum::http::header::HOST;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{middleware, Extension, Router};
use tower_http::compression::CompressionLayer;

use crate::state::AppState;

/// Settings of the browser interface.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The base URL attendees reach this server at (e.g. `https://qa.example.com`),
    /// used for the join link and QR code. Unset: derived from each request's `Host`.
    pub public_url: Option<String>,
    /// Who may embed the speaker screen in a frame (CSP `frame-ancestors`), e.g.
    /// `*` or `'self' https://obs.example.com`.
    pub screen_frame_ancestors: String,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            screen_frame_ancestors: "*".to_owned(),
        }
    }
}

/// The pages, assets and QR code, with their headers and compression.
pub fn router(settings: WebSettings) -> Router<AppState> {
    let settings = Arc::new(settings);
    let pages = Router::new()
        .route("/", get(pages::landing))
        .route("/m/{code}", get(pages::attendee))
        .route("/m/{code}/screen", get(pages::screen))
        .route("/m/{code}/organize", get(pages::organize))
        .route("/m/{code}/qr.svg", get(qr::join_qr))
        .route("/assets/{*path}", get(assets::asset));
    headers::apply(pages)
        .layer(CompressionLayer::new().br(true).gzip(true))
        .layer(middleware::map_response(assets::tag_encoding))
        .layer(Extension(settings))
        .route_layer(middleware::from_fn(crate::metrics::track))
}

/// The base URL attendees join at: the configured public URL, else the scheme
/// and `Host` of the request (behind a TLS-terminating proxy, set the public
/// URL or have the proxy send `X-Forwarded-Proto`).
pub fn public_base(settings: &WebSettings, headers: &HeaderMap) -> String {
    if let Some(url) = &settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|p| p.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}
