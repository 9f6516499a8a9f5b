//! The soak's pass/fail lines, computed from its counters and samples alone so
//! that they can be checked on made-up series: no errors, nothing undelivered,
//! the pacer kept the rate, each process's RSS grew by less than the limit
//! after the warm-up, and the projections' lag did not grow.

use serde::{Deserialize, Serialize};

use super::probe::Lag;

/// One sample, taken every second or so while the likes are sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the likes started.
    pub t: f64,
    /// RSS in KiB of each watched process, in the order they were named.
    pub rss_kib: Vec<Option<u64>>,
    /// `None` when `/readyz` did not answer.
    pub lag: Option<Lag>,
    pub likes_sent: u64,
    pub likes_acked: u64,
    pub like_errors: u64,
    pub likes_not_sent: u64,
    pub frames: u64,
    pub ws_errors: u64,
}

/// One verdict line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub name: String,
    pub figure: String,
    pub goal: String,
    pub met: bool,
}

/// What the verdicts are judged on besides the samples.
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Names of the watched processes, in sample order.
    pub processes: &'a [String],
    pub like_errors: u64,
    pub ws_errors: u64,
    pub likes_not_sent: u64,
    pub undelivered_likes: u64,
    pub clients_behind: u64,
    pub clients_missing: u64,
    /// Largest RSS growth allowed after the warm-up (0.10 = 10 %).
    pub rss_growth_limit: f64,
    /// The last window's mean lag may be this many times the first's…
    pub lag_factor: f64,
    /// …or this many events, whichever is larger.
    pub lag_floor: f64,
}

/// Growth of one process's RSS from the end of the warm-up to the end of the
/// load: (first sample at or after the warm-up, last sample of the load).
pub fn rss_growth(samples: &[Sample], index: usize, warmup_s: f64) -> Option<(u64, u64)> {
    let at = |s: &Sample| s.rss_kib.get(index).copied().flatten();
    let baseline = samples.iter().filter(|s| s.t >= warmup_s).find_map(at)?;
    let last = samples.iter().rev().find_map(at)?;
    Some((baseline, last))
}

/// Picks one projection's lag out of a sample's.
pub type LagOf = fn(&Lag) -> Option<i64>;

/// Mean of a projection's lag over the samples with `from <= t <= to`.
pub fn mean_lag(samples: &[Sample], from: f64, to: f64, pick: LagOf) -> Option<f64> {
    let values: Vec<f64> = samples
        .iter()
        .filter(|s| s.t >= from && s.t <= to)
        .filter_map(|s| s.lag.as_ref().and_then(pick))
        .map(|v| v as f64)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn zero(name: &str, figure: u64, what: &str) -> Verdict {
    Verdict {
        name: name.into(),
        figure: format!("{figure} {what}"),
        goal: "0".into(),
        met: figure == 0,
    }
}

/// Every verdict line of a soak.
pub fn judge(j: &Judged<'_>, samples: &[Sample]) -> Vec<Verdict> {
    let mut out = vec![
        zero(
            "errors",
            j.like_errors + j.ws_errors,
            &format!("({} likes, {} live clients)", j.like_errors, j.ws_errors),
        ),
        zero(
            "undelivered",
            j.undelivered_likes + j.clients_behind + j.clients_missing,
            &format!(
                "({} likes off in clients' views, {} clients behind the last like, {} without a snapshot)",
                j.undelivered_likes, j.clients_behind, j.clients_missing
            ),
        ),
        zero("likes not sent (pacer at its in-flight cap)", j.likes_not_sent, "likes"),
    ];
    for (index, name) in j.processes.iter().enumerate() {
        let verdict = match rss_growth(samples, index, j.warmup_s) {
            Some((baseline, last)) => {
                let growth = last as f64 / baseline.max(1) as f64 - 1.0;
                Verdict {
                    name: format!("RSS growth after warm-up, {name}"),
                    figure: format!("{:+.1} % ({} → {} KiB)", growth * 100.0, baseline, last),
                    goal: format!("< {:.0} %", j.rss_growth_limit * 100.0),
                    met: growth < j.rss_growth_limit,
                }
            }
            None => Verdict {
                name: format!("RSS growth after warm-up, {name}"),
                figure: "not measured".into(),
                goal: format!("< {:.0} %", j.rss_growth_limit * 100.0),
                met: false,
            },
        };
        out.push(verdict);
    }
    let window = j.warmup_s.min(j.duration_s / 2.0);
    let projections: [(&str, LagOf); 2] = [
        ("read model", |l| l.read_model),
        ("leaderboard", |l| l.leaderboard),
    ];
    for (name, pick) in projections {
        let first = mean_lag(samples, 0.0, window, pick);
        let last = mean_lag(samples, j.duration_s - window, j.duration_s, pick);
        let verdict = match (first, last) {
            (Some(first), Some(last)) => {
                let bound = (first * j.lag_factor).max(j.lag_floor);
                Verdict {
                    name: format!("projection lag does not grow, {name}"),
                    figure: format!(
                        "last {window:.0} s mean {last:.1} events, first {window:.0} s mean {first:.1}"
                    ),
                    goal: format!(
                        "≤ max(first × {}, {:.0}) = {bound:.1}",
                        j.lag_factor, j.lag_floor
                    ),
                    met: last <= bound,
                }
            }
            _ => Verdict {
                name: format!("projection lag does not grow, {name}"),
                figure: "not measured".into(),
                goal: format!("≤ max(first × {}, {:.0})", j.lag_factor, j.lag_floor),
                met: false,
            },
        };
        out.push(verdict);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(rss: impl Fn(f64) -> u64, lag: impl Fn(f64) -> i64) -> Vec<Sample> {
        (0..=300)
            .map(|t| {
                let t = f64::from(t);
                Sample {
                    t,
                    rss_kib: vec![Some(rss(t))],
                    lag: Some(Lag {
                        read_model: Some(lag(t)),
                        leaderboard: Some(0),
                    }),
                    ..Sample::default()
                }
            })
            .collect()
    }

    fn judged(processes: &[String]) -> Judged<'_> {
        Judged {
            duration_s: 300.0,
            warmup_s: 60.0,
            processes,
            like_errors: 0,
            ws_errors: 0,
            likes_not_sent: 0,
            undelivered_likes: 0,
            clients_behind: 0,
            clients_missing: 0,
            rss_growth_limit: 0.10,
            lag_factor: 1.5,
            lag_floor: 50.0,
        }
    }

    fn met(verdicts: &[Verdict]) -> Vec<(String, bool)> {
        verdicts.iter().map(|v| (v.name.clone(), v.met)).collect()
    }

    #[test]
    fn a_steady_run_meets_every_verdict() {
        let names = ["api-1".to_owned()];
        // Memory climbs in the warm-up, then stays flat; lag wobbles.
        let samples = series(
            |t| {
                if t < 60.0 {
                    40_000 + t as u64 * 100
                } else {
                    46_000
                }
            },
            |t| (t as i64 * 7) % 30,
        );
        let verdicts = judge(&judged(&names), &samples);
        assert!(verdicts.iter().all(|v| v.met), "{verdicts:#?}");
        assert_eq!(verdicts.len(), 3 + 1 + 2);
    }

    #[test]
    fn memory_that_keeps_growing_fails_its_verdict() {
        let names = ["api-1".to_owned()];
        let samples = series(|t| 40_000 + t as u64 * 100, |_| 0);
        let verdicts = judge(&judged(&names), &samples);
        let rss = &verdicts[3];
        assert!(!rss.met, "{rss:?}");
        // 46,000 KiB at the end of the warm-up, 70,000 at the end.
        assert!(rss.figure.starts_with("+52.2 %"), "{rss:?}");
    }

    #[test]
    fn lag_that_keeps_growing_fails_and_a_small_one_passes_on_the_floor() {
        let names = ["api-1".to_owned()];
        let growing = judge(&judged(&names), &series(|_| 1, |t| t as i64 * 10));
        assert_eq!(
            met(&growing)[4],
            ("projection lag does not grow, read model".to_owned(), false)
        );
        // 5 events on average at first, 40 at the end: more than 1.5×, under the floor.
        let small = judge(
            &judged(&names),
            &series(|_| 1, |t| if t < 150.0 { 5 } else { 40 }),
        );
        assert!(small[4].met, "{:?}", small[4]);
    }

    #[test]
    fn any_error_or_undelivered_like_fails() {
        let names = ["api-1".to_owned()];
        let samples = series(|_| 1, |_| 0);
        let mut j = judged(&names);
        j.ws_errors = 1;
        j.clients_behind = 2;
        let verdicts = met(&judge(&j, &samples));
        assert!(
            !verdicts[0].1 && !verdicts[1].1 && verdicts[2].1,
            "{verdicts:?}"
        );
    }
}
