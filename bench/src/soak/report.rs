//! How a soak is shown: the progress line printed while it runs, and the
//! "Soak" section of `BENCHMARKS.md`, spliced into the file in place of the
//! previous one so that the other scenarios' report and the soak's can be
//! written by separate runs.

use std::fmt::Write as _;

use serde_json::Value;

use super::probe::Watched;
use super::verdict::Sample;
use super::SoakRun;

const HEADING: &str = "## Soak";

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "–".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

fn per_second(from: u64, to: u64, seconds: f64) -> f64 {
    to.saturating_sub(from) as f64 / seconds.max(1e-9)
}

/// One line of progress: totals at `now`, rates since `since`.
pub fn progress_line(since: &Sample, now: &Sample, watched: &[Watched]) -> String {
    let dt = now.t - since.t;
    let lag = now.lag.unwrap_or_default();
    let rss: Vec<String> = watched
        .iter()
        .zip(&now.rss_kib)
        .map(|(w, kib)| format!("{} {} MiB", w.name, mib(*kib)))
        .collect();
    format!(
        "  soak [{:>4.0} s] likes sent {} acked {} ({:.0}/s) errors {} not sent {} | frames {} ({:.0}/s) ws errors {} | lag read model {} leaderboard {}{} | RSS {}",
        now.t,
        now.likes_sent,
        now.likes_acked,
        per_second(since.likes_acked, now.likes_acked, dt),
        now.like_errors,
        now.likes_not_sent,
        now.frames,
        per_second(since.frames, now.frames, dt),
        now.ws_errors,
        opt(lag.read_model),
        opt(lag.leaderboard),
        if now.lag.is_none() { " (no answer)" } else { "" },
        rss.join(", "),
    )
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// The section's Markdown. `env` is what `bench/run` recorded about the run
/// (date, commit, load averages, the command); `findings` is included as
/// written, under its own heading.
pub fn section(run: &SoakRun, env: &Value, findings: Option<&str>) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "{HEADING}\n");
    let _ = writeln!(
        w,
        "Not part of `bench/run`'s full run nor of CI: `bench/run soak` runs it alone. \
         {} WebSocket clients on {} meetups ({} questions each), spread over {} API nodes, \
         while likes are sent at {:.0}/s for {:.0} s (open loop, token-bucket paced, from {} \
         participants, each like to the next API node), against the scaled-out set-up: \
         PostgreSQL event store, MariaDB read model, Redis, and each API node and the projector \
         a `qicoo serve` process of its own. RSS of every Qicoo process and the projections' \
         lag (events stored past each projection's checkpoint, from the projector's `/readyz`) \
         are sampled every second. Undelivered: after the likes stop and every one is answered, \
         the read model is read at each meetup's last acknowledged position; then, until the \
         drain deadline, each client's view (built only from its frames) must equal it — the \
         figure is the like counts still off, summed over clients and questions, plus clients \
         behind their meetup's last like or without a snapshot.\n",
        run.clients,
        run.meetups,
        run.questions_per_meetup,
        run.api_nodes,
        run.target_rate,
        run.duration_s,
        run.participants,
    );
    let _ = writeln!(
        w,
        "Run on {} (commit {}), load average (1, 5, 15 min) {} at the start and {} at the end, \
         on the 2 shared cores of the machine above, load generator included. Command:\n\n```sh\n{}\n```\n",
        text(env, "date"),
        text(env, "commit"),
        text(env, "load"),
        text(env, "load_end"),
        text(env, "command"),
    );
    if run.scrape_every_s > 0.0 {
        let _ = writeln!(
            w,
            "Every node's `/metrics` is read every {:.0} s, as the Prometheus of a deployment \
             would ({} failed scrapes).\n",
            run.scrape_every_s, run.scrape_errors
        );
    } else {
        let _ = writeln!(w, "No node's `/metrics` is read during the run.\n");
    }
    if let Some(args) = env.get("serve_args").and_then(Value::as_str) {
        if !args.is_empty() {
            let _ = writeln!(w, "Extra `qicoo serve` settings: `{args}`.\n");
        }
    }

    let _ = writeln!(w, "| verdict | figure | goal | |\n|---|---|---|---|");
    for v in &run.verdicts {
        let mark = if v.met { "**met**" } else { "**not met**" };
        let _ = writeln!(w, "| {} | {} | {} | {mark} |", v.name, v.figure, v.goal);
    }
    let drained = run
        .drained_after_s
        .map_or_else(|| "not by the deadline".into(), |s| format!("{s:.1} s"));
    let _ = writeln!(
        w,
        "\n{} likes sent, {} acknowledged ({:.0}/s), {} errors, {} not sent; acknowledgement \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms. {} frames to the clients, {} fresh snapshots; \
         every client had its first snapshot {:.1} s after the first connected; every view was \
         right {} after the likes stopped. Open files: soft limit {} in the load generator.{}\n",
        run.likes_sent,
        run.likes_acked,
        run.likes_acked as f64 / run.duration_s.max(1e-9),
        run.like_errors,
        run.likes_not_sent,
        run.ack_latency.p50_ms,
        run.ack_latency.p99_ms,
        run.ack_latency.max_ms,
        run.frames,
        run.resnapshots,
        run.connect_s,
        drained,
        run.nofile_limit,
        run.first_error
            .as_deref()
            .map(|e| format!(" First error: `{e}`."))
            .unwrap_or_default(),
    );

    // The run in 30-second steps.
    let _ = write!(w, "| s | likes acked/s | frames/s | lag read model (mean, max) | lag leaderboard (mean, max) |");
    for p in &run.processes {
        let _ = write!(w, " RSS {} MiB |", p.name);
    }
    let _ = write!(w, "\n|---|---|---|---|---|");
    for _ in &run.processes {
        let _ = write!(w, "---|");
    }
    let _ = writeln!(w);
    let mut from = Sample::default();
    let mut bucket: Vec<&Sample> = Vec::new();
    let step = 30.0_f64.min(run.duration_s / 4.0).max(1.0);
    for (i, s) in run.samples.iter().enumerate() {
        bucket.push(s);
        let last = i + 1 == run.samples.len();
        if s.t - from.t + 1e-6 < step && !last {
            continue;
        }
        let dt = s.t - from.t;
        let lags = |pick: super::verdict::LagOf| {
            let v: Vec<i64> = bucket
                .iter()
                .filter_map(|b| b.lag.as_ref().and_then(pick))
                .collect();
            if v.is_empty() {
                "–".to_owned()
            } else {
                let mean = v.iter().sum::<i64>() as f64 / v.len() as f64;
                format!("{mean:.0}, {}", v.iter().max().copied().unwrap_or(0))
            }
        };
        let _ = write!(
            w,
            "| {:.0} | {:.0} | {:.0} | {} | {} |",
            s.t,
            per_second(from.likes_acked, s.likes_acked, dt),
            per_second(from.frames, s.frames, dt),
            lags(|l| l.read_model),
            lags(|l| l.leaderboard),
        );
        for kib in &s.rss_kib {
            let _ = write!(w, " {} |", mib(*kib));
        }
        let _ = writeln!(w);
        from = s.clone();
        bucket.clear();
    }
    let _ = writeln!(w);
    if let Some(findings) = findings {
        let _ = writeln!(w, "{}\n", findings.trim());
    }
    md
}

/// `document` with its Soak section replaced by `section` (or the section
/// added before "## Running it", or at the end).
pub fn splice(document: &str, section: &str) -> String {
    crate::sections::splice(document, HEADING, section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soak_section_goes_before_running_it_and_then_replaces_itself() {
        let doc = "# Qicoo benchmarks\n\n## Live\n\nfigures\n\n## Running it\n\nbench/run\n";
        let once = splice(doc, "## Soak\n\nfirst\n");
        assert_eq!(
            once,
            "# Qicoo benchmarks\n\n## Live\n\nfigures\n\n## Soak\n\nfirst\n\n## Running it\n\nbench/run\n"
        );
        let twice = splice(&once, "## Soak\n\nsecond\n");
        assert!(
            twice.contains("## Soak\n\nsecond\n\n## Running it"),
            "{twice}"
        );
        assert!(!twice.contains("first"), "{twice}");
        assert_eq!(twice.matches("## Soak").count(), 1);
    }

    #[test]
    fn a_soak_section_at_the_end_is_replaced_too() {
        let doc = "# B\n\n## Soak\n\nold\n";
        assert_eq!(splice(doc, "## Soak\n\nnew"), "# B\n\n## Soak\n\nnew\n");
        assert_eq!(splice("# B\n", "## Soak\n\nnew"), "# B\n\n## Soak\n\nnew\n");
    }
}
