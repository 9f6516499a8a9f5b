//! JSON Lines: one object per line, every table in one stream.
//!
//! The first line is the header, `{"table":"export","meetup_id":…,"code":…,
//! "title":…,"position":…,"chain_head":…,"as_of":…}`. Every other line is one
//! row, `{"table":"<table>", <column>: <value>, …}` with the columns of
//! [`crate::cells`] in order: text and times (UTC, ISO 8601 with seconds) as
//! strings, numbers as numbers, booleans, and `null` for empty cells. Text is
//! written as it is (JSON readers are no spreadsheets: nothing is
//! neutralized).

use std::io::Write;

use qicoo_projections::audit::tables::{ExportHeader, Summary};

use crate::cells::{header_fields, summary_rows, Cell, Row};
use crate::error::Result;
use crate::json;

/// The `table` value of the header line.
pub const HEADER_TABLE: &str = "export";

/// Writes an export as JSON Lines, a row at a time.
///
/// Each line reaches `out` as soon as the call that wrote it returns;
/// [`get_mut`](Self::get_mut) lends `out` between rows.
pub struct JsonLinesWriter<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> JsonLinesWriter<W> {
    /// Starts the stream with the header line.
    pub fn new(out: W, header: &ExportHeader) -> Result<Self> {
        let mut this = Self {
            out,
            line: Vec::new(),
        };
        let table = Cell::text(HEADER_TABLE);
        let fields = header_fields(header);
        let all = std::iter::once(("table", &table)).chain(fields.iter().map(|(k, v)| (*k, v)));
        this.emit(all)?;
        Ok(this)
    }

    /// Writes one row, of any table.
    pub fn write_row<R: Row>(&mut self, row: &R) -> Result<()> {
        let table = Cell::text(R::TABLE.as_str());
        let cells = row.cells();
        let all = std::iter::once(("table", &table))
            .chain(R::COLUMNS.iter().map(|c| c.name).zip(cells.iter()));
        self.emit(all)
    }

    /// Writes the summary's rows (see [`crate::cells`] for their shape).
    pub fn write_summary(&mut self, summary: &Summary) -> Result<()> {
        for row in summary_rows(summary) {
            self.write_row(&row)?;
        }
        Ok(())
    }

    fn emit<'a, 'c: 'a>(
        &mut self,
        fields: impl IntoIterator<Item = (&'a str, &'a Cell<'c>)>,
    ) -> Result<()> {
        self.line.clear();
        json::write_object(&mut self.line, fields)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        Ok(())
    }

    /// The output.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// The output, to take written bytes out of it between rows.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
