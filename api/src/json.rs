//! A JSON body extractor whose rejections are problem+json like every other
//! error: 400 for malformed JSON, 415 for another content type, 413 for a body
//! over the limit, 422 for JSON of the wrong shape, 408 for a body that did
//! not arrive within the body timeout.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, with Qicoo's error responses.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection_to_error(rejection)),
        }
    }
}

fn rejection_to_error(rejection: JsonRejection) -> ApiError {
    if crate::server::deadline::is_body_timeout(&rejection) {
        return ApiError::RequestTimeout;
    }
    let text = rejection.body_text();
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("The request body is too large.".into())
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
            "Send the request body as JSON with `Content-Type: application/json`.".into(),
        ),
        StatusCode::UNPROCESSABLE_ENTITY => {
            let (field, message) = field_of(&text);
            ApiError::Validation(BTreeMap::from([(field, vec![message])]))
        }
        _ => ApiError::BadRequest(format!(
            "The request body is not valid JSON: {}",
            tail(&text)
        )),
    }
}

/// The part of axum's rejection text after its fixed preamble.
fn tail(text: &str) -> &str {
    text.split_once("target type: ")
        .or_else(|| text.split_once("JSON body: "))
        .map(|(_, rest)| rest)
        .unwrap_or(text)
}

/// Finds which field a data error is about: serde names it as a path prefix
/// (`title: invalid type…`) or inside the message (`missing field `text``).
fn field_of(text: &str) -> (String, String) {
    let rest = tail(text);
    let message = rest
        .rsplit_once(" at line ")
        .map(|(m, _)| m)
        .unwrap_or(rest)
        .to_owned();
    if let Some(after) = message.split_once("missing field `").map(|(_, a)| a) {
        if let Some((field, _)) = after.split_once('`') {
            return (field.to_owned(), "is required".to_owned());
        }
    }
    match message.split_once(": ") {
        Some((path, reason)) if !path.contains(' ') && path != "." => {
            (path.to_owned(), reason.to_owned())
        }
        _ => ("body".to_owned(), message),
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn the_field_of_a_type_error_is_named() {
        let text = "Failed to deserialize the JSON body into the target type: title: invalid type: integer `5`, expected a string at line 1 column 11";
        assert_eq!(
            field_of(text),
            (
                "title".to_owned(),
                "invalid type: integer `5`, expected a string".to_owned()
            )
        );
    }

    #[test]
    fn a_missing_field_is_named() {
        let text = "Failed to deserialize the JSON body into the target type: missing field `text` at line 1 column 2";
        assert_eq!(
            field_of(text),
            ("text".to_owned(), "is required".to_owned())
        );
    }
}
