//! Queries: lists, the leaderboard and one question, read from the read model,
//! with read-your-writes through `min_position`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::support::{TestApp, TestMeetup};

/// Likes `question` as `token` and returns the command's position.
async fn like(app: &TestApp, question: &str, token: &str) -> i64 {
    app.like(question, token).await
}

async fn list(app: &TestApp, meetup: &TestMeetup, query: &str, auth: Option<&str>) -> Value {
    let response = app
        .send(
            Method::GET,
            &format!("/meetups/{}/questions?{query}", meetup.id),
            auth,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.expect("json")
}

fn texts(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|q| q["text"].as_str().expect("text").to_owned())
        .collect()
}

async fn a_like_is_reflected_at_once_in_the_top_list_with_min_position(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let alice = app.participant().await;
    let bob = app.participant().await;
    let first = app.post_question(&meetup, &alice, "First?").await;
    let second = app.post_question(&meetup, &alice, "Second?").await;
    like(app, &first, &bob).await;
    let position = like(app, &second, &alice)
        .await
        .max(like(app, &second, &bob).await);

    let page = list(
        app,
        &meetup,
        &format!("sort=top&min_position={position}"),
        Some(&bob),
    )
    .await;
    assert!(page["position"].as_i64().expect("position") >= position);
    assert_eq!(texts(&page), ["Second?", "First?"]);
    assert_eq!(page["items"][0]["likes"], 2);
    assert_eq!(page["items"][0]["liked_by_me"], true);
    assert_eq!(page["items"][1]["likes"], 1);
    assert!(page["items"][0].get("author").is_none());

    let recent = list(
        app,
        &meetup,
        &format!("sort=recent&min_position={position}"),
        None,
    )
    .await;
    assert_eq!(texts(&recent), ["Second?", "First?"]);
    assert!(recent["items"][0].get("liked_by_me").is_none());

    let board = app
        .send(
            Method::GET,
            &format!(
                "/meetups/{}/leaderboard?limit=1&min_position={position}",
                meetup.id
            ),
            None,
            None,
        )
        .await;
    assert_eq!(board.status(), StatusCode::OK);
    let board: Value = board.json().await.expect("json");
    assert_eq!(texts(&board), ["Second?"]);
    assert_eq!(board["items"][0]["likes"], 2);
}
both!(a_like_is_reflected_at_once_in_the_top_list_with_min_position);

async fn answered_questions_leave_the_leaderboard_and_ties_rank_the_earlier_first(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let early = app.post_question(&meetup, &token, "Early?").await;
    let late = app.post_question(&meetup, &token, "Late?").await;
    let done = app.post_question(&meetup, &token, "Done?").await;
    like(app, &late, &token).await;
    like(app, &early, &token).await;
    like(app, &done, &token).await;
    let answered = app
        .send(
            Method::POST,
            &format!("/questions/{done}/answer"),
            Some(&meetup.key),
            None,
        )
        .await;
    assert_eq!(answered.status(), StatusCode::OK);
    let position = answered.json::<Value>().await.expect("json")["position"]
        .as_i64()
        .expect("position");
    let board: Value = app
        .send(
            Method::GET,
            &format!("/meetups/{}/leaderboard?min_position={position}", meetup.id),
            None,
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(texts(&board), ["Early?", "Late?"]);
}
both!(answered_questions_leave_the_leaderboard_and_ties_rank_the_earlier_first);

async fn lists_page_with_a_cursor_and_refuse_bad_parameters(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    for i in 0..5 {
        app.post_question(&meetup, &token, &format!("Q{i}?")).await;
    }
    let mut seen = Vec::new();
    let mut query = "sort=recent&limit=2".to_owned();
    loop {
        let page = list(app, &meetup, &query, None).await;
        seen.extend(texts(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("sort=recent&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["Q4?", "Q3?", "Q2?", "Q1?", "Q0?"]);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=many", "limit"),
        ("sort=best", "sort"),
        ("status=lost", "status"),
        ("cursor=garbage", "cursor"),
        ("min_position=-1", "min_position"),
    ] {
        app.assert_invalid_field(
            &format!("/meetups/{}/questions?{query}", meetup.id),
            None,
            field,
        )
        .await;
    }
    let unknown = app
        .send(
            Method::GET,
            &format!("/meetups/{}/questions", uuid::Uuid::new_v4()),
            None,
            None,
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
both!(lists_page_with_a_cursor_and_refuse_bad_parameters);

async fn pending_questions_are_listed_only_for_their_author_and_the_organizer(app: &TestApp) {
    let meetup = app.create_meetup(true).await;
    let author = app.participant().await;
    let other = app.participant().await;
    let question = app.post_question(&meetup, &author, "Pending?").await;

    assert_eq!(
        texts(&list(app, &meetup, "", Some(&author)).await),
        ["Pending?"]
    );
    assert!(texts(&list(app, &meetup, "", Some(&other)).await).is_empty());
    assert!(texts(&list(app, &meetup, "", None).await).is_empty());
    assert_eq!(
        texts(&list(app, &meetup, "status=pending", Some(&meetup.key)).await),
        ["Pending?"]
    );
    let stranger = app.create_meetup(true).await;
    assert!(texts(&list(app, &meetup, "", Some(&stranger.key)).await).is_empty());

    let one = app
        .send(
            Method::GET,
            &format!("/questions/{question}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(one.status(), StatusCode::NOT_FOUND);

    let rejected = app
        .send(
            Method::POST,
            &format!("/questions/{question}/reject"),
            Some(&meetup.key),
            None,
        )
        .await;
    assert_eq!(rejected.status(), StatusCode::OK);
    let position = rejected.json::<Value>().await.expect("json")["position"]
        .as_i64()
        .expect("position");
    let by_author = app
        .send(
            Method::GET,
            &format!("/questions/{question}?min_position={position}"),
            Some(&author),
            None,
        )
        .await;
    assert_eq!(by_author.status(), StatusCode::NOT_FOUND);
    let by_organizer = app
        .send(
            Method::GET,
            &format!("/questions/{question}?min_position={position}"),
            Some(&meetup.key),
            None,
        )
        .await;
    assert_eq!(by_organizer.status(), StatusCode::OK);
    let body: Value = by_organizer.json().await.expect("json");
    assert_eq!(body["status"], "rejected");
}
both!(pending_questions_are_listed_only_for_their_author_and_the_organizer);

async fn command_answers_match_what_a_read_right_after_returns(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let response = app
        .send(
            Method::POST,
            &format!("/meetups/{}/questions", meetup.id),
            Some(&token),
            Some(json!({"text": "Consistent?", "author_name": "Ann"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let posted: Value = response.json().await.expect("json");
    let id = posted["question"]["id"].as_str().expect("id");
    assert!(posted["question"]["created_at"].is_string());
    let read: Value = app
        .send(Method::GET, &format!("/questions/{id}"), None, None)
        .await
        .json()
        .await
        .expect("json");
    for field in [
        "id",
        "meetup_id",
        "text",
        "author_name",
        "likes",
        "status",
        "created_at",
    ] {
        assert_eq!(posted["question"][field], read[field], "{field}");
    }
}
both!(command_answers_match_what_a_read_right_after_returns);

/// Queries read only the read model: with the event store cut off, the
/// organizer's key is still recognised (its hash is in the read model) and
/// the moderation queue still shows, while attendees still see only what is
/// public.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizer_views_answer_from_the_read_model_while_the_event_store_is_unreachable() {
    let Some(services) = crate::support::ScaledServices::create().await else {
        return;
    };
    let target = services
        .pg
        .url
        .trim_start_matches("postgres://")
        .split(['@', '/'])
        .nth(1)
        .expect("host:port")
        .to_owned();
    let proxy = crate::proxy::Proxy::start(target.parse().expect("socket address")).await;
    let through_proxy = services.pg.url.replace(&target, &proxy.addr.to_string());
    let app = services.serve_all_with(&[], Some(&through_proxy)).await;

    let meetup = app.create_meetup(true).await;
    let author = app.participant().await;
    let stranger = app.participant().await;
    let response = app
        .send(
            Method::POST,
            &format!("/meetups/{}/questions", meetup.id),
            Some(&author),
            Some(json!({"text": "Waiting for review?"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let posted: Value = response.json().await.expect("json");
    let position = posted["position"].as_i64().expect("position");
    let queue = list(
        &app,
        &meetup,
        &format!("min_position={position}"),
        Some(&meetup.key),
    )
    .await;
    assert_eq!(queue["items"][0]["status"], "pending", "{queue}");

    proxy.cut();
    let queue = list(&app, &meetup, "", Some(&meetup.key)).await;
    assert_eq!(queue["items"].as_array().map(Vec::len), Some(1), "{queue}");
    assert_eq!(queue["items"][0]["text"], "Waiting for review?");
    let public = list(&app, &meetup, "", Some(&stranger)).await;
    assert_eq!(
        public["items"].as_array().map(Vec::len),
        Some(0),
        "{public}"
    );

    proxy.restore().await;
    app.cleanup().await;
}

/// `--db-max-connections` bounds the read side's pools too: however many
/// queries arrive at once, the read model's database never sees more
/// connections from this node than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_model_pool_stays_within_the_configured_connections() {
    use sqlx::Connection as _;

    let Some(services) = crate::support::ScaledServices::create().await else {
        return;
    };
    let mysql_url = services.mysql.url.clone();
    let database = mysql_url
        .rsplit('/')
        .next()
        .expect("database name")
        .to_owned();
    let app = services
        .serve_all_with(&["--db-max-connections", "2"], None)
        .await;
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    app.post_question(&meetup, &token, "Who holds the pool?")
        .await;

    let lists = (0..40).map(|_| list(&app, &meetup, "sort=top", None));
    for page in futures::future::join_all(lists).await {
        assert!(page["items"].is_array(), "{page}");
    }
    let mut admin = sqlx::MySqlConnection::connect(&mysql_url)
        .await
        .expect("connects");
    let connections: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
    )
    .bind(&database)
    .fetch_one(&mut admin)
    .await
    .expect("counts connections");
    assert!(
        (1..=2).contains(&connections),
        "the read model's pool holds {connections} connections"
    );
    drop(admin);
    app.cleanup().await;
}
