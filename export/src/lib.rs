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
