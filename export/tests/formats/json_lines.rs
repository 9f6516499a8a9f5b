use serde_json::{json, Value};

use crate::fixture::{self, meetup, FORMULA, SCRIPT};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn lines() -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let bytes = fixture::jsonl(&meetup())?;
    let text = String::from_utf8(bytes)?;
    assert!(text.ends_with('\n'));
    Ok(text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

#[test]
fn the_first_line_is_the_export_header() -> TestResult {
    let lines = lines()?;
    assert_eq!(
        lines[0],
        json!({
            "table": "export",
            "meetup_id": "0190a5d2-7c1e-7bbb-8000-000000000042",
            "code": "RUST42",
            "title": "Rust Meetup Tokyo #42",
            "position": 1234,
            "chain_head": "ab".repeat(32),
            "as_of": "2026-12-07T21:00:00Z"
        })
    );
    Ok(())
}

#[test]
fn every_line_names_its_table_and_values_keep_their_types() -> TestResult {
    let lines = lines()?;
    let count = |table: &str| lines.iter().filter(|l| l["table"] == table).count();
    assert_eq!(count("export"), 1);
    assert_eq!(count("questions"), 4);
    assert_eq!(count("votes"), 4);
    assert_eq!(count("activity"), 3);
    assert_eq!(count("moderation"), 2);
    assert_eq!(count("summary"), 12);
    assert_eq!(lines.len(), 26);

    let q1 = lines
        .iter()
        .find(|l| l["table"] == "questions" && l["id"] == "q1")
        .ok_or("q1 is missing")?;
    assert_eq!(
        *q1,
        json!({
            "table": "questions",
            "id": "q1",
            "text": "How do you scale WebSockets?",
            "author_name": "Aki",
            "status": "published",
            "likes": 5,
            "answered": true,
            "highlighted": false,
            "posted_at": "2026-12-07T20:15:03Z",
            "answered_at": "2026-12-07T20:20:03Z",
            "time_to_answer_s": 300,
            "edits": 0
        })
    );
    let q2 = lines
        .iter()
        .find(|l| l["table"] == "questions" && l["id"] == "q2")
        .ok_or("q2 is missing")?;
    assert_eq!(q2["text"], FORMULA, "JSON keeps text as it was");
    assert_eq!(q2["author_name"], Value::Null);
    let q3 = lines
        .iter()
        .find(|l| l["table"] == "questions" && l["id"] == "q3")
        .ok_or("q3 is missing")?;
    assert_eq!(q3["text"], SCRIPT);

    let vote = lines
        .iter()
        .find(|l| l["table"] == "votes")
        .ok_or("no vote")?;
    assert_eq!(
        *vote,
        json!({"table": "votes", "position": 10, "question_id": "q1", "participant": "p-1", "at": "2026-12-07T20:15:30Z", "action": "cast"})
    );
    let top = lines
        .iter()
        .find(|l| l["table"] == "summary" && l["metric"] == "top_1")
        .ok_or("no top_1")?;
    assert_eq!(
        *top,
        json!({"table": "summary", "metric": "top_1", "value": 5, "question_id": "q1", "question_text": "How do you scale WebSockets?", "question_answered": true})
    );
    let share = lines
        .iter()
        .find(|l| l["metric"] == "posted_share")
        .ok_or("no posted_share")?;
    assert!((share["value"].as_f64().ok_or("not a number")? - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(share["question_id"], Value::Null);
    Ok(())
}

#[test]
fn keys_come_in_column_order_with_the_table_first() -> TestResult {
    let bytes = fixture::jsonl(&meetup())?;
    let text = String::from_utf8(bytes)?;
    let vote_line = text
        .lines()
        .find(|l| l.starts_with(r#"{"table":"votes""#))
        .ok_or("no vote line")?;
    assert_eq!(
        vote_line,
        r#"{"table":"votes","position":10,"question_id":"q1","participant":"p-1","at":"2026-12-07T20:15:30Z","action":"cast"}"#
    );
    Ok(())
}
