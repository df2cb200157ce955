//! A scenario's `gate:` thresholds: the percent change per metric beyond which the gate
//! warns, and the metric keys a file may name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Threshold of every metric unless a scenario sets another, percent.
pub const DEFAULT_THRESHOLD_PERCENT: f64 = 10.0;
/// Metric keys a scenario may set thresholds for.
pub const METRIC_KEYS: &[&str] = &[
    "throughput",
    "p50",
    "p95",
    "p99",
    "p999",
    "error_rate",
    "memory",
    "efficiency",
];

/// Thresholds per metric key, percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub default: f64,
    pub per_metric: BTreeMap<String, f64>,
    /// Trials a side may grow to while a verdict is borderline (`gate.max_trials`);
    /// `None`: twice the trials asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_trials: Option<usize>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self::uniform(DEFAULT_THRESHOLD_PERCENT)
    }
}

impl Thresholds {
    /// The same threshold for every metric.
    pub fn uniform(percent: f64) -> Self {
        Self {
            default: percent,
            per_metric: BTreeMap::new(),
            max_trials: None,
        }
    }

    /// Trials a side may grow to when `trials` were asked for.
    pub fn max_trials(&self, trials: usize) -> usize {
        self.max_trials.unwrap_or(2 * trials).max(trials)
    }

    /// The threshold of metric `key`.
    pub fn of(&self, key: &str) -> f64 {
        self.per_metric.get(key).copied().unwrap_or(self.default)
    }
}
