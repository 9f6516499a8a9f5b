//! Exports on both store sets, read back by independent readers: CSV (the
//! `csv` crate), a zip of CSV files (`zip`), JSON Lines (`serde_json`),
//! Excel (`calamine`) and the HTML report (`tl`); formula cells
//! neutralized; the same bytes for the same position; `qicoo export` gives
//! the bytes the API does; and who may export.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::audit::run_script;
use crate::both;
use crate::support::{TestApp, TestMeetup};

/// Downloads an export; returns its headers' position and chain head, and
/// its bytes.
async fn download(app: &TestApp, m: &TestMeetup, query: &str) -> (String, i64, String, Vec<u8>) {
    let response = app
        .send(
            Method::GET,
            &format!("/meetups/{}/export?{query}", m.id),
            Some(&m.key),
            None,
        )
        .await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body").to_vec();
    assert_eq!(
        status,
        StatusCode::OK,
        "{query}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    (
        text("content-type"),
        text("qicoo-position").parse().expect("a position header"),
        text("qicoo-chain-head"),
        bytes,
    )
}

fn csv_rows(bytes: &[u8]) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers().expect("a header row").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("a record");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

async fn each_format_reads_back_with_the_expected_rows(app: &TestApp) {
    let s = run_script(app).await;
    let m = &s.meetup;
    // A question a spreadsheet would run as a formula.
    let formula = app.post_question(m, &s.tokens[2], "=1+2").await;
    let approved = app
        .send(
            Method::POST,
            &format!("/questions/{formula}/approve"),
            Some(&m.key),
            None,
        )
        .await;
    assert_eq!(approved.status(), StatusCode::OK);
    let p = app.like(&formula, &s.tokens[0]).await;
    // The export reflects the settled store; wait until the read model has
    // it too, so that every event is also chained.
    app.send(
        Method::GET,
        &format!("/meetups/{}/questions?min_position={p}", m.id),
        None,
        None,
    )
    .await;

    // CSV, one table: the questions.
    let (media, position, head, bytes) = download(app, m, "format=csv&table=questions").await;
    assert_eq!(media, "text/csv; charset=utf-8");
    assert_eq!(position, p);
    assert_eq!(head.len(), 64);
    let rows = csv_rows(&bytes);
    let by_id: BTreeMap<&str, &BTreeMap<String, String>> =
        rows.iter().map(|r| (r["id"].as_str(), r)).collect();
    assert_eq!(by_id.len(), 4);
    let q1 = by_id[s.q1.as_str()];
    assert_eq!(q1["text"], "Why Rust?");
    assert_eq!(q1["status"], "removed");
    assert_eq!(q1["likes"], "1");
    assert_eq!(q1["answered"], "true");
    assert!(!q1["answered_at"].is_empty() && !q1["time_to_answer_s"].is_empty());
    assert_eq!(by_id[s.q2.as_str()]["edits"], "1");
    assert_eq!(by_id[s.q3.as_str()]["status"], "pending");
    assert_eq!(by_id[formula.as_str()]["text"], "'=1+2", "neutralized");

    // The votes: every cast and withdrawal, under pseudonyms.
    let (_, _, _, bytes) = download(app, m, "format=csv&table=votes&bom=true").await;
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a BOM when asked for");
    let votes = csv_rows(&bytes[3..]);
    assert_eq!(votes.len(), 6);
    assert_eq!(
        votes.iter().filter(|v| v["action"] == "withdrawn").count(),
        1
    );
    let text = String::from_utf8_lossy(&bytes);
    for id in &s.ids {
        assert!(
            !text.contains(id.as_str()),
            "a raw participant id in the votes"
        );
    }

    // Every table in a zip, with what the export reflects.
    let (media, _, _, bytes) = download(app, m, "format=csv").await;
    assert_eq!(media, "application/zip");
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
    let mut names: Vec<String> = zip
        .file_names()
        .map(|n| n.expect("a name").into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "activity.csv",
            "export.json",
            "moderation.csv",
            "questions.csv",
            "summary.csv",
            "votes.csv"
        ]
    );
    let mut header = String::new();
    zip.by_name("export.json")
        .expect("export.json")
        .read_to_string(&mut header)
        .expect("read");
    let header: Value = serde_json::from_str(&header).expect("json");
    assert_eq!(header["position"].as_i64(), Some(p));
    assert_eq!(header["chain_head"].as_str(), Some(head.as_str()));
    let mut moderation = Vec::new();
    zip.by_name("moderation.csv")
        .expect("moderation.csv")
        .read_to_end(&mut moderation)
        .expect("read");
    let actions: Vec<String> = csv_rows(&moderation)
        .iter()
        .map(|r| r["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            "answer",
            "highlight",
            "enable_moderation",
            "remove",
            "approve"
        ]
    );

    // JSON Lines: a header, then one object per row, each naming its table.
    let (media, _, _, bytes) = download(app, m, "format=jsonl").await;
    assert_eq!(media, "application/x-ndjson");
    let lines: Vec<Value> = String::from_utf8(bytes)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines[0]["table"], "export");
    assert_eq!(lines[0]["chain_head"].as_str(), Some(head.as_str()));
    let count = |t: &str| lines.iter().filter(|l| l["table"] == t).count();
    assert_eq!(
        (count("questions"), count("votes"), count("moderation")),
        (4, 6, 5)
    );
    let summary: BTreeMap<String, Value> = lines
        .iter()
        .filter(|l| l["table"] == "summary")
        .map(|l| {
            (
                l["metric"].as_str().unwrap_or_default().to_owned(),
                l["value"].clone(),
            )
        })
        .collect();
    assert_eq!(summary["questions"], 4);
    assert_eq!(summary["participants"], 4);
    assert_eq!(summary["posters"], 4);
    assert_eq!(summary["likes"], 4, "cast minus withdrawn");

    // Excel: real numbers and dates.
    let (_, _, _, bytes) = download(app, m, "format=xlsx").await;
    let mut workbook: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).expect("an xlsx");
    let questions = workbook
        .worksheet_range("Questions")
        .expect("a Questions sheet");
    let header_row: Vec<String> = questions
        .rows()
        .next()
        .expect("a header")
        .iter()
        .map(|c| c.to_string())
        .collect();
    let col = |name: &str| header_row.iter().position(|h| h == name).expect(name);
    let q1_row = questions
        .rows()
        .find(|r| r.first() == Some(&Data::String(s.q1.clone())))
        .expect("q1's row");
    assert_eq!(q1_row[col("likes")], Data::Float(1.0));
    assert!(
        matches!(q1_row[col("posted_at")], Data::DateTime(_)),
        "a date, not text"
    );
    let formula_row = questions
        .rows()
        .find(|r| r.first() == Some(&Data::String(formula.clone())))
        .expect("the formula's row");
    assert_eq!(
        formula_row[col("text")],
        Data::String("=1+2".into()),
        "a string, not a formula"
    );
    assert_eq!(
        workbook
            .worksheet_range("Votes")
            .expect("votes")
            .rows()
            .count(),
        7
    );

    // The report, in Japanese.
    let (media, _, _, bytes) = download(app, m, "format=html&lang=ja").await;
    assert_eq!(media, "text/html; charset=utf-8");
    let html = String::from_utf8(bytes).expect("utf-8");
    let dom = tl::parse(&html, tl::ParserOptions::default()).expect("html");
    let root = dom
        .query_selector("html")
        .and_then(|mut q| q.next())
        .and_then(|h| h.get(dom.parser()))
        .and_then(|n| n.as_tag().cloned())
        .expect("an html element");
    assert_eq!(
        root.attributes()
            .get("lang")
            .flatten()
            .map(|v| v.as_utf8_str().to_string()),
        Some("ja".to_owned())
    );
    assert!(
        dom.query_selector("svg").map(Iterator::count).unwrap_or(0) >= 3,
        "charts"
    );
    assert_eq!(dom.query_selector("script").map(Iterator::count), Some(0));
    assert!(html.contains("Why not Go?") && html.contains(&head));
}
both!(each_format_reads_back_with_the_expected_rows);

async fn the_same_position_gives_the_same_bytes_by_api_and_cli(app: &TestApp) {
    let s = run_script(app).await;
    let m = &s.meetup;
    let at = s.meetup.position + 6;
    for format in ["csv", "jsonl", "xlsx", "html"] {
        let query = format!("format={format}&as_of={at}");
        let (_, position, head, first) = download(app, m, &query).await;
        // More happens after that instant; the export as of it stays the same.
        app.like(&s.q2, &s.tokens[3]).await;
        app.send(
            Method::DELETE,
            &format!("/questions/{}/vote", s.q2),
            Some(&s.tokens[3]),
            None,
        )
        .await;
        let (_, again_position, again_head, second) = download(app, m, &query).await;
        assert_eq!(
            (position, head.clone()),
            (again_position, again_head),
            "{format}"
        );
        assert!(position <= at);
        assert_eq!(first, second, "{format}: the same bytes");
        // `qicoo export` against the same stores writes the same bytes.
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("export.out");
        let out_arg = out.display().to_string();
        let at_arg = at.to_string();
        let (ok, stdout, stderr) = app
            .run_cli(&[
                "export", "--meetup", &m.code, "--format", format, "--as-of", &at_arg, "--out",
                &out_arg,
            ])
            .await;
        assert!(ok, "{stdout}{stderr}");
        assert!(
            stderr.contains(&head),
            "the CLI states the chain head: {stderr}"
        );
        assert_eq!(
            std::fs::read(&out).expect("the file"),
            first,
            "{format}: CLI = API"
        );
    }
}
both!(the_same_position_gives_the_same_bytes_by_api_and_cli);

async fn export_is_the_organizers_and_refuses_bad_settings(app: &TestApp) {
    let m = app.create_meetup(false).await;
    let other = app.create_meetup(false).await;
    let token = app.participant().await;
    let path = format!("/meetups/{}/export?format=jsonl", m.id);
    assert_eq!(
        app.send(Method::GET, &path, None, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for wrong in [&token, &other.key] {
        assert_eq!(
            app.send(Method::GET, &path, Some(wrong), None)
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
    }
    for (query, field) in [
        ("format=pdf", "format"),
        ("table=people", "table"),
        ("format=html&table=votes", "table"),
        ("format=html&tz=JST", "tz"),
        ("lang=fr", "lang"),
        ("bom=maybe", "bom"),
        ("as_of=999999999", "as_of"),
    ] {
        app.assert_invalid_field(
            &format!("/meetups/{}/export?{query}", m.id),
            Some(&m.key),
            field,
        )
        .await;
    }
    let (ok, _, stderr) = app
        .run_cli(&[
            "export", "--meetup", "NOSUCH", "--format", "csv", "--out", "-",
        ])
        .await;
    assert!(!ok && stderr.contains("NOSUCH"), "{stderr}");
}
both!(export_is_the_organizers_and_refuses_bad_settings);
