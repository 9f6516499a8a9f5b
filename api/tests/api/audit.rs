//! Audit on both store sets: a scripted meetup whose live state is recorded
//! after each step, then read back as of each instant (by position and by
//! time), the changes between two instants, the history with its paging and
//! filters and as JSON Lines, and who may read them.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::support::{TestApp, TestMeetup};

/// A question as a reader compares it: (text, status, likes, answered,
/// highlighted), by id.
type Snapshot = BTreeMap<String, (String, String, i64, bool, bool)>;

fn snapshot(items: &[Value]) -> Snapshot {
    items
        .iter()
        .map(|q| {
            (
                q["id"].as_str().expect("id").to_owned(),
                (
                    q["text"].as_str().expect("text").to_owned(),
                    q["status"].as_str().expect("status").to_owned(),
                    q["likes"].as_i64().expect("likes"),
                    q["answered"].as_bool().expect("answered"),
                    q["highlighted"].as_bool().expect("highlighted"),
                ),
            )
        })
        .collect()
}

async fn json_ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).expect("json")
}

/// What the organizer's list shows once the read model reached `position`.
async fn live_state(app: &TestApp, m: &TestMeetup, position: i64) -> Snapshot {
    let mut items = Vec::new();
    for status in ["pending", "published", "rejected", "withdrawn", "removed"] {
        let body = json_ok(
            app.send(
                Method::GET,
                &format!(
                    "/meetups/{}/questions?status={status}&limit=100&min_position={position}",
                    m.id
                ),
                Some(&m.key),
                None,
            )
            .await,
        )
        .await;
        assert!(body["position"].as_i64().expect("position") >= position);
        items.extend(body["items"].as_array().expect("items").clone());
    }
    snapshot(&items)
}

async fn command(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: &str,
    body: Option<Value>,
) -> i64 {
    let response = app.send(method, path, Some(auth), body).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(status.is_success(), "{status}: {body}");
    body["position"].as_i64().expect("position")
}

/// One instant of the script: the position after it, a time after it, and
/// what the organizer saw then.
struct Step {
    position: i64,
    time: String,
    seen: Snapshot,
}

async fn record(app: &TestApp, m: &TestMeetup, position: i64) -> Step {
    let seen = live_state(app, m, position).await;
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // The next step's events are recorded strictly after this time.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    Step {
        position,
        time,
        seen,
    }
}

/// The scripted meetup: who took part, the questions, and three instants.
pub struct Script {
    pub meetup: TestMeetup,
    pub ids: Vec<String>,
    pub tokens: Vec<String>,
    pub q1: String,
    pub q2: String,
    pub q3: String,
    steps: Vec<Step>,
}

pub async fn run_script(app: &TestApp) -> Script {
    let m = app.create_meetup(false).await;
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for _ in 0..4 {
        let (id, token) = app.participant_with_id().await;
        ids.push(id);
        tokens.push(token);
    }
    let (a, b, c, d) = (&tokens[0], &tokens[1], &tokens[2], &tokens[3]);
    let q1 = app.post_question(&m, a, "Why Rust?").await;
    let q2 = app.post_question(&m, b, "=HYPERLINK(\"http://x\")").await;
    app.like(&q1, b).await;
    app.like(&q1, c).await;
    app.like(&q2, c).await;
    let p = app.like(&q2, a).await;
    let first = record(app, &m, p).await;

    command(
        app,
        Method::POST,
        &format!("/questions/{q1}/answer"),
        &m.key,
        None,
    )
    .await;
    command(
        app,
        Method::POST,
        &format!("/questions/{q2}/highlight"),
        &m.key,
        None,
    )
    .await;
    command(
        app,
        Method::DELETE,
        &format!("/questions/{q1}/vote"),
        b,
        None,
    )
    .await;
    let p = command(
        app,
        Method::PATCH,
        &format!("/questions/{q2}"),
        b,
        Some(json!({"text": "Why not Go?"})),
    )
    .await;
    let second = record(app, &m, p).await;

    command(
        app,
        Method::PATCH,
        &format!("/meetups/{}", m.id),
        &m.key,
        Some(json!({"moderated": true})),
    )
    .await;
    let response = app
        .send(
            Method::POST,
            &format!("/meetups/{}/questions", m.id),
            Some(d),
            Some(json!({"text": "Is it pending?"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let q3 = body["question"]["id"].as_str().expect("id").to_owned();
    let p = command(
        app,
        Method::DELETE,
        &format!("/questions/{q1}"),
        &m.key,
        Some(json!({"reason": "answered twice"})),
    )
    .await;
    let third = record(app, &m, p).await;
    Script {
        meetup: m,
        ids,
        tokens,
        q1,
        q2,
        q3,
        steps: vec![first, second, third],
    }
}

async fn state_as_of_each_recorded_instant_equals_what_was_seen_then(app: &TestApp) {
    let s = run_script(app).await;
    let m = &s.meetup;
    for (i, step) in s.steps.iter().enumerate() {
        for as_of in [step.position.to_string(), step.time.clone()] {
            let body = json_ok(
                app.send(
                    Method::GET,
                    &format!("/meetups/{}/state?as_of={}", m.id, urlencode(&as_of)),
                    Some(&m.key),
                    None,
                )
                .await,
            )
            .await;
            let questions = body["questions"].as_array().expect("questions");
            assert_eq!(snapshot(questions), step.seen, "step {i}, as_of {as_of}");
            assert_eq!(
                body["position"].as_i64(),
                Some(step.position),
                "as_of {as_of}"
            );
            assert_eq!(body["chain_head"].as_str().map(str::len), Some(64));
        }
    }
    // The meetup's own switches are as they were.
    let before = json_ok(
        app.send(
            Method::GET,
            &format!("/meetups/{}/state?as_of={}", m.id, s.steps[1].position),
            None,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(before["meetup"]["moderated"], json!(false));
    // Anyone else sees the published questions only: q3 (pending) and q1
    // (removed) are not there at the end.
    let public = json_ok(
        app.send(
            Method::GET,
            &format!("/meetups/{}/state", m.id),
            Some(&s.tokens[0]),
            None,
        )
        .await,
    )
    .await;
    let ids: Vec<&str> = public["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| q["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec![s.q2.as_str()]);
    // Before the meetup existed there is nothing to show; a position not
    // yet settled is refused.
    let early = app
        .send(
            Method::GET,
            &format!("/meetups/{}/state?as_of=0", m.id),
            None,
            None,
        )
        .await;
    assert_eq!(early.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let future = app
        .send(
            Method::GET,
            &format!("/meetups/{}/state?as_of=999999999", m.id),
            None,
            None,
        )
        .await;
    assert_eq!(future.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = future.json().await.expect("json");
    assert!(body["errors"]["as_of"][0]
        .as_str()
        .expect("message")
        .contains("settled"));
    let garbage = app
        .send(
            Method::GET,
            &format!("/meetups/{}/state?as_of=yesterday", m.id),
            None,
            None,
        )
        .await;
    assert_eq!(garbage.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
both!(state_as_of_each_recorded_instant_equals_what_was_seen_then);

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}

async fn changes_between_two_instants(app: &TestApp) {
    let s = run_script(app).await;
    let m = &s.meetup;
    let body = json_ok(
        app.send(
            Method::GET,
            &format!(
                "/meetups/{}/changes?from={}&to={}",
                m.id, s.steps[0].position, s.steps[2].position
            ),
            Some(&m.key),
            None,
        )
        .await,
    )
    .await;
    let posted: Vec<&str> = body["posted"]
        .as_array()
        .expect("posted")
        .iter()
        .map(|q| q["id"].as_str().expect("id"))
        .collect();
    assert_eq!(posted, vec![s.q3.as_str()]);
    let mut changed: Vec<(String, String, Value, Value)> = body["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .map(|c| {
            (
                c["question_id"].as_str().expect("id").to_owned(),
                c["field"].as_str().expect("field").to_owned(),
                c["from"].clone(),
                c["to"].clone(),
            )
        })
        .collect();
    changed.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut expected = vec![
        (
            s.q1.clone(),
            "answered".to_owned(),
            json!(false),
            json!(true),
        ),
        (
            s.q1.clone(),
            "status".to_owned(),
            json!("published"),
            json!("removed"),
        ),
        (
            s.q2.clone(),
            "highlighted".to_owned(),
            json!(false),
            json!(true),
        ),
        (
            s.q2.clone(),
            "text".to_owned(),
            json!("=HYPERLINK(\"http://x\")"),
            json!("Why not Go?"),
        ),
    ];
    expected.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(changed, expected);
    assert_eq!(
        body["likes"],
        json!([{"question_id": s.q1, "gained": 0, "lost": 1, "likes": 1}])
    );
    // From a time to a time gives the same.
    let by_time = json_ok(
        app.send(
            Method::GET,
            &format!(
                "/meetups/{}/changes?from={}&to={}",
                m.id,
                urlencode(&s.steps[0].time),
                urlencode(&s.steps[2].time)
            ),
            Some(&m.key),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(by_time["changed"].as_array().map(Vec::len), Some(4));
    let backwards = app
        .send(
            Method::GET,
            &format!(
                "/meetups/{}/changes?from={}&to={}",
                m.id, s.steps[2].position, s.steps[0].position
            ),
            Some(&m.key),
            None,
        )
        .await;
    assert_eq!(backwards.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
both!(changes_between_two_instants);

async fn all_pages(app: &TestApp, path: &str, key: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let body = json_ok(app.send(Method::GET, &url, Some(key), None).await).await;
        items.extend(body["items"].as_array().expect("items").clone());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

async fn history_pages_filters_and_streams_the_events(app: &TestApp) {
    let s = run_script(app).await;
    let m = &s.meetup;
    let everything = all_pages(
        app,
        &format!("/meetups/{}/history?limit=1000", m.id),
        &m.key,
    )
    .await;
    let positions: Vec<i64> = everything
        .iter()
        .map(|e| e["position"].as_i64().expect("position"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "position order");
    let types: Vec<&str> = everything
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types.get(..2),
        Some(&["JoinCodeClaimed", "MeetupCreated"][..])
    );
    assert_eq!(types.iter().filter(|t| **t == "VoteCast").count(), 4);
    assert_eq!(types.iter().filter(|t| **t == "QuestionPosted").count(), 3);
    // Pages of three hold the same events, none twice.
    let paged = all_pages(app, &format!("/meetups/{}/history?limit=3", m.id), &m.key).await;
    assert_eq!(paged, everything);
    // Every event is chained (the read model has caught up: the script
    // read it at the last position).
    assert!(everything
        .iter()
        .all(|e| e["link"].as_str().is_some_and(|l| l.len() == 64)));
    // No raw participant id, key hash or token anywhere.
    let text = serde_json::to_string(&everything).expect("json");
    for id in &s.ids {
        assert!(!text.contains(id.as_str()), "participant id {id} leaked");
    }
    assert!(!text.contains("organizer_key_hash"));
    // The organizer's actions, and one participant's, by pseudonym.
    let organizer = all_pages(
        app,
        &format!("/meetups/{}/history?actor=organizer", m.id),
        &m.key,
    )
    .await;
    let organizer_types: Vec<&str> = organizer
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        organizer_types,
        vec![
            "JoinCodeClaimed",
            "MeetupCreated",
            "QuestionAnswered",
            "QuestionHighlighted",
            "ModerationEnabled",
            "QuestionRemoved"
        ]
    );
    let b_posted = everything
        .iter()
        .find(|e| e["type"] == "QuestionPosted" && e["data"]["QuestionPosted"]["id"] == json!(s.q2))
        .expect("q2 posted");
    let b = b_posted["actor"].as_str().expect("actor").to_owned();
    assert!(
        b.starts_with("participant:") && b.len() == "participant:".len() + 10,
        "{b}"
    );
    assert_eq!(
        b_posted["data"]["QuestionPosted"]["author"],
        json!(b.trim_start_matches("participant:"))
    );
    let by_b = all_pages(app, &format!("/meetups/{}/history?actor={b}", m.id), &m.key).await;
    let b_types: Vec<&str> = by_b
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        b_types,
        vec![
            "QuestionPosted",
            "VoteCast",
            "VoteWithdrawn",
            "QuestionEdited"
        ]
    );
    // By type (several), and by time.
    let votes = all_pages(
        app,
        &format!("/meetups/{}/history?type=VoteCast,VoteWithdrawn", m.id),
        &m.key,
    )
    .await;
    assert_eq!(votes.len(), 5);
    let later = all_pages(
        app,
        &format!(
            "/meetups/{}/history?from={}",
            m.id,
            urlencode(&s.steps[1].time)
        ),
        &m.key,
    )
    .await;
    assert_eq!(
        later
            .iter()
            .map(|e| e["type"].as_str().expect("type"))
            .collect::<Vec<_>>(),
        vec!["ModerationEnabled", "QuestionPosted", "QuestionRemoved"]
    );
    // One question's history: its own events and its likes.
    let q1 = all_pages(app, &format!("/questions/{}/history", s.q1), &m.key).await;
    assert_eq!(
        q1.iter()
            .map(|e| e["type"].as_str().expect("type"))
            .collect::<Vec<_>>(),
        vec![
            "QuestionPosted",
            "VoteCast",
            "VoteCast",
            "QuestionAnswered",
            "VoteWithdrawn",
            "QuestionRemoved"
        ]
    );
    // JSON Lines: all of it, one event a line.
    let response = app
        .request(Method::GET, &format!("/meetups/{}/history", m.id))
        .bearer_auth(&m.key)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("type"),
        "application/x-ndjson"
    );
    let text = response.text().await.expect("body");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines, everything);
    // Bad filters are named.
    for (query, field) in [
        ("from=noon", "from"),
        ("limit=0", "limit"),
        ("cursor=-3", "cursor"),
        ("type=Vote%20Cast", "type"),
    ] {
        app.assert_invalid_field(
            &format!("/meetups/{}/history?{query}", m.id),
            Some(&m.key),
            field,
        )
        .await;
    }
}
both!(history_pages_filters_and_streams_the_events);

async fn audit_needs_the_meetups_organizer_key(app: &TestApp) {
    let m = app.create_meetup(false).await;
    let other = app.create_meetup(false).await;
    let token = app.participant().await;
    let q = app.post_question(&m, &token, "Who may audit?").await;
    for path in [
        format!("/meetups/{}/history", m.id),
        format!("/questions/{q}/history"),
        format!("/meetups/{}/changes?from=0", m.id),
    ] {
        let nobody = app.send(Method::GET, &path, None, None).await;
        assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            nobody.headers()["content-type"].to_str().expect("type"),
            "application/problem+json"
        );
        for wrong in [&token, &other.key] {
            let response = app.send(Method::GET, &path, Some(wrong), None).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let ok = app.send(Method::GET, &path, Some(&m.key), None).await;
        assert_eq!(ok.status(), StatusCode::OK, "{path}");
    }
    let missing = app
        .send(
            Method::GET,
            "/meetups/00000000-0000-7000-8000-000000000000/history",
            Some(&m.key),
            None,
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
both!(audit_needs_the_meetups_organizer_key);

/// The position of the first event of `event_type` whose data names `id`.
async fn position_of(
    app: &TestApp,
    m: &TestMeetup,
    event_type: &str,
    pick: impl Fn(&Value) -> bool,
) -> i64 {
    all_pages(
        app,
        &format!("/meetups/{}/history?type={event_type}", m.id),
        &m.key,
    )
    .await
    .iter()
    .find(|e| pick(e))
    .and_then(|e| e["position"].as_i64())
    .expect("the event")
}

async fn verify_names_an_altered_and_a_deleted_event(app: &TestApp) {
    use crate::support::SqlArg::Int;
    let s = run_script(app).await;
    let m = &s.meetup;
    let scaled = app.store_argv().iter().any(|a| a == "--redis-url");
    let (ok, out, err) = app.run_cli(&["verify"]).await;
    assert!(ok, "a clean store verifies: {out}{err}");
    assert!(out.contains("the hash chain match the events"), "{out}");
    assert_eq!(
        out.contains("the leaderboard and the hash chain match"),
        scaled,
        "{out}"
    );
    let (ok, out, err) = app.run_cli(&["verify", "--meetup", &m.code]).await;
    assert!(ok, "one meetup by its code: {out}{err}");

    // Alter the text of a posted question after the fact.
    let posted = position_of(app, m, "QuestionPosted", |e| {
        e["data"]["QuestionPosted"]["id"] == json!(s.q1)
    })
    .await;
    let altered = app
        .store_execute(
            "UPDATE events SET payload = replace(payload::text, 'Why Rust?', 'Why Go?')::json
             WHERE global_position = $1",
            "UPDATE events SET payload = replace(payload, 'Why Rust?', 'Why Go?')
             WHERE global_position = ?1",
            &[Int(posted)],
        )
        .await;
    assert_eq!(altered, 1);
    let (ok, out, err) = app.run_cli(&["verify"]).await;
    assert!(!ok, "an altered event fails verification: {out}");
    assert!(
        err.contains(&format!("event at position {posted}")) && err.contains("altered"),
        "names the event: {err}"
    );
    let (ok, _, err) = app.run_cli(&["verify", "--meetup", &m.id]).await;
    assert!(
        !ok && err.contains(&format!("event at position {posted}")),
        "{err}"
    );
    // Put it back: clean again.
    app.store_execute(
        "UPDATE events SET payload = replace(payload::text, 'Why Go?', 'Why Rust?')::json
         WHERE global_position = $1",
        "UPDATE events SET payload = replace(payload, 'Why Go?', 'Why Rust?')
         WHERE global_position = ?1",
        &[Int(posted)],
    )
    .await;
    let (ok, out, err) = app.run_cli(&["verify"]).await;
    assert!(ok, "restored: {out}{err}");

    // Delete a like from the middle of the history.
    let like = position_of(app, m, "VoteCast", |e| {
        e["data"]["VoteCast"]["question_id"] == json!(s.q2)
    })
    .await;
    let deleted = app
        .store_execute(
            "DELETE FROM events WHERE global_position = $1",
            "DELETE FROM events WHERE global_position = ?1",
            &[Int(like)],
        )
        .await;
    assert_eq!(deleted, 1);
    let (ok, out, err) = app.run_cli(&["verify"]).await;
    assert!(!ok, "a deleted event fails verification: {out}");
    assert!(
        err.contains(&format!("event at position {like}")) && err.contains("deleted"),
        "names the deleted event: {err}"
    );
}
both!(verify_names_an_altered_and_a_deleted_event);

async fn verify_finds_a_read_model_that_drifted_from_the_events(app: &TestApp) {
    let s = run_script(app).await;
    let changed = app
        .read_model_execute(&format!(
            "UPDATE questions SET likes = likes + 5 WHERE id = '{}'",
            s.q2
        ))
        .await;
    assert_eq!(changed, 1);
    let (ok, out, err) = app.run_cli(&["verify"]).await;
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!("question {}", s.q2)) && err.contains("likes"),
        "names the question and the field: {err}"
    );
}
both!(verify_finds_a_read_model_that_drifted_from_the_events);

async fn verify_names_a_deleted_last_event(app: &TestApp) {
    use crate::support::SqlArg::Int;
    let s = run_script(app).await;
    // The script's last event, the removal of q1: nothing follows it in the
    // meetup's chain, so only the chain's end can tell it is gone.
    let last = s.steps[2].position;
    let deleted = app
        .store_execute(
            "DELETE FROM events WHERE global_position = $1",
            "DELETE FROM events WHERE global_position = ?1",
            &[Int(last)],
        )
        .await;
    assert_eq!(deleted, 1);
    let (ok, out, err) = app.run_cli(&["verify"]).await;
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!("event at position {last}")) && err.contains("deleted"),
        "names the deleted event: {err}"
    );
}
both!(verify_names_a_deleted_last_event);
