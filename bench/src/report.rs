//! `BENCHMARKS.md` from a folder of results: every figure beside the baseline
//! measured in the same run, their ratio, and each target marked met or not.
//!
//! The folder holds what `qicoo-bench` wrote (`likes-postgres.json`,
//! `likes-sqlite.json`, `hot-question.json`, `live.json`, `memory.json`,
//! `flood.json`) and
//! what `bench/run` measured itself (`env.json`, `pgbench.json`,
//! `sqlite-raw.json`, `rebuild.json`). A missing file makes its rows say
//! "not measured" instead of failing the report.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::Result;

fn load(dir: &Path, name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(name)).ok()?;
    serde_json::from_str(&text).ok()
}

fn num(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("?")
}

fn f(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(x) => format!("{x:.digits$}"),
        None => "–".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "**met**",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

/// One line of the targets table.
struct TargetRow {
    name: &'static str,
    figure: String,
    baseline: String,
    ratio: String,
    goal: &'static str,
    met: Option<bool>,
}

/// Renders the report.
pub fn render(dir: &Path, findings: &[std::path::PathBuf]) -> Result<String> {
    let env = load(dir, "env.json").unwrap_or(Value::Null);
    let pgbench = load(dir, "pgbench.json").unwrap_or(Value::Null);
    let likes_pg = load(dir, "likes-postgres.json").unwrap_or(Value::Null);
    let likes_sqlite = load(dir, "likes-sqlite.json").unwrap_or(Value::Null);
    let sqlite_raw = load(dir, "sqlite-raw.json").unwrap_or(Value::Null);
    let hot = load(dir, "hot-question.json").unwrap_or(Value::Null);
    let live = load(dir, "live.json").unwrap_or(Value::Null);
    let live_low = load(dir, "live-low-rate.json").unwrap_or(Value::Null);
    let memory = load(dir, "memory.json").unwrap_or(Value::Null);
    let flood = load(dir, "flood.json").unwrap_or(Value::Null);
    let rebuild = load(dir, "rebuild.json").unwrap_or(Value::Null);

    let mut targets = Vec::new();
    let mut md = String::new();
    let w = &mut md;

    // --- likes against pgbench
    let wrk = load(dir, "wrk.json").unwrap_or(Value::Null);
    let pg_runs = likes_pg
        .get("runs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pgbench_at = |clients: f64| {
        pgbench
            .as_array()
            .and_then(|rows| {
                rows.iter()
                    .find(|r| num(r, "/clients") == Some(clients))
                    .cloned()
            })
            .unwrap_or(Value::Null)
    };
    // The goal: as fast as pgbench from 8 clients on, half as fast at 1 (where
    // a like's HTTP round trip and its decision are not shared with others).
    let likes_goal = |clients: f64| if clients < 2.0 { 0.5 } else { 1.0 };
    let mut likes_table = String::new();
    let mut likes_ratios = Vec::new();
    let mut likes_met_each = Vec::new();
    for run in &pg_runs {
        let clients = num(run, "/clients").unwrap_or(0.0);
        let base = pgbench_at(clients);
        let r = ratio(num(run, "/per_second"), num(&base, "/tps"));
        let goal = likes_goal(clients);
        likes_ratios.push(r);
        likes_met_each.push(r.map(|r| r >= goal));
        let _ = writeln!(
            likes_table,
            "| {clients} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | ≥ {goal:.1}×: {} |",
            f(num(run, "/per_second"), 0),
            f(num(run, "/latency/p50_ms"), 2),
            f(num(run, "/latency/p95_ms"), 2),
            f(num(run, "/latency/p99_ms"), 2),
            f(num(run, "/errors"), 0),
            f(num(run, "/visible/first_half/p99_ms"), 1),
            f(num(run, "/visible/second_half/p99_ms"), 1),
            f(num(&base, "/tps"), 0),
            f(num(&base, "/latency_ms"), 2),
            f(r, 2),
            mark(r.map(|r| r >= goal)),
        );
    }
    let mut wrk_table = String::new();
    for run in wrk.as_array().into_iter().flatten() {
        let clients = num(run, "/clients").unwrap_or(0.0);
        let base = pgbench_at(clients);
        let per_second = ratio(num(run, "/requests"), num(run, "/seconds"));
        let _ = writeln!(
            wrk_table,
            "| {clients} | {} | {} | {} | {} | {} | {} |",
            f(per_second, 0),
            f(num(run, "/p50_ms"), 2),
            f(num(run, "/p99_ms"), 2),
            f(
                Some(
                    num(run, "/non_2xx").unwrap_or(0.0) + num(run, "/socket_errors").unwrap_or(0.0)
                ),
                0
            ),
            f(num(&base, "/tps"), 0),
            f(ratio(per_second, num(&base, "/tps")), 2),
        );
    }
    let likes_met = if likes_met_each.is_empty() || likes_met_each.iter().any(Option::is_none) {
        None
    } else {
        Some(likes_met_each.iter().all(|met| *met == Some(true)))
    };
    let ratio_list: Vec<String> = pg_runs
        .iter()
        .zip(&likes_ratios)
        .map(|(run, r)| format!("{}× at {}", f(*r, 2), f(num(run, "/clients"), 0)))
        .collect();
    targets.push(TargetRow {
        name: "likes vs pgbench (1, 8, 32 clients)",
        figure: pg_runs
            .iter()
            .map(|r| f(num(r, "/per_second"), 0))
            .collect::<Vec<_>>()
            .join(" / ")
            + " likes/s",
        baseline: pg_runs
            .iter()
            .map(|r| {
                f(
                    num(&pgbench_at(num(r, "/clients").unwrap_or(0.0)), "/tps"),
                    0,
                )
            })
            .collect::<Vec<_>>()
            .join(" / ")
            + " tps",
        ratio: ratio_list.join(", "),
        goal: "≥ 0.5× at 1, ≥ 1.0× at 8 and 32",
        met: likes_met,
    });

    // --- hot question
    let hot_ratio = ratio(num(&hot, "/last/p50_ms"), num(&hot, "/first/p50_ms"));
    targets.push(TargetRow {
        name: "hot question: last 1,000 vs first 1,000 (p50)",
        figure: format!("{} ms", f(num(&hot, "/last/p50_ms"), 2)),
        baseline: format!("{} ms", f(num(&hot, "/first/p50_ms"), 2)),
        ratio: format!("{}×", f(hot_ratio, 2)),
        goal: "≤ 1.2×",
        met: hot_ratio.map(|r| r <= 1.2),
    });

    // --- live
    let live_runs: Vec<Value> = live.as_array().cloned().unwrap_or_default();
    let live_skipped = live_runs
        .iter()
        .find(|o| text(o, "/outcome") == "skipped")
        .map(|o| text(o, "/reason").to_owned());
    let live_big = live_runs
        .iter()
        .filter(|o| text(o, "/outcome") == "ran")
        .max_by_key(|o| num(o, "/clients").unwrap_or(0.0) as u64)
        .cloned()
        .unwrap_or(Value::Null);
    let live_p99 = num(&live_big, "/delivery/p99_ms");
    let live_rate = num(&live_big, "/achieved_rate");
    let live_target_rate = num(&live_big, "/target_rate");
    targets.push(TargetRow {
        name: "live: p99 delivery at 2,000 clients, 1,000 likes/s",
        figure: match &live_skipped {
            Some(_) => "skipped".into(),
            None => format!(
                "{} ms at {} clients, {} likes/s",
                f(live_p99, 1),
                f(num(&live_big, "/clients"), 0),
                f(live_rate, 0)
            ),
        },
        baseline: "100 ms budget".into(),
        ratio: format!("{}×", f(live_p99.map(|p| p / 100.0), 2)),
        goal: "≤ 100 ms",
        met: match (live_p99, live_rate, live_target_rate) {
            (Some(p), Some(rate), Some(target)) => Some(p <= 100.0 && rate >= 0.95 * target),
            _ => None,
        },
    });

    // The low-rate rows: 500 clients within 50 ms, and the most clients
    // one node serves.
    let low_runs: Vec<Value> = live_low
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|o| text(o, "/outcome") == "ran")
        .collect();
    let low_at = |clients: f64| {
        low_runs
            .iter()
            .find(|o| num(o, "/clients") == Some(clients))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let low_500 = low_at(500.0);
    let low_500_p99 = num(&low_500, "/delivery/p99_ms");
    targets.push(TargetRow {
        name: "live: p99 delivery at 500 clients, 100 likes/s",
        figure: format!(
            "{} ms at {} likes/s",
            f(low_500_p99, 1),
            f(num(&low_500, "/achieved_rate"), 0)
        ),
        baseline: "50 ms budget".into(),
        ratio: format!("{}×", f(low_500_p99.map(|p| p / 50.0), 2)),
        goal: "≤ 50 ms",
        met: low_500_p99.map(|p| p <= 50.0),
    });
    let most = low_runs
        .iter()
        .max_by_key(|o| num(o, "/clients").unwrap_or(0.0) as u64)
        .cloned()
        .unwrap_or(Value::Null);
    let most_undelivered = num(&most, "/undelivered");
    targets.push(TargetRow {
        name: "live: clients on one node at 100 likes/s, none undelivered",
        figure: format!(
            "{} clients: p99 {} ms, {} undelivered, {} WS errors",
            f(num(&most, "/clients"), 0),
            f(num(&most, "/delivery/p99_ms"), 1),
            f(most_undelivered, 0),
            f(num(&most, "/ws_errors"), 0)
        ),
        baseline: "10000 clients".into(),
        ratio: format!("{}×", f(num(&most, "/clients").map(|c| c / 10_000.0), 2)),
        goal: "10,000, 0 undelivered",
        met: match (
            num(&most, "/clients"),
            most_undelivered,
            num(&most, "/ws_errors"),
        ) {
            (Some(c), Some(u), Some(e)) => Some(c >= 10_000.0 && u == 0.0 && e == 0.0),
            _ => None,
        },
    });

    // --- rebuild: the largest size replayed
    let steps: Vec<Value> = rebuild
        .get("steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let largest = steps
        .iter()
        .max_by_key(|s| num(s, "/events").unwrap_or(0.0) as u64)
        .cloned()
        .unwrap_or(Value::Null);
    let largest_finished = largest.get("finished").and_then(Value::as_bool);
    let rebuild_ratio = ratio(
        num(&largest, "/replay_seconds"),
        num(&largest, "/raw_read_seconds"),
    );
    let at_least = if largest_finished == Some(false) {
        "> "
    } else {
        ""
    };
    targets.push(TargetRow {
        name: "rebuild vs raw read (largest size)",
        figure: format!(
            "{at_least}{} s for {} events",
            f(num(&largest, "/replay_seconds"), 1),
            f(num(&largest, "/events"), 0)
        ),
        baseline: format!("{} s", f(num(&largest, "/raw_read_seconds"), 2)),
        ratio: format!("{at_least}{}×", f(rebuild_ratio, 1)),
        goal: "≤ 3×",
        met: rebuild_ratio.map(|r| r <= 3.0 && largest_finished != Some(false)),
    });
    let sqlite_finished = largest.get("sqlite_finished").and_then(Value::as_bool);
    let sqlite_ratio = ratio(
        num(&largest, "/sqlite_replay_seconds"),
        num(&largest, "/sqlite_raw_read_seconds"),
    );
    let sqlite_at_least = if sqlite_finished == Some(false) {
        "> "
    } else {
        ""
    };
    targets.push(TargetRow {
        name: "embedded rebuild vs raw SQLite read (largest size)",
        figure: format!(
            "{sqlite_at_least}{} s for {} events",
            f(num(&largest, "/sqlite_replay_seconds"), 1),
            f(num(&largest, "/events"), 0)
        ),
        baseline: format!("{} s", f(num(&largest, "/sqlite_raw_read_seconds"), 2)),
        ratio: format!("{sqlite_at_least}{}×", f(sqlite_ratio, 1)),
        goal: "≤ 3×",
        met: sqlite_ratio.map(|r| r <= 3.0 && sqlite_finished != Some(false)),
    });

    // --- memory
    let memory_skipped =
        (text(&memory, "/outcome") == "skipped").then(|| text(&memory, "/reason").to_owned());
    let per_client = num(&memory, "/bytes_per_client");
    targets.push(TargetRow {
        name: "memory per idle WebSocket",
        figure: match (&memory_skipped, per_client) {
            (Some(_), _) => "skipped".into(),
            // RSS that fell as clients connected measured the allocator, not them.
            (None, Some(b)) if b <= 0.0 => format!(
                "{} KiB: RSS fell as clients connected, so not a measurement",
                f(Some(b / 1024.0), 1)
            ),
            (None, _) => format!("{} KiB", f(per_client.map(|b| b / 1024.0), 1)),
        },
        baseline: "8 KiB budget".into(),
        ratio: format!("{}×", f(per_client.map(|b| b / 8192.0), 2)),
        goal: "≤ 8 KiB",
        met: per_client.filter(|b| *b > 0.0).map(|b| b <= 8192.0),
    });

    // --- embedded
    let sqlite_runs = likes_sqlite
        .get("runs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let best_embedded = sqlite_runs
        .iter()
        .filter_map(|r| num(r, "/per_second"))
        .fold(None, |best: Option<f64>, x| {
            Some(best.map_or(x, |b| b.max(x)))
        });
    let raw_per_s = num(&sqlite_raw, "/per_second");
    let embedded_ratio = ratio(best_embedded, raw_per_s);
    targets.push(TargetRow {
        name: "embedded likes vs raw SQLite inserts (best client count)",
        figure: format!("{} likes/s", f(best_embedded, 0)),
        baseline: format!("{} inserts/s", f(raw_per_s, 0)),
        ratio: format!("{}×", f(embedded_ratio, 2)),
        goal: "≥ 0.5×",
        met: embedded_ratio.map(|r| r >= 0.5),
    });

    // --- the document
    let _ = writeln!(w, "# Qicoo benchmarks\n");
    let _ = writeln!(
        w,
        "Written by `bench/run` on {} (run took {}). Every figure stands beside a baseline \
         measured in the same run on the same machine; the ratio is what to compare across \
         machines and runs. The load generator (`qicoo-bench`) runs on the same two cores as \
         Qicoo and its databases, so it competes with them for CPU, as do the baselines' \
         clients (`pgbench`, `sqlite3`, `psql`).\n",
        text(&env, "/date"),
        text(&env, "/elapsed"),
    );
    let _ = writeln!(w, "## Machine\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    for (label, key) in [
        ("CPU", "/cpu"),
        ("cores (nproc)", "/nproc"),
        ("memory", "/memory"),
        ("kernel", "/kernel"),
        ("PostgreSQL", "/postgres"),
        ("MariaDB", "/mariadb"),
        ("Redis", "/redis"),
        ("SQLite (CLI)", "/sqlite"),
        ("rustc", "/rustc"),
        ("Qicoo commit", "/commit"),
        ("load average at start (1, 5, 15 min)", "/load"),
        ("load average at end", "/load_end"),
    ] {
        let value = env
            .pointer(key)
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(w, "| {label} | {value} |");
    }

    let _ = writeln!(w, "\n## Targets\n");
    let _ = writeln!(w, "| target | Qicoo | baseline | ratio | goal | |");
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for t in &targets {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            t.name,
            t.figure,
            t.baseline,
            t.ratio,
            t.goal,
            mark(t.met)
        );
    }

    let _ = writeln!(
        w,
        "\n## Likes (PostgreSQL event store, MariaDB read model, Redis)\n"
    );
    let _ = writeln!(
        w,
        "Closed loop: each client sends its next vote when the last is answered. Votes go to \
         the {} questions of one meetup, question i taking a share proportional to \
         1/(i+1)^1.1 (the top three take about 55%), each by a participant who has not voted \
         on it yet (past the last participant the rounds alternate unlike / like, so every \
         vote appends one event). Baseline: `pgbench -M prepared` running `bench/pgbench/like.sql`, \
         which does what one like does in the event store: read the vote aggregate's events by \
         (aggregate_type, aggregate_id), then insert one event row into an `events` table made \
         by Qicoo's own migrations (same columns, indexes and triggers) and holding a copy \
         of the rows Qicoo's table held after its scenarios. Read model lag: a probe asks, \
         every 200 ms, for the question of the latest acknowledged like at that like's \
         position (`GET /questions/{{id}}?min_position=`) and times its answer from the \
         like's acknowledgement; p99 over the first and the second half of the run, so a \
         growing lag shows.\n",
        text(&env, "/questions"),
    );
    let _ = writeln!(
        w,
        "| clients | likes/s | p50 ms | p95 ms | p99 ms | errors | read model lag p99 ms (1st / 2nd half) | pgbench tps | pgbench avg ms | ratio | goal |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|---|---|");
    w.push_str(&likes_table);
    let _ = writeln!(
        w,
        "\nThe same likes from `wrk` (`bench/wrk/likes.lua`), an independent load generator: \
         a fresh meetup's 20 × {} (question, participant) pairs, each connection liking, then \
         unliking, so every request appends one event; beside the same pgbench run.\n",
        text(&env, "/participants"),
    );
    let _ = writeln!(
        w,
        "| connections | likes/s | p50 ms | p99 ms | errors | pgbench tps | ratio |\n|---|---|---|---|---|---|---|"
    );
    w.push_str(&wrk_table);

    let _ = writeln!(w, "\n## Hot question\n");
    let _ = writeln!(
        w,
        "{} likes by different participants on one fresh question, {} clients in a closed \
         loop, numbered in the order sent; the first {} against the last {} ({} likes/s, \
         {} errors, {} likes on the question afterwards).\n",
        f(num(&hot, "/likes"), 0),
        f(num(&hot, "/clients"), 0),
        f(num(&hot, "/window"), 0),
        f(num(&hot, "/window"), 0),
        f(num(&hot, "/per_second"), 0),
        f(num(&hot, "/errors"), 0),
        f(num(&hot, "/final_likes"), 0),
    );
    let _ = writeln!(
        w,
        "| likes | mean ms | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|"
    );
    for (label, key) in [("first", "/first"), ("last", "/last")] {
        let _ = writeln!(
            w,
            "| {label} | {} | {} | {} | {} |",
            f(num(&hot, &format!("{key}/mean_ms")), 2),
            f(num(&hot, &format!("{key}/p50_ms")), 2),
            f(num(&hot, &format!("{key}/p95_ms")), 2),
            f(num(&hot, &format!("{key}/p99_ms")), 2),
        );
    }
    let _ = writeln!(
        w,
        "| last / first | {} | {} | {} | {} |",
        f(
            ratio(num(&hot, "/last/mean_ms"), num(&hot, "/first/mean_ms")),
            2
        ),
        f(hot_ratio, 2),
        f(
            ratio(num(&hot, "/last/p95_ms"), num(&hot, "/first/p95_ms")),
            2
        ),
        f(
            ratio(num(&hot, "/last/p99_ms"), num(&hot, "/first/p99_ms")),
            2
        ),
    );

    let _ = writeln!(w, "\n## Live\n");
    match &live_skipped {
        Some(reason) if live_big.is_null() => {
            let _ = writeln!(w, "Skipped: {reason}.");
        }
        _ => {
            let _ = writeln!(
                w,
                "K WebSocket clients on one meetup while likes are sent at a fixed rate (open \
                 loop). Delivery latency: from the like's HTTP acknowledgement to the client's \
                 first message at that like's position or later, over every (like, client) pair. \
                 Commit to client: from the commit of the newest event a message reflects (the \
                 time each `changes` message carries) to its arrival, over every message. The \
                 rows at 100 likes/s run at a rate the write side sustains on this machine, to \
                 tell the stream's own latency from the backlog of an overloaded write side. \
                 CPU: of the load generator itself (its clients and likes) and of Qicoo, in \
                 cores, while the likes ran (from `/proc/<pid>/stat`); the load generator \
                 shares the two cores.\n"
            );
            let _ = writeln!(
                w,
                "| clients | likes/s acknowledged (target) | not sent: 256 in flight | p50 ms | p99 ms | max ms | commit to client p50 / p99 ms | frames/client/s | undelivered | fresh snapshots | like errors | WS errors | CPU: load generator / Qicoo |"
            );
            let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            for run in live_runs
                .iter()
                .chain(&low_runs)
                .filter(|o| text(o, "/outcome") == "ran")
            {
                let _ = writeln!(
                    w,
                    "| {} | {} ({}) | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {} / {} |",
                    f(num(run, "/clients"), 0),
                    f(num(run, "/achieved_rate"), 0),
                    f(num(run, "/target_rate"), 0),
                    f(num(run, "/likes_not_sent"), 0),
                    f(num(run, "/delivery/p50_ms"), 1),
                    f(num(run, "/delivery/p99_ms"), 1),
                    f(num(run, "/delivery/max_ms"), 1),
                    f(num(run, "/commit_to_client/p50_ms"), 1),
                    f(num(run, "/commit_to_client/p99_ms"), 1),
                    f(num(run, "/frames_per_client_per_second"), 1),
                    f(num(run, "/undelivered"), 0),
                    f(num(run, "/resnapshots"), 0),
                    f(num(run, "/like_errors"), 0),
                    f(num(run, "/ws_errors"), 0),
                    f(num(run, "/generator_cpu"), 2),
                    f(num(run, "/server_cpu"), 2),
                );
            }
        }
    }

    let _ = writeln!(w, "\n## Rebuild\n");
    let _ = writeln!(
        w,
        "Events generated with SQL straight into the PostgreSQL event store, in the rows the \
         write side stores (`bench/pgbench/generate.sql`; at the end: {}), then \
         `qicoo replay --projection all` into the MariaDB read model and the Redis \
         leaderboard, timed end to end and stopped after {} s. Baseline: \
         `\\copy (SELECT * FROM events) TO '/dev/null'` with psql on the same table (the \
         faster of two reads).\n",
        text(&rebuild, "/mix"),
        f(num(&rebuild, "/replay_budget_seconds"), 0),
    );
    let _ = writeln!(
        w,
        "| events | replay s | replay events/s | raw read s | raw read events/s | ratio |\n|---|---|---|---|---|---|"
    );
    for step in &steps {
        let stopped = step.get("finished").and_then(Value::as_bool) == Some(false);
        let prefix = if stopped { "> " } else { "" };
        let _ = writeln!(
            w,
            "| {} | {prefix}{}{} | {}{} | {} | {} | {prefix}{} |",
            f(num(step, "/events"), 0),
            f(num(step, "/replay_seconds"), 1),
            if stopped { " (stopped)" } else { "" },
            if stopped { "< " } else { "" },
            f(ratio(num(step, "/events"), num(step, "/replay_seconds")), 0),
            f(num(step, "/raw_read_seconds"), 2),
            f(
                ratio(num(step, "/events"), num(step, "/raw_read_seconds")),
                0
            ),
            f(
                ratio(num(step, "/replay_seconds"), num(step, "/raw_read_seconds")),
                1
            ),
        );
    }

    let _ = writeln!(
        w,
        "\nThe same events copied into the embedded default's SQLite file (the read model \
         goes to its own file beside it; the leaderboard is kept in memory by each process, \
         so there is nothing of it to rebuild), then `qicoo replay --projection all`. Baseline: the \
         `sqlite3` CLI reading every stored column of the same table (the faster of two \
         reads).\n"
    );
    let _ = writeln!(
        w,
        "| events | SQLite replay s | replay events/s | raw read s | raw read events/s | ratio |\n|---|---|---|---|---|---|"
    );
    for step in steps
        .iter()
        .filter(|s| s.get("sqlite_replay_seconds").is_some())
    {
        let stopped = step.get("sqlite_finished").and_then(Value::as_bool) == Some(false);
        let prefix = if stopped { "> " } else { "" };
        let _ = writeln!(
            w,
            "| {} | {prefix}{}{} | {}{} | {} | {} | {prefix}{} |",
            f(num(step, "/events"), 0),
            f(num(step, "/sqlite_replay_seconds"), 1),
            if stopped { " (stopped)" } else { "" },
            if stopped { "< " } else { "" },
            f(
                ratio(num(step, "/events"), num(step, "/sqlite_replay_seconds")),
                0
            ),
            f(num(step, "/sqlite_raw_read_seconds"), 2),
            f(
                ratio(num(step, "/events"), num(step, "/sqlite_raw_read_seconds")),
                0
            ),
            f(
                ratio(
                    num(step, "/sqlite_replay_seconds"),
                    num(step, "/sqlite_raw_read_seconds")
                ),
                1
            ),
        );
    }

    let _ = writeln!(w, "\n## Memory\n");
    match &memory_skipped {
        Some(reason) => {
            let _ = writeln!(w, "Skipped: {reason}.");
        }
        None => {
            let _ = writeln!(
                w,
                "VmRSS of the API process (from `/proc/<pid>/status`) with one live client, then \
                 with {} idle clients on the same meetup (20 questions in the snapshot).\n",
                f(num(&memory, "/clients"), 0)
            );
            let _ = writeln!(
                w,
                "| RSS, 1 client | RSS, {} clients | connected | errors | per client |\n|---|---|---|---|---|\n| {} KiB | {} KiB | {} | {} | {} KiB |",
                f(num(&memory, "/clients"), 0),
                f(num(&memory, "/rss_idle_kib"), 0),
                f(num(&memory, "/rss_with_clients_kib"), 0),
                f(num(&memory, "/connected"), 0),
                f(num(&memory, "/ws_errors"), 0),
                f(per_client.map(|b| b / 1024.0), 1),
            );
        }
    }

    let _ = writeln!(
        w,
        "\n## Embedded (SQLite, in-memory leaderboard, one process)\n"
    );
    let _ = writeln!(
        w,
        "The likes scenario against `qicoo serve` with no configuration (one SQLite file in a \
         temporary folder). Baseline: the `sqlite3` CLI running {} transactions on a file with \
         the same `events` table, each reading the vote aggregate's events and inserting one \
         event row, in WAL mode with `synchronous=FULL` as Qicoo's write side uses ({} \
         inserts/s).\n",
        f(num(&sqlite_raw, "/inserts"), 0),
        f(raw_per_s, 0),
    );
    let _ = writeln!(
        w,
        "| clients | likes/s | p50 ms | p95 ms | p99 ms | errors | ratio to raw inserts |\n|---|---|---|---|---|---|---|"
    );
    for run in &sqlite_runs {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} |",
            f(num(run, "/clients"), 0),
            f(num(run, "/per_second"), 0),
            f(num(run, "/latency/p50_ms"), 2),
            f(num(run, "/latency/p95_ms"), 2),
            f(num(run, "/latency/p99_ms"), 2),
            f(num(run, "/errors"), 0),
            f(ratio(num(run, "/per_second"), raw_per_s), 2),
        );
    }

    let _ = writeln!(w, "\n## Connection flood\n");
    if text(&flood, "/outcome") == "ran" {
        let _ = writeln!(
            w,
            "{} live-stream upgrade attempts at once against the embedded Qicoo with \
             `QICOO_MAX_CONNECTIONS={}`: those beyond the cap must be refused with 503 and \
             `Retry-After` before the upgrade, every admitted one must get its snapshot, and \
             the process must survive with bounded memory (VmRSS sampled every 20 ms).\n",
            f(num(&flood, "/attempts"), 0),
            text(&env, "/flood_cap"),
        );
        let _ = writeln!(
            w,
            "| admitted with a snapshot | refused 503 | otherwise | failed | seconds | RSS before | RSS peak | serving after |\n|---|---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} KiB | {} KiB | {} |",
            f(num(&flood, "/admitted"), 0),
            f(num(&flood, "/refused"), 0),
            f(
                num(&flood, "/refused_otherwise")
                    .zip(num(&flood, "/admitted_without_snapshot"))
                    .map(|(a, b)| a + b),
                0
            ),
            f(num(&flood, "/failed"), 0),
            f(num(&flood, "/seconds"), 1),
            f(num(&flood, "/rss_before_kib"), 0),
            f(num(&flood, "/rss_peak_kib"), 0),
            flood
                .pointer("/healthy_after")
                .and_then(Value::as_bool)
                .map_or("–", |h| if h { "yes" } else { "no" }),
        );
    } else {
        let _ = writeln!(w, "Not measured.");
    }

    for path in findings {
        let text = std::fs::read_to_string(path)?;
        let _ = writeln!(w, "\n{}", text.trim_end());
    }
    let _ = writeln!(
        w,
        "\n## Running it\n\n`bench/run` builds Qicoo in release mode, creates its own \
         databases and Redis prefix (and drops them), runs every scenario and baseline, and \
         writes this file. `bench/run --smoke` runs each scenario with tiny numbers. \
         `qicoo-bench --help` lists the scenarios for use against any running Qicoo."
    );
    Ok(md)
}
