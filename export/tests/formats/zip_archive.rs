use std::io::{Cursor, Read};

use qicoo_export::{CsvOptions, CsvZipWriter, Error, Table, BOM};
use zip::ZipArchive;

use crate::fixture::{self, meetup, FORMULA};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn entry(
    archive: &mut ZipArchive<Cursor<Vec<u8>>>,
    name: &str,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut file = archive.by_name(name)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[test]
fn the_zip_holds_the_header_then_one_csv_per_table() -> TestResult {
    let m = meetup();
    let bytes = fixture::zip(&m, CsvOptions::default())?;
    let mut archive = ZipArchive::new(Cursor::new(bytes))?;
    let names: Vec<String> = (0..archive.len())
        .map(|i| archive.by_index(i).and_then(|f| Ok(f.name()?.into_owned())))
        .collect::<Result<_, _>>()?;
    assert_eq!(
        names,
        [
            "export.json",
            "questions.csv",
            "votes.csv",
            "activity.csv",
            "moderation.csv",
            "summary.csv"
        ]
    );

    let header: serde_json::Value = serde_json::from_slice(&entry(&mut archive, "export.json")?)?;
    assert_eq!(header["meetup_id"], "0190a5d2-7c1e-7bbb-8000-000000000042");
    assert_eq!(header["code"], "RUST42");
    assert_eq!(header["title"], "Rust Meetup Tokyo #42");
    assert_eq!(header["position"], 1234);
    assert_eq!(header["chain_head"], "ab".repeat(32));
    assert_eq!(header["as_of"], "2026-12-07T21:00:00Z");

    let votes = entry(&mut archive, "votes.csv")?;
    let mut r = csv::Reader::from_reader(votes.as_slice());
    assert_eq!(
        r.headers()?.iter().collect::<Vec<_>>(),
        ["position", "question_id", "participant", "at", "action"]
    );
    let rows: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[3].iter().collect::<Vec<_>>(),
        ["13", "q2", "p-1", "2026-12-07T20:17:05Z", "withdrawn"]
    );

    let questions = entry(&mut archive, "questions.csv")?;
    let mut r = csv::Reader::from_reader(questions.as_slice());
    let q2 = r
        .records()
        .filter_map(Result::ok)
        .find(|r| &r[0] == "q2")
        .ok_or("q2 is missing")?;
    assert_eq!(
        &q2[1],
        format!("'{FORMULA}"),
        "neutralized inside the zip too"
    );
    Ok(())
}

#[test]
fn entries_are_deflated_and_dated_at_the_exports_as_of() -> TestResult {
    let bytes = fixture::zip(&meetup(), CsvOptions::default())?;
    let mut archive = ZipArchive::new(Cursor::new(bytes))?;
    for i in 0..archive.len() {
        let file = archive.by_index(i)?;
        assert_eq!(file.compression(), zip::CompressionMethod::Deflated);
        let t = file.last_modified().ok_or("no modification time")?;
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2026, 12, 7, 21, 0, 0)
        );
    }
    Ok(())
}

#[test]
fn with_the_bom_option_every_csv_in_the_zip_starts_with_a_bom() -> TestResult {
    let bytes = fixture::zip(&meetup(), CsvOptions { bom: true })?;
    let mut archive = ZipArchive::new(Cursor::new(bytes))?;
    for table in Table::ALL {
        let csv = entry(&mut archive, &format!("{}.csv", table.as_str()))?;
        assert!(csv.starts_with(BOM), "{} has no BOM", table.as_str());
    }
    assert!(!entry(&mut archive, "export.json")?.starts_with(BOM));
    Ok(())
}

#[test]
fn a_table_cannot_be_begun_twice_and_rows_need_their_table() -> TestResult {
    let m = meetup();
    let mut w = CsvZipWriter::new(Vec::new(), &m.header, CsvOptions::default())?;
    assert!(matches!(
        w.write_row(&m.votes[0]),
        Err(Error::NoTable(Table::Votes))
    ));
    w.begin_table(Table::Votes)?;
    w.write_row(&m.votes[0])?;
    assert!(matches!(
        w.begin_table(Table::Votes),
        Err(Error::TableRepeated(Table::Votes))
    ));
    Ok(())
}

#[test]
fn the_archive_can_be_streamed_out_in_chunks_while_rows_are_written() -> TestResult {
    let m = meetup();
    let whole = fixture::zip(&m, CsvOptions::default())?;
    let mut w = CsvZipWriter::new(Vec::new(), &m.header, CsvOptions::default())?;
    let mut streamed = std::mem::take(w.get_mut());
    w.begin_table(Table::Votes)?;
    // A big table: compressed bytes leave before the end.
    let mut drained_before_finish = 0;
    for i in 0..20_000 {
        let mut v = m.votes[i % m.votes.len()].clone();
        v.position = i as i64;
        w.write_row(&v)?;
        let chunk = std::mem::take(w.get_mut());
        drained_before_finish += chunk.len();
        streamed.extend(chunk);
    }
    streamed.extend(w.finish()?);
    assert!(
        drained_before_finish > 0,
        "nothing reached the output before finish"
    );
    let mut archive = ZipArchive::new(Cursor::new(streamed))?;
    let votes = entry(&mut archive, "votes.csv")?;
    let mut r = csv::Reader::from_reader(votes.as_slice());
    assert_eq!(r.records().count(), 20_000);
    assert!(whole.len() > 100);
    Ok(())
}
