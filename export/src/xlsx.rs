//! The export as an Excel workbook.
//!
//! Sheets, in order: `About` (the [`ExportHeader`]), one sheet per table
//! begun (`Questions`, `Votes`, `Activity`, `Moderation`, `Summary`), and
//! `Charts` (questions and likes per minute; likes of the top questions),
//! whose charts are native Excel charts reading the table sheets.
//!
//! Each table sheet has its header row frozen and a filter on every column.
//! Up to [`TABLE_ROW_LIMIT`] rows it is an Excel Table (named after the
//! sheet); past that the sheet gets a plain autofilter instead, because a
//! Table's range is fixed when it is added and costs memory per cell, while
//! a long sheet is written row by row to a temporary file and never held in
//! memory. A table longer than a worksheet continues on `Votes (2)`, … .
//!
//! Times are real Excel dates (UTC, format `yyyy-mm-dd hh:mm:ss`), numbers
//! and booleans are numbers and booleans, and text is always written as a
//! string cell, never as a formula, so a question reading `=HYPERLINK(…)`
//! stays text.

use std::io::Write;

use qicoo_projections::audit::tables::{ExportHeader, Summary, Table};
use rust_xlsxwriter::{
    Chart, ChartType, DocProperties, ExcelDateTime, Format, FormatBorder, Table as XlTable,
    TableColumn, Workbook, Worksheet,
};

use crate::cells::{
    columns, header_fields, summary_rows, Cell, Column, Kind, Row, TOP_METRIC_PREFIX,
};
use crate::error::{Error, Result};

/// Tables with more rows than this get an autofilter, not an Excel Table.
pub const TABLE_ROW_LIMIT: usize = 50_000;

/// The data rows a worksheet holds under its header row.
const SHEET_DATA_ROWS: u32 = 1_048_575;

/// The number format of times.
const TIME_FORMAT: &str = "yyyy-mm-dd hh:mm:ss";

/// The name of the sheet holding the charts.
pub const CHARTS_SHEET: &str = "Charts";

/// The name of the sheet holding the export header.
pub const ABOUT_SHEET: &str = "About";

/// The sheet (and Excel Table) name of a table.
pub fn sheet_name(table: Table) -> &'static str {
    match table {
        Table::Questions => "Questions",
        Table::Votes => "Votes",
        Table::Activity => "Activity",
        Table::Moderation => "Moderation",
        Table::Summary => "Summary",
    }
}

struct Formats {
    time: Format,
    header: Format,
    label: Format,
}

/// The table sheet being written.
struct Sheet {
    table: Table,
    columns: &'static [Column],
    /// Index of its worksheet in the workbook.
    index: usize,
    /// 1 for the first sheet of a table, 2… for continuations.
    part: u32,
    /// Rows held back while the table may still become an Excel Table.
    pending: Option<Vec<Vec<Cell<'static>>>>,
    /// Data rows written to the worksheet.
    written: u32,
    /// Widest value per column, in characters.
    widths: Vec<usize>,
    /// Data rows (1-based) of the summary's top questions.
    top_rows: Option<(u32, u32)>,
}

impl Sheet {
    fn data_rows(&self) -> u32 {
        match &self.pending {
            Some(rows) => rows.len() as u32,
            None => self.written,
        }
    }
}

/// Where a chart reads its data.
struct ChartSource {
    sheet: String,
    first_row: u32,
    last_row: u32,
}

/// Writes an export as an Excel workbook, a row at a time.
///
/// Rows go to temporary files as they come (one per sheet), so memory stays
/// flat however long a table is; [`finish`](Self::finish) assembles the
/// workbook into any `Write`.
pub struct XlsxWriter {
    workbook: Workbook,
    formats: Formats,
    sheets: usize,
    sheet: Option<Sheet>,
    begun: Vec<Table>,
    activity: Option<ChartSource>,
    top: Option<ChartSource>,
    table_row_limit: usize,
    sheet_rows: u32,
}

impl XlsxWriter {
    /// Starts a workbook with its `About` sheet.
    pub fn new(header: &ExportHeader) -> Result<Self> {
        let mut workbook = Workbook::new();
        // A fixed creation time: the same export is the same bytes.
        let created = match header.as_of {
            Some(t) => ExcelDateTime::from_timestamp(t.timestamp())?,
            None => ExcelDateTime::from_ymd(1980, 1, 1)?,
        };
        workbook.set_properties(
            &DocProperties::new()
                .set_title(&header.title)
                .set_subject(format!("Qicoo export, position {}", header.position))
                .set_creation_datetime(&created),
        );
        let formats = Formats {
            time: Format::new().set_num_format(TIME_FORMAT),
            header: Format::new()
                .set_bold()
                .set_border_bottom(FormatBorder::Thin),
            label: Format::new().set_bold(),
        };
        let about = workbook.add_worksheet();
        about.set_name(ABOUT_SHEET)?;
        for (row, (name, value)) in (0u32..).zip(header_fields(header).iter()) {
            about.write_string_with_format(row, 0, *name, &formats.label)?;
            write_cell(about, &formats, row, 1, value)?;
        }
        let note_row = header_fields(header).len() as u32 + 1;
        about.write_string(note_row, 0, "times are UTC")?;
        about.set_column_width(0, 14)?;
        about.set_column_width(1, 70)?;
        Ok(Self {
            workbook,
            formats,
            sheets: 1,
            sheet: None,
            begun: Vec::new(),
            activity: None,
            top: None,
            table_row_limit: TABLE_ROW_LIMIT,
            sheet_rows: SHEET_DATA_ROWS,
        })
    }

    /// Starts the sheet of `table`, ending the one before. Each table can be
    /// begun once.
    pub fn begin_table(&mut self, table: Table) -> Result<()> {
        if self.begun.contains(&table) {
            return Err(Error::TableRepeated(table));
        }
        self.end_sheet()?;
        let index = self.add_table_sheet(table, 1)?;
        self.begun.push(table);
        let columns = columns(table);
        self.sheet = Some(Sheet {
            table,
            columns,
            index,
            part: 1,
            pending: Some(Vec::new()),
            written: 0,
            widths: columns.iter().map(|c| c.name.chars().count() + 2).collect(),
            top_rows: None,
        });
        Ok(())
    }

    /// Writes one row of the table begun last.
    pub fn write_row<R: Row>(&mut self, row: &R) -> Result<()> {
        let cells = row.cells();
        let sheet = match self.sheet.as_mut() {
            None => return Err(Error::NoTable(R::TABLE)),
            Some(s) if s.table != R::TABLE => {
                return Err(Error::WrongTable {
                    expected: s.table,
                    got: R::TABLE,
                })
            }
            Some(s) => s,
        };
        for (width, cell) in sheet.widths.iter_mut().zip(&cells) {
            *width = (*width).max(display_width(cell));
        }
        if R::TABLE == Table::Summary {
            if let Some(Cell::Text(metric)) = cells.first() {
                if metric.starts_with(TOP_METRIC_PREFIX) {
                    let row = sheet.data_rows() + 1;
                    let first = sheet.top_rows.map_or(row, |(first, _)| first);
                    sheet.top_rows = Some((first, row));
                }
            }
        }
        if let Some(pending) = sheet.pending.as_mut() {
            if pending.len() < self.table_row_limit {
                pending.push(cells.into_iter().map(Cell::into_owned).collect());
                return Ok(());
            }
            // Too long for an Excel Table: write what was held back, then
            // stream.
            let held = std::mem::take(pending);
            sheet.pending = None;
            let (index, columns) = (sheet.index, sheet.columns);
            let ws = self.workbook.worksheet_from_index(index)?;
            write_header_row(ws, &self.formats, columns)?;
            for (row, cells) in (1u32..).zip(&held) {
                write_row_cells(ws, &self.formats, row, cells)?;
            }
            sheet.written = held.len() as u32;
        }
        if sheet.written == self.sheet_rows {
            self.continue_on_new_sheet()?;
        }
        let Some(sheet) = self.sheet.as_mut() else {
            return Err(Error::NoTable(R::TABLE));
        };
        let row = sheet.written + 1;
        let ws = self.workbook.worksheet_from_index(sheet.index)?;
        write_row_cells(ws, &self.formats, row, &cells)?;
        sheet.written = row;
        Ok(())
    }

    /// Writes the summary's rows; the summary table must be the one begun.
    pub fn write_summary(&mut self, summary: &Summary) -> Result<()> {
        for row in summary_rows(summary) {
            self.write_row(&row)?;
        }
        Ok(())
    }

    /// Ends the last sheet, adds the charts and writes the workbook to
    /// `out`, which it returns.
    pub fn finish<W: Write + Send>(mut self, mut out: W) -> Result<W> {
        self.end_sheet()?;
        self.add_charts()?;
        self.workbook.save_to_writer(&mut out)?;
        out.flush()?;
        Ok(out)
    }

    fn add_table_sheet(&mut self, table: Table, part: u32) -> Result<usize> {
        let ws = self.workbook.add_worksheet_with_constant_memory()?;
        let name = match part {
            1 => sheet_name(table).to_owned(),
            n => format!("{} ({n})", sheet_name(table)),
        };
        ws.set_name(name)?;
        self.sheets += 1;
        Ok(self.sheets - 1)
    }

    /// Closes a full worksheet and carries on with the same table on the next.
    fn continue_on_new_sheet(&mut self) -> Result<()> {
        let Some(old) = self.sheet.take() else {
            return Ok(());
        };
        let (table, part, columns, widths) = (old.table, old.part, old.columns, old.widths.clone());
        self.close(old)?;
        let index = self.add_table_sheet(table, part + 1)?;
        let ws = self.workbook.worksheet_from_index(index)?;
        write_header_row(ws, &self.formats, columns)?;
        self.sheet = Some(Sheet {
            table,
            columns,
            index,
            part: part + 1,
            pending: None,
            written: 0,
            widths,
            top_rows: None,
        });
        Ok(())
    }

    fn end_sheet(&mut self) -> Result<()> {
        match self.sheet.take() {
            Some(sheet) => self.close(sheet),
            None => Ok(()),
        }
    }

    /// Writes what a sheet held back and its table, filter, frozen header and
    /// column widths.
    fn close(&mut self, sheet: Sheet) -> Result<()> {
        let name = sheet_name(sheet.table);
        let last_col = (sheet.columns.len() - 1) as u16;
        let ws = self.workbook.worksheet_from_index(sheet.index)?;
        let rows = match sheet.pending {
            Some(rows) => {
                let headers: Vec<TableColumn> = sheet
                    .columns
                    .iter()
                    .map(|c| TableColumn::new().set_header(c.name))
                    .collect();
                let table = XlTable::new().set_name(name).set_columns(&headers);
                // A Table needs a data row; an empty table gets a blank one.
                let last_row = (rows.len() as u32).max(1);
                ws.add_table(0, 0, last_row, last_col, &table)?;
                for (row, cells) in (1u32..).zip(&rows) {
                    write_row_cells(ws, &self.formats, row, cells)?;
                }
                rows.len() as u32
            }
            None => {
                ws.autofilter(0, 0, sheet.written.max(1), last_col)?;
                sheet.written
            }
        };
        ws.set_freeze_panes(1, 0)?;
        for ((col, column), width) in (0u16..).zip(sheet.columns).zip(&sheet.widths) {
            let width = match column.kind {
                Kind::Time => TIME_FORMAT.len() + 2,
                _ => *width + 1,
            };
            ws.set_column_width(col, width.clamp(6, 60) as f64)?;
        }
        let sheet_label = ws.name();
        if sheet.part == 1 && sheet.table == Table::Activity && rows > 0 {
            self.activity = Some(ChartSource {
                sheet: sheet_label,
                first_row: 1,
                last_row: rows,
            });
        } else if let (Table::Summary, Some((first, last))) = (sheet.table, sheet.top_rows) {
            self.top = Some(ChartSource {
                sheet: sheet_label,
                first_row: first,
                last_row: last,
            });
        }
        Ok(())
    }

    fn add_charts(&mut self) -> Result<()> {
        if self.activity.is_none() && self.top.is_none() {
            return Ok(());
        }
        let ws = self.workbook.add_worksheet();
        ws.set_name(CHARTS_SHEET)?;
        let mut row = 1;
        if let Some(src) = &self.activity {
            let mut chart = Chart::new(ChartType::Line);
            chart
                .title()
                .set_name("Questions and likes per minute (UTC)");
            for (col, name) in [(1u16, "questions"), (2, "likes")] {
                chart
                    .add_series()
                    .set_name(name)
                    .set_categories((src.sheet.as_str(), src.first_row, 0, src.last_row, 0))
                    .set_values((src.sheet.as_str(), src.first_row, col, src.last_row, col));
            }
            chart.x_axis().set_date_axis(true).set_num_format("hh:mm");
            chart.y_axis().set_name("per minute");
            chart.set_width(900).set_height(360);
            ws.insert_chart(row, 1, &chart)?;
            row += 20;
        }
        if let Some(src) = &self.top {
            let mut chart = Chart::new(ChartType::Bar);
            chart.title().set_name("Likes of the top questions");
            chart
                .add_series()
                .set_name("likes")
                .set_categories((src.sheet.as_str(), src.first_row, 3, src.last_row, 3))
                .set_values((src.sheet.as_str(), src.first_row, 1, src.last_row, 1));
            // Rank 1 at the top.
            chart.x_axis().set_reverse();
            chart.legend().set_hidden();
            chart.set_width(900).set_height(420);
            ws.insert_chart(row, 1, &chart)?;
        }
        Ok(())
    }
}

fn write_header_row(ws: &mut Worksheet, formats: &Formats, columns: &[Column]) -> Result<()> {
    for (col, column) in (0u16..).zip(columns) {
        ws.write_string_with_format(0, col, column.name, &formats.header)?;
    }
    Ok(())
}

fn write_row_cells(
    ws: &mut Worksheet,
    formats: &Formats,
    row: u32,
    cells: &[Cell<'_>],
) -> Result<()> {
    for (col, cell) in (0u16..).zip(cells) {
        write_cell(ws, formats, row, col, cell)?;
    }
    Ok(())
}

fn write_cell(
    ws: &mut Worksheet,
    formats: &Formats,
    row: u32,
    col: u16,
    cell: &Cell<'_>,
) -> Result<()> {
    match cell {
        // A string cell is never evaluated, whatever it starts with.
        Cell::Text(s) => {
            ws.write_string(row, col, s.as_ref())?;
        }
        Cell::Integer(n) => {
            ws.write_number(row, col, *n as f64)?;
        }
        Cell::Float(x) if x.is_finite() => {
            ws.write_number(row, col, *x)?;
        }
        Cell::Float(_) | Cell::Empty => {}
        Cell::Bool(b) => {
            ws.write_boolean(row, col, *b)?;
        }
        Cell::Time(t) => {
            ws.write_number_with_format(row, col, excel_serial(t.timestamp()), &formats.time)?;
        }
    }
    Ok(())
}

/// A UTC instant (Unix seconds) as an Excel date serial number (days since
/// 1899-12-30, the epoch that makes Excel's dates after February 1900 right).
fn excel_serial(unix_seconds: i64) -> f64 {
    unix_seconds as f64 / 86_400.0 + 25_569.0
}

/// How many characters a cell shows, for column widths.
fn display_width(cell: &Cell<'_>) -> usize {
    match cell {
        Cell::Text(s) => s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum(),
        Cell::Integer(n) => n.to_string().len(),
        Cell::Float(x) => x.to_string().len().min(12),
        Cell::Bool(_) => 5,
        Cell::Time(_) => TIME_FORMAT.len(),
        Cell::Empty => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
    use chrono::DateTime;
    use qicoo_projections::audit::tables::{VoteAction, VoteRow};

    use super::*;

    #[test]
    fn the_unix_epoch_is_excel_day_25569() {
        assert_eq!(excel_serial(0), 25_569.0);
        assert_eq!(excel_serial(86_400 / 2), 25_569.5);
    }

    fn header() -> ExportHeader {
        ExportHeader {
            meetup_id: "m".into(),
            code: "C".into(),
            title: "T".into(),
            position: 0,
            chain_head: "0".repeat(64),
            as_of: None,
        }
    }

    fn vote(i: i64) -> VoteRow {
        VoteRow {
            position: i,
            question_id: "q".into(),
            participant: format!("p-{i}"),
            at: DateTime::from_timestamp(1_796_674_503 + i, 0).unwrap_or_default(),
            action: VoteAction::Cast,
        }
    }

    #[test]
    fn a_long_table_gets_a_filter_instead_of_a_table_and_continues_on_further_sheets() {
        let mut w = XlsxWriter::new(&header()).expect("a workbook");
        // Small limits stand in for Excel's: 3 rows make a Table, 4 fill a sheet.
        w.table_row_limit = 3;
        w.sheet_rows = 4;
        w.begin_table(Table::Votes).expect("begun");
        for i in 1..=10 {
            w.write_row(&vote(i)).expect("written");
        }
        let bytes = w.finish(Vec::new()).expect("saved");

        let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.clone())).expect("opens");
        assert_eq!(
            wb.sheet_names(),
            ["About", "Votes", "Votes (2)", "Votes (3)"]
        );
        let mut positions = Vec::new();
        for name in ["Votes", "Votes (2)", "Votes (3)"] {
            let range = wb.worksheet_range(name).expect("a sheet");
            let mut rows = range.rows();
            assert_eq!(
                rows.next().map(|r| r[0].clone()),
                Some(Data::String("position".into()))
            );
            positions.extend(rows.map(|r| r[0].clone()));
        }
        let expected: Vec<Data> = (1..=10).map(|i| Data::Float(i as f64)).collect();
        assert_eq!(positions, expected);

        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
        assert!(
            archive.by_name("xl/tables/table1.xml").is_err(),
            "no Excel Table"
        );
        let mut sheet = String::new();
        archive
            .by_name("xl/worksheets/sheet2.xml")
            .expect("the first votes sheet")
            .read_to_string(&mut sheet)
            .expect("text");
        assert!(sheet.contains(r#"<autoFilter ref="A1:E5"/>"#), "{sheet}");
        assert!(sheet.contains(r#"state="frozen""#));
    }

    #[test]
    fn rows_of_another_table_or_before_any_table_are_refused() {
        let mut w = XlsxWriter::new(&header()).expect("a workbook");
        assert!(matches!(
            w.write_row(&vote(1)),
            Err(Error::NoTable(Table::Votes))
        ));
        w.begin_table(Table::Questions).expect("begun");
        assert!(matches!(
            w.write_row(&vote(1)),
            Err(Error::WrongTable {
                expected: Table::Questions,
                got: Table::Votes
            })
        ));
        assert!(matches!(
            w.begin_table(Table::Questions),
            Err(Error::TableRepeated(Table::Questions))
        ));
    }
}
