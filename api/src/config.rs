//! The `qicoo` command line: every setting is a flag and a `QICOO_…` variable,
//! and none is needed for the embedded default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

use crate::ratelimit::{ForwardedHeader, Limit, Quotas, TrustedProxy};

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

// Parsed once per process: the size of the serve variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve(ServeArgs),
    /// Apply database migrations (event store and read model), then exit.
    Migrate(StoreArgs),
    /// Rebuild projections from position zero into fresh tables / keys while the
    /// current ones keep serving, then switch over atomically.
    Replay(ReplayArgs),
    /// Replay the event store in memory and compare it with the read model,
    /// the hash chain and a stored leaderboard; exit non-zero on any difference.
    Verify(VerifyArgs),
    /// Export a meetup: questions, votes, activity, moderation and summary as
    /// CSV, JSON Lines or Excel, or the HTML report.
    Export(ExportArgs),
    /// Ask a running Qicoo's `/healthz` (the container's health check); exit 0
    /// when it answers 200.
    Healthcheck(crate::healthcheck::HealthcheckArgs),
}

/// Settings of `qicoo export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub leaderboard: LeaderboardArgs,
    /// The meetup: its id or join code.
    #[arg(long)]
    pub meetup: String,
    /// `csv` (one table with --table, else every table in a zip), `jsonl`,
    /// `xlsx` or `html` (the report).
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// One table: questions, votes, activity, moderation or summary.
    #[arg(long)]
    pub table: Option<String>,
    /// The instant to export as of: an RFC 3339 time or a position (default:
    /// now). The same position gives the same bytes.
    #[arg(long)]
    pub as_of: Option<String>,
    /// CSV: start each file with a UTF-8 byte-order mark, for Excel.
    #[arg(long)]
    pub bom: bool,
    /// The report's language: en or ja.
    #[arg(long)]
    pub lang: Option<String>,
    /// The offset the report shows times in, e.g. +09:00.
    #[arg(long)]
    pub tz: Option<String>,
    /// Where to write it (`-` for standard output). Default: a file named
    /// after the meetup, table and position, in the current folder.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// Settings of `qicoo verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub leaderboard: LeaderboardArgs,
    /// Only this meetup (its id or join code).
    #[arg(long)]
    pub meetup: Option<String>,
}

/// What runs in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// API and projection workers (the embedded default).
    All,
    /// HTTP API and WebSocket only; projections run elsewhere.
    Api,
    /// Projection workers only (plus health and metrics endpoints).
    Projector,
}

impl Role {
    /// Whether this process serves the API.
    pub fn serves_api(self) -> bool {
        matches!(self, Self::All | Self::Api)
    }

    /// Whether this process runs projection workers.
    pub fn runs_projections(self) -> bool {
        matches!(self, Self::All | Self::Projector)
    }
}

/// Settings of `qicoo replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub leaderboard: LeaderboardArgs,
    /// Projection to rebuild: `read_model`, `leaderboard` or `all`.
    #[arg(long, default_value = "all")]
    pub projection: String,
}

/// Where the leaderboards live.
#[derive(Debug, Clone, Args)]
pub struct LeaderboardArgs {
    /// Redis for leaderboards (and the change stream): `redis://…`. Unset: in memory.
    #[arg(long, env = "QICOO_REDIS_URL", hide_env_values = true, global = true, value_parser = parse_secret)]
    pub redis_url: Option<SecretString>,

    /// Prefix of every Redis key Qicoo writes.
    #[arg(
        long,
        env = "QICOO_REDIS_PREFIX",
        default_value = "qicoo:",
        global = true
    )]
    pub redis_prefix: String,
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

    /// Read model: `mysql://…` or `sqlite://path`. Unset: a SQLite file beside the
    /// event store's (`qicoo.read.db` beside `qicoo.db`); required with a
    /// Postgres event store.
    #[arg(long, env = "QICOO_READ_MODEL_URL", hide_env_values = true, global = true, value_parser = parse_secret)]
    pub read_model_url: Option<SecretString>,

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

    #[command(flatten)]
    pub leaderboard: LeaderboardArgs,

    #[command(flatten)]
    pub rate_limits: RateLimitArgs,

    /// What this process runs.
    #[arg(long, env = "QICOO_ROLE", value_enum, default_value_t = Role::All, global = true)]
    pub role: Role,

    /// Longest wait for in-flight work on shutdown (e.g. `30s`, `500ms`, `2m`).
    #[arg(long, env = "QICOO_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub shutdown_timeout: Duration,

    /// Migrate the stores at start (`true`/`false`). Unset: on for a SQLite
    /// event store (the embedded default, development), off for Postgres,
    /// where the migration Job owns the schema and `serve` only checks that
    /// it is at the version it needs (not ready until it is).
    #[arg(long, env = "QICOO_AUTO_MIGRATE", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new(), global = true)]
    pub auto_migrate: Option<bool>,

    /// Answers from the read model carry a `Qicoo-Read-Model-Lag` header, and
    /// `/readyz` reports `read_model_lagging`, when it lags more events than
    /// this behind the event store. Lag never makes a node unready.
    #[arg(
        long,
        env = "QICOO_READY_MAX_LAG",
        default_value_t = 10_000,
        global = true
    )]
    pub ready_max_lag: i64,

    /// Browser origins allowed to open the live stream, comma-separated (e.g.
    /// `https://qa.example.com`). Unset: any origin.
    #[arg(
        long,
        env = "QICOO_ALLOWED_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub allowed_origins: Vec<String>,

    /// Most WebSocket connections this node accepts; more are refused with 503.
    #[arg(
        long,
        env = "QICOO_MAX_CONNECTIONS",
        default_value_t = 10_000,
        global = true
    )]
    pub max_connections: usize,

    /// Live changes that keep coming are merged and sent once per tick
    /// (longer in a meetup with so many clients that a frame per tick would
    /// pass 50,000 sends a second).
    #[arg(long, env = "QICOO_LIVE_TICK", default_value = "20ms", value_parser = parse_duration, global = true)]
    pub live_tick: Duration,

    /// Frames buffered per WebSocket client before it gets a fresh snapshot
    /// instead.
    #[arg(long, env = "QICOO_LIVE_BUFFER", default_value_t = 64, global = true)]
    pub live_buffer: usize,

    /// WebSocket ping interval; a client silent for three intervals is dropped.
    #[arg(long, env = "QICOO_LIVE_HEARTBEAT", default_value = "20s", value_parser = parse_duration, global = true)]
    pub live_heartbeat: Duration,

    /// A WebSocket client that takes longer than this to accept a frame (it
    /// stopped reading) is dropped and its connection freed.
    #[arg(long, env = "QICOO_LIVE_WRITE_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub live_write_timeout: Duration,

    /// A client must send a request's headers within this time (of connecting,
    /// or of its previous response), or it is disconnected.
    #[arg(long, env = "QICOO_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub header_timeout: Duration,

    /// A request's whole body must arrive within this time of its headers, or
    /// it is answered 408.
    #[arg(long, env = "QICOO_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub body_timeout: Duration,

    /// Most open HTTP connections on this node, WebSocket ones included (keep
    /// it above `QICOO_MAX_CONNECTIONS`); more are answered 503 and closed.
    #[arg(
        long,
        env = "QICOO_MAX_HTTP_CONNECTIONS",
        default_value_t = 20_000,
        global = true
    )]
    pub max_http_connections: usize,

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

    /// The URL attendees reach Qicoo at (e.g. `https://qa.example.com`), for the
    /// join link and QR code on the speaker screen. Unset: the scheme and host
    /// each request names.
    #[arg(long, env = "QICOO_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Who may embed the speaker screen in a frame (its CSP `frame-ancestors`),
    /// e.g. `'self' https://obs.example.com`. Other pages may not be framed.
    #[arg(
        long,
        env = "QICOO_SCREEN_FRAME_ANCESTORS",
        default_value = "*",
        global = true
    )]
    pub screen_frame_ancestors: String,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "QICOO_MAX_BODY_BYTES", default_value_t = 16 * 1024, global = true)]
    pub max_body_bytes: usize,
}

/// Rate limits per route group, and how the client address is found. Each
/// limit is `N/s`, `N/min` or `N/h`, optionally `,burst=B` (default: N at
/// once), or `off`.
#[derive(Debug, Clone, Args)]
pub struct RateLimitArgs {
    /// All rate limits on, or `off` (for benchmarks).
    #[arg(long, env = "QICOO_RATE_LIMITS", value_enum, default_value_t = Switch::On, global = true)]
    pub rate_limits: Switch,

    /// Question posts per participant.
    #[arg(
        long,
        env = "QICOO_RATE_QUESTIONS",
        default_value = "5/min",
        global = true
    )]
    pub rate_questions: Limit,

    /// Likes and unlikes per participant.
    #[arg(long, env = "QICOO_RATE_LIKES", default_value = "20/s", global = true)]
    pub rate_likes: Limit,

    /// Participant tokens issued per client address.
    #[arg(
        long,
        env = "QICOO_RATE_PARTICIPANTS",
        default_value = "60/min",
        global = true
    )]
    pub rate_participants: Limit,

    /// Meetups created per client address.
    #[arg(
        long,
        env = "QICOO_RATE_MEETUPS",
        default_value = "30/min",
        global = true
    )]
    pub rate_meetups: Limit,

    /// Live-stream (WebSocket) connections opened per client address.
    #[arg(
        long,
        env = "QICOO_RATE_LIVE",
        default_value = "120/min",
        global = true
    )]
    pub rate_live: Limit,

    /// Proxies whose forwarding header is believed (the ingress), comma-separated
    /// addresses or networks (`10.0.0.0/8`). Unset: the socket peer is the client.
    #[arg(
        long,
        env = "QICOO_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<TrustedProxy>,

    /// The forwarding header the trusted proxies set; the other one is ignored.
    #[arg(long, env = "QICOO_FORWARDED_HEADER", value_enum, default_value_t = ForwardedHeader::XForwardedFor, global = true)]
    pub forwarded_header: ForwardedHeader,
}

impl RateLimitArgs {
    /// Each group's quota, all `None` when limits are off.
    pub fn quotas(&self) -> Quotas {
        if self.rate_limits == Switch::Off {
            return Quotas::default();
        }
        Quotas {
            questions: self.rate_questions.quota(),
            likes: self.rate_likes.quota(),
            participants: self.rate_participants.quota(),
            meetups: self.rate_meetups.quota(),
            live: self.rate_live.quota(),
        }
    }
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl ServeArgs {
    /// Whether `serve` migrates the stores itself: as asked, else only over
    /// a SQLite event store (one process owns that file).
    pub fn auto_migrate(&self) -> bool {
        self.auto_migrate.unwrap_or_else(|| {
            matches!(
                qicoo_commands::EventStoreKind::of_url(self.store.event_store_url.expose_secret()),
                Ok(qicoo_commands::EventStoreKind::Sqlite)
            )
        })
    }
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

/// Parses `30s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| raw.split_at(i))
        .unwrap_or((raw, "s"));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 30s, 500ms or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!("{raw:?} is not a duration like 30s, 500ms or 2m")),
    }
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
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn no_arguments_mean_serve_with_defaults() {
        let cli = Cli::try_parse_from(["qicoo"]).expect("parses");
        assert!(cli.command.is_none());
        let args = cli.serve_args();
        assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(args.max_body_bytes, 16 * 1024);
        assert_eq!(args.role, Role::All);
        assert_eq!(args.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(args.header_timeout, Duration::from_secs(10));
        assert_eq!(args.body_timeout, Duration::from_secs(10));
        assert_eq!(args.live_write_timeout, Duration::from_secs(10));
    }

    #[test]
    fn serve_migrates_by_itself_only_over_sqlite_unless_told() {
        let parse = |argv: &[&str]| {
            Cli::try_parse_from(argv)
                .expect("parses")
                .serve_args()
                .auto_migrate()
        };
        assert!(parse(&["qicoo"]), "the embedded default needs no setup");
        assert!(parse(&["qicoo", "--event-store-url", "sqlite::memory:"]));
        let pg = ["qicoo", "--event-store-url", "postgres://db/qicoo"];
        assert!(!parse(&pg), "scaled out, the migration Job owns the schema");
        assert!(parse(&[&pg[..], &["--auto-migrate"]].concat()));
        assert!(parse(&[&pg[..], &["--auto-migrate=true"]].concat()));
        assert!(!parse(&["qicoo", "--auto-migrate=false"]));
        assert!(Cli::try_parse_from(["qicoo", "--auto-migrate=maybe"]).is_err());
    }

    #[test]
    fn rate_limits_default_to_the_documented_quotas_and_switch_off_together() {
        let args = Cli::try_parse_from(["qicoo"]).expect("parses").serve_args();
        let quotas = args.rate_limits.quotas();
        let shown = |q: Option<crate::ratelimit::Quota>| q.map(|q| q.to_string());
        assert_eq!(shown(quotas.questions).as_deref(), Some("5/min"));
        assert_eq!(shown(quotas.likes).as_deref(), Some("20/s"));
        assert_eq!(shown(quotas.participants).as_deref(), Some("60/min"));
        assert_eq!(shown(quotas.meetups).as_deref(), Some("30/min"));
        assert_eq!(shown(quotas.live).as_deref(), Some("120/min"));
        assert!(args.rate_limits.trusted_proxies.is_empty());

        let off = Cli::try_parse_from(["qicoo", "--rate-limits", "off"])
            .expect("parses")
            .serve_args();
        let quotas = off.rate_limits.quotas();
        assert!(quotas.questions.is_none() && quotas.likes.is_none() && quotas.live.is_none());

        let one = Cli::try_parse_from([
            "qicoo",
            "--rate-likes",
            "off",
            "--rate-questions",
            "2/h,burst=1",
            "--trusted-proxies",
            "10.0.0.0/8,192.0.2.1",
        ])
        .expect("parses")
        .serve_args();
        let quotas = one.rate_limits.quotas();
        assert!(quotas.likes.is_none());
        assert_eq!(shown(quotas.questions).as_deref(), Some("2/h,burst=1"));
        assert_eq!(one.rate_limits.trusted_proxies.len(), 2);
        assert!(Cli::try_parse_from(["qicoo", "--rate-likes", "lots"]).is_err());
    }
}
