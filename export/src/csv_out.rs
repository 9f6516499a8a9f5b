//! CSV (RFC 4180: comma, double quotes, CRLF), one table per file, and every
//! table of an export in one zip archive.
//!
//! Text cells that a spreadsheet would take for a formula get a leading `'`
//! (see [`neutralize`]); numbers never do, so `-3` stays a number. Times are
//! UTC, ISO 8601 with seconds; booleans `true`/`false`; empty cells empty.
//!
//! The zip holds `export.json` (the [`ExportHeader`]) first, then one
//! `<table>.csv` per table begun, deflated, each stamped with the export's
//! `as_of` time (1980-01-01 before the first event) so that the same export
//! is the same bytes.

use std::borrow::Cow;
use std::io::Write;

use chrono::{Datelike, Timelike};
use qicoo_projections::audit::tables::{ExportHeader, Summary, Table};
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use crate::cells::{columns, header_fields, iso_time, neutralize, summary_rows, Cell, Column, Row};
use crate::error::{Error, Result};
use crate::json;
use crate::spool::Spool;

/// The UTF-8 byte order mark, which makes Excel read a CSV file as UTF-8.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How CSV files are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// Start each file with a UTF-8 byte order mark, for Excel (which
    /// otherwise reads Japanese text as mojibake).
    pub bom: bool,
}

/// Encodes records into a buffer that the writer hands on row by row.
struct Encoder {
    csv: csv::Writer<Spool>,
    spool: Spool,
}

impl Encoder {
    fn new() -> Self {
        let spool = Spool::default();
        let csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(spool.clone());
        Self { csv, spool }
    }

    fn header(&mut self, columns: &[Column]) -> Result<()> {
        self.csv.write_record(columns.iter().map(|c| c.name))?;
        Ok(())
    }

    fn row(&mut self, cells: &[Cell<'_>]) -> Result<()> {
        for cell in cells {
            self.csv.write_field(field(cell).as_bytes())?;
        }
        self.csv.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Moves the encoded records into `out`.
    fn drain_into<W: Write>(&mut self, out: &mut W) -> Result<()> {
        self.csv.flush()?;
        self.spool.drain_into(out)?;
        Ok(())
    }
}

/// A cell as a CSV field.
fn field<'a>(cell: &'a Cell<'_>) -> Cow<'a, str> {
    match cell {
        Cell::Text(s) => neutralize(s),
        Cell::Integer(n) => Cow::Owned(n.to_string()),
        Cell::Float(x) => Cow::Owned(x.to_string()),
        Cell::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Cell::Time(t) => Cow::Owned(iso_time(*t)),
        Cell::Empty => Cow::Borrowed(""),
    }
}

fn check_table<R: Row>(current: Option<Table>) -> Result<()> {
    match current {
        None => Err(Error::NoTable(R::TABLE)),
        Some(t) if t != R::TABLE => Err(Error::WrongTable {
            expected: t,
            got: R::TABLE,
        }),
        Some(_) => Ok(()),
    }
}

/// Writes one table as a CSV file, a row at a time.
///
/// Each row reaches `out` as soon as [`write_row`](Self::write_row) returns,
/// so a caller streaming an HTTP body can take the bytes out of an in-memory
/// `out` through [`get_mut`](Self::get_mut) between rows.
pub struct CsvWriter<W: Write> {
    out: W,
    table: Table,
    encoder: Encoder,
}

impl<W: Write> CsvWriter<W> {
    /// Starts a CSV file of `table`: the byte order mark if asked for, then
    /// the header row.
    pub fn new(mut out: W, table: Table, options: CsvOptions) -> Result<Self> {
        if options.bom {
            out.write_all(BOM)?;
        }
        let mut encoder = Encoder::new();
        encoder.header(columns(table))?;
        encoder.drain_into(&mut out)?;
        Ok(Self {
            out,
            table,
            encoder,
        })
    }

    /// The table this file holds.
    pub fn table(&self) -> Table {
        self.table
    }

    /// Writes one row; it must be a row of this file's table.
    pub fn write_row<R: Row>(&mut self, row: &R) -> Result<()> {
        check_table::<R>(Some(self.table))?;
        self.encoder.row(&row.cells())?;
        self.encoder.drain_into(&mut self.out)
    }

    /// Writes the summary's rows (see [`crate::cells`] for their shape);
    /// this file must be the summary table.
    pub fn write_summary(&mut self, summary: &Summary) -> Result<()> {
        for row in summary_rows(summary) {
            self.write_row(&row)?;
        }
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

/// Writes an export as a zip of CSV files, a row at a time, into a plain
/// (unseekable) `Write`.
///
/// Begin each table with [`begin_table`](Self::begin_table), write its rows,
/// then begin the next; [`finish`](Self::finish) writes the archive's
/// directory. Compressed bytes reach `out` in chunks as the compressor emits
/// them; [`get_mut`](Self::get_mut) lends `out` between rows.
pub struct CsvZipWriter<W: Write> {
    out: W,
    zip: ZipWriter<StreamWriter<Spool>>,
    spool: Spool,
    encoder: Encoder,
    options: CsvOptions,
    file_options: SimpleFileOptions,
    current: Option<Table>,
    begun: Vec<Table>,
}

/// The name of the zip entry holding the [`ExportHeader`].
pub const HEADER_ENTRY: &str = "export.json";

impl<W: Write> CsvZipWriter<W> {
    /// Starts the archive with its `export.json` entry.
    pub fn new(out: W, header: &ExportHeader, options: CsvOptions) -> Result<Self> {
        let spool = Spool::default();
        let file_options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(zip_time(header))
            .unix_permissions(0o644);
        let mut this = Self {
            out,
            zip: ZipWriter::new_stream(spool.clone()),
            spool,
            encoder: Encoder::new(),
            options,
            file_options,
            current: None,
            begun: Vec::new(),
        };
        this.zip.start_file(HEADER_ENTRY, this.file_options)?;
        let fields = header_fields(header);
        let mut buf = Vec::new();
        json::write_object(&mut buf, fields.iter().map(|(k, v)| (*k, v)))?;
        buf.push(b'\n');
        this.zip.write_all(&buf)?;
        this.spool.drain_into(&mut this.out)?;
        Ok(this)
    }

    /// Starts the `<table>.csv` entry with its header row. Each table can be
    /// begun once.
    pub fn begin_table(&mut self, table: Table) -> Result<()> {
        if self.begun.contains(&table) {
            return Err(Error::TableRepeated(table));
        }
        self.zip
            .start_file(format!("{}.csv", table.as_str()), self.file_options)?;
        if self.options.bom {
            self.zip.write_all(BOM)?;
        }
        // A fresh encoder: each file checks its own record lengths.
        self.encoder = Encoder::new();
        self.encoder.header(columns(table))?;
        self.encoder.drain_into(&mut self.zip)?;
        self.begun.push(table);
        self.current = Some(table);
        self.spool.drain_into(&mut self.out)?;
        Ok(())
    }

    /// Writes one row of the table begun last.
    pub fn write_row<R: Row>(&mut self, row: &R) -> Result<()> {
        check_table::<R>(self.current)?;
        self.encoder.row(&row.cells())?;
        self.encoder.drain_into(&mut self.zip)?;
        self.spool.drain_into(&mut self.out)?;
        Ok(())
    }

    /// Writes the summary's rows; the summary table must be the one begun.
    pub fn write_summary(&mut self, summary: &Summary) -> Result<()> {
        for row in summary_rows(summary) {
            self.write_row(&row)?;
        }
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

    /// Ends the last entry, writes the archive's directory, flushes and
    /// returns the output.
    pub fn finish(mut self) -> Result<W> {
        self.zip.finish()?;
        self.spool.drain_into(&mut self.out)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The entries' modification time: the export's `as_of` (zip times have no
/// zone; this one is UTC), or the zip epoch when there is none or it does not
/// fit.
fn zip_time(header: &ExportHeader) -> zip::DateTime {
    header
        .as_of
        .and_then(|t| {
            zip::DateTime::from_date_and_time(
                u16::try_from(t.year()).ok()?,
                t.month() as u8,
                t.day() as u8,
                t.hour() as u8,
                t.minute() as u8,
                t.second() as u8,
            )
            .ok()
        })
        .unwrap_or_default()
}
