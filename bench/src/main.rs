//! `qicoo-bench`: drives a running Qicoo and writes what it measured as JSON.
//!
//! ```sh
//! qicoo-bench likes --base-url http://127.0.0.1:8080 --clients 1,8,32 --out likes.json
//! qicoo-bench smoke --base-url http://127.0.0.1:8080
//! ```
//!
//! `bench/run` runs every scenario against a freshly started Qicoo, measures the
//! baselines, and calls `qicoo-bench report` to write `BENCHMARKS.md`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use qicoo_bench::api::Api;
use qicoo_bench::fixture::{Fixture, VotePlan};
use qicoo_bench::live::{LiveSettings, Outcome};
use qicoo_bench::soak::probe::Watched;
use qicoo_bench::soak::{self, SoakRun, SoakSettings};
use qicoo_bench::{flood, hot, likes, live, report, smoke, Result};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(
    name = "qicoo-bench",
    about = "Load generator and benchmark report for Qicoo"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Closed-loop likes on one meetup's questions (a few hot ones), at each
    /// client count.
    Likes(LikesArgs),
    /// Writes the plan `bench/wrk/likes.lua` sends with wrk: a fresh meetup's
    /// (question, participant) pairs, one `path<TAB>token` line each.
    WrkPlan(WrkPlanArgs),
    /// Likes by different participants on one question: are the last as fast
    /// as the first?
    HotQuestion(HotArgs),
    /// Live WebSocket clients on one meetup while likes arrive at a fixed rate.
    Live(LiveArgs),
    /// RSS of the API process with and without idle live clients.
    Memory(MemoryArgs),
    /// Far more concurrent live-stream upgrade attempts than the node's cap:
    /// refusals, admissions and the API process's peak RSS.
    Flood(FloodArgs),
    /// Every scenario with tiny numbers, in seconds; fails on any error.
    Smoke(Target),
    /// Writes BENCHMARKS.md from a folder of results.
    Report(ReportArgs),
    /// Live clients over several API nodes and steady likes for minutes:
    /// errors, undelivered likes, RSS growth and projection lag; exits
    /// non-zero when a verdict fails.
    Soak(SoakArgs),
    /// Writes (or replaces) the Soak section of BENCHMARKS.md from a soak's
    /// results.
    SoakReport(SoakReportArgs),
    /// Writes (or replaces) the Export section of BENCHMARKS.md from what
    /// `bench/run export` recorded.
    ExportReport(ExportReportArgs),
}

#[derive(Debug, Args)]
struct ExportReportArgs {
    /// What `bench/run export` recorded (`export.json`).
    #[arg(long)]
    results: PathBuf,
    /// What limits the figures, included as written.
    #[arg(long)]
    findings: Option<PathBuf>,
    /// The report whose Export section is written or replaced.
    #[arg(long, default_value = "BENCHMARKS.md")]
    into: PathBuf,
}

#[derive(Debug, Args)]
struct Target {
    /// Where Qicoo listens.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
}

#[derive(Debug, Args)]
struct LikesArgs {
    #[command(flatten)]
    target: Target,
    /// Client counts to run, one after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    clients: Vec<usize>,
    /// Measured time per client count.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured time before each measurement.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    #[arg(long, default_value_t = 20)]
    questions: usize,
    #[arg(long, default_value_t = 2000)]
    participants: usize,
    /// Question i gets a share of votes proportional to 1 / (i + 1)^skew.
    #[arg(long, default_value_t = 1.1)]
    skew: f64,
    /// Names the store set in the results (`postgres`, `sqlite`).
    #[arg(long, default_value = "postgres")]
    label: String,
    /// Where to write the results (JSON); standard output when unset.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct WrkPlanArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 20)]
    questions: usize,
    #[arg(long, default_value_t = 2000)]
    participants: usize,
    /// Where to write the plan.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct HotArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 10_000)]
    likes: usize,
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Size of the first and last windows compared.
    #[arg(long, default_value_t = 1000)]
    window: usize,
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct LiveArgs {
    #[command(flatten)]
    target: Target,
    /// Live client counts to run, one after the other.
    #[arg(long, value_delimiter = ',', default_value = "500,2000")]
    clients: Vec<usize>,
    /// Likes per second, sent whether or not earlier ones were answered.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    duration: Duration,
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    grace: Duration,
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    #[arg(long, default_value_t = 20)]
    questions: usize,
    #[arg(long, default_value_t = 2000)]
    participants: usize,
    /// The Qicoo process, whose CPU use is reported beside the load
    /// generator's own.
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct MemoryArgs {
    #[command(flatten)]
    target: Target,
    /// The API process whose RSS is read.
    #[arg(long)]
    pid: u32,
    #[arg(long, default_value_t = 5000)]
    clients: usize,
    /// Wait before each RSS reading.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    settle: Duration,
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct FloodArgs {
    #[command(flatten)]
    target: Target,
    /// The API process whose RSS is sampled.
    #[arg(long)]
    pid: u32,
    /// Upgrade attempts, all at once (run Qicoo with a cap far below).
    #[arg(long, default_value_t = 10_000)]
    attempts: usize,
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// Folder of results written by the scenarios and by `bench/run`.
    #[arg(long)]
    results: PathBuf,
    /// Sections written by hand (the analysis of the missed targets, figures
    /// measured elsewhere), included as written, in order; repeatable.
    #[arg(long)]
    findings: Vec<PathBuf>,
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct SoakArgs {
    /// The API nodes, comma-separated (`http://127.0.0.1:8080,http://…`).
    #[arg(long, value_delimiter = ',', required = true)]
    api: Vec<String>,
    /// The node whose `/readyz` reports the projections' lag (the projector);
    /// the first API node when unset.
    #[arg(long)]
    health_url: Option<String>,
    /// A Qicoo process whose RSS is sampled, as `name=pid`; repeat for each.
    #[arg(long = "process")]
    processes: Vec<Watched>,
    #[arg(long, default_value_t = 2000)]
    clients: usize,
    /// Likes per second, sent whether or not earlier ones were answered.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    duration: Duration,
    /// The first stretch: RSS growth is measured from its end, and the lag of
    /// the last stretch of this length is compared with its mean.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    warmup: Duration,
    /// Longest wait, after the likes stop, for every client's view to be right.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    drain: Duration,
    #[arg(long, default_value_t = 4)]
    meetups: usize,
    /// Questions per meetup (at most 100).
    #[arg(long, default_value_t = 20)]
    questions: usize,
    /// Participants the likes come from (a per-participant rate limit sees
    /// rate / participants likes per second each).
    #[arg(long, default_value_t = 2000)]
    participants: usize,
    /// Likes unanswered at once before the pacer counts the next as not sent.
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    sample_every: Duration,
    /// How often every node's `/metrics` is read, as Prometheus would; `0`:
    /// never.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    scrape_every: Duration,
    /// How often a progress line is printed.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    report_every: Duration,
    /// Largest RSS growth after the warm-up that passes (0.10 = 10 %).
    #[arg(long, default_value_t = 0.10)]
    rss_growth_limit: f64,
    /// The last stretch's mean lag may be this many times the first's…
    #[arg(long, default_value_t = 1.5)]
    lag_factor: f64,
    /// …or this many events, whichever is larger.
    #[arg(long, default_value_t = 250.0)]
    lag_floor: f64,
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct SoakReportArgs {
    /// A soak's results (what `qicoo-bench soak --out` wrote).
    #[arg(long)]
    results: PathBuf,
    /// What `bench/run` recorded about the run (date, commit, load, command).
    #[arg(long)]
    env: Option<PathBuf>,
    /// What limits the figures, included as written.
    #[arg(long)]
    findings: Option<PathBuf>,
    /// The report whose Soak section is written or replaced.
    #[arg(long, default_value = "BENCHMARKS.md")]
    into: PathBuf,
}

/// Parses `15s`, `500ms`, `2m` or plain seconds.
fn parse_duration(raw: &str) -> std::result::Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 15s or 500ms"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{raw:?} is not a duration like 15s or 500ms")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

fn write<T: Serialize>(out: Option<&PathBuf>, value: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(value)?;
    match out {
        Some(path) => std::fs::write(path, json + "\n")?,
        None => println!("{json}"),
    }
    Ok(())
}

async fn fixture(api: &Api, questions: usize, participants: usize) -> Result<Arc<Fixture>> {
    eprintln!("  setting up: a meetup, {questions} questions, {participants} participant tokens");
    Ok(Arc::new(
        Fixture::create(api, questions, participants).await?,
    ))
}

#[derive(Serialize)]
struct LikesResults {
    label: String,
    runs: Vec<likes::LikesRun>,
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Likes(args) => {
            let api = Api::new(&args.target.base_url)?;
            let fixture = fixture(&api, args.questions, args.participants).await?;
            let plan = Arc::new(VotePlan::new(
                fixture.questions.len(),
                fixture.tokens.len(),
                args.skew,
            )?);
            let mut runs = Vec::new();
            for clients in args.clients {
                let run =
                    likes::run(&api, &fixture, &plan, clients, args.warmup, args.duration).await?;
                let visible_p99 = run.visible.as_ref().map_or(0.0, |v| v.all.p99_ms);
                eprintln!(
                    "  likes ({}), {clients:>2} clients: {:>7.0}/s  p50 {:.1} ms  p99 {:.1} ms  errors {}  visible p99 {visible_p99:.1} ms",
                    args.label, run.per_second, run.latency.p50_ms, run.latency.p99_ms, run.errors
                );
                runs.push(run);
            }
            write(
                args.out.as_ref(),
                &LikesResults {
                    label: args.label,
                    runs,
                },
            )
        }
        Command::WrkPlan(args) => {
            let api = Api::new(&args.target.base_url)?;
            let fixture = fixture(&api, args.questions, args.participants).await?;
            let mut plan = String::new();
            for token in &fixture.tokens {
                for question in &fixture.questions {
                    plan.push_str(&format!("/api/v1/questions/{question}/vote\t{token}\n"));
                }
            }
            std::fs::write(&args.out, plan)?;
            Ok(())
        }
        Command::HotQuestion(args) => {
            let api = Api::new(&args.target.base_url)?;
            let fixture = fixture(&api, 5, args.likes).await?;
            let run = hot::run(&api, &fixture, args.likes, args.clients, args.window).await?;
            eprintln!(
                "  hot question: {} likes at {:.0}/s; p50 first {} {:.2} ms, last {:.2} ms; errors {}",
                run.likes, run.per_second, run.window, run.first.p50_ms, run.last.p50_ms, run.errors
            );
            write(args.out.as_ref(), &run)
        }
        Command::Live(args) => {
            let api = Api::new(&args.target.base_url)?;
            let fixture = fixture(&api, args.questions, args.participants).await?;
            let plan = Arc::new(VotePlan::new(
                fixture.questions.len(),
                fixture.tokens.len(),
                1.1,
            )?);
            let mut outcomes = Vec::new();
            for clients in args.clients {
                let settings = LiveSettings {
                    clients,
                    rate: args.rate,
                    duration: args.duration,
                    grace: args.grace,
                    max_in_flight: args.max_in_flight,
                    server_pid: args.pid,
                };
                let outcome = live::run(&api, &fixture, &plan, settings).await?;
                match &outcome {
                    Outcome::Ran(run) => eprintln!(
                        "  live, {clients} clients at {:.0} likes/s: delivered p50 {:.1} ms p99 {:.1} ms (commit to client p50 {:.1} ms p99 {:.1} ms), {:.1} frames/client/s, undelivered {}, fresh snapshots {}, errors {}; CPU: load generator {:.2} cores, Qicoo {} cores",
                        run.achieved_rate, run.delivery.p50_ms, run.delivery.p99_ms,
                        run.commit_to_client.p50_ms, run.commit_to_client.p99_ms,
                        run.frames_per_client_per_second, run.undelivered, run.resnapshots,
                        run.ws_errors + run.like_errors, run.generator_cpu,
                        run.server_cpu.map_or("?".to_owned(), |c| format!("{c:.2}"))
                    ),
                    Outcome::Skipped { reason } => eprintln!("  live: skipped: {reason}"),
                }
                let skipped = matches!(outcome, Outcome::Skipped { .. });
                outcomes.push(outcome);
                if skipped {
                    break;
                }
            }
            write(args.out.as_ref(), &outcomes)
        }
        Command::Memory(args) => {
            let api = Api::new(&args.target.base_url)?;
            let fixture = fixture(&api, 20, 1).await?;
            let outcome = live::memory(&api, &fixture, args.pid, args.clients, args.settle).await?;
            match &outcome {
                Outcome::Ran(run) => eprintln!(
                    "  memory: {} KiB idle, {} KiB with {} clients: {:.0} bytes each",
                    run.rss_idle_kib, run.rss_with_clients_kib, run.connected, run.bytes_per_client
                ),
                Outcome::Skipped { reason } => eprintln!("  memory: skipped: {reason}"),
            }
            write(args.out.as_ref(), &outcome)
        }
        Command::Flood(args) => {
            let api = Api::new(&args.target.base_url)?;
            let fixture = fixture(&api, 20, 1).await?;
            let outcome = flood::flood(&api, &fixture, args.pid, args.attempts).await?;
            match &outcome {
                Outcome::Ran(run) => eprintln!(
                    "  flood: {} attempts in {:.1} s: {} admitted with a snapshot, {} refused 503, {} otherwise, {} failed; RSS {} KiB before, {} KiB at peak",
                    run.attempts,
                    run.seconds,
                    run.admitted,
                    run.refused,
                    run.refused_otherwise + run.admitted_without_snapshot,
                    run.failed,
                    run.rss_before_kib,
                    run.rss_peak_kib
                ),
                Outcome::Skipped { reason } => eprintln!("  flood: skipped: {reason}"),
            }
            write(args.out.as_ref(), &outcome)
        }
        Command::Smoke(target) => {
            let api = Api::new(&target.base_url)?;
            let report = smoke::run(&api).await?;
            write(None, &report)
        }
        Command::Soak(args) => {
            let health_url = args
                .health_url
                .clone()
                .unwrap_or_else(|| args.api[0].clone());
            let settings = SoakSettings {
                api_urls: args.api,
                health_url,
                watched: args.processes,
                clients: args.clients,
                rate: args.rate,
                duration: args.duration,
                warmup: args.warmup,
                drain: args.drain,
                meetups: args.meetups,
                questions: args.questions,
                participants: args.participants,
                max_in_flight: args.max_in_flight,
                sample_every: args.sample_every,
                scrape_every: args.scrape_every,
                report_every: args.report_every,
                rss_growth_limit: args.rss_growth_limit,
                lag_factor: args.lag_factor,
                lag_floor: args.lag_floor,
            };
            let run = soak::run(settings).await?;
            for v in &run.verdicts {
                let mark = if v.met { "met" } else { "NOT MET" };
                eprintln!(
                    "  soak verdict: {}: {} (goal {}): {mark}",
                    v.name, v.figure, v.goal
                );
            }
            write(args.out.as_ref(), &run)?;
            if run.passed {
                Ok(())
            } else {
                Err("the soak failed a verdict".into())
            }
        }
        Command::SoakReport(args) => {
            let run: SoakRun = serde_json::from_str(&std::fs::read_to_string(&args.results)?)?;
            let env = match &args.env {
                Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
                None => serde_json::Value::Null,
            };
            // The findings are optional: a run before any analysis has none.
            let findings = args
                .findings
                .as_ref()
                .filter(|path| path.exists())
                .map(std::fs::read_to_string)
                .transpose()?;
            let document = std::fs::read_to_string(&args.into).unwrap_or_default();
            let section = soak::report::section(&run, &env, findings.as_deref());
            std::fs::write(&args.into, soak::report::splice(&document, &section))?;
            eprintln!("  wrote the Soak section of {}", args.into.display());
            Ok(())
        }
        Command::ExportReport(args) => {
            let results: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&args.results)?)?;
            let findings = args
                .findings
                .as_ref()
                .filter(|path| path.exists())
                .map(std::fs::read_to_string)
                .transpose()?;
            let document = std::fs::read_to_string(&args.into).unwrap_or_default();
            std::fs::write(
                &args.into,
                qicoo_bench::export::splice(&document, &results, findings.as_deref()),
            )?;
            eprintln!("  wrote the Export section of {}", args.into.display());
            Ok(())
        }
        Command::Report(args) => {
            let markdown = report::render(&args.results, &args.findings)?;
            std::fs::write(&args.out, markdown)?;
            eprintln!("  wrote {}", args.out.display());
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qicoo-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("soon").is_err());
    }
}
