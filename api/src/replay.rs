//! `qicoo replay`: rebuilds projections from position zero with a progress bar.

use qicoo_projections::Replayed;
use tokio_util::sync::CancellationToken;

use crate::config::ReplayArgs;
use crate::serve::{open_event_store, open_read_side, shutdown_signal, StartError};

/// Runs the replay; Ctrl-C cancels it, leaving the live projections untouched.
pub async fn replay(args: &ReplayArgs) -> Result<(), StartError> {
    let store = open_event_store(&args.store).await?;
    store.close().await;
    let read_side = open_read_side(&args.store, &args.leaderboard).await?;
    let bar = crate::audit::progress_bar("");
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.cancel();
    });
    let progress_bar = bar.clone();
    let mut current = String::new();
    let result = read_side
        .replay(
            Some(args.projection.as_str()),
            move |projection, done, total| {
                if projection != current {
                    current = projection.to_owned();
                    progress_bar.reset();
                    progress_bar.set_prefix(current.clone());
                }
                progress_bar.set_length(total);
                progress_bar.set_position(done);
            },
            cancel,
        )
        .await;
    bar.finish();
    for replayed in result? {
        match replayed {
            Replayed::Rebuilt { projection } => {
                eprintln!("{projection}: rebuilt from the events and switched over");
                tracing::info!(projection, "replay finished and switched over");
            }
            Replayed::NothingToRebuild { projection, reason } => {
                eprintln!("{projection}: nothing to rebuild: {reason}");
            }
        }
    }
    Ok(())
}
