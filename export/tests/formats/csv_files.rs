use qicoo_export::{CsvOptions, CsvWriter, Error, Table, BOM};

use crate::fixture::{meetup, FORMULA};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn questions_csv(options: CsvOptions) -> qicoo_export::Result<Vec<u8>> {
    let m = meetup();
    let mut w = CsvWriter::new(Vec::new(), Table::Questions, options)?;
    for q in &m.questions {
        w.write_row(q)?;
    }
    w.finish()
}

#[test]
fn a_questions_file_has_the_stable_header_and_one_record_per_question() -> TestResult {
    let bytes = questions_csv(CsvOptions::default())?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    assert_eq!(
        r.headers()?.iter().collect::<Vec<_>>(),
        [
            "id",
            "text",
            "author_name",
            "status",
            "likes",
            "answered",
            "highlighted",
            "posted_at",
            "answered_at",
            "time_to_answer_s",
            "edits"
        ]
    );
    let records: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>()?;
    assert_eq!(records.len(), 4);
    let q1 = records
        .iter()
        .find(|r| &r[0] == "q1")
        .ok_or("q1 is missing")?;
    assert_eq!(&q1[1], "How do you scale WebSockets?");
    assert_eq!(&q1[2], "Aki");
    assert_eq!(&q1[4], "5");
    assert_eq!(&q1[5], "true");
    assert_eq!(&q1[7], "2026-12-07T20:15:03Z");
    assert_eq!(&q1[8], "2026-12-07T20:20:03Z");
    assert_eq!(&q1[9], "300");
    let q2 = records
        .iter()
        .find(|r| &r[0] == "q2")
        .ok_or("q2 is missing")?;
    assert_eq!(&q2[2], "", "no author name is an empty field");
    assert_eq!(&q2[8], "", "not answered: no time");
    Ok(())
}

#[test]
fn records_end_in_crlf_as_rfc_4180_says() -> TestResult {
    let bytes = questions_csv(CsvOptions::default())?;
    let text = String::from_utf8(bytes)?;
    assert!(text.starts_with("id,text,author_name,"));
    assert_eq!(text.matches("\r\n").count(), 5, "a header and four records");
    assert_eq!(text.matches('\n').count(), 5, "no bare line feeds");
    Ok(())
}

#[test]
fn text_that_a_spreadsheet_would_run_as_a_formula_is_quoted_but_numbers_stay_numbers() -> TestResult
{
    let bytes = questions_csv(CsvOptions::default())?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let records: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>()?;
    let q2 = records
        .iter()
        .find(|r| &r[0] == "q2")
        .ok_or("q2 is missing")?;
    assert_eq!(&q2[1], format!("'{FORMULA}"));
    let q4 = records
        .iter()
        .find(|r| &r[0] == "q4")
        .ok_or("q4 is missing")?;
    assert_eq!(&q4[1], "'-2 is a negative number");

    let m = meetup();
    let mut w = CsvWriter::new(Vec::new(), Table::Activity, CsvOptions::default())?;
    for a in &m.activity {
        w.write_row(a)?;
    }
    let bytes = w.finish()?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let last = r.records().last().ok_or("no activity")??;
    assert_eq!(&last[2], "-1", "a negative number is not neutralized");

    let mut w = CsvWriter::new(Vec::new(), Table::Moderation, CsvOptions::default())?;
    for row in &m.moderation {
        w.write_row(row)?;
    }
    let bytes = w.finish()?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let reject = r.records().last().ok_or("no moderation")??;
    assert_eq!(&reject[5], "'+off topic");
    Ok(())
}

#[test]
fn the_bom_option_starts_the_file_with_a_bom_that_excel_reads_as_utf8() -> TestResult {
    let with = questions_csv(CsvOptions { bom: true })?;
    let without = questions_csv(CsvOptions { bom: false })?;
    assert!(with.starts_with(BOM));
    assert!(!without.starts_with(BOM));
    assert_eq!(&with[BOM.len()..], without.as_slice());
    let mut r = csv::Reader::from_reader(&with[BOM.len()..]);
    assert_eq!(r.headers()?.get(0), Some("id"));
    Ok(())
}

#[test]
fn the_summary_is_figures_then_the_top_questions() -> TestResult {
    let m = meetup();
    let mut w = CsvWriter::new(Vec::new(), Table::Summary, CsvOptions::default())?;
    w.write_summary(&m.summary)?;
    let bytes = w.finish()?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    assert_eq!(
        r.headers()?.iter().collect::<Vec<_>>(),
        [
            "metric",
            "value",
            "question_id",
            "question_text",
            "question_answered"
        ]
    );
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_owned).collect()))
        .collect::<Result<_, _>>()?;
    let metrics: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        metrics,
        [
            "participants",
            "posters",
            "voters",
            "questions",
            "likes",
            "posted_share",
            "liked_share",
            "answered",
            "median_time_to_answer_s",
            "top_1",
            "top_2",
            "top_3"
        ]
    );
    assert_eq!(rows[0][1], "3");
    assert!((rows[5][1].parse::<f64>()? - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(rows[8][1], "300");
    assert_eq!(
        rows[9][1..],
        ["5", "q1", "How do you scale WebSockets?", "true"]
    );
    assert_eq!(rows[11][3], format!("'{FORMULA}"));
    assert_eq!(rows[0][2..], ["", "", ""]);
    Ok(())
}

#[test]
fn a_row_of_another_table_is_refused() -> TestResult {
    let m = meetup();
    let mut w = CsvWriter::new(Vec::new(), Table::Questions, CsvOptions::default())?;
    let err = w.write_row(&m.votes[0]);
    assert!(matches!(
        err,
        Err(Error::WrongTable {
            expected: Table::Questions,
            got: Table::Votes
        })
    ));
    Ok(())
}

#[test]
fn each_row_can_be_taken_out_of_the_buffer_before_the_next_is_written() -> TestResult {
    let m = meetup();
    let whole = {
        let mut w = CsvWriter::new(Vec::new(), Table::Votes, CsvOptions { bom: true })?;
        for v in &m.votes {
            w.write_row(v)?;
        }
        w.finish()?
    };
    let mut w = CsvWriter::new(Vec::new(), Table::Votes, CsvOptions { bom: true })?;
    let mut chunks = vec![std::mem::take(w.get_mut())];
    for v in &m.votes {
        w.write_row(v)?;
        let chunk = std::mem::take(w.get_mut());
        assert!(chunk.ends_with(b"\r\n"), "a whole record per row");
        chunks.push(chunk);
    }
    chunks.push(w.finish()?);
    assert_eq!(chunks.concat(), whole);
    Ok(())
}
