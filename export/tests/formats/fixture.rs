//! A small meetup: four questions (one a formula, one a script tag), a few
//! votes, three minutes of activity, two moderation actions.

use chrono::{DateTime, TimeZone, Utc};
use qicoo_export::{
    ActivityRow, ExportHeader, ModerationRow, QuestionRow, Summary, TopQuestion, VoteAction,
    VoteRow,
};

pub const FORMULA: &str = "=HYPERLINK(\"http://evil.example\",\"click\")";
pub const SCRIPT: &str = "<script>alert('pwned')</script> 日本語でも質問";

/// 2026-12-07 at `h:m:s` UTC.
pub fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, h, m, s)
        .single()
        .expect("a valid time")
}

pub struct Meetup {
    pub header: ExportHeader,
    pub questions: Vec<QuestionRow>,
    pub votes: Vec<VoteRow>,
    pub activity: Vec<ActivityRow>,
    pub moderation: Vec<ModerationRow>,
    pub summary: Summary,
}

fn question(id: &str, text: &str, likes: i64, posted_at: DateTime<Utc>) -> QuestionRow {
    QuestionRow {
        id: id.into(),
        text: text.into(),
        author_name: None,
        status: "published",
        likes,
        answered: false,
        highlighted: false,
        posted_at,
        answered_at: None,
        time_to_answer_s: None,
        edits: 0,
    }
}

pub fn meetup() -> Meetup {
    let mut q1 = question("q1", "How do you scale WebSockets?", 5, at(20, 15, 3));
    q1.author_name = Some("Aki".into());
    q1.answered = true;
    q1.answered_at = Some(at(20, 20, 3));
    q1.time_to_answer_s = Some(300);
    let q2 = question("q2", FORMULA, 2, at(20, 16, 0));
    let mut q3 = question("q3", SCRIPT, 5, at(20, 17, 30));
    q3.highlighted = true;
    q3.edits = 1;
    let mut q4 = question("q4", "-2 is a negative number", 0, at(20, 18, 0));
    q4.status = "pending";
    let vote = |position, question: &str, who: &str, t, action| VoteRow {
        position,
        question_id: question.into(),
        participant: who.into(),
        at: t,
        action,
    };
    Meetup {
        header: ExportHeader {
            meetup_id: "0190a5d2-7c1e-7bbb-8000-000000000042".into(),
            code: "RUST42".into(),
            title: "Rust Meetup Tokyo #42".into(),
            position: 1234,
            chain_head: "ab".repeat(32),
            as_of: Some(at(21, 0, 0)),
        },
        votes: vec![
            vote(10, "q1", "p-1", at(20, 15, 30), VoteAction::Cast),
            vote(11, "q1", "p-2", at(20, 16, 10), VoteAction::Cast),
            vote(12, "q2", "p-1", at(20, 16, 40), VoteAction::Cast),
            vote(13, "q2", "p-1", at(20, 17, 5), VoteAction::Withdrawn),
        ],
        activity: vec![
            ActivityRow {
                minute: at(20, 15, 0),
                questions: 1,
                likes: 1,
                active_participants: 2,
            },
            ActivityRow {
                minute: at(20, 16, 0),
                questions: 1,
                likes: 2,
                active_participants: 2,
            },
            // More likes withdrawn than cast in that minute.
            ActivityRow {
                minute: at(20, 17, 0),
                questions: 1,
                likes: -1,
                active_participants: 1,
            },
        ],
        moderation: vec![
            ModerationRow {
                position: 20,
                at: at(20, 20, 3),
                action: "answer",
                actor: "organizer",
                question_id: Some("q1".into()),
                reason: None,
            },
            ModerationRow {
                position: 21,
                at: at(20, 21, 0),
                action: "reject",
                actor: "organizer",
                question_id: Some("q9".into()),
                reason: Some("+off topic".into()),
            },
        ],
        summary: Summary {
            participants: 3,
            posters: 2,
            voters: 2,
            questions: 4,
            likes: 12,
            posted_share: 2.0 / 3.0,
            liked_share: 2.0 / 3.0,
            answered: 1,
            median_time_to_answer_s: Some(300.0),
            top: vec![
                TopQuestion {
                    rank: 1,
                    id: "q1".into(),
                    text: q1.text.clone(),
                    likes: 5,
                    answered: true,
                },
                TopQuestion {
                    rank: 2,
                    id: "q3".into(),
                    text: q3.text.clone(),
                    likes: 5,
                    answered: false,
                },
                TopQuestion {
                    rank: 3,
                    id: "q2".into(),
                    text: q2.text.clone(),
                    likes: 2,
                    answered: false,
                },
            ],
        },
        questions: vec![q4, q2, q3, q1],
    }
}

/// Every table of `m` into the writer, through `begin` and `row`.
macro_rules! write_tables {
    ($w:expr, $m:expr) => {{
        $w.begin_table(qicoo_export::Table::Questions)?;
        for r in &$m.questions {
            $w.write_row(r)?;
        }
        $w.begin_table(qicoo_export::Table::Votes)?;
        for r in &$m.votes {
            $w.write_row(r)?;
        }
        $w.begin_table(qicoo_export::Table::Activity)?;
        for r in &$m.activity {
            $w.write_row(r)?;
        }
        $w.begin_table(qicoo_export::Table::Moderation)?;
        for r in &$m.moderation {
            $w.write_row(r)?;
        }
        $w.begin_table(qicoo_export::Table::Summary)?;
        $w.write_summary(&$m.summary)?;
    }};
}

pub fn zip(m: &Meetup, options: qicoo_export::CsvOptions) -> qicoo_export::Result<Vec<u8>> {
    let mut w = qicoo_export::CsvZipWriter::new(Vec::new(), &m.header, options)?;
    write_tables!(w, m);
    w.finish()
}

pub fn xlsx(m: &Meetup) -> qicoo_export::Result<Vec<u8>> {
    let mut w = qicoo_export::XlsxWriter::new(&m.header)?;
    write_tables!(w, m);
    w.finish(Vec::new())
}

pub fn jsonl(m: &Meetup) -> qicoo_export::Result<Vec<u8>> {
    let mut w = qicoo_export::JsonLinesWriter::new(Vec::new(), &m.header)?;
    for r in &m.questions {
        w.write_row(r)?;
    }
    for r in &m.votes {
        w.write_row(r)?;
    }
    for r in &m.activity {
        w.write_row(r)?;
    }
    for r in &m.moderation {
        w.write_row(r)?;
    }
    w.write_summary(&m.summary)?;
    w.finish()
}

pub fn report(m: &Meetup, lang: qicoo_export::Lang, offset_hours: i32) -> String {
    let mut out = Vec::new();
    let data = qicoo_export::ReportData {
        header: &m.header,
        summary: &m.summary,
        activity: &m.activity,
        questions: &m.questions,
    };
    let options = qicoo_export::ReportOptions {
        lang,
        offset: chrono::FixedOffset::east_opt(offset_hours * 3600).expect("a valid offset"),
    };
    qicoo_export::write_report(&mut out, &data, &options).expect("the report is written");
    String::from_utf8(out).expect("the report is UTF-8")
}
