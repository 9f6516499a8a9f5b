//! Rate limits as a client meets them: over its group's limit a request is
//! refused with 429 problem+json and a `Retry-After` it can trust, nothing of
//! it is stored, and other participants or addresses are not affected; the
//! client address comes from forwarding headers only behind a trusted proxy;
//! API nodes sharing a Redis share each limit; a Redis outage lets requests
//! through instead of refusing them.

use std::time::{Duration, Instant};

use clap::Parser;
use futures::future::join_all;
use qicoo_api::config::Cli;
use qicoo_api::serve::Qicoo;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::both_with;
use crate::proxy::Proxy;
use crate::support::{serve, spawn_app_with, ScaledServices, Store, TestApp, TEST_SECRET};

/// Asserts that `response` is a 429 problem with a whole-second
/// `Retry-After` between 1 and `at_most` seconds, and returns it.
async fn assert_limited(response: Response, at_most: u64) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("whole seconds");
    assert!(
        (1..=at_most).contains(&retry_after),
        "Retry-After {retry_after}, expected 1..={at_most}"
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("a problem");
    assert_eq!(problem["status"], 429);
    assert_eq!(problem["title"], "Too Many Requests");
    retry_after
}

/// The value of a counter with one label in the `/metrics` text.
async fn counter(app: &TestApp, name: &str, label: &str) -> f64 {
    let text = app
        .client
        .get(app.base.replace("/api/v1", "/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let series = format!("{name}{{{label}}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

fn post_question(app: &TestApp, meetup: &str, token: &str, n: usize) -> reqwest::RequestBuilder {
    app.request(Method::POST, &format!("/meetups/{meetup}/questions"))
        .bearer_auth(token)
        .json(&json!({"text": format!("Question number {n}?")}))
}

/// The default limit of question posts: 5 per minute, 5 at once.
const QUESTIONS: usize = 5;
const QUESTION_INTERVAL: Duration = Duration::from_secs(12);

async fn a_burst_of_100_question_posts_from_one_participant_is_cut_at_the_limit(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let limited_before = counter(app, "qicoo_rate_limited_total", "group=\"questions\"").await;

    let started = Instant::now();
    let responses =
        join_all((0..100).map(|n| post_question(app, &meetup.id, &token, n).send())).await;
    let elapsed = started.elapsed();

    let mut posted = 0;
    let mut limited = 0;
    for response in responses {
        let response = response.expect("sent");
        match response.status() {
            StatusCode::CREATED => posted += 1,
            _ => {
                assert_limited(response, QUESTION_INTERVAL.as_secs()).await;
                limited += 1;
            }
        }
    }
    // Allowance comes back every 12 s: only a very slow burst earns more.
    let earned = (elapsed.as_secs_f64() / QUESTION_INTERVAL.as_secs_f64()).floor() as usize;
    assert!(
        (QUESTIONS..=QUESTIONS + earned).contains(&posted),
        "{posted} posts got through in {elapsed:?}"
    );
    assert_eq!(posted + limited, 100);
    assert_eq!(
        app.count_events("QuestionPosted").await,
        posted as i64,
        "exactly the accepted posts are stored"
    );
    let counted = counter(app, "qicoo_rate_limited_total", "group=\"questions\"").await;
    assert!(
        counted - limited_before >= limited as f64,
        "{limited} refusals, counter went from {limited_before} to {counted}"
    );

    // Another participant has an allowance of their own.
    let other = app.participant().await;
    let response = post_question(app, &meetup.id, &other, 0)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
}
both_with!(
    a_burst_of_100_question_posts_from_one_participant_is_cut_at_the_limit,
    &["--rate-limits", "on"]
);

async fn likes_are_limited_per_participant(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let author = app.participant().await;
    let question = app.post_question(&meetup, &author, "Like me?").await;
    let fan = app.participant().await;
    let vote = |token: &str, method: Method| {
        app.request(method, &format!("/questions/{question}/vote"))
            .bearer_auth(token.to_owned())
            .send()
    };
    for method in [Method::PUT, Method::DELETE, Method::PUT] {
        let response = vote(&fan, method.clone()).await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{method}");
    }
    // Unliking is a like-group request too: the fourth is over 3/min.
    let response = vote(&fan, Method::DELETE).await.expect("sent");
    assert_limited(response, 20).await;
    assert_eq!(app.count_events("VoteCast").await, 2);
    assert_eq!(
        app.count_events("VoteWithdrawn").await,
        1,
        "the refused unlike changed nothing"
    );

    let response = vote(&author, Method::PUT).await.expect("sent");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "another participant likes freely"
    );
}
both_with!(
    likes_are_limited_per_participant,
    &["--rate-likes", "3/min"]
);

async fn meetup_creation_is_limited_per_client_address(app: &TestApp) {
    app.create_meetup(false).await;
    app.create_meetup(true).await;
    let response = app
        .send(
            Method::POST,
            "/meetups",
            None,
            Some(json!({"title": "Third"})),
        )
        .await;
    // 2 per hour: the next one is 30 minutes away.
    let retry_after = assert_limited(response, 1800).await;
    assert!(retry_after > 1700, "{retry_after}");
    assert_eq!(app.count_events("MeetupCreated").await, 2);
    // Participant tokens have a limit of their own.
    app.participant().await;
}
both_with!(
    meetup_creation_is_limited_per_client_address,
    &["--rate-meetups", "2/h"]
);

/// Asks for a participant token as a client behind `forwarded_for`.
async fn participant_as(app: &TestApp, forwarded_for: Option<&str>) -> StatusCode {
    let mut request = app.request(Method::POST, "/participants");
    if let Some(chain) = forwarded_for {
        request = request.header("x-forwarded-for", chain);
    }
    request.send().await.expect("sent").status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_for_header_from_an_untrusted_peer_does_not_change_the_bucket() {
    let app = spawn_app_with(Store::Sqlite, &["--rate-participants", "1/h"])
        .await
        .expect("SQLite needs no service");
    assert_eq!(
        participant_as(&app, Some("203.0.113.1")).await,
        StatusCode::CREATED
    );
    for spoofed in ["203.0.113.2", "198.51.100.7, 203.0.113.3", "127.0.0.2"] {
        assert_eq!(
            participant_as(&app, Some(spoofed)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{spoofed}"
        );
    }
    let response = app
        .request(Method::POST, "/participants")
        .header("forwarded", "for=203.0.113.4")
        .send()
        .await
        .expect("sent");
    assert_limited(response, 3600).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let app = spawn_app_with(
        Store::Sqlite,
        &[
            "--rate-participants",
            "1/h",
            "--trusted-proxies",
            "127.0.0.1",
        ],
    )
    .await
    .expect("SQLite needs no service");
    assert_eq!(
        participant_as(&app, Some("203.0.113.1")).await,
        StatusCode::CREATED
    );
    assert_eq!(
        participant_as(&app, Some("203.0.113.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A client that prepends a made-up address stays in its own bucket: the
    // proxy appended the one it saw.
    assert_eq!(
        participant_as(&app, Some("198.51.100.99, 203.0.113.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        participant_as(&app, Some("203.0.113.2")).await,
        StatusCode::CREATED
    );
    // Without a header the proxy itself is the client.
    assert_eq!(participant_as(&app, None).await, StatusCode::CREATED);

    // Audit metadata hashes the same client address the limits use.
    for client in ["203.0.113.7", "203.0.113.8"] {
        let response = app
            .request(Method::POST, "/meetups")
            .header("x-forwarded-for", client)
            .json(&json!({"title": "Behind the ingress"}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let second = app.last_metadata("MeetupCreated").await;
    let expected = app.state.signer.client_hash("203.0.113.8");
    assert_eq!(second["client"], expected.as_str(), "{second}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_connections_are_limited_per_client_address() {
    let app = spawn_app_with(Store::Sqlite, &["--rate-live", "1/h"])
        .await
        .expect("SQLite needs no service");
    let meetup = app.create_meetup(false).await;
    let url = app.live_url(&meetup.id, "");
    let (first, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("the first connection opens");
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .expect("ASCII")
                .parse()
                .expect("seconds");
            assert!((1..=3600).contains(&retry_after), "{retry_after}");
        }
        other => panic!("a second connection within the limit's hour opened: {other:?}"),
    }
    drop(first);
    app.cleanup().await;
}

async fn unlimited_groups_stay_unlimited(app: &TestApp) {
    // Reads have no limit, and neither has a group set to `off`.
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    for n in 0..12 {
        let response = post_question(app, &meetup.id, &token, n)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    for _ in 0..30 {
        let response = app
            .send(Method::GET, &format!("/meetups/{}", meetup.id), None, None)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}
both_with!(
    unlimited_groups_stay_unlimited,
    &["--rate-questions", "off", "--rate-meetups", "1/h"]
);

/// Starts an API node over `services` with `extra` settings.
async fn api_node(services: &ScaledServices, extra: &[&str]) -> TestApp {
    let qicoo = services.start_with("api", extra, None).await;
    serve(qicoo, None, services.pg.url.clone(), None, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_nodes_sharing_redis_share_each_limit() {
    let Some(services) = ScaledServices::create().await else {
        return;
    };
    let limit = ["--rate-participants", "3/h"];
    let one = api_node(&services, &limit).await;
    let two = api_node(&services, &limit).await;
    assert_eq!(participant_as(&one, None).await, StatusCode::CREATED);
    assert_eq!(participant_as(&two, None).await, StatusCode::CREATED);
    assert_eq!(participant_as(&one, None).await, StatusCode::CREATED);
    for node in [&two, &one] {
        let response = node.send(Method::POST, "/participants", None, None).await;
        assert_limited(response, 1200).await;
    }
    one.cleanup().await;
    two.cleanup().await;
    services.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_unreachable_the_limits_let_requests_through() {
    let Some(services) = ScaledServices::create().await else {
        return;
    };
    let redis_addr = services
        .redis
        .url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("a host:port Redis URL");
    let proxy = Proxy::start(redis_addr).await;
    let redis_url = format!("redis://{}", proxy.addr);
    let argv = [
        "qicoo",
        "--secret",
        TEST_SECRET,
        "--role",
        "api",
        "--event-store-url",
        &services.pg.url,
        "--read-model-url",
        &services.mysql.url,
        "--redis-url",
        &redis_url,
        "--redis-prefix",
        &services.redis.prefix,
        "--rate-participants",
        "1/h",
    ];
    let args = Cli::try_parse_from(argv).expect("valid").serve_args();
    let qicoo = Qicoo::start(&args).await.expect("starts");
    let app = serve(qicoo, None, services.pg.url.clone(), None, None).await;
    assert_eq!(participant_as(&app, None).await, StatusCode::CREATED);
    assert_eq!(
        participant_as(&app, None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the limit holds while Redis answers"
    );

    proxy.cut();
    let errors_before = counter(
        &app,
        "qicoo_rate_limiter_errors_total",
        "group=\"participants\"",
    )
    .await;
    for _ in 0..3 {
        assert_eq!(participant_as(&app, None).await, StatusCode::CREATED);
    }
    let errors = counter(
        &app,
        "qicoo_rate_limiter_errors_total",
        "group=\"participants\"",
    )
    .await;
    assert!(errors - errors_before >= 3.0, "{errors_before} -> {errors}");

    proxy.restore().await;
    // Once Redis answers again, the bucket it kept is enforced again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while participant_as(&app, None).await != StatusCode::TOO_MANY_REQUESTS {
        assert!(
            Instant::now() < deadline,
            "the limit did not come back with Redis"
        );
        tokio::task::yield_now().await;
    }
    app.cleanup().await;
    services.drop_all().await;
}

#[test]
fn the_limited_routes_document_429_with_retry_after() {
    use utoipa::OpenApi;

    let document =
        serde_json::to_value(qicoo_api::openapi::ApiDoc::openapi()).expect("the document");
    for (path, method) in [
        ("/api/v1/participants", "post"),
        ("/api/v1/meetups", "post"),
        ("/api/v1/meetups/{id}/questions", "post"),
        ("/api/v1/questions/{id}/vote", "put"),
        ("/api/v1/questions/{id}/vote", "delete"),
        ("/api/v1/meetups/{id}/live", "get"),
    ] {
        let response = &document["paths"][path][method]["responses"]["429"];
        assert_eq!(
            response["$ref"], "#/components/responses/TooManyRequests",
            "{method} {path}"
        );
    }
    let limited = &document["components"]["responses"]["TooManyRequests"];
    assert_eq!(limited["headers"]["Retry-After"]["schema"]["minimum"], 1);
    assert!(limited["content"]["application/problem+json"].is_object());
}
