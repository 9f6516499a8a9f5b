//! The embedded files of `web/static/` and how they are sent: content type by
//! extension, a strong ETag from the hash of the bytes (`If-None-Match` → 304)
//! and cache lifetimes. Embedded in debug builds too, so tests see the bytes a
//! release serves.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;

/// `web/static/`, inside the binary.
#[derive(RustEmbed)]
#[folder = "../web/static/"]
struct Static;

/// The HTML shell every page is answered with.
pub const SHELL: &str = "index.html";

/// Pages are revalidated on every load, so that a new release shows at once.
pub const PAGE_CACHE: &str = "no-cache";
/// Assets are not fingerprinted: cached briefly, then revalidated by ETag.
pub const ASSET_CACHE: &str = "public, max-age=600";

/// One embedded file.
pub struct File {
    pub bytes: std::borrow::Cow<'static, [u8]>,
    /// `"<hex sha-256>"`, quoted as an entity tag is.
    pub etag: String,
    pub content_type: &'static str,
}

/// The embedded file at `path` (relative to `web/static/`), if any.
pub fn file(path: &str) -> Option<File> {
    let embedded = Static::get(path)?;
    Some(File {
        etag: etag_of_hash(&embedded.metadata.sha256_hash()),
        content_type: content_type(path),
        bytes: embedded.data,
    })
}

/// A strong entity tag from a SHA-256.
pub fn etag_of_hash(hash: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&hash[..16]))
}

/// `GET /assets/{*path}`.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    // The shell is a page, not an asset: it is only served at the page routes.
    let file = (path != SHELL)
        .then(|| file(&path))
        .flatten()
        .ok_or(ApiError::NotFound("No such file."))?;
    Ok(respond(
        &headers,
        file.etag,
        file.content_type,
        ASSET_CACHE,
        StatusCode::OK,
        file.bytes.into_owned(),
    ))
}

/// A 200 (or `status`) with the body, or a 304 when the client holds this
/// version already.
pub fn respond(
    request: &HeaderMap,
    etag: String,
    content_type: &'static str,
    cache: &'static str,
    status: StatusCode,
    body: Vec<u8>,
) -> Response {
    let cache = HeaderValue::from_static(cache);
    if let Some(held) = matching_tag(request, &etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [(ETAG, held), (CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    let mut response = (
        status,
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(ETAG, etag);
    }
    response
}

/// The tag of `If-None-Match` that names this version, as the client wrote it:
/// a compressed response's tag carries its encoding (see
/// [`tag_encoding`]), and the 304 repeats the tag the client holds.
fn matching_tag(request: &HeaderMap, etag: &str) -> Option<HeaderValue> {
    let bare = etag.trim_end_matches('"');
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|tag| {
            // If-None-Match compares weakly: `W/"x"` names the same version.
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*"
                || tag == etag
                || tag
                    .strip_prefix(bare)
                    .and_then(|rest| rest.strip_suffix('"'))
                    .is_some_and(|encoding| ["-br", "-gzip"].contains(&encoding))
        })
        .and_then(|tag| HeaderValue::from_str(tag).ok())
}

/// Gives a compressed response an entity tag of its own (`"<hash>-br"`): a
/// strong tag names one representation, and the compressed bytes are another.
pub async fn tag_encoding(mut response: Response) -> Response {
    let encoding = response
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|e| e.to_str().ok())
        .map(str::to_owned);
    if let (Some(encoding), Some(etag)) = (encoding, response.headers().get(ETAG)) {
        let tagged = etag
            .to_str()
            .ok()
            .and_then(|t| t.strip_suffix('"'))
            .map(|t| format!("{t}-{encoding}\""))
            .and_then(|t| HeaderValue::from_str(&t).ok());
        if let Some(tagged) = tagged {
            response.headers_mut().insert(ETAG, tagged);
        }
    }
    response
}

/// The content type of a file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(tag: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(IF_NONE_MATCH, HeaderValue::from_str(tag).expect("header"));
        headers
    }

    #[test]
    fn a_client_holding_the_plain_or_a_compressed_version_is_told_not_modified() {
        let etag = "\"abc\"";
        for held in [
            "\"abc\"",
            "\"abc-br\"",
            "\"x\", \"abc-gzip\"",
            "W/\"abc\"",
            "*",
        ] {
            assert!(matching_tag(&asking(held), etag).is_some(), "{held}");
        }
        for other in ["\"abd\"", "\"abc-zstd\"", "\"ab\"", ""] {
            assert!(matching_tag(&asking(other), etag).is_none(), "{other}");
        }
    }

    #[test]
    fn scripts_and_styles_are_sent_as_what_they_are() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(
            content_type("views/screen.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("vendor/LICENSE"), "application/octet-stream");
    }
}
