//! A thin client for the parts of Qicoo's API the scenarios use.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::Result;

/// Qicoo's API at one base URL, over one pooled HTTP client.
#[derive(Clone, Debug)]
pub struct Api {
    /// `http://host:port/api/v1`, without a trailing slash.
    base: String,
    /// Shared by every simulated participant: keep-alive connections are reused,
    /// as a browser or a proxy in front of many phones would.
    http: reqwest::Client,
}

/// A meetup created for a scenario.
#[derive(Clone, Debug)]
pub struct Meetup {
    pub id: String,
    pub organizer_key: String,
}

/// An answer Qicoo gave that a scenario did not expect.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl Api {
    /// `base_url` is where Qicoo listens (`http://127.0.0.1:8080`), with or
    /// without the `/api/v1` suffix.
    pub fn new(base_url: &str) -> Result<Self> {
        let trimmed = base_url.trim_end_matches('/');
        let base = if trimmed.ends_with("/api/v1") {
            trimmed.to_owned()
        } else {
            format!("{trimmed}/api/v1")
        };
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            // Qicoo closes a keep-alive connection idle for its header timeout
            // (10 s); a client that reuses one just as it closes loses that
            // request, so idle connections are let go well before.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self { base, http })
    }

    /// The API's base URL (`…/api/v1`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The WebSocket URL of a meetup's live stream.
    pub fn live_url(&self, meetup_id: &str) -> String {
        let ws = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base.clone()
        };
        format!("{ws}/meetups/{meetup_id}/live")
    }

    /// Sends a request and returns the JSON body of a 2xx answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(Refused(format!("{path}: {status}: {text}")).into());
        }
        Ok(response.json().await?)
    }

    /// The status a plain `GET` of `path` answers with (no upgrade headers).
    pub async fn status_of(&self, path: &str) -> Result<StatusCode> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok(response.status())
    }

    /// Creates a meetup (unmoderated, so questions are published at once).
    pub async fn create_meetup(&self, title: &str) -> Result<Meetup> {
        let body = self
            .call(
                Method::POST,
                "/meetups",
                None,
                Some(json!({"title": title, "moderated": false})),
            )
            .await?;
        Ok(Meetup {
            id: string_at(&body, "/meetup/id")?,
            organizer_key: string_at(&body, "/organizer_key")?,
        })
    }

    /// Issues one participant token.
    pub async fn participant(&self) -> Result<String> {
        let body = self.call(Method::POST, "/participants", None, None).await?;
        string_at(&body, "/token")
    }

    /// Issues `n` participant tokens, `concurrency` requests at a time.
    pub async fn participants(&self, n: usize, concurrency: usize) -> Result<Vec<String>> {
        futures::stream::iter(0..n)
            .map(|_| self.participant())
            .buffered(concurrency.max(1))
            .try_collect()
            .await
    }

    /// Posts a question and returns its id.
    pub async fn post_question(&self, meetup_id: &str, token: &str, text: &str) -> Result<String> {
        let body = self
            .call(
                Method::POST,
                &format!("/meetups/{meetup_id}/questions"),
                Some(token),
                Some(json!({"text": text})),
            )
            .await?;
        string_at(&body, "/question/id")
    }

    /// Likes (`like == true`) or unlikes a question; returns the command's
    /// position. The vote command answers as soon as its event is stored: it
    /// never waits for the read model.
    pub async fn vote(&self, question_id: &str, token: &str, like: bool) -> Result<i64> {
        let method = if like { Method::PUT } else { Method::DELETE };
        let body = self
            .call(
                method,
                &format!("/questions/{question_id}/vote"),
                Some(token),
                None,
            )
            .await?;
        body.get("position")
            .and_then(Value::as_i64)
            .ok_or_else(|| Refused(format!("vote answer without a position: {body}")).into())
    }

    /// A question's like count once the read model has reached `min_position`.
    pub async fn question_likes(&self, question_id: &str, min_position: i64) -> Result<i64> {
        let body = self
            .call(
                Method::GET,
                &format!("/questions/{question_id}?min_position={min_position}"),
                None,
                None,
            )
            .await?;
        body.get("likes")
            .and_then(Value::as_i64)
            .ok_or_else(|| Refused(format!("question without likes: {body}")).into())
    }
}

impl Api {
    /// The like count of each published question of a meetup (up to 100), and
    /// the position the read model had reached when it answered, once it has
    /// reached `min_position` or the server's wait ran out.
    pub async fn meetup_likes(
        &self,
        meetup_id: &str,
        min_position: i64,
    ) -> Result<(i64, std::collections::HashMap<String, i64>)> {
        let body = self
            .call(
                Method::GET,
                &format!("/meetups/{meetup_id}/questions?limit=100&min_position={min_position}"),
                None,
                None,
            )
            .await?;
        let position = body
            .get("position")
            .and_then(Value::as_i64)
            .ok_or_else(|| Refused(format!("question list without a position: {body}")))?;
        let mut likes = std::collections::HashMap::new();
        for item in body
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = string_at(item, "/id")?;
            let count = item
                .get("likes")
                .and_then(Value::as_i64)
                .ok_or_else(|| Refused(format!("question without likes: {item}")))?;
            likes.insert(id, count);
        }
        Ok((position, likes))
    }
}

fn string_at(body: &Value, pointer: &str) -> Result<String> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Refused(format!("answer without {pointer}: {body}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_may_name_the_api_prefix_or_not() {
        let a = Api::new("http://127.0.0.1:8080").expect("client");
        let b = Api::new("http://127.0.0.1:8080/api/v1/").expect("client");
        assert_eq!(a.base(), "http://127.0.0.1:8080/api/v1");
        assert_eq!(b.base(), a.base());
        assert_eq!(a.live_url("m"), "ws://127.0.0.1:8080/api/v1/meetups/m/live");
    }
}
