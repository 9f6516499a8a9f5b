//! Many clients at once: the loser of a race is retried, never a 500, and one
//! like per participant holds however the requests interleave.

use futures::future::join_all;
use reqwest::{Method, StatusCode};

use crate::both;
use crate::support::TestApp;

async fn fifty_simultaneous_likes_by_one_participant_record_one_vote(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let token = app.participant().await;
    let question = app.post_question(&meetup, &token, "Hot?").await;
    let path = format!("/questions/{question}/vote");
    let responses =
        join_all((0..50).map(|_| app.send(Method::PUT, &path, Some(&token), None))).await;
    for response in responses {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(app.count_events("VoteCast").await, 1);
}
both!(fifty_simultaneous_likes_by_one_participant_record_one_vote);

async fn fifty_participants_liking_at_once_record_fifty_votes(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let author = app.participant().await;
    let question = app.post_question(&meetup, &author, "Popular?").await;
    let path = format!("/questions/{question}/vote");
    let tokens = join_all((0..50).map(|_| app.participant())).await;
    let responses = join_all(
        tokens
            .iter()
            .map(|token| app.send(Method::PUT, &path, Some(token), None)),
    )
    .await;
    for response in responses {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(app.count_events("VoteCast").await, 50);
}
both!(fifty_participants_liking_at_once_record_fifty_votes);

async fn concurrent_edits_of_one_meetup_all_succeed_without_a_server_error(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let path = format!("/meetups/{}", meetup.id);
    let responses = join_all((0..20).map(|i| {
        app.send(
            Method::PATCH,
            &path,
            Some(&meetup.key),
            Some(serde_json::json!({"title": format!("Title {i}")})),
        )
    }))
    .await;
    for response in responses {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(app.count_events("MeetupRenamed").await, 20);
}
both!(concurrent_edits_of_one_meetup_all_succeed_without_a_server_error);

async fn a_question_withdrawn_after_likes_refuses_the_next_like(app: &TestApp) {
    let meetup = app.create_meetup(false).await;
    let author = app.participant().await;
    let question = app.post_question(&meetup, &author, "Gone soon?").await;
    let path = format!("/questions/{question}/vote");
    // These likes read the question and its meetup, which the write side keeps.
    for _ in 0..3 {
        let fan = app.participant().await;
        let liked = app.send(Method::PUT, &path, Some(&fan), None).await;
        assert_eq!(liked.status(), StatusCode::OK);
    }
    let withdrawn = app
        .send(
            Method::DELETE,
            &format!("/questions/{question}"),
            Some(&author),
            None,
        )
        .await;
    assert!(withdrawn.status().is_success(), "{}", withdrawn.status());
    let late = app.participant().await;
    let refused = app.send(Method::PUT, &path, Some(&late), None).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(app.count_events("VoteCast").await, 3);
}
both!(a_question_withdrawn_after_likes_refuses_the_next_like);
