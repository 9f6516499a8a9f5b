//! The `qicoo` command line: every setting is a flag and a `QICOO_…` variable,
//! and none is needed for the embedded default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

/// Qicoo: live Q&A for meetups.
#[derive(Debug, Parser)]
#[command(name = "qicoo", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for `serve`, which runs when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve(ServeArgs),
    /// Apply database migrations, then exit.
    Migrate(StoreArgs),
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Event store: `postgres://…` or `sqlite://path` (created if missing).
    #[arg(
        long,
        env = "QICOO_EVENT_STORE_URL",
        default_value = "sqlite://qicoo.db",
        hide_env_values = true,
        global = true,
        value_parser = parse_secret
    )]
    pub event_store_url: SecretString,

    /// Most database connections per pool.
    #[arg(
        long,
        env = "QICOO_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,
}

/// Settings of `qicoo serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Address to listen on.
    #[arg(
        long,
        env = "QICOO_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// Secret that signs participant tokens (required with Postgres, shared by all
    /// API nodes). Embedded default: generated on first start and kept beside the
    /// SQLite file as `<file>.secret`, readable by its owner only.
    #[arg(long, env = "QICOO_SECRET", hide_env_values = true, global = true, value_parser = parse_secret)]
    pub secret: Option<SecretString>,

    /// Log format.
    #[arg(long, env = "QICOO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "QICOO_MAX_BODY_BYTES", default_value_t = 16 * 1024, global = true)]
    pub max_body_bytes: usize,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Cli {
    /// The settings `serve` runs with.
    pub fn serve_args(&self) -> ServeArgs {
        match &self.command {
            Some(Command::Serve(args)) => args.clone(),
            _ => self.serve.clone(),
        }
    }
}

/// Connection strings carry passwords and secrets are secrets: both are kept
/// out of `Debug` output and logs.
fn parse_secret(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(raw))
}

/// The file path of a `sqlite:` URL, if it is one and names a file.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite://qicoo.db"), Some("qicoo.db".into()));
        assert_eq!(
            sqlite_path("sqlite:///var/lib/q.db?mode=rwc"),
            Some("/var/lib/q.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }

    #[test]
    fn no_arguments_mean_serve_with_defaults() {
        let cli = Cli::try_parse_from(["qicoo"]).expect("parses");
        assert!(cli.command.is_none());
        let args = cli.serve_args();
        assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(args.max_body_bytes, 16 * 1024);
    }
}
