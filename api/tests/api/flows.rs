//! What a meetup looks like from the outside: create, join, ask, like, moderate.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::support::TestApp;

async fn a_question_is_posted_liked_once_and_answered_by_the_organizer_only(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let question = app.post_question(&meetup, &token, "Why Rust?").await;

    for _ in 0..2 {
        let response = app
            .send(
                Method::PUT,
                &format!("/questions/{question}/vote"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["liked"], true);
        assert!(body["position"].as_i64().expect("position") > 0);
    }
    assert_eq!(app.count_events("VoteCast").await, 1);

    let answer = format!("/questions/{question}/answer");
    let anonymous = app.send(Method::POST, &answer, None, None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let participant = app.send(Method::POST, &answer, Some(&token), None).await;
    assert_eq!(participant.status(), StatusCode::FORBIDDEN);
    let other = app.create_meetup(false).await;
    let wrong_key = app
        .send(Method::POST, &answer, Some(&other.key), None)
        .await;
    assert_eq!(wrong_key.status(), StatusCode::FORBIDDEN);
    let organizer = app
        .send(Method::POST, &answer, Some(&meetup.key), None)
        .await;
    assert_eq!(organizer.status(), StatusCode::OK);
    let body: Value = organizer.json().await.expect("json");
    assert_eq!(body["question"]["answered"], true);
    assert_eq!(app.count_events("QuestionAnswered").await, 1);
}
both!(a_question_is_posted_liked_once_and_answered_by_the_organizer_only);

async fn unliking_withdraws_the_vote_and_a_second_unlike_changes_nothing(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let question = app.post_question(&meetup, &token, "Why Rust?").await;
    let path = format!("/questions/{question}/vote");
    app.send(Method::PUT, &path, Some(&token), None).await;
    for _ in 0..2 {
        let response = app.send(Method::DELETE, &path, Some(&token), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["liked"], false);
    }
    assert_eq!(app.count_events("VoteWithdrawn").await, 1);
}
both!(unliking_withdraws_the_vote_and_a_second_unlike_changes_nothing);

async fn a_meetup_is_found_by_id_and_by_join_code(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    for key in [
        meetup.id.clone(),
        meetup.code.clone(),
        meetup.code.to_lowercase(),
    ] {
        let response = app
            .send(Method::GET, &format!("/meetups/{key}"), None, None)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{key}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["id"], meetup.id.as_str());
        assert_eq!(body["code"], meetup.code.as_str());
        assert_eq!(body["title"], "Rust Tokyo");
    }
    let unknown = app.send(Method::GET, "/meetups/ZZZZZZ", None, None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
both!(a_meetup_is_found_by_id_and_by_join_code);

async fn a_retried_post_returns_the_same_question_and_a_different_one_conflicts(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let id = uuid::Uuid::new_v4().to_string();
    let path = format!("/meetups/{}/questions", meetup.id);
    let body = json!({"id": id, "text": "Why Rust?", "author_name": "Ann"});
    let first = app
        .send(Method::POST, &path, Some(&token), Some(body.clone()))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    let again = app
        .send(Method::POST, &path, Some(&token), Some(body))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.expect("json");
    assert_eq!(first["question"], again["question"]);
    assert_eq!(first["position"], again["position"]);
    assert_eq!(app.count_events("QuestionPosted").await, 1);

    let different = json!({"id": id, "text": "Something else?"});
    let conflict = app
        .send(Method::POST, &path, Some(&token), Some(different))
        .await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
}
both!(a_retried_post_returns_the_same_question_and_a_different_one_conflicts);

async fn organizers_rename_close_and_archive_their_meetup(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let path = format!("/meetups/{}", meetup.id);
    let response = app
        .send(
            Method::PATCH,
            &path,
            Some(&meetup.key),
            Some(json!({"title": "Rust Osaka", "qa_open": false, "moderated": true})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["meetup"]["title"], "Rust Osaka");
    assert_eq!(body["meetup"]["qa_open"], false);
    assert_eq!(body["meetup"]["moderated"], true);

    let token = app.participant().await;
    let closed = app
        .send(
            Method::POST,
            &format!("/meetups/{}/questions", meetup.id),
            Some(&token),
            Some(json!({"text": "Anyone?"})),
        )
        .await;
    assert_eq!(closed.status(), StatusCode::CONFLICT);

    let archive = app
        .send(
            Method::PATCH,
            &path,
            Some(&meetup.key),
            Some(json!({"archived": true})),
        )
        .await;
    assert_eq!(archive.status(), StatusCode::OK);
    let reopen = app
        .send(
            Method::PATCH,
            &path,
            Some(&meetup.key),
            Some(json!({"qa_open": true})),
        )
        .await;
    assert_eq!(reopen.status(), StatusCode::CONFLICT);

    let by_participant = app
        .send(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"title": "Mine"})),
        )
        .await;
    assert_eq!(by_participant.status(), StatusCode::FORBIDDEN);
}
both!(organizers_rename_close_and_archive_their_meetup);

async fn moderated_questions_wait_for_approval_and_only_published_ones_can_be_liked(app: &TestApp) {
    let meetup = app.create_meetup(true).await;
    let author = app.participant().await;
    let other = app.participant().await;
    let question = app.post_question(&meetup, &author, "Pending?").await;
    let path = format!("/questions/{question}");

    let by_author = app.send(Method::GET, &path, Some(&author), None).await;
    assert_eq!(by_author.status(), StatusCode::OK);
    let body: Value = by_author.json().await.expect("json");
    assert_eq!(body["status"], "pending");
    let by_other = app.send(Method::GET, &path, Some(&other), None).await;
    assert_eq!(by_other.status(), StatusCode::NOT_FOUND);
    let by_organizer = app.send(Method::GET, &path, Some(&meetup.key), None).await;
    assert_eq!(by_organizer.status(), StatusCode::OK);

    let like = app
        .send(Method::PUT, &format!("{path}/vote"), Some(&other), None)
        .await;
    assert_eq!(like.status(), StatusCode::CONFLICT);

    let approve = app
        .send(
            Method::POST,
            &format!("{path}/approve"),
            Some(&meetup.key),
            None,
        )
        .await;
    assert_eq!(approve.status(), StatusCode::OK);
    let like = app
        .send(Method::PUT, &format!("{path}/vote"), Some(&other), None)
        .await;
    assert_eq!(like.status(), StatusCode::OK);
}
both!(moderated_questions_wait_for_approval_and_only_published_ones_can_be_liked);

async fn a_key_of_another_meetup_cannot_moderate_its_questions(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let other = app.create_meetup(false).await;
    let token = app.participant().await;
    let question = app.post_question(&meetup, &token, "Mine?").await;
    for action in [
        "answer",
        "highlight",
        "approve",
        "reject",
        "reopen",
        "unhighlight",
    ] {
        let response = app
            .send(
                Method::POST,
                &format!("/questions/{question}/{action}"),
                Some(&other.key),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let remove = app
        .send(
            Method::DELETE,
            &format!("/questions/{question}"),
            Some(&other.key),
            None,
        )
        .await;
    assert_eq!(remove.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count_events("QuestionRemoved").await, 0);
}
both!(a_key_of_another_meetup_cannot_moderate_its_questions);

async fn authors_edit_and_withdraw_and_organizers_remove_with_a_reason(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let author = app.participant().await;
    let other = app.participant().await;
    let first = app.post_question(&meetup, &author, "Typo?").await;
    let path = format!("/questions/{first}");

    let edit = app
        .send(
            Method::PATCH,
            &path,
            Some(&author),
            Some(json!({"text": "Fixed?"})),
        )
        .await;
    assert_eq!(edit.status(), StatusCode::OK);
    let body: Value = edit.json().await.expect("json");
    assert_eq!(body["question"]["text"], "Fixed?");
    let hijack = app
        .send(
            Method::PATCH,
            &path,
            Some(&other),
            Some(json!({"text": "Mine"})),
        )
        .await;
    assert_eq!(hijack.status(), StatusCode::FORBIDDEN);
    let withdraw = app.send(Method::DELETE, &path, Some(&author), None).await;
    assert_eq!(withdraw.status(), StatusCode::OK);
    let body: Value = withdraw.json().await.expect("json");
    assert_eq!(body["question"]["status"], "withdrawn");

    let second = app.post_question(&meetup, &author, "Off topic").await;
    let remove = app
        .send(
            Method::DELETE,
            &format!("/questions/{second}?reason=spam"),
            Some(&meetup.key),
            None,
        )
        .await;
    assert_eq!(remove.status(), StatusCode::OK);
    let body: Value = remove.json().await.expect("json");
    assert_eq!(body["question"]["status"], "removed");
}
both!(authors_edit_and_withdraw_and_organizers_remove_with_a_reason);

async fn every_event_records_meetup_actor_request_and_a_hashed_client(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let response = app
        .request(Method::POST, &format!("/meetups/{}/questions", meetup.id))
        .bearer_auth(&token)
        .header("x-request-id", "req-from-client-42")
        .json(&json!({"text": "Traced?"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-from-client-42")
    );
    let metadata = app.last_metadata("QuestionPosted").await;
    assert_eq!(metadata["meetup_id"], meetup.id.as_str());
    assert_eq!(metadata["request_id"], "req-from-client-42");
    let actor = metadata["actor"].as_str().expect("actor");
    assert!(actor.starts_with("participant:"), "{actor}");
    let client = metadata["client"].as_str().expect("client hash");
    assert!(!client.contains("127.0.0.1"));
    assert_eq!(client.len(), 32);
    assert!(chrono::DateTime::parse_from_rfc3339(metadata["time"].as_str().expect("time")).is_ok());
}
both!(every_event_records_meetup_actor_request_and_a_hashed_client);

#[tokio::test]
async fn participant_tokens_survive_a_restart_of_the_embedded_default() {
    use clap::Parser;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("qicoo.db").display());
    let args = qicoo_api::config::Cli::try_parse_from(["qicoo", "--event-store-url", &url])
        .expect("valid")
        .serve_args();
    let first = qicoo_api::serve::Qicoo::start(&args).await.expect("starts");
    let app = crate::support::serve(first, None, url.clone(), None, None).await;
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    app.cleanup().await;

    let second = qicoo_api::serve::Qicoo::start(&args)
        .await
        .expect("restarts");
    let app = crate::support::serve(second, None, url, None, None).await;
    let response = app
        .send(
            Method::POST,
            &format!("/meetups/{}/questions", meetup.id),
            Some(&token),
            Some(json!({"text": "Still me?"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    app.cleanup().await;
}

async fn metrics_count_requests_by_route_and_commands_by_outcome(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    app.post_question(&meetup, &token, "Measured?").await;
    let response = app
        .client
        .get(app.base.replace("/api/v1", "/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("text");
    for expected in [
        "qicoo_http_requests_total{method=\"POST\",route=\"/api/v1/meetups\",status=\"201\"}",
        "qicoo_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/meetups/{id}/questions\",status=\"201\",le=\"0.5\"}",
        "qicoo_commands_total{aggregate=\"Question\",outcome=\"applied\"}",
        "qicoo_events_appended_total{aggregate=\"Meetup\"}",
        "qicoo_db_pool_connections{pool=\"event_store\",state=\"idle\"}",
        "qicoo_projection_lock_held{projection=\"read_model\"} 1",
        "qicoo_projection_lag_events{projection=\"read_model\"}",
        "qicoo_projection_lag_seconds{projection=\"read_model\"}",
        "qicoo_projection_batches_total{projection=\"read_model\"}",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
}
both!(metrics_count_requests_by_route_and_commands_by_outcome);

/// Sends a command and expects the 409 an archived meetup answers, as problem+json.
async fn expect_archived(
    app: &TestApp,
    what: &str,
    method: Method,
    path: &str,
    auth: &str,
    body: Option<Value>,
) {
    let response = app.send(method, path, Some(auth), body).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "{what}");
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "{what}");
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(problem["status"], 409, "{what}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("archived")),
        "{what}: {problem}"
    );
}

/// How many events of the kinds the commands below would record are stored.
async fn changes_recorded(app: &TestApp) -> i64 {
    let mut total = 0;
    for event_type in [
        "VoteCast",
        "VoteWithdrawn",
        "QuestionPosted",
        "QuestionEdited",
        "QuestionWithdrawn",
        "QuestionAnswered",
        "QuestionHighlighted",
        "QuestionRemoved",
        "MeetupRenamed",
    ] {
        total += app.count_events(event_type).await;
    }
    total
}

async fn an_archived_meetup_refuses_likes_edits_and_moderation(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let author = app.participant().await;
    let fan = app.participant().await;
    let question = app.post_question(&meetup, &author, "Still there?").await;
    let liked = app.post_question(&meetup, &author, "Liked before?").await;
    let path = format!("/questions/{question}");
    let like = app
        .send(
            Method::PUT,
            &format!("/questions/{liked}/vote"),
            Some(&fan),
            None,
        )
        .await;
    assert_eq!(like.status(), StatusCode::OK);
    let archive = app
        .send(
            Method::PATCH,
            &format!("/meetups/{}", meetup.id),
            Some(&meetup.key),
            Some(json!({"archived": true})),
        )
        .await;
    assert_eq!(archive.status(), StatusCode::OK);
    let recorded = changes_recorded(app).await;

    use Method as M;
    let key = meetup.key.as_str();
    expect_archived(app, "a like", M::PUT, &format!("{path}/vote"), &fan, None).await;
    expect_archived(
        app,
        "an unlike",
        M::DELETE,
        &format!("/questions/{liked}/vote"),
        &fan,
        None,
    )
    .await;
    expect_archived(
        app,
        "an edit",
        M::PATCH,
        &path,
        &author,
        Some(json!({"text": "Edited?"})),
    )
    .await;
    expect_archived(app, "a withdrawal", M::DELETE, &path, &author, None).await;
    for action in [
        "approve",
        "reject",
        "answer",
        "reopen",
        "highlight",
        "unhighlight",
    ] {
        expect_archived(app, action, M::POST, &format!("{path}/{action}"), key, None).await;
    }
    expect_archived(app, "a removal", M::DELETE, &path, key, None).await;
    expect_archived(
        app,
        "a new question",
        M::POST,
        &format!("/meetups/{}/questions", meetup.id),
        &author,
        Some(json!({"text": "Too late?"})),
    )
    .await;
    expect_archived(
        app,
        "a rename",
        M::PATCH,
        &format!("/meetups/{}", meetup.id),
        key,
        Some(json!({"title": "Renamed"})),
    )
    .await;

    assert_eq!(
        changes_recorded(app).await,
        recorded,
        "nothing was recorded"
    );
    // Read-only, not gone: the question can still be read.
    let read = app.send(M::GET, &path, None, None).await;
    assert_eq!(read.status(), StatusCode::OK);
}
both!(an_archived_meetup_refuses_likes_edits_and_moderation);
