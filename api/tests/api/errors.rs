//! Bad input of every kind gets a clear 4xx as problem+json — never a 500, never
//! a dropped connection.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::support::TestApp;

/// One row of the table: what is sent and what must come back.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    auth: Option<String>,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    status: StatusCode,
    /// A field that must be named in `errors` (validation failures).
    field: Option<&'static str>,
}

fn case(name: &'static str, method: Method, path: String, status: StatusCode) -> Case {
    Case {
        name,
        method,
        path,
        auth: None,
        content_type: None,
        body: None,
        status,
        field: None,
    }
}

impl Case {
    fn auth(mut self, token: &str) -> Self {
        self.auth = Some(token.to_owned());
        self
    }
    fn json(mut self, body: Value) -> Self {
        self.content_type = Some("application/json");
        self.body = Some(body.to_string().into_bytes());
        self
    }
    fn raw(mut self, content_type: &'static str, body: &[u8]) -> Self {
        self.content_type = Some(content_type);
        self.body = Some(body.to_vec());
        self
    }
    fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
}

async fn bad_input_gets_the_documented_status_as_problem_json(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let moderated = app.create_meetup(true).await;
    let token = app.participant().await;
    let question = app.post_question(&meetup, &token, "Fine?").await;
    let pending = app.post_question(&moderated, &token, "Waiting?").await;
    let closed = app.create_meetup(false).await;
    let close = app
        .send(
            Method::PATCH,
            &format!("/meetups/{}", closed.id),
            Some(&closed.key),
            Some(json!({"qa_open": false})),
        )
        .await;
    assert_eq!(close.status(), StatusCode::OK);

    let ask = format!("/meetups/{}/questions", meetup.id);
    let unknown = uuid::Uuid::new_v4();
    use Method as M;
    use StatusCode as S;
    let cases = vec![
        case("malformed JSON", M::POST, "/meetups".into(), S::BAD_REQUEST)
            .raw("application/json", b"{\"title\": "),
        case("binary garbage", M::POST, "/meetups".into(), S::BAD_REQUEST)
            .raw("application/json", &[0xff, 0xfe, 0x00, 0x7b]),
        case(
            "wrong content type",
            M::POST,
            "/meetups".into(),
            S::UNSUPPORTED_MEDIA_TYPE,
        )
        .raw("text/plain", b"{\"title\": \"x\"}"),
        case(
            "no body",
            M::POST,
            "/meetups".into(),
            S::UNSUPPORTED_MEDIA_TYPE,
        ),
        case(
            "body over 16 KiB",
            M::POST,
            "/meetups".into(),
            S::PAYLOAD_TOO_LARGE,
        )
        .json(json!({"title": "x".repeat(17 * 1024)})),
        case(
            "empty title",
            M::POST,
            "/meetups".into(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"title": "   "}))
        .field("title"),
        case(
            "title made of invisible characters",
            M::POST,
            "/meetups".into(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"title": "\u{2066}\u{feff}\u{2069}"}))
        .field("title"),
        case(
            "title too long",
            M::POST,
            "/meetups".into(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"title": "t".repeat(121)}))
        .field("title"),
        case(
            "title of the wrong type",
            M::POST,
            "/meetups".into(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"title": 5}))
        .field("title"),
        case(
            "missing title",
            M::POST,
            "/meetups".into(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({}))
        .field("title"),
        case(
            "JSON that is not an object",
            M::POST,
            "/meetups".into(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!([1, 2, 3])),
        case(
            "question without a token",
            M::POST,
            ask.clone(),
            S::UNAUTHORIZED,
        )
        .json(json!({"text": "Hi?"})),
        case(
            "question with a forged token",
            M::POST,
            ask.clone(),
            S::UNAUTHORIZED,
        )
        .json(json!({"text": "Hi?"}))
        .auth("qp1.AAAAAAAAAAAAAAAAAAAAAA.AAAA"),
        case(
            "question with a non-bearer header",
            M::POST,
            ask.clone(),
            S::UNAUTHORIZED,
        )
        .json(json!({"text": "Hi?"}))
        .auth("not a token at all"),
        case(
            "question with an organizer key",
            M::POST,
            ask.clone(),
            S::FORBIDDEN,
        )
        .json(json!({"text": "Hi?"}))
        .auth(&meetup.key),
        case(
            "empty question",
            M::POST,
            ask.clone(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"text": " \n "}))
        .auth(&token)
        .field("text"),
        case(
            "question too long",
            M::POST,
            ask.clone(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"text": "q".repeat(1001)}))
        .auth(&token)
        .field("text"),
        case(
            "control character",
            M::POST,
            ask.clone(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"text": "bell\u{7}"}))
        .auth(&token)
        .field("text"),
        case(
            "question made of invisible characters",
            M::POST,
            ask.clone(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"text": "\u{202e}\u{200b}\u{200b}"}))
        .auth(&token)
        .field("text"),
        case(
            "author name made of zero-width characters",
            M::POST,
            ask.clone(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"text": "Hi?", "author_name": "\u{200b}\u{200d}"}))
        .auth(&token)
        .field("author_name"),
        case(
            "author name too long",
            M::POST,
            ask.clone(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"text": "Hi?", "author_name": "n".repeat(41)}))
        .auth(&token)
        .field("author_name"),
        case(
            "question id not a UUID",
            M::POST,
            ask.clone(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"text": "Hi?", "id": "nope"}))
        .auth(&token)
        .field("id"),
        case(
            "unknown field",
            M::POST,
            ask.clone(),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"text": "Hi?", "admin": true}))
        .auth(&token),
        case(
            "question into an unknown meetup",
            M::POST,
            format!("/meetups/{unknown}/questions"),
            S::NOT_FOUND,
        )
        .json(json!({"text": "Hi?"}))
        .auth(&token),
        case(
            "question into a meetup id that is not one",
            M::POST,
            "/meetups/xyz/questions".into(),
            S::NOT_FOUND,
        )
        .json(json!({"text": "Hi?"}))
        .auth(&token),
        case(
            "question into a closed meetup",
            M::POST,
            format!("/meetups/{}/questions", closed.id),
            S::CONFLICT,
        )
        .json(json!({"text": "Hi?"}))
        .auth(&token),
        case(
            "query parameter given twice",
            M::GET,
            format!("/meetups/{}/questions?limit=5&limit=6", meetup.id),
            S::BAD_REQUEST,
        ),
        case(
            "leaderboard parameter given twice",
            M::GET,
            format!("/meetups/{}/leaderboard?limit=5&limit=6", meetup.id),
            S::BAD_REQUEST,
        ),
        case(
            "limit that is not a number",
            M::GET,
            format!("/meetups/{}/questions?limit=many", meetup.id),
            S::UNPROCESSABLE_ENTITY,
        )
        .field("limit"),
        case(
            "unknown question",
            M::GET,
            format!("/questions/{unknown}"),
            S::NOT_FOUND,
        ),
        case(
            "question id that is not one",
            M::GET,
            "/questions/%00%ff".into(),
            S::NOT_FOUND,
        ),
        case(
            "like of an unknown question",
            M::PUT,
            format!("/questions/{unknown}/vote"),
            S::NOT_FOUND,
        )
        .auth(&token),
        case(
            "like of a pending question",
            M::PUT,
            format!("/questions/{pending}/vote"),
            S::CONFLICT,
        )
        .auth(&token),
        case(
            "like without a token",
            M::PUT,
            format!("/questions/{question}/vote"),
            S::UNAUTHORIZED,
        ),
        case(
            "unknown moderation action",
            M::POST,
            format!("/questions/{question}/frobnicate"),
            S::NOT_FOUND,
        )
        .auth(&meetup.key),
        case(
            "answer of a pending question",
            M::POST,
            format!("/questions/{pending}/answer"),
            S::CONFLICT,
        )
        .auth(&moderated.key),
        case(
            "patch of an unknown meetup",
            M::PATCH,
            format!("/meetups/{unknown}"),
            S::NOT_FOUND,
        )
        .json(json!({"qa_open": false}))
        .auth(&meetup.key),
        case(
            "patch without a key",
            M::PATCH,
            format!("/meetups/{}", meetup.id),
            S::UNAUTHORIZED,
        )
        .json(json!({"qa_open": false})),
        case(
            "patch with a bad title",
            M::PATCH,
            format!("/meetups/{}", meetup.id),
            S::UNPROCESSABLE_ENTITY,
        )
        .json(json!({"title": ""}))
        .auth(&meetup.key)
        .field("title"),
        case(
            "unknown route",
            M::GET,
            "/nothing-here".into(),
            S::NOT_FOUND,
        ),
        case(
            "wrong method",
            M::DELETE,
            "/participants".into(),
            S::METHOD_NOT_ALLOWED,
        ),
    ];

    for case in cases {
        let mut request = app.request(case.method.clone(), &case.path);
        if let Some(auth) = &case.auth {
            request = request.header(
                "authorization",
                if auth.contains(' ') {
                    auth.clone()
                } else {
                    format!("Bearer {auth}")
                },
            );
        }
        if let Some(content_type) = case.content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        if let Some(body) = case.body.clone() {
            request = request.body(body);
        }
        let response = request.send().await.expect("request sent");
        assert_eq!(response.status(), case.status, "{}", case.name);
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "application/problem+json", "{}", case.name);
        let problem: Value = response.json().await.expect("problem body");
        assert_eq!(problem["status"], case.status.as_u16(), "{}", case.name);
        assert!(problem["title"].is_string(), "{}", case.name);
        assert!(problem["detail"].is_string(), "{}", case.name);
        if let Some(field) = case.field {
            assert!(
                problem["errors"][field].is_array(),
                "{}: errors should name {field}: {problem}",
                case.name
            );
        }
    }
}
both!(bad_input_gets_the_documented_status_as_problem_json);

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

async fn random_bodies_and_paths_never_cause_a_server_error(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let question = app.post_question(&meetup, &token, "Fuzz?").await;
    let targets = [
        (Method::POST, "/meetups".to_owned()),
        (Method::PATCH, format!("/meetups/{}", meetup.id)),
        (Method::POST, format!("/meetups/{}/questions", meetup.id)),
        (Method::PATCH, format!("/questions/{question}")),
        (Method::POST, format!("/questions/{question}/answer")),
        (Method::PUT, format!("/questions/{question}/vote")),
    ];
    let credentials = [None, Some(token.clone()), Some(meetup.key.clone())];
    let mut seed = 0x5eed_u64;
    for (method, path) in &targets {
        for credential in &credentials {
            for len in [0usize, 1, 7, 64, 700] {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                let mut request = app
                    .request(method.clone(), path)
                    .header(CONTENT_TYPE, "application/json")
                    .body(noise(seed, len));
                if let Some(credential) = credential {
                    request = request.bearer_auth(credential);
                }
                let response = request.send().await.expect("request sent");
                assert!(
                    response.status().is_client_error() || response.status().is_success(),
                    "{method} {path} with {len} random bytes (seed {seed}) gave {}",
                    response.status()
                );
            }
        }
    }
    for raw in [
        "/meetups/%ZZ",
        "/questions/../../etc",
        "/meetups/\u{1F600}",
        "/questions//vote",
    ] {
        let response = app
            .request(Method::GET, raw)
            .send()
            .await
            .expect("request sent");
        assert!(
            response.status().is_client_error(),
            "{raw}: {}",
            response.status()
        );
    }
}
both!(random_bodies_and_paths_never_cause_a_server_error);

#[tokio::test]
async fn an_unreachable_event_store_answers_503_with_retry_after() {
    use std::sync::Arc;

    use clap::Parser;
    use qicoo_commands::store::PoolSettings;
    use qicoo_commands::{CommandService, EventStore};

    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("qicoo.db").display());
    let args = qicoo_api::config::Cli::try_parse_from(["qicoo", "--event-store-url", &url])
        .expect("valid")
        .serve_args();
    let qicoo = qicoo_api::serve::Qicoo::start(&args).await.expect("starts");
    // Nothing listens on port 1: every command fails to connect.
    let unreachable = EventStore::connect(
        "postgres://postgres@127.0.0.1:1/nothing",
        PoolSettings {
            max_connections: 2,
            acquire_timeout: std::time::Duration::from_secs(2),
        },
    )
    .await
    .expect("lazy pool");
    let state = qicoo_api::AppState {
        commands: Arc::new(CommandService::new(unreachable)),
        ..qicoo.state.clone()
    };
    let app = crate::support::serve(qicoo, Some(state), url, Some(dir), None).await;
    let response = app
        .send(
            Method::POST,
            "/meetups",
            None,
            Some(json!({"title": "Down"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_some());
    let problem: Value = response.json().await.expect("problem");
    assert!(!problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("127.0.0.1"));
    // Every pod shares the event store: its outage is reported, but does not
    // take this pod out of the Service. (The first answer may predate the
    // first check, which says "unknown".)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let ready = loop {
        let ready = app
            .client
            .get(app.base.replace("/api/v1", "/readyz"))
            .send()
            .await
            .expect("sent");
        assert_eq!(ready.status(), StatusCode::OK);
        let ready: Value = ready.json().await.expect("readiness body");
        if ready["event_store"] != "unknown" {
            break ready;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never checked: {ready}"
        );
    };
    assert_eq!(ready["event_store"], "unavailable");
    assert!(
        !ready.to_string().contains("127.0.0.1"),
        "readiness must not repeat the store's error: {ready}"
    );
    app.cleanup().await;
}
