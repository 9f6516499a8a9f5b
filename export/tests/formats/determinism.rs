//! The same export twice is the same bytes, and nothing in a file says when
//! it was made.

use std::io::{Cursor, Read};

use qicoo_export::{CsvOptions, Lang};

use crate::fixture::{self, meetup};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn the_same_export_is_byte_identical_in_every_format() -> TestResult {
    let m = meetup();
    assert_eq!(
        fixture::zip(&m, CsvOptions::default())?,
        fixture::zip(&meetup(), CsvOptions::default())?
    );
    assert_eq!(fixture::jsonl(&m)?, fixture::jsonl(&meetup())?);
    assert_eq!(
        fixture::report(&m, Lang::Ja, 9),
        fixture::report(&meetup(), Lang::Ja, 9)
    );
    let first = fixture::xlsx(&m)?;
    // Across a second boundary, so a clock in the file would show.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(first, fixture::xlsx(&meetup())?);
    Ok(())
}

#[test]
fn the_workbook_is_dated_at_the_exports_as_of_not_when_it_was_written() -> TestResult {
    let bytes = fixture::xlsx(&meetup())?;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))?;
    let mut core = String::new();
    archive
        .by_name("docProps/core.xml")?
        .read_to_string(&mut core)?;
    assert!(core.contains("2026-12-07T21:00:00Z"), "{core}");
    assert!(core.contains("Rust Meetup Tokyo #42"));
    Ok(())
}

#[test]
fn a_different_as_of_changes_the_bytes() -> TestResult {
    let m = meetup();
    let mut later = meetup();
    later.header.position += 1;
    later.header.as_of = Some(fixture::at(21, 5, 0));
    assert_ne!(
        fixture::zip(&m, CsvOptions::default())?,
        fixture::zip(&later, CsvOptions::default())?
    );
    Ok(())
}
