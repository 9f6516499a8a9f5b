//! What the soak samples besides its own counters: the resident set of each
//! Qicoo process (`/proc/<pid>/status`) and the projections' lag as a node's
//! `/readyz` reports it (events stored past each projection's checkpoint).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::live::rss_kib;
use crate::Result;

/// A Qicoo process to watch, named as the report shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
}

impl std::str::FromStr for Watched {
    type Err = String;

    /// `name=pid`, e.g. `api-1=4242`.
    fn from_str(raw: &str) -> std::result::Result<Self, String> {
        let (name, pid) = raw
            .split_once('=')
            .ok_or_else(|| format!("{raw:?} is not name=pid"))?;
        let pid = pid
            .trim()
            .parse()
            .map_err(|_| format!("{raw:?}: {pid:?} is not a process id"))?;
        Ok(Self {
            name: name.trim().to_owned(),
            pid,
        })
    }
}

/// The RSS of each watched process, in KiB (`None` once it has gone).
pub fn rss_all(watched: &[Watched]) -> Vec<Option<u64>> {
    watched.iter().map(|w| rss_kib(w.pid).ok()).collect()
}

/// Lag in events of the two projections, as one `/readyz` answer gave it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lag {
    pub read_model: Option<i64>,
    pub leaderboard: Option<i64>,
}

/// Reads the projections' lag from a `/readyz` body.
pub fn lag_of(body: &Value) -> Lag {
    let mut lag = Lag::default();
    for projection in body
        .get("projections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let value = projection.get("lag").and_then(Value::as_i64);
        match projection.get("name").and_then(Value::as_str) {
            Some("read_model") => lag.read_model = value,
            Some("leaderboard") => lag.leaderboard = value,
            _ => {}
        }
    }
    lag
}

/// A node's root URL (where `/readyz` and `/metrics` are), given it with or
/// without the `/api/v1` suffix.
pub fn root_of(url: &str) -> &str {
    let url = url.trim_end_matches('/');
    url.strip_suffix("/api/v1").unwrap_or(url)
}

/// Asks a node's `/readyz` for the lag. A node that is not ready answers 503
/// with the same body, which is read too.
pub async fn lag(http: &reqwest::Client, node_url: &str) -> Result<Lag> {
    let response = http
        .get(format!("{}/readyz", root_of(node_url)))
        .timeout(Duration::from_secs(5))
        .send()
        .await?;
    let body: Value = response.json().await?;
    Ok(lag_of(&body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_watched_process_is_named_name_equals_pid() {
        let w: Watched = "api-1=4242".parse().expect("parses");
        assert_eq!(
            w,
            Watched {
                name: "api-1".into(),
                pid: 4242
            }
        );
        assert!("api-1".parse::<Watched>().is_err());
        assert!("api-1=x".parse::<Watched>().is_err());
    }

    #[test]
    fn the_lag_of_each_projection_is_read_from_readyz() {
        let body = json!({"status": "ready", "projections": [
            {"name": "read_model", "state": "active", "lag": 12},
            {"name": "leaderboard", "state": "active", "lag": 0},
        ]});
        assert_eq!(
            lag_of(&body),
            Lag {
                read_model: Some(12),
                leaderboard: Some(0)
            }
        );
        assert_eq!(lag_of(&json!({"status": "ready"})), Lag::default());
    }

    #[test]
    fn a_node_root_is_found_with_or_without_the_api_prefix() {
        assert_eq!(root_of("http://h:1/api/v1/"), "http://h:1");
        assert_eq!(root_of("http://h:1/"), "http://h:1");
    }

    #[test]
    fn this_process_is_seen_and_a_gone_one_is_not() {
        let watched = [
            Watched {
                name: "me".into(),
                pid: std::process::id(),
            },
            Watched {
                name: "gone".into(),
                pid: u32::MAX,
            },
        ];
        let rss = rss_all(&watched);
        assert!(rss[0].is_some_and(|kib| kib > 0));
        assert_eq!(rss[1], None);
    }
}
