use std::io::{Cursor, Read};

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use chrono::NaiveDate;

use crate::fixture::{self, meetup, FORMULA, SCRIPT};

type TestResult = Result<(), Box<dyn std::error::Error>>;
type Workbook = Xlsx<Cursor<Vec<u8>>>;

fn workbook() -> Result<(Vec<u8>, Workbook), Box<dyn std::error::Error>> {
    let bytes = fixture::xlsx(&meetup())?;
    let wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.clone()))?;
    Ok((bytes, wb))
}

/// A part of the xlsx package, as text.
fn part(xlsx: &[u8], name: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(xlsx))?;
    let mut text = String::new();
    archive.by_name(name)?.read_to_string(&mut text)?;
    Ok(text)
}

/// The row whose first cell is `id`.
fn row_of<'a>(range: &'a calamine::Range<Data>, id: &str) -> Option<&'a [Data]> {
    range
        .rows()
        .find(|r| matches!(r.first(), Some(Data::String(s)) if s == id))
}

#[test]
fn the_workbook_has_an_about_sheet_one_sheet_per_table_and_charts() -> TestResult {
    let (_, wb) = workbook()?;
    assert_eq!(
        wb.sheet_names(),
        [
            "About",
            "Questions",
            "Votes",
            "Activity",
            "Moderation",
            "Summary",
            "Charts"
        ]
    );
    Ok(())
}

#[test]
fn the_about_sheet_states_position_and_chain_head() -> TestResult {
    let (_, mut wb) = workbook()?;
    let about = wb.worksheet_range("About")?;
    let value = |name: &str| {
        about
            .rows()
            .find(|r| r.first() == Some(&Data::String(name.into())))
            .and_then(|r| r.get(1).cloned())
    };
    assert_eq!(value("position"), Some(Data::Float(1234.0)));
    assert_eq!(value("chain_head"), Some(Data::String("ab".repeat(32))));
    assert_eq!(
        value("title"),
        Some(Data::String("Rust Meetup Tokyo #42".into()))
    );
    let Some(Data::DateTime(as_of)) = value("as_of") else {
        panic!("as_of is not a date");
    };
    assert_eq!(
        as_of.as_datetime(),
        NaiveDate::from_ymd_opt(2026, 12, 7).and_then(|d| d.and_hms_opt(21, 0, 0))
    );
    Ok(())
}

#[test]
fn numbers_are_numbers_times_are_dates_and_booleans_are_booleans() -> TestResult {
    let (_, mut wb) = workbook()?;
    let questions = wb.worksheet_range("Questions")?;
    let header: Vec<String> = questions
        .rows()
        .next()
        .ok_or("no header")?
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        header[..5],
        ["id", "text", "author_name", "status", "likes"]
    );
    let q1 = row_of(&questions, "q1").ok_or("q1 is missing")?;
    assert_eq!(q1[4], Data::Float(5.0));
    assert_eq!(q1[5], Data::Bool(true));
    let Data::DateTime(posted) = &q1[7] else {
        panic!("posted_at is {:?}, not a date", q1[7]);
    };
    assert_eq!(
        posted.as_datetime(),
        NaiveDate::from_ymd_opt(2026, 12, 7).and_then(|d| d.and_hms_opt(20, 15, 3))
    );
    assert_eq!(q1[9], Data::Float(300.0));
    let q2 = row_of(&questions, "q2").ok_or("q2 is missing")?;
    assert_eq!(q2[2], Data::Empty, "no author name, no value");
    assert_eq!(q2[8], Data::Empty);
    let q3 = row_of(&questions, "q3").ok_or("q3 is missing")?;
    assert_eq!(q3[1], Data::String(SCRIPT.into()));

    let activity = wb.worksheet_range("Activity")?;
    let last = activity.rows().next_back().ok_or("no activity")?;
    assert_eq!(last[2], Data::Float(-1.0));
    assert_eq!(activity.height(), 4, "a header and three minutes");
    Ok(())
}

#[test]
fn a_formula_in_a_question_is_a_plain_string_cell() -> TestResult {
    let (bytes, mut wb) = workbook()?;
    let questions = wb.worksheet_range("Questions")?;
    let q2 = row_of(&questions, "q2").ok_or("q2 is missing")?;
    assert_eq!(
        q2[1],
        Data::String(FORMULA.into()),
        "verbatim, no quote added"
    );
    let formulas = wb.worksheet_formula("Questions")?;
    assert!(
        formulas.used_cells().all(|(_, _, f)| f.is_empty()),
        "no cell holds a formula"
    );
    let sheet = part(&bytes, "xl/worksheets/sheet2.xml")?;
    assert!(!sheet.contains("<f>"));
    Ok(())
}

#[test]
fn each_table_sheet_is_an_excel_table_with_a_filter_and_a_frozen_header() -> TestResult {
    let (bytes, mut wb) = workbook()?;
    wb.load_tables()?;
    let mut names: Vec<&String> = wb.table_names();
    names.sort();
    assert_eq!(
        names,
        ["Activity", "Moderation", "Questions", "Summary", "Votes"]
    );
    let table = wb.table_by_name("Votes")?;
    assert_eq!(table.sheet_name(), "Votes");
    assert_eq!(
        table.columns(),
        ["position", "question_id", "participant", "at", "action"]
    );
    assert_eq!(table.data().height(), 4);

    for (i, name) in ["Questions", "Votes", "Activity", "Moderation", "Summary"]
        .iter()
        .enumerate()
    {
        let sheet = part(&bytes, &format!("xl/worksheets/sheet{}.xml", i + 2))?;
        assert!(
            sheet.contains(
                r#"<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>"#
            ),
            "{name}: header not frozen"
        );
        assert!(sheet.contains("<tablePart "), "{name}: no table");
        let table = part(&bytes, &format!("xl/tables/table{}.xml", i + 1))?;
        assert!(table.contains(&format!(r#"name="{name}""#)));
        assert!(table.contains("<autoFilter "), "{name}: no filter");
    }
    Ok(())
}

#[test]
fn the_charts_sheet_plots_activity_and_the_top_questions_natively() -> TestResult {
    let (bytes, _) = workbook()?;
    let line = part(&bytes, "xl/charts/chart1.xml")?;
    assert!(line.contains("<c:lineChart>"));
    assert!(line.contains("Activity!$A$2:$A$4"), "minutes as categories");
    assert!(line.contains("Activity!$B$2:$B$4"), "questions per minute");
    assert!(line.contains("Activity!$C$2:$C$4"), "likes per minute");
    assert!(line.contains("<c:dateAx>"));
    let bar = part(&bytes, "xl/charts/chart2.xml")?;
    assert!(bar.contains("<c:barChart>"));
    // The summary's top rows: a header, nine figures, then top_1..top_3.
    assert!(
        bar.contains("Summary!$D$11:$D$13"),
        "question texts as categories"
    );
    assert!(bar.contains("Summary!$B$11:$B$13"), "their likes as values");
    let drawing = part(&bytes, "xl/worksheets/_rels/sheet7.xml.rels")?;
    assert!(drawing.contains("drawing"));
    Ok(())
}

#[test]
fn an_export_with_empty_tables_still_opens_with_every_sheet() -> TestResult {
    let mut m = meetup();
    m.questions.clear();
    m.votes.clear();
    m.activity.clear();
    m.moderation.clear();
    m.summary.top.clear();
    let bytes = fixture::xlsx(&m)?;
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes))?;
    assert_eq!(
        wb.sheet_names(),
        [
            "About",
            "Questions",
            "Votes",
            "Activity",
            "Moderation",
            "Summary"
        ],
        "no charts without data"
    );
    let votes = wb.worksheet_range("Votes")?;
    assert_eq!(
        votes.rows().next().map(|r| r[0].to_string()),
        Some("position".into())
    );
    Ok(())
}
