//! `qicoo`: live Q&A for meetups. Run `qicoo --help` for the commands.

use clap::Parser;
use qicoo_api::{config::Cli, telemetry};

/// mimalloc hands freed memory back to the system; glibc's allocator keeps
/// what a burst of connections freed, and a long-running node's RSS climbs
/// with each burst (see BENCHMARKS.md, "Soak").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.serve_args().log_format);
    match qicoo_api::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            let mut message = format!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(&format!("\n  caused by: {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            std::process::ExitCode::FAILURE
        }
    }
}
