//! `GET /m/{code}/qr.svg`: the attendee URL of a meetup as a QR code, dark on
//! white whatever the page's theme, for the speaker screen.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use super::pages::meetup_of_code;
use super::{public_base, WebSettings};
use crate::error::ApiError;
use crate::state::AppState;

/// The QR code of `url`, as an SVG document.
pub fn svg_of(url: &str) -> Result<String, ApiError> {
    // Medium error correction: still readable from the back of a room with
    // part of the projection washed out, and not too dense for long URLs.
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::Internal(format!("cannot encode the join URL as a QR code: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build())
}

/// `GET /m/{code}/qr.svg`.
pub async fn join_qr(
    State(state): State<AppState>,
    Extension(settings): Extension<Arc<WebSettings>>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let meetup = meetup_of_code(&state, &code)
        .await?
        .ok_or(ApiError::NotFound("No such meetup."))?;
    let url = format!("{}/m/{}", public_base(&settings, &headers), meetup.code);
    Ok((
        [
            (CONTENT_TYPE, "image/svg+xml"),
            // It depends on the Host the request named.
            (CACHE_CONTROL, "no-cache"),
        ],
        svg_of(&url)?,
    )
        .into_response())
}
