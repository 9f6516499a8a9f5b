//! Qicoo's export formats: the rows of [`qicoo_projections::audit::tables`]
//! written as CSV (one file, or every table in a zip), JSON Lines, an Excel
//! workbook, or a self-contained HTML report.
//!
//! Every writer takes any [`std::io::Write`] and writes rows one at a time,
//! so a table of a million votes never sits in memory; the streaming writers
//! lend their output back between rows (`get_mut`) so that an HTTP body can
//! be sent in chunks. The same input gives the same bytes: nothing records
//! when the export was made, and the zip entries carry the export's `as_of`.
//!
//! Data files hold times in UTC (ISO 8601, whole seconds); the HTML report
//! shows them in the time zone the caller passes.
//!
//! | format | writer | tables |
//! |---|---|---|
//! | CSV | [`CsvWriter`] | one per file |
//! | zip of CSV files | [`CsvZipWriter`] | all, plus `export.json` |
//! | JSON Lines | [`JsonLinesWriter`] | all, one stream |
//! | Excel | [`XlsxWriter`] | all, plus `About` and `Charts` sheets |
//! | HTML report | [`write_report`] | the aggregated figures |
//!
//! Streaming a zip into an HTTP body, chunk by chunk:
//!
//! ```
//! use qicoo_export::{CsvOptions, CsvZipWriter, ExportHeader, Table, VoteRow};
//!
//! # fn main() -> qicoo_export::Result<()> {
//! let header = ExportHeader {
//!     meetup_id: "0190a5d2-7c1e-7bbb-8000-000000000042".into(),
//!     code: "RUST42".into(),
//!     title: "Rust Meetup Tokyo".into(),
//!     position: 0,
//!     chain_head: "0".repeat(64),
//!     as_of: None,
//! };
//! let votes: Vec<VoteRow> = Vec::new(); // from the audit fold
//! let mut send = |chunk: Vec<u8>| drop(chunk); // to the HTTP body
//!
//! let mut zip = CsvZipWriter::new(Vec::new(), &header, CsvOptions { bom: true })?;
//! for table in Table::ALL {
//!     zip.begin_table(table)?;
//!     if table == Table::Votes {
//!         for vote in &votes {
//!             zip.write_row(vote)?;
//!             send(std::mem::take(zip.get_mut()));
//!         }
//!     }
//! }
//! send(zip.finish()?);
//! # Ok(())
//! # }
//! ```

pub mod cells;
mod csv_out;
mod error;
pub mod i18n;
mod json;
mod jsonl;
mod report;
mod spool;
mod xlsx;

pub use cells::{summary_rows, Cell, Column, Kind, Row, SummaryQuestion, SummaryRow};
pub use csv_out::{CsvOptions, CsvWriter, CsvZipWriter, BOM, HEADER_ENTRY};
pub use error::{Error, Result};
pub use i18n::Lang;
pub use jsonl::{JsonLinesWriter, HEADER_TABLE};
pub use report::{write_report, ReportData, ReportOptions};
pub use xlsx::XlsxWriter;

pub use qicoo_projections::audit::tables::{
    ActivityRow, ExportHeader, ModerationRow, QuestionRow, Summary, Table, TopQuestion, VoteAction,
    VoteRow,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn writers_can_move_to_a_blocking_thread() {
        assert_send::<CsvWriter<Vec<u8>>>();
        assert_send::<CsvZipWriter<Vec<u8>>>();
        assert_send::<JsonLinesWriter<Vec<u8>>>();
        assert_send::<XlsxWriter>();
        assert_send::<Error>();
    }
}
