//! The audit commands of the CLI: `qicoo verify` and `qicoo export`, with a
//! progress bar on a terminal.

use std::io::Write as _;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use qicoo_domain::MeetupId;
use qicoo_projections::audit::as_of;
use qicoo_projections::audit::verify::Verify;
use qicoo_projections::audit::AuditError;
use qicoo_projections::ReadSide;

use crate::config::{ExportArgs, VerifyArgs};
use crate::export::{self, ChunkSink};
use crate::serve::{read_side_config, StartError};

/// A progress bar on standard error (drawn only on a terminal).
pub fn progress_bar(prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:40}] {pos}/{len} events  {per_sec}  ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_owned());
    bar
}

/// The read side for reading only: it checks that the read model's schema
/// is the one this version of Qicoo needs, and migrates nothing (the
/// migrations have one owner: `qicoo migrate`, or a serving embedded node).
pub async fn open_for_reading(
    store: &crate::config::StoreArgs,
    leaderboard: &crate::config::LeaderboardArgs,
) -> Result<ReadSide, StartError> {
    let read_side = ReadSide::open_checked(read_side_config(store, leaderboard)).await?;
    if !read_side.migrated() {
        read_side.close().await;
        return Err(StartError::Invalid(
            "the read model is not at this version of Qicoo's schema (or cannot be reached): \
             run `qicoo migrate` first"
                .into(),
        ));
    }
    Ok(read_side)
}

/// The meetup `raw` names: an id, or a join code.
pub async fn find_meetup(read_side: &ReadSide, raw: &str) -> Result<MeetupId, StartError> {
    let queries = read_side.queries();
    let missing = || StartError::NoSuchMeetup(raw.to_owned());
    if let Ok(id) = raw.parse::<MeetupId>() {
        return match queries.meetup(id).await? {
            Some(_) => Ok(id),
            None => Err(missing()),
        };
    }
    let found = queries.meetup_by_code(&raw.to_uppercase()).await?;
    found.map(|m| m.id).ok_or_else(missing)
}

/// `qicoo verify`: exits non-zero when the stores differ from the events.
pub async fn verify(args: &VerifyArgs) -> Result<(), StartError> {
    let read_side = open_for_reading(&args.store, &args.leaderboard).await?;
    let meetup = match &args.meetup {
        Some(raw) => Some(find_meetup(&read_side, raw).await?),
        None => None,
    };
    let feed = read_side.feed();
    let model = read_side.read_model();
    let leaderboard = read_side.stored_leaderboard();
    let bar = progress_bar("verify");
    let progress = bar.clone();
    let report = Verify {
        feed: feed.as_ref(),
        model: model.as_ref(),
        leaderboard: leaderboard.as_deref(),
        meetup,
    }
    .run(move |done, total| {
        progress.set_length(total);
        progress.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    read_side.close().await;
    let report = report?;
    if let Some(first) = report.differences.first() {
        eprintln!("verify: the stores differ from the events");
        eprintln!("first difference: {first}");
        for more in report.differences.iter().skip(1).take(9) {
            eprintln!("also: {more}");
        }
        return Err(StartError::Differences(report.differences.len()));
    }
    let (matched, note) = if report.leaderboard_compared {
        ("the read model, the leaderboard and the hash chain", "")
    } else if leaderboard.is_some() {
        (
            "the read model and the hash chain",
            " (the leaderboard did not reach the read model's position in time: not compared)",
        )
    } else {
        (
            "the read model and the hash chain",
            " (the leaderboard is kept in memory by each qicoo serve: nothing stored to compare)",
        )
    };
    println!(
        "verified {} events up to position {}: {} meetup(s), {} question(s); {matched} match the events{note}",
        report.events, report.position, report.meetups, report.questions
    );
    Ok(())
}

/// Writes an export to a file (or standard output).
struct FileSink(Box<dyn std::io::Write + Send>);

#[async_trait::async_trait]
impl ChunkSink for FileSink {
    async fn send(&mut self, chunk: Vec<u8>) -> Result<(), AuditError> {
        self.0
            .write_all(&chunk)
            .map_err(|e| AuditError::Write(e.to_string()))
    }
}

fn invalid(e: crate::error::ApiError) -> StartError {
    let detail = match &e {
        crate::error::ApiError::Validation(fields) => fields
            .iter()
            .map(|(field, messages)| {
                format!("--{}: {}", field.replace('_', "-"), messages.join("; "))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    };
    StartError::Invalid(detail)
}

/// `qicoo export`: writes the export, with a progress bar on a terminal. A
/// file is written under a temporary name and renamed when complete, so a
/// failed export never leaves a truncated file behind.
pub async fn export(args: &ExportArgs) -> Result<(), StartError> {
    let settings = crate::http::export::parse_settings(
        Some(&args.format),
        args.table.as_deref(),
        Some(if args.bom { "true" } else { "false" }),
        args.lang.as_deref(),
        args.tz.as_deref(),
    )
    .map_err(invalid)?;
    let instant =
        crate::http::audit::parse_instant("as_of", args.as_of.as_deref()).map_err(invalid)?;
    let read_side = open_for_reading(&args.store, &args.leaderboard).await?;
    let meetup = find_meetup(&read_side, &args.meetup).await?;
    let archive = read_side.archive();
    let upto = as_of::resolve(archive.as_ref(), meetup, instant).await?;
    let request = settings.request(meetup, upto);
    let events = archive
        .count(meetup, upto)
        .await
        .map_err(AuditError::from)?;
    let bar = progress_bar("export");
    bar.set_length(events * request.passes());
    let tick = bar.clone();
    let mut progress = move || tick.inc(1);
    let prepared = export::prepare(archive.as_ref(), &request, &mut progress).await?;
    let path = match &args.out {
        Some(path) => path.clone(),
        None => PathBuf::from(request.file_name(&prepared.header)),
    };
    let to_stdout = path.as_os_str() == "-";
    let partial = path.with_extension("partial");
    let output = |source| StartError::Output {
        path: path.display().to_string(),
        source,
    };
    let out: Box<dyn std::io::Write + Send> = if to_stdout {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&partial).map_err(output)?,
        ))
    };
    let mut sink = FileSink(out);
    let written = export::write(
        &prepared,
        archive.as_ref(),
        &request,
        &mut sink,
        &mut progress,
    )
    .await;
    bar.finish_and_clear();
    read_side.close().await;
    let flushed = sink.0.flush();
    drop(sink);
    if let Err(e) = written
        .map_err(StartError::from)
        .and(flushed.map_err(output))
    {
        if !to_stdout {
            let _ = std::fs::remove_file(&partial);
        }
        return Err(e);
    }
    if !to_stdout {
        std::fs::rename(&partial, &path).map_err(output)?;
    }
    eprintln!(
        "export: {} of meetup {} as of position {} (chain head {}){}",
        request.media_type(),
        prepared.header.code,
        prepared.header.position,
        prepared.header.chain_head,
        if to_stdout {
            String::new()
        } else {
            format!(" written to {}", path.display())
        }
    );
    Ok(())
}
