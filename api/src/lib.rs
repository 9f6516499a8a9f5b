//! Qicoo's API: axum routes, credentials, errors as problem+json, the CLI.
//! `main.rs` only parses the command line and calls [`run`].

pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod error;
pub mod export;
pub mod healthcheck;
pub mod http;
pub mod json;
pub mod live;
pub mod metrics;
pub mod openapi;
pub mod path;
pub mod query;
pub mod ratelimit;
pub mod readiness;
pub mod replay;
pub mod request;
pub mod schema;
pub mod secret;
pub mod serve;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod web;

pub use app::{app, HttpSettings};
pub use config::Cli;
pub use state::AppState;

/// Runs the command the user asked for.
pub async fn run(cli: Cli) -> Result<(), serve::StartError> {
    match &cli.command {
        Some(config::Command::Migrate(args)) => serve::migrate(args).await,
        Some(config::Command::Replay(args)) => replay::replay(args).await,
        Some(config::Command::Verify(args)) => audit::verify(args).await,
        Some(config::Command::Export(args)) => audit::export(args).await,
        Some(config::Command::Healthcheck(args)) => {
            Ok(healthcheck::run(cli.serve_args().listen, args).await?)
        }
        Some(config::Command::Serve(_)) | None => serve::serve(cli.serve_args()).await,
    }
}
