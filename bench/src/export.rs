//! The Export section of BENCHMARKS.md, from what `bench/run export`
//! recorded: one meetup's events exported in each format with `qicoo
//! export`, each beside a raw read of the same rows in the same run.

use std::fmt::Write as _;

use serde_json::Value;

const HEADING: &str = "## Export";

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// Thousands separated with commas.
fn grouped(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The section, from `export.json`, with what limits the figures.
pub fn section(results: &Value, findings: Option<&str>) -> String {
    let events = num(results, "events").unwrap_or(0.0);
    let raw = num(results, "raw_read_seconds").unwrap_or(0.0);
    let raw_rate = if raw > 0.0 { events / raw } else { 0.0 };
    let mut md = String::new();
    let _ = writeln!(md, "{HEADING}\n");
    let _ = writeln!(
        md,
        "`{}` on {} (commit {}, PostgreSQL {}, load {}). One meetup of {} events \
         (20 questions, then likes and some withdrawals generated with SQL in the rows \
         the write side stores), exported with `qicoo export` (a release build, its own \
         process, reading the event store) to a file. The baseline is a raw read of the \
         same rows in the same order in the same run: `psql \\copy (SELECT * FROM events \
         WHERE meetup_id = … ORDER BY transaction_id, global_position) TO '/dev/null'`, \
         best of two, {:.2} s ({} events/s).\n",
        text(results, "command"),
        text(results, "date"),
        text(results, "commit"),
        text(results, "postgres"),
        text(results, "load"),
        grouped(events),
        raw,
        grouped(raw_rate),
    );
    let _ = writeln!(
        md,
        "| export | passes over the events | seconds | events/s | vs raw read | peak RSS | size |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for run in results
        .get("runs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let seconds = num(run, "seconds").unwrap_or(0.0);
        let passes = num(run, "passes").unwrap_or(1.0);
        let rate = if seconds > 0.0 { events / seconds } else { 0.0 };
        let ratio = if raw > 0.0 { seconds / raw } else { 0.0 };
        let what = match (text(run, "format"), text(run, "table")) {
            ("csv", "-") => "CSV, every table (zip)".to_owned(),
            ("csv", table) => format!("CSV, the {table} table"),
            ("jsonl", _) => "JSON Lines, every table".to_owned(),
            ("xlsx", _) => "Excel, every table".to_owned(),
            ("html", _) => "HTML report".to_owned(),
            (other, _) => other.to_owned(),
        };
        let _ = writeln!(
            md,
            "| {what} | {passes:.0} | {seconds:.2} | {} | {ratio:.1}× | {:.0} MiB | {:.1} MB |",
            grouped(rate),
            num(run, "peak_rss_kib").unwrap_or(0.0) / 1024.0,
            num(run, "bytes").unwrap_or(0.0) / 1e6,
        );
    }
    let _ = writeln!(
        md,
        "\nevents/s is the meetup's events over the export's wall time (an export that \
         lists the votes reads them twice: once to fold the meetup, once to write each \
         vote). Peak RSS is the whole `qicoo export` process's (`/usr/bin/time`): it \
         holds the state per question, per standing like and per participant, never the \
         events; here every like comes from a participant of its own, a million of them, \
         which a real meetup never has."
    );
    if let Some(findings) = findings {
        let _ = writeln!(md, "\n{}", findings.trim_end());
    }
    md
}

/// `document` with its Export section replaced by the one for `results`.
pub fn splice(document: &str, results: &Value, findings: Option<&str>) -> String {
    crate::sections::splice(document, HEADING, &section(results, findings))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_run_is_shown_beside_the_raw_read() {
        let results = json!({
            "events": 1_000_000,
            "raw_read_seconds": 2.0,
            "runs": [
                {"format": "csv", "table": "votes", "passes": 1, "seconds": 8.0,
                 "peak_rss_kib": 51200, "bytes": 90_000_000},
                {"format": "html", "table": "-", "passes": 1, "seconds": 4.0,
                 "peak_rss_kib": 40960, "bytes": 30000},
            ]
        });
        let md = section(&results, Some("### What limits the export\n\nparsing"));
        assert!(
            md.ends_with("### What limits the export\n\nparsing\n"),
            "{md}"
        );
        assert!(md.contains("500,000 events/s"), "{md}");
        assert!(
            md.contains("| CSV, the votes table | 1 | 8.00 | 125,000 | 4.0× | 50 MiB | 90.0 MB |"),
            "{md}"
        );
        assert!(
            md.contains("| HTML report | 1 | 4.00 | 250,000 | 2.0× | 40 MiB | 0.0 MB |"),
            "{md}"
        );
        let doc = "# B\n\n## Export\n\nold\n\n## Running it\n\nrun\n";
        let spliced = splice(doc, &results, None);
        assert!(
            !spliced.contains("\nold\n") && spliced.contains("## Running it"),
            "{spliced}"
        );
    }
}
