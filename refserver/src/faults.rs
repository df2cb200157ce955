//! Fault injection: what to inject ([`Faults`]), its textual spec, and the
//! arithmetic that turns it into a delay or an injected error for one request.
//!
//! A spec is a comma-separated list of `key=value` pairs:
//!
//! ```text
//! latency=2ms,jitter=500us,tail=0.02:1ms,error_rate=0.01,stall=1s/10s,tool_latency=calculator:5ms,work=200us,overload=300/5s,idle_close=50ms
//! ```
//!
//! | key            | value                      | effect                                              |
//! |----------------|----------------------------|-----------------------------------------------------|
//! | `latency`      | duration                   | fixed delay added to every request                  |
//! | `jitter`       | duration                   | plus a uniform random delay in `[0, jitter]`        |
//! | `tail`         | `share:duration`, share in `0..=1` | that fraction of requests, drawn at random, waits that much longer (a slow tail) |
//! | `error_rate`   | probability in `0..=1`     | that fraction answers JSON-RPC `-32603`             |
//! | `stall`        | `D/P`, both durations      | during `[k*P, k*P + D)` from start, requests wait    |
//! | `tool_latency` | `tool:duration` (repeated) | extra delay for `tools/call` of that tool           |
//! | `work`         | duration                   | CPU busy-spin per request (costs capacity, not only latency) |
//! | `overload`     | `N/D`, a count and a duration | more than N requests in one second freeze the server: every request, `initialize` too, waits until D after the last second that had more |
//! | `idle_close`   | duration                   | an HTTP connection idle for that long since its last answer is closed, unread, as its next request arrives (an idle timeout running out as the request comes in) |
//! | `leak`         | bytes (`4096`, `16KiB`, `1MiB`) | every request keeps that much memory for the life of the server (a leak) |
//!
//! `none` (or an empty string) is the spec without faults.

use std::{collections::BTreeMap, fmt, str::FromStr, time::Duration};

/// Keys a fault spec may contain.
const KEYS: &str =
    "latency, jitter, tail, error_rate, stall, tool_latency, work, overload, idle_close, leak";

/// Faults injected into every MCP request except `initialize` and notifications.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Fixed latency added to every request.
    pub latency: Duration,
    /// Upper bound of a uniform random latency added on top of [`Faults::latency`].
    pub jitter: Duration,
    /// A share of requests, drawn at random, delayed by more.
    pub tail: Option<Tail>,
    /// Fraction (`0..=1`) of requests answered with JSON-RPC error `-32603 "injected fault"`.
    pub error_rate: f64,
    /// Periodic stall, measured from server start.
    pub stall: Option<Stall>,
    /// Extra latency for `tools/call` of the named tool.
    pub tool_latency: BTreeMap<String, Duration>,
    /// CPU time burnt in a busy spin on the serving thread per request. Unlike a sleep,
    /// which an async server overlaps with other requests, this lowers its capacity.
    pub work: Duration,
    /// A server that stops answering for a while once overloaded.
    pub overload: Option<Overload>,
    /// HTTP connections idle at least this long since their last answer are closed,
    /// unread, when their next request arrives.
    pub idle_close: Option<Duration>,
    /// Bytes every request keeps for the life of the server.
    pub leak: u64,
}

/// A slow tail: `share` of requests (each drawn independently) wait `delay` on top of
/// every other delay, so the high percentiles move while the median stays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tail {
    /// Probability in `0..=1` that a request is delayed.
    pub share: f64,
    /// How much longer a delayed request waits.
    pub delay: Duration,
}

impl FromStr for Tail {
    type Err = FaultSpecError;

    /// Parse `SHARE:DURATION`, e.g. `0.02:1ms`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let format = || FaultSpecError::TailFormat {
            value: value.to_owned(),
        };
        let (share, delay) = value.split_once(':').ok_or_else(format)?;
        let share = share
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| (0.0..=1.0).contains(s))
            .ok_or_else(format)?;
        Ok(Self {
            share,
            delay: parse_duration("tail", delay)?,
        })
    }
}

impl fmt::Display for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            self.share,
            humantime::format_duration(self.delay)
        )
    }
}

/// More than `limit` requests in one second of server time freeze the server for
/// `freeze`: like a real server still draining the backlog of an overload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overload {
    /// Requests one second may hold without freezing the server; never zero.
    pub limit: u64,
    /// How long the server answers nothing after an overloaded second.
    pub freeze: Duration,
}

impl FromStr for Overload {
    type Err = FaultSpecError;

    /// Parse `COUNT/DURATION`, e.g. `300/5s`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let format = || FaultSpecError::OverloadFormat {
            value: value.to_owned(),
        };
        let (limit, freeze) = value.split_once('/').ok_or_else(format)?;
        let limit = limit
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(format)?;
        Ok(Self {
            limit,
            freeze: parse_duration("overload", freeze)?,
        })
    }
}

impl fmt::Display for Overload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.limit,
            humantime::format_duration(self.freeze)
        )
    }
}

/// A periodic stall: during `[k * period, k * period + duration)` (time since
/// server start) every request is held until the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// How long each stall lasts; always shorter than `period`.
    pub duration: Duration,
    /// Distance between the starts of two stalls; never zero.
    pub period: Duration,
}

/// Why a fault spec (or one of its parts) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    /// A key that is not one of the known keys.
    #[error("fault spec: unknown key `{key}` (expected one of: {KEYS})")]
    UnknownKey {
        /// The key as written.
        key: String,
    },
    /// An item without `=`.
    #[error("fault spec: `{item}` is not `key=value`")]
    NotKeyValue {
        /// The item as written.
        item: String,
    },
    /// A key other than `tool_latency` given twice.
    #[error("fault spec key `{key}`: given more than once")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// A value that is not a duration.
    #[error("fault spec key `{key}`: bad duration `{value}`: {reason}")]
    BadDuration {
        /// The key whose value is wrong.
        key: String,
        /// The value as written.
        value: String,
        /// What the duration parser said.
        reason: String,
    },
    /// An `error_rate` that is not a number.
    #[error("fault spec key `error_rate`: `{value}` is not a number")]
    ErrorRateNotANumber {
        /// The value as written.
        value: String,
    },
    /// An `error_rate` outside `0..=1`.
    #[error("fault spec key `error_rate`: {value} is out of range (expected 0..=1)")]
    ErrorRateOutOfRange {
        /// The value as written.
        value: String,
    },
    /// A `tail` value that is not `SHARE:DURATION` with a share in `0..=1`.
    #[error(
        "fault spec key `tail`: `{value}` is not `SHARE:DURATION` with a share in 0..=1 (e.g. `0.02:1ms`)"
    )]
    TailFormat {
        /// The value as written.
        value: String,
    },
    /// An `overload` value that is not `N/D` with N above zero.
    #[error(
        "fault spec key `overload`: `{value}` is not `COUNT/DURATION` with a count above 0 (e.g. `300/5s`)"
    )]
    OverloadFormat {
        /// The value as written.
        value: String,
    },
    /// A `stall` value that is not `D/P`.
    #[error("fault spec key `stall`: `{value}` is not `DURATION/PERIOD` (e.g. `1s/10s`)")]
    StallFormat {
        /// The value as written.
        value: String,
    },
    /// A `leak` value that is not a byte count.
    #[error("fault spec key `leak`: `{value}` is not a byte count (e.g. `4096`, `16KiB`, `1MiB`)")]
    LeakFormat {
        /// The value as written.
        value: String,
    },
    /// A `stall` whose period is zero.
    #[error("fault spec key `stall`: the period must not be zero")]
    ZeroPeriod,
    /// A `stall` whose duration is not shorter than its period.
    #[error(
        "fault spec key `stall`: the stall duration ({duration}) must be shorter than the period ({period})"
    )]
    StallNotBelowPeriod {
        /// The stall duration as formatted by humantime.
        duration: String,
        /// The period as formatted by humantime.
        period: String,
    },
    /// A `tool_latency` value that is not `tool:duration`.
    #[error(
        "fault spec key `tool_latency`: `{value}` is not `TOOL:DURATION` (e.g. `calculator:5ms`)"
    )]
    ToolLatencyFormat {
        /// The value as written.
        value: String,
    },
}

impl Faults {
    /// Whether this injects nothing at all.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// Overlay `other` onto `self`: every fault `other` sets replaces the one
    /// in `self`; tool latencies are merged per tool.
    pub fn merge(&mut self, other: Faults) {
        if !other.latency.is_zero() {
            self.latency = other.latency;
        }
        if !other.jitter.is_zero() {
            self.jitter = other.jitter;
        }
        if other.tail.is_some() {
            self.tail = other.tail;
        }
        if other.error_rate > 0.0 {
            self.error_rate = other.error_rate;
        }
        if other.stall.is_some() {
            self.stall = other.stall;
        }
        self.tool_latency.extend(other.tool_latency);
        if !other.work.is_zero() {
            self.work = other.work;
        }
        if other.overload.is_some() {
            self.overload = other.overload;
        }
        if other.idle_close.is_some() {
            self.idle_close = other.idle_close;
        }
        if other.leak > 0 {
            self.leak = other.leak;
        }
    }

    /// Burns [`Faults::work`] of CPU on the calling thread in a busy spin (nothing when zero).
    pub fn spin(&self) {
        if self.work.is_zero() {
            return;
        }
        let until = std::time::Instant::now() + self.work;
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
    }

    /// The delay to add before a request, given a jitter sample in `[0, 1]`.
    ///
    /// `tool` is the tool name for `tools/call`, `None` for other methods.
    pub fn delay(&self, tool: Option<&str>, jitter_sample: f64) -> Duration {
        let jitter = self.jitter.mul_f64(jitter_sample.clamp(0.0, 1.0));
        let tool = tool
            .and_then(|name| self.tool_latency.get(name))
            .copied()
            .unwrap_or_default();
        self.latency + jitter + tool
    }

    /// The delay to add before a request, with a fresh random jitter and tail draw.
    pub fn sample_delay(&self, tool: Option<&str>) -> Duration {
        let sample = if self.jitter.is_zero() {
            0.0
        } else {
            rand::random_range(0.0..=1.0)
        };
        let tail = match self.tail {
            Some(t) if t.share > 0.0 && rand::random_bool(t.share.clamp(0.0, 1.0)) => t.delay,
            _ => Duration::ZERO,
        };
        self.delay(tool, sample) + tail
    }

    /// Whether this request should be answered with an injected error.
    pub fn sample_error(&self) -> bool {
        self.error_rate > 0.0 && rand::random_bool(self.error_rate.clamp(0.0, 1.0))
    }

    /// How long a request at `since_start` must wait for a stall to end.
    pub fn stall_wait(&self, since_start: Duration) -> Duration {
        self.stall
            .map_or(Duration::ZERO, |stall| stall.wait_at(since_start))
    }
}

impl Stall {
    /// Build a stall, checking `period > 0` and `duration < period`.
    pub fn new(duration: Duration, period: Duration) -> Result<Self, FaultSpecError> {
        if period.is_zero() {
            return Err(FaultSpecError::ZeroPeriod);
        }
        if duration >= period {
            return Err(FaultSpecError::StallNotBelowPeriod {
                duration: humantime::format_duration(duration).to_string(),
                period: humantime::format_duration(period).to_string(),
            });
        }
        Ok(Self { duration, period })
    }

    /// How long a request arriving `since_start` after server start waits:
    /// the rest of the stall window it falls in, or zero outside a window.
    pub fn wait_at(&self, since_start: Duration) -> Duration {
        let period = self.period.as_nanos();
        if period == 0 {
            return Duration::ZERO;
        }
        let into_period = since_start.as_nanos() % period;
        let duration = self.duration.as_nanos();
        if into_period < duration {
            // `duration - into_period` < `period`, which came from a Duration.
            nanos_to_duration(duration - into_period)
        } else {
            Duration::ZERO
        }
    }
}

fn nanos_to_duration(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9 and fits a u32.
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, subsec)
}

/// Parse a duration such as `2ms`, `500us` or `1s 500ms`, naming `key` on error.
pub fn parse_duration(key: &str, value: &str) -> Result<Duration, FaultSpecError> {
    humantime::parse_duration(value.trim()).map_err(|error| FaultSpecError::BadDuration {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: error.to_string(),
    })
}

/// Parse an `error_rate` value: a number in `0..=1`.
pub fn parse_error_rate(value: &str) -> Result<f64, FaultSpecError> {
    let rate: f64 = value
        .trim()
        .parse()
        .map_err(|_| FaultSpecError::ErrorRateNotANumber {
            value: value.to_owned(),
        })?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(FaultSpecError::ErrorRateOutOfRange {
            value: value.to_owned(),
        });
    }
    Ok(rate)
}

/// Parse one `tool:duration` (or `tool=duration`) pair.
pub fn parse_tool_latency(value: &str) -> Result<(String, Duration), FaultSpecError> {
    let format_error = || FaultSpecError::ToolLatencyFormat {
        value: value.to_owned(),
    };
    let (tool, duration) = value.split_once([':', '=']).ok_or_else(format_error)?;
    let tool = tool.trim();
    if tool.is_empty() {
        return Err(format_error());
    }
    Ok((tool.to_owned(), parse_duration("tool_latency", duration)?))
}

impl FromStr for Stall {
    type Err = FaultSpecError;

    /// Parse `DURATION/PERIOD`, e.g. `1s/10s`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (duration, period) =
            value
                .split_once('/')
                .ok_or_else(|| FaultSpecError::StallFormat {
                    value: value.to_owned(),
                })?;
        Stall::new(
            parse_duration("stall", duration)?,
            parse_duration("stall", period)?,
        )
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            humantime::format_duration(self.duration),
            humantime::format_duration(self.period)
        )
    }
}

impl FromStr for Faults {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let spec = spec.trim();
        let mut faults = Faults::default();
        if spec.is_empty() || spec.eq_ignore_ascii_case("none") {
            return Ok(faults);
        }
        let mut seen: Vec<&str> = Vec::new();
        for item in spec
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| FaultSpecError::NotKeyValue {
                    item: item.to_owned(),
                })?;
            let key = key.trim();
            let value = value.trim();
            if key != "tool_latency" {
                if seen.contains(&key) {
                    return Err(FaultSpecError::DuplicateKey {
                        key: key.to_owned(),
                    });
                }
                seen.push(key);
            }
            match key {
                "latency" => faults.latency = parse_duration(key, value)?,
                "jitter" => faults.jitter = parse_duration(key, value)?,
                "tail" => faults.tail = Some(value.parse()?),
                "error_rate" => faults.error_rate = parse_error_rate(value)?,
                "stall" => faults.stall = Some(value.parse()?),
                "work" => faults.work = parse_duration(key, value)?,
                "overload" => faults.overload = Some(value.parse()?),
                "idle_close" => faults.idle_close = Some(parse_duration(key, value)?),
                "leak" => faults.leak = parse_bytes(value)?,
                "tool_latency" => {
                    let (tool, latency) = parse_tool_latency(value)?;
                    faults.tool_latency.insert(tool, latency);
                }
                _ => {
                    return Err(FaultSpecError::UnknownKey {
                        key: key.to_owned(),
                    });
                }
            }
        }
        Ok(faults)
    }
}

impl fmt::Display for Faults {
    /// The spec form, listing only the faults that are set; `none` if none is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        if !self.latency.is_zero() {
            items.push(format!(
                "latency={}",
                humantime::format_duration(self.latency)
            ));
        }
        if !self.jitter.is_zero() {
            items.push(format!(
                "jitter={}",
                humantime::format_duration(self.jitter)
            ));
        }
        if let Some(tail) = self.tail {
            items.push(format!("tail={tail}"));
        }
        if self.error_rate > 0.0 {
            items.push(format!("error_rate={}", self.error_rate));
        }
        if let Some(stall) = self.stall {
            items.push(format!("stall={stall}"));
        }
        for (tool, latency) in &self.tool_latency {
            items.push(format!(
                "tool_latency={tool}:{}",
                humantime::format_duration(*latency)
            ));
        }
        if !self.work.is_zero() {
            items.push(format!("work={}", humantime::format_duration(self.work)));
        }
        if let Some(overload) = self.overload {
            items.push(format!("overload={overload}"));
        }
        if let Some(idle) = self.idle_close {
            items.push(format!("idle_close={}", humantime::format_duration(idle)));
        }
        if self.leak > 0 {
            items.push(format!("leak={}", self.leak));
        }
        if items.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&items.join(","))
        }
    }
}

/// Parses a byte count: a whole number with an optional `KiB` or `MiB` suffix.
fn parse_bytes(value: &str) -> Result<u64, FaultSpecError> {
    let (digits, unit) = match value {
        v if v.ends_with("KiB") => (&v[..v.len() - 3], 1024),
        v if v.ends_with("MiB") => (&v[..v.len() - 3], 1024 * 1024),
        v => (v, 1),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| FaultSpecError::LeakFormat {
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leak_parses_with_units_and_prints_back() {
        let f: Faults = "leak=16KiB".parse().unwrap();
        assert_eq!(f.leak, 16 * 1024);
        assert_eq!(f.to_string(), "leak=16384");
        assert_eq!("leak=2MiB".parse::<Faults>().unwrap().leak, 2 << 20);
        assert!(matches!(
            "leak=lots".parse::<Faults>(),
            Err(FaultSpecError::LeakFormat { .. })
        ));
    }

    #[test]
    fn overload_parses_and_prints_back() {
        let f: Faults = "overload=300/5s".parse().unwrap();
        assert_eq!(
            f.overload,
            Some(Overload {
                limit: 300,
                freeze: Duration::from_secs(5)
            })
        );
        assert_eq!(f.to_string(), "overload=300/5s");
        for bad in ["overload=0/5s", "overload=5s", "overload=x/1s"] {
            let e = bad.parse::<Faults>().unwrap_err().to_string();
            assert!(e.contains("overload"), "{bad}: {e}");
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_a_full_spec() {
        let faults: Faults =
            "latency=2ms,jitter=500us,error_rate=0.01,stall=1s/10s,tool_latency=calculator:5ms,tool_latency=file_read:1s"
                .parse()
                .unwrap();
        assert_eq!(faults.latency, ms(2));
        assert_eq!(faults.jitter, Duration::from_micros(500));
        assert_eq!(faults.error_rate, 0.01);
        assert_eq!(
            faults.stall,
            Some(Stall {
                duration: ms(1000),
                period: ms(10_000)
            })
        );
        assert_eq!(faults.tool_latency["calculator"], ms(5));
        assert_eq!(faults.tool_latency["file_read"], ms(1000));
    }

    #[test]
    fn empty_and_none_mean_no_faults() {
        for spec in ["", "none", " NONE ", ","] {
            let faults: Faults = spec.parse().unwrap();
            assert!(faults.is_none(), "{spec:?}");
        }
        assert_eq!(Faults::default().to_string(), "none");
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            "latency=2ms,jitter=500us,error_rate=0.01,stall=1s/10s,tool_latency=calculator:5ms",
            "error_rate=1",
            "stall=200ms/1s",
            "latency=1s 500ms",
            "tool_latency=a:1ms,tool_latency=b:2ms",
            "work=200us",
            "latency=1ms,work=1ms",
            "idle_close=20ms",
            "idle_close=0s",
            "tail=0.02:1ms",
            "latency=1ms,tail=0.5:300us",
            "none",
        ] {
            let faults: Faults = spec.parse().unwrap();
            let shown = faults.to_string();
            assert_eq!(shown, spec);
            assert_eq!(shown.parse::<Faults>().unwrap(), faults);
        }
    }

    #[test]
    fn bad_specs_name_key_and_reason() {
        let cases = [
            ("latency=2ms,bogus=1", "unknown key `bogus`"),
            ("latency", "`latency` is not `key=value`"),
            ("latency=fast", "key `latency`: bad duration `fast`"),
            ("jitter=5", "key `jitter`: bad duration `5`"),
            ("error_rate=1.5", "key `error_rate`: 1.5 is out of range"),
            ("error_rate=-0.1", "key `error_rate`: -0.1 is out of range"),
            (
                "error_rate=often",
                "key `error_rate`: `often` is not a number",
            ),
            ("error_rate=NaN", "key `error_rate`: NaN is out of range"),
            ("stall=1s", "key `stall`: `1s` is not `DURATION/PERIOD`"),
            (
                "stall=10s/10s",
                "stall duration (10s) must be shorter than the period (10s)",
            ),
            ("stall=20s/10s", "must be shorter than the period"),
            ("stall=0s/0s", "key `stall`: the period must not be zero"),
            ("stall=1s/x", "key `stall`: bad duration `x`"),
            (
                "tool_latency=calculator",
                "key `tool_latency`: `calculator` is not `TOOL:DURATION`",
            ),
            ("tool_latency=:5ms", "is not `TOOL:DURATION`"),
            (
                "tool_latency=calculator:soon",
                "key `tool_latency`: bad duration `soon`",
            ),
            (
                "latency=1ms,latency=2ms",
                "key `latency`: given more than once",
            ),
            ("work=lots", "key `work`: bad duration `lots`"),
            ("tail=1ms", "key `tail`: `1ms` is not `SHARE:DURATION`"),
            (
                "tail=1.5:1ms",
                "key `tail`: `1.5:1ms` is not `SHARE:DURATION`",
            ),
            ("tail=0.1:soon", "key `tail`: bad duration `soon`"),
            ("work=1ms,work=2ms", "key `work`: given more than once"),
        ];
        for (spec, expected) in cases {
            let error = spec.parse::<Faults>().unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{spec:?}: {error:?} does not contain {expected:?}"
            );
        }
    }

    #[test]
    fn stall_window_arithmetic() {
        let stall = Stall::new(ms(1000), ms(10_000)).unwrap();
        // Inside the first window: wait for the rest of it.
        assert_eq!(stall.wait_at(Duration::ZERO), ms(1000));
        assert_eq!(stall.wait_at(ms(250)), ms(750));
        assert_eq!(stall.wait_at(ms(999)), ms(1));
        // The window is half-open.
        assert_eq!(stall.wait_at(ms(1000)), Duration::ZERO);
        assert_eq!(stall.wait_at(ms(9_999)), Duration::ZERO);
        // Later periods.
        assert_eq!(stall.wait_at(ms(10_000)), ms(1000));
        assert_eq!(stall.wait_at(ms(30_400)), ms(600));
        assert_eq!(stall.wait_at(ms(31_000)), Duration::ZERO);
        // Sub-millisecond precision.
        assert_eq!(
            stall.wait_at(Duration::from_nanos(10_000_000_001)),
            Duration::from_nanos(999_999_999)
        );
    }

    #[test]
    fn zero_length_stall_never_waits() {
        let stall = Stall::new(Duration::ZERO, ms(10)).unwrap();
        assert_eq!(stall.wait_at(Duration::ZERO), Duration::ZERO);
        assert_eq!(Faults::default().stall_wait(ms(5)), Duration::ZERO);
    }

    #[test]
    fn delay_adds_latency_jitter_and_tool_latency() {
        let faults: Faults = "latency=2ms,jitter=4ms,tool_latency=calculator:10ms"
            .parse()
            .unwrap();
        assert_eq!(faults.delay(None, 0.0), ms(2));
        assert_eq!(faults.delay(None, 0.5), ms(4));
        assert_eq!(faults.delay(None, 1.0), ms(6));
        assert_eq!(faults.delay(Some("calculator"), 0.0), ms(12));
        assert_eq!(faults.delay(Some("file_read"), 0.0), ms(2));
        for _ in 0..100 {
            let delay = faults.sample_delay(None);
            assert!((ms(2)..=ms(6)).contains(&delay), "{delay:?}");
        }
    }

    /// Every request of share 1 and none of share 0 is delayed; share 0.2 delays about a
    /// fifth (2,000 draws: 400 expected, standard deviation 18, so 300 to 500 is over 5
    /// deviations either way).
    #[test]
    fn tail_delays_its_share_of_requests() {
        let all: Faults = "latency=1ms,tail=1:4ms".parse().unwrap();
        let none: Faults = "latency=1ms,tail=0:4ms".parse().unwrap();
        for _ in 0..100 {
            assert_eq!(all.sample_delay(None), ms(5));
            assert_eq!(none.sample_delay(None), ms(1));
        }
        let fifth: Faults = "tail=0.2:4ms".parse().unwrap();
        let delayed = (0..2000)
            .filter(|_| fifth.sample_delay(None) == ms(4))
            .count();
        assert!((300..=500).contains(&delayed), "{delayed} of 2000");
    }

    #[test]
    fn work_spins_for_at_least_its_duration() {
        let faults: Faults = "work=2ms".parse().unwrap();
        assert!(!faults.is_none());
        let started = std::time::Instant::now();
        faults.spin();
        assert!(started.elapsed() >= ms(2));
        assert_eq!(faults.to_string(), "work=2ms");
    }

    #[test]
    fn error_rate_extremes() {
        let never = Faults::default();
        let always: Faults = "error_rate=1".parse().unwrap();
        for _ in 0..100 {
            assert!(!never.sample_error());
            assert!(always.sample_error());
        }
    }

    #[test]
    fn merge_overlays_set_faults() {
        let mut base: Faults = "latency=2ms,error_rate=0.5,tool_latency=a:1ms"
            .parse()
            .unwrap();
        base.merge(
            "latency=3ms,stall=1s/10s,tool_latency=a:2ms,tool_latency=b:4ms"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            base.to_string(),
            "latency=3ms,error_rate=0.5,stall=1s/10s,tool_latency=a:2ms,tool_latency=b:4ms"
        );
    }
}
