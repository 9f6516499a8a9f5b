//! The audit commands of the CLI: `qicoo verify` (and `qicoo export`), with
//! a progress bar on a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use qicoo_domain::MeetupId;
use qicoo_projections::audit::verify::Verify;
use qicoo_projections::ReadSide;

use crate::config::VerifyArgs;
use crate::serve::{open_read_side, StartError};

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
    let read_side = open_read_side(&args.store, &args.leaderboard).await?;
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
    let leaderboard = if report.leaderboard_compared {
        "the leaderboard, "
    } else if leaderboard.is_some() {
        "(the leaderboard did not reach the read model's position in time: not compared) "
    } else {
        "(the leaderboard is kept in memory by each qicoo serve: nothing stored to compare) "
    };
    println!(
        "verified {} events up to position {}: {} meetup(s), {} question(s); the read model, {}and the hash chain match the events",
        report.events, report.position, report.meetups, report.questions, leaderboard
    );
    Ok(())
}
