//! A query-string extractor whose rejections are problem+json like every other
//! error: a query string that does not fit the parameters (a parameter given
//! twice, say) is bad input, so 400. Each parameter's own value is checked by the
//! handler, which names the field in `errors`.

use axum::extract::rejection::QueryRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::extract::Query`, with Qicoo's error responses.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection_to_error(&rejection)),
        }
    }
}

fn rejection_to_error(rejection: &QueryRejection) -> ApiError {
    ApiError::BadRequest(format!(
        "The query string is not valid: {}",
        reason(&rejection.body_text())
    ))
}

/// The part of axum's rejection text after its fixed preamble.
fn reason(text: &str) -> &str {
    text.split_once("query string: ")
        .map(|(_, rest)| rest)
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn the_reason_drops_axums_preamble() {
        assert_eq!(
            reason("Failed to deserialize query string: duplicate field `limit`"),
            "duplicate field `limit`"
        );
    }

    #[test]
    fn a_text_without_the_preamble_is_kept_whole() {
        assert_eq!(reason("something else"), "something else");
    }
}
