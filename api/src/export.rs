//! Exports of a meetup: its events folded (and for the tables that list
//! events, streamed) from the event store up to a settled position, written
//! in one of the formats of `qicoo-export`, a chunk at a time.
//!
//! Two passes over the meetup's events at most: the first folds them (the
//! questions, activity, summary and moderation tables come from it, and the
//! header: the position and hash-chain head the export reflects); the
//! second, needed only for the votes table, streams each vote as a row.
//! Memory holds the state per question and vote, never the events.

use std::io::{Read, Seek, SeekFrom};

use async_trait::async_trait;
use chrono::FixedOffset;
use futures::TryStreamExt;
use qicoo_domain::MeetupId;
use qicoo_export::{
    write_report, CsvOptions, CsvWriter, CsvZipWriter, ExportHeader, JsonLinesWriter, Lang,
    ModerationRow, QuestionRow, ReportData, ReportOptions, Row, Table, XlsxWriter,
};
use qicoo_projections::archive::EventArchive;
use qicoo_projections::audit::fold::{vote_row, Listed, MeetupFold};
use qicoo_projections::audit::AuditError;
use qicoo_projections::DomainEvent;

/// Bytes gathered before they are handed on.
const CHUNK: usize = 64 * 1024;

/// The formats an export comes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One table as CSV, or every table as CSV files in a zip.
    Csv,
    Jsonl,
    Xlsx,
    Html,
}

impl Format {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "csv" => Self::Csv,
            "jsonl" => Self::Jsonl,
            "xlsx" => Self::Xlsx,
            "html" => Self::Html,
            _ => return None,
        })
    }
}

/// What to export.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub meetup: MeetupId,
    pub format: Format,
    /// One table, or (`None`) all of them.
    pub table: Option<Table>,
    /// The last position the export reflects (settled).
    pub upto: i64,
    /// CSV: start each file with a UTF-8 byte-order mark (for Excel).
    pub bom: bool,
    /// The report's language and the offset its times are shown in.
    pub lang: Lang,
    pub offset: FixedOffset,
}

impl ExportRequest {
    /// The media type of the answer.
    pub fn media_type(&self) -> &'static str {
        match (self.format, self.table) {
            (Format::Csv, Some(_)) => "text/csv; charset=utf-8",
            (Format::Csv, None) => "application/zip",
            (Format::Jsonl, _) => "application/x-ndjson",
            (Format::Xlsx, _) => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            (Format::Html, _) => "text/html; charset=utf-8",
        }
    }

    /// A file name for it: `qicoo-<code>-<table or "export">-<position>.<ext>`.
    pub fn file_name(&self, header: &ExportHeader) -> String {
        let extension = match (self.format, self.table) {
            (Format::Csv, Some(_)) => "csv",
            (Format::Csv, None) => "zip",
            (Format::Jsonl, _) => "jsonl",
            (Format::Xlsx, _) => "xlsx",
            (Format::Html, _) => "html",
        };
        let what = match (self.format, self.table) {
            (Format::Html, _) => "report",
            (_, Some(t)) => t.as_str(),
            (_, None) => "export",
        };
        let code: String = header
            .code
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        format!("qicoo-{code}-{what}-{}.{extension}", header.position)
    }

    fn tables(&self) -> Vec<Table> {
        match (self.format, self.table) {
            (Format::Html, _) => Vec::new(),
            (_, Some(t)) => vec![t],
            (_, None) => Table::ALL.to_vec(),
        }
    }

    /// How many passes over the events it takes (for progress).
    pub fn passes(&self) -> u64 {
        if self.tables().contains(&Table::Votes) {
            2
        } else {
            1
        }
    }
}

/// Where an export's bytes go, a chunk at a time.
#[async_trait]
pub trait ChunkSink: Send {
    async fn send(&mut self, chunk: Vec<u8>) -> Result<(), AuditError>;
}

/// The first pass done: what every table but the votes needs.
pub struct Prepared {
    pub header: ExportHeader,
    fold: MeetupFold,
    moderation: Vec<ModerationRow>,
}

fn write_err(e: impl std::fmt::Display) -> AuditError {
    AuditError::Write(e.to_string())
}

/// Folds the meetup's events up to `request.upto`; `progress` is told each
/// event read.
pub async fn prepare(
    archive: &dyn EventArchive,
    request: &ExportRequest,
    progress: &mut (dyn FnMut() + Send),
) -> Result<Prepared, AuditError> {
    let mut moderation = Vec::new();
    let fold = qicoo_projections::audit::as_of::fold_until(
        archive,
        request.meetup,
        request.upto,
        |listed| {
            progress();
            if let Listed::Moderation(row) = listed {
                moderation.push(row);
            }
            Ok(())
        },
    )
    .await?;
    let meetup = fold.meetup.as_ref().ok_or(AuditError::NotYetCreated)?;
    let header = ExportHeader {
        meetup_id: meetup.id.to_string(),
        code: meetup.code.clone(),
        title: meetup.title.clone(),
        position: fold.position,
        chain_head: fold.link.to_hex(),
        as_of: fold.at,
    };
    Ok(Prepared {
        header,
        fold,
        moderation,
    })
}

/// A writer of several tables into one output.
trait Tables {
    fn begin(&mut self, table: Table) -> qicoo_export::Result<()>;
    fn row<R: Row>(&mut self, row: &R) -> qicoo_export::Result<()>;
    fn summary(&mut self, summary: &qicoo_export::Summary) -> qicoo_export::Result<()>;
    /// The bytes written so far, taken (nothing for formats that write at
    /// the end).
    fn take(&mut self) -> Vec<u8>;
}

/// `Tables` for a writer of `qicoo-export`: `begin` is its `begin_table`
/// (or nothing, for a format without table boundaries), `take` drains its
/// buffer (or nothing, for one that writes at the end).
macro_rules! tables {
    ($writer:ty, begin: $begin:expr, take: $take:expr) => {
        impl Tables for $writer {
            fn begin(&mut self, table: Table) -> qicoo_export::Result<()> {
                $begin(self, table)
            }
            fn row<R: Row>(&mut self, row: &R) -> qicoo_export::Result<()> {
                self.write_row(row)
            }
            fn summary(&mut self, summary: &qicoo_export::Summary) -> qicoo_export::Result<()> {
                self.write_summary(summary)
            }
            fn take(&mut self) -> Vec<u8> {
                $take(self)
            }
        }
    };
}

fn no_boundary<T>(_: &mut T, _: Table) -> qicoo_export::Result<()> {
    Ok(())
}

tables!(CsvWriter<Vec<u8>>, begin: no_boundary, take: |w: &mut CsvWriter<Vec<u8>>| std::mem::take(w.get_mut()));
tables!(CsvZipWriter<Vec<u8>>, begin: CsvZipWriter::begin_table, take: |w: &mut CsvZipWriter<Vec<u8>>| std::mem::take(w.get_mut()));
tables!(JsonLinesWriter<Vec<u8>>, begin: no_boundary, take: |w: &mut JsonLinesWriter<Vec<u8>>| std::mem::take(w.get_mut()));
tables!(XlsxWriter, begin: XlsxWriter::begin_table, take: |_: &mut XlsxWriter| Vec::new());

/// Hands on what `out` holds once it is a chunk's worth.
async fn drain<T: Tables>(
    out: &mut T,
    pending: &mut Vec<u8>,
    sink: &mut dyn ChunkSink,
) -> Result<(), AuditError> {
    pending.extend(out.take());
    if pending.len() >= CHUNK {
        sink.send(std::mem::take(pending)).await?;
    }
    Ok(())
}

/// Writes every table the request names into `out`, the votes streamed in
/// a second pass over the events.
async fn write_tables<T: Tables + Send>(
    out: &mut T,
    prepared: &Prepared,
    archive: &dyn EventArchive,
    request: &ExportRequest,
    sink: &mut dyn ChunkSink,
    progress: &mut (dyn FnMut() + Send),
) -> Result<(), AuditError> {
    let mut pending = Vec::new();
    for table in request.tables() {
        out.begin(table).map_err(write_err)?;
        match table {
            Table::Questions => {
                for q in prepared.fold.questions_in_order() {
                    let row: QuestionRow = q.row();
                    out.row(&row).map_err(write_err)?;
                    drain(out, &mut pending, sink).await?;
                }
            }
            Table::Votes => {
                // Only the votes are decoded again; the rest of the state
                // is the first pass's.
                let pseudonyms = prepared.fold.pseudonyms();
                let mut events = archive.stream(request.meetup, request.upto);
                while let Some(event) = events.try_next().await? {
                    progress();
                    if event.aggregate_type != "Vote" {
                        continue;
                    }
                    let DomainEvent::Vote(vote) =
                        event.decode().map_err(|reason| AuditError::BadEvent {
                            position: event.position(),
                            reason,
                        })?
                    else {
                        continue;
                    };
                    out.row(&vote_row(pseudonyms, &event, &vote))
                        .map_err(write_err)?;
                    drain(out, &mut pending, sink).await?;
                }
            }
            Table::Activity => {
                for row in prepared.fold.activity() {
                    out.row(&row).map_err(write_err)?;
                }
            }
            Table::Moderation => {
                for row in &prepared.moderation {
                    out.row(row).map_err(write_err)?;
                }
            }
            Table::Summary => out.summary(&prepared.fold.summary()).map_err(write_err)?,
        }
        drain(out, &mut pending, sink).await?;
    }
    pending.extend(out.take());
    if !pending.is_empty() {
        sink.send(pending).await?;
    }
    Ok(())
}

/// Writes the export of a prepared meetup to `sink`.
pub async fn write(
    prepared: &Prepared,
    archive: &dyn EventArchive,
    request: &ExportRequest,
    sink: &mut dyn ChunkSink,
    progress: &mut (dyn FnMut() + Send),
) -> Result<(), AuditError> {
    let header = &prepared.header;
    let csv = CsvOptions { bom: request.bom };
    match (request.format, request.table) {
        (Format::Html, _) => {
            let questions: Vec<QuestionRow> = prepared
                .fold
                .questions_in_order()
                .into_iter()
                .map(|q| q.row())
                .collect();
            let activity = prepared.fold.activity();
            let summary = prepared.fold.summary();
            let mut html = Vec::new();
            write_report(
                &mut html,
                &ReportData {
                    header,
                    summary: &summary,
                    activity: &activity,
                    questions: &questions,
                },
                &ReportOptions {
                    lang: request.lang,
                    offset: request.offset,
                },
            )
            .map_err(write_err)?;
            sink.send(html).await
        }
        (Format::Csv, Some(table)) => {
            let mut out = CsvWriter::new(Vec::new(), table, csv).map_err(write_err)?;
            write_tables(&mut out, prepared, archive, request, sink, progress).await?;
            let rest = out.finish().map_err(write_err)?;
            sink.send(rest).await
        }
        (Format::Csv, None) => {
            let mut out = CsvZipWriter::new(Vec::new(), header, csv).map_err(write_err)?;
            write_tables(&mut out, prepared, archive, request, sink, progress).await?;
            let rest = out.finish().map_err(write_err)?;
            sink.send(rest).await
        }
        (Format::Jsonl, _) => {
            let mut out = JsonLinesWriter::new(Vec::new(), header).map_err(write_err)?;
            write_tables(&mut out, prepared, archive, request, sink, progress).await?;
            let rest = out.finish().map_err(write_err)?;
            sink.send(rest).await
        }
        (Format::Xlsx, _) => {
            let mut out = XlsxWriter::new(header).map_err(write_err)?;
            write_tables(&mut out, prepared, archive, request, sink, progress).await?;
            // Assembling the workbook is CPU and disk work: off the async
            // threads, into a file that is then sent a chunk at a time.
            let mut file = tokio::task::spawn_blocking(move || {
                let file = tempfile::tempfile().map_err(write_err)?;
                out.finish(file).map_err(write_err)
            })
            .await
            .map_err(write_err)??;
            file.seek(SeekFrom::Start(0)).map_err(write_err)?;
            loop {
                let mut chunk = vec![0_u8; CHUNK];
                let n = file.read(&mut chunk).map_err(write_err)?;
                if n == 0 {
                    return Ok(());
                }
                chunk.truncate(n);
                sink.send(chunk).await?;
            }
        }
    }
}
