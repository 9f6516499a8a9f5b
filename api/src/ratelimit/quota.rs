//! How much a rate limit allows: a steady rate plus a burst, written
//! `5/min`, `20/s`, `30/min,burst=10`, or `off`.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

/// A steady rate of `count` per `per`, with up to `burst` at once.
///
/// One request's worth of allowance comes back every `per / count`; a client
/// that waited long enough may spend `burst` at once (GCRA semantics, as both
/// adapters implement them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    count: NonZeroU32,
    per: Duration,
    burst: NonZeroU32,
}

impl Quota {
    /// `count` per `per`, with a burst of `count`; `None` for a zero period.
    pub fn new(count: NonZeroU32, per: Duration) -> Option<Self> {
        Self::with_burst(count, per, count)
    }

    /// `count` per `per`, with up to `burst` at once; `None` for a zero period.
    pub fn with_burst(count: NonZeroU32, per: Duration, burst: NonZeroU32) -> Option<Self> {
        let quota = Self { count, per, burst };
        (!quota.interval().is_zero()).then_some(quota)
    }

    /// The time one request's worth of allowance takes to come back.
    pub fn interval(&self) -> Duration {
        self.per / self.count.get()
    }

    /// How many requests may come at once after a quiet spell.
    pub fn burst(&self) -> NonZeroU32 {
        self.burst
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => {
                return write!(
                    f,
                    "{}/{}ms,burst={}",
                    self.count,
                    self.per.as_millis(),
                    self.burst
                )
            }
        };
        write!(f, "{}/{unit}", self.count)?;
        if self.burst != self.count {
            write!(f, ",burst={}", self.burst)?;
        }
        Ok(())
    }
}

/// A limit setting: a quota, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Off,
    On(Quota),
}

impl Limit {
    /// The quota, unless the limit is off.
    pub fn quota(self) -> Option<Quota> {
        match self {
            Self::Off => None,
            Self::On(quota) => Some(quota),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::On(quota) => quota.fmt(f),
        }
    }
}

const SYNTAX: &str = "like 5/min, 20/s, 100/h, 30/min,burst=10 or off";

impl FromStr for Limit {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        let bad = || format!("{raw:?} is not a rate limit {SYNTAX}");
        let (rate, burst) = match raw.split_once(',') {
            Some((rate, burst)) => (rate, Some(burst.trim())),
            None => (raw, None),
        };
        let (count, unit) = rate.split_once('/').ok_or_else(bad)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let burst = match burst {
            None => count,
            Some(burst) => burst
                .strip_prefix("burst=")
                .and_then(|n| n.trim().parse().ok())
                .ok_or_else(bad)?,
        };
        Quota::with_burst(count, per, burst)
            .map(Self::On)
            .ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(raw: &str) -> Quota {
        raw.parse::<Limit>()
            .expect("parses")
            .quota()
            .expect("a quota")
    }

    #[test]
    fn a_rate_alone_allows_a_burst_of_its_count() {
        let q = quota("5/min");
        assert_eq!(q.interval(), Duration::from_secs(12));
        assert_eq!(q.burst().get(), 5);
        assert_eq!(quota("20/s").interval(), Duration::from_millis(50));
        assert_eq!(quota("2/hour").interval(), Duration::from_secs(1800));
    }

    #[test]
    fn a_burst_can_be_set_apart_from_the_rate() {
        let q = quota("30/min, burst=10");
        assert_eq!(q.interval(), Duration::from_secs(2));
        assert_eq!(q.burst().get(), 10);
        assert_eq!(q.to_string(), "30/min,burst=10");
        assert_eq!(quota("5/min").to_string(), "5/min");
    }

    #[test]
    fn off_switches_a_limit_off() {
        assert_eq!("off".parse::<Limit>(), Ok(Limit::Off));
        assert_eq!("OFF".parse::<Limit>(), Ok(Limit::Off));
    }

    #[test]
    fn nonsense_is_refused_with_the_syntax() {
        for raw in [
            "",
            "5",
            "0/min",
            "5/day",
            "x/s",
            "5/min,10",
            "5/min,burst=0",
            "-1/s",
        ] {
            let err = raw.parse::<Limit>().expect_err(raw);
            assert!(err.contains("5/min"), "{raw}: {err}");
        }
    }
}
