//! The `capacity:` section of a scenario file: where a sweep starts and stops, how it
//! searches, how long each step lasts, and what breaks a step.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::MAX_RATE;
use super::values::{DurationValue, Percent};

/// Break on an error rate above this, percent, unless the file says otherwise
/// (erlmcp's `max_capacity.sh`).
pub const DEFAULT_ERROR_RATE_PERCENT: f64 = 5.0;
/// Break when the server achieves less than this share of the offered rate, percent.
pub const DEFAULT_MIN_THROUGHPUT_PERCENT: f64 = 95.0;
/// Growth factor of the geometric search unless the file says otherwise. Growing by 4
/// rather than 2 costs a longer bisection but fewer growth steps: over a sweep's usual
/// range (a break 3 to 50 times the start, 5% resolution) the search then takes at most
/// half the steps of a linear sweep of the same precision.
pub const DEFAULT_FACTOR: f64 = 4.0;
/// Bisection stops when the gap between the last good and the first bad rate is at most
/// this share of the last good rate, percent.
pub const DEFAULT_RESOLUTION_PERCENT: f64 = 5.0;
/// Upper bound on the steps of one sweep, whatever the settings.
pub const MAX_STEPS: usize = 60;

/// How the sweep looks for the breaking point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Grow the rate by `factor` until a step breaks, then bisect between the last good
    /// and the first bad rate down to `resolution`.
    Bisect,
    /// Step from `start` by `step` until a step breaks (erlmcp's `max_capacity.sh`).
    Linear,
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "bisect" => Ok(Strategy::Bisect),
            "linear" => Ok(Strategy::Linear),
            other => Err(format!(
                "unknown search `{other}`; expected bisect or linear"
            )),
        }
    }
}

/// What makes a step fail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakCriteria {
    /// Highest error rate a good step may have, percent.
    pub error_rate_percent: f64,
    /// Highest P99 latency a good step may have, microseconds.
    pub p99_us: Option<u64>,
    /// Lowest achieved throughput of a good step, percent of the offered rate.
    pub min_throughput_percent: f64,
}

/// A validated `capacity:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacitySpec {
    pub strategy: Strategy,
    /// Rate of the first step, requests per second.
    pub start_rps: f64,
    /// Highest rate the sweep offers.
    pub max_rps: f64,
    /// Growth factor of the bisect strategy.
    pub factor: f64,
    /// Increment of the linear strategy, requests per second.
    pub step_rps: Option<f64>,
    /// Relative resolution of the bisection, percent of the last good rate.
    pub resolution_percent: f64,
    /// Measured time of each step (after the scenario's `warmup`, run before every step).
    #[serde(with = "crate::serde_duration")]
    pub step_duration: Duration,
    pub criteria: BreakCriteria,
}

/// The section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCapacity {
    start: f64,
    max: f64,
    #[serde(default)]
    factor: Option<f64>,
    #[serde(default)]
    step: Option<f64>,
    #[serde(default)]
    search: Option<RawStrategy>,
    #[serde(default)]
    resolution: Option<Percent>,
    step_duration: DurationValue,
    #[serde(default, rename = "break")]
    criteria: Option<RawCriteria>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawStrategy {
    Bisect,
    Linear,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCriteria {
    #[serde(default)]
    error_rate: Option<Percent>,
    #[serde(default)]
    p99: Option<DurationValue>,
    #[serde(default)]
    min_throughput: Option<Percent>,
}

impl RawCapacity {
    /// Validates the section; every problem goes to `problem(field, reason)` with the
    /// field's path under `scenario.capacity`.
    pub(crate) fn validate(self, problem: &mut dyn FnMut(String, String)) -> CapacitySpec {
        let mut at = |field: &str, reason: String| {
            problem(format!("scenario.capacity.{field}"), reason);
        };
        let rate_ok = |r: f64| r.is_finite() && r > 0.0 && r <= MAX_RATE;
        if !rate_ok(self.start) {
            at(
                "start",
                format!("must be above 0 and at most {MAX_RATE}, got {}", self.start),
            );
        }
        if !rate_ok(self.max) {
            at(
                "max",
                format!("must be above 0 and at most {MAX_RATE}, got {}", self.max),
            );
        } else if self.max < self.start {
            at(
                "max",
                format!(
                    "must not be below `start` ({}), got {}",
                    self.start, self.max
                ),
            );
        }
        let factor = self.factor.unwrap_or(DEFAULT_FACTOR);
        if !(factor.is_finite() && factor > 1.0 && factor <= 10.0) {
            at(
                "factor",
                format!("must be above 1 and at most 10, got {factor}"),
            );
        }
        if let Some(step) = self.step
            && !rate_ok(step)
        {
            at(
                "step",
                format!("must be above 0 and at most {MAX_RATE}, got {step}"),
            );
        }
        let strategy = match self.search {
            Some(RawStrategy::Linear) => Strategy::Linear,
            Some(RawStrategy::Bisect) | None => Strategy::Bisect,
        };
        if strategy == Strategy::Linear && self.step.is_none() {
            at("step", "the linear search needs `step`".into());
        }
        let resolution = self.resolution.map_or(DEFAULT_RESOLUTION_PERCENT, |p| p.0);
        if !(resolution > 0.0 && resolution <= 100.0) {
            at(
                "resolution",
                format!("must be above 0% and at most 100%, got {resolution}%"),
            );
        }
        if self.step_duration.0.is_zero() {
            at("step_duration", "must be greater than zero".into());
        }
        let raw = self.criteria.unwrap_or_default();
        let mut pct = |field: &str, v: Option<Percent>, default: f64| {
            let v = v.map_or(default, |p| p.0);
            if !(0.0..=100.0).contains(&v) {
                at(
                    &format!("break.{field}"),
                    format!("must be between 0% and 100%, got {v}%"),
                );
            }
            v
        };
        let error_rate_percent = pct("error_rate", raw.error_rate, DEFAULT_ERROR_RATE_PERCENT);
        let min_throughput_percent = pct(
            "min_throughput",
            raw.min_throughput,
            DEFAULT_MIN_THROUGHPUT_PERCENT,
        );
        // In microseconds, at least 1, as the latency histograms record.
        let p99_us = raw
            .p99
            .map(|d| u64::try_from(d.0.as_micros()).unwrap_or(u64::MAX).max(1));
        CapacitySpec {
            strategy,
            start_rps: self.start,
            max_rps: self.max,
            factor,
            step_rps: self.step,
            resolution_percent: resolution,
            step_duration: self.step_duration.0,
            criteria: BreakCriteria {
                error_rate_percent,
                p99_us,
                min_throughput_percent,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::parse;

    const HEAD: &str =
        "scenario:\n  name: cap\n  requests:\n    - type: ping\n      weight: 100%\n";

    fn with(capacity: &str) -> Result<crate::scenario::Scenario, crate::scenario::ScenarioError> {
        parse(
            &format!("{HEAD}  capacity:\n{capacity}"),
            Path::new("cap.yml"),
        )
    }

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        let s = with("    start: 100\n    max: 1000\n    step_duration: 2s\n").unwrap();
        let c = s.capacity.unwrap();
        assert_eq!(c.strategy, Strategy::Bisect);
        assert_eq!(c.factor, DEFAULT_FACTOR);
        assert_eq!(c.resolution_percent, DEFAULT_RESOLUTION_PERCENT);
        assert_eq!(c.criteria.error_rate_percent, 5.0);
        assert_eq!(c.criteria.min_throughput_percent, 95.0);
        assert_eq!(c.criteria.p99_us, None);
        assert!(s.phases.is_empty());
        let scaled = with("    start: 100\n    max: 1000\n    step_duration: 20s\n")
            .unwrap()
            .scaled(0.1);
        assert_eq!(
            scaled.capacity.unwrap().step_duration,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn bad_settings_name_line_field_and_reason() {
        let cases = [
            (
                "    start: 0\n    max: 10\n    step_duration: 1s\n",
                7,
                "scenario.capacity.start",
                "must be above 0",
            ),
            (
                "    start: 100\n    max: 10\n    step_duration: 1s\n",
                8,
                "scenario.capacity.max",
                "must not be below `start` (100)",
            ),
            (
                "    start: 1\n    max: 10\n    factor: 1\n    step_duration: 1s\n",
                9,
                "scenario.capacity.factor",
                "must be above 1",
            ),
            (
                "    start: 1\n    max: 10\n    search: linear\n    step_duration: 1s\n",
                6,
                "scenario.capacity.step",
                "the linear search needs `step`",
            ),
            (
                "    start: 1\n    max: 10\n    resolution: 0%\n    step_duration: 1s\n",
                9,
                "scenario.capacity.resolution",
                "must be above 0%",
            ),
            (
                "    start: 1\n    max: 10\n    step_duration: 0s\n",
                9,
                "scenario.capacity.step_duration",
                "must be greater than zero",
            ),
            (
                "    start: 1\n    max: 10\n    step_duration: 1s\n    break:\n      error_rate: 150%\n",
                11,
                "scenario.capacity.break.error_rate",
                "between 0% and 100%",
            ),
        ];
        for (text, line, field, reason) in cases {
            let e = with(text).unwrap_err();
            let p = &e.problems[0];
            assert_eq!((p.line, p.field.as_str()), (Some(line), field), "{e}");
            assert!(p.reason.contains(reason), "{e}");
        }
    }

    #[test]
    fn unknown_keys_and_phases_are_refused() {
        let e =
            with("    start: 1\n    max: 10\n    step_duration: 1s\n    speed: 3\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `speed`"), "{e}");
        let both = format!(
            "{HEAD}  phases:\n    - name: p\n      duration: 1s\n      rps: 5\n  capacity:\n    start: 1\n    max: 10\n    step_duration: 1s\n"
        );
        let e = parse(&both, Path::new("cap.yml")).unwrap_err();
        assert!(
            e.to_string()
                .contains("cap.yml:6: scenario.phases: a capacity scenario has no phases"),
            "{e}"
        );
    }
}
