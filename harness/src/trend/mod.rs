//! Trends across history: the gated figures of a series of results (records or baselines,
//! oldest first), and the points where each metric changed for good, found by
//! [`edivisive`]. A change point is reported when it is significant and its size (the
//! median after against the median before) is at least [`TrendOptions::min_change`]; one
//! at a point where the machine or the measurement method changed is marked so, since a
//! step there is not the server's.

pub mod edivisive;

use serde::Serialize;

use crate::gate::Unit;
use crate::record::Figures;
use crate::units::median;

/// One result of the series.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// What the point is called in tables: a commit, a file name.
    pub label: String,
    /// When it was measured (RFC 3339), if known.
    pub time: Option<String>,
    /// The figures: a record's, or the medians of a baseline's runs.
    pub figures: Figures,
    /// The machine class it was measured on, if known.
    pub machine: Option<String>,
    /// The measurement method version.
    pub method_version: u32,
}

/// A metric followed over the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Throughput,
    P50,
    P95,
    P99,
    P999,
    ErrorRate,
    Efficiency,
    Memory,
}

impl Metric {
    pub const ALL: [Metric; 8] = [
        Metric::Throughput,
        Metric::P50,
        Metric::P95,
        Metric::P99,
        Metric::P999,
        Metric::ErrorRate,
        Metric::Efficiency,
        Metric::Memory,
    ];

    /// The key of the scenario's thresholds and of `--metrics`.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::P999 => "p999",
            Metric::ErrorRate => "error_rate",
            Metric::Efficiency => "efficiency",
            Metric::Memory => "memory",
        }
    }

    /// The name in tables, with its unit.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Throughput => "Throughput (req/s)",
            Metric::P50 => "P50 (µs)",
            Metric::P95 => "P95 (µs)",
            Metric::P99 => "P99 (µs)",
            Metric::P999 => "P999 (µs)",
            Metric::ErrorRate => "Error rate (%)",
            Metric::Efficiency => "Efficiency (msg per CPU-second)",
            Metric::Memory => "Memory peak (bytes)",
        }
    }

    /// The metric named by `key`.
    pub fn of_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

    /// The unit of its values.
    pub fn unit(self) -> Unit {
        match self {
            Metric::Throughput => Unit::RequestsPerSecond,
            Metric::P50 | Metric::P95 | Metric::P99 | Metric::P999 => Unit::Micros,
            Metric::ErrorRate => Unit::Percent,
            Metric::Efficiency => Unit::PerCpuSecond,
            Metric::Memory => Unit::Bytes,
        }
    }

    /// Whether a higher value is worse.
    pub fn higher_is_worse(self) -> bool {
        !matches!(self, Metric::Throughput | Metric::Efficiency)
    }

    /// The metric's value in `f`, in the unit of [`Metric::title`].
    pub fn of(self, f: &Figures) -> Option<f64> {
        match self {
            Metric::Throughput => Some(f.throughput_rps),
            Metric::P50 => Some(f.latency.p50_us as f64),
            Metric::P95 => Some(f.latency.p95_us as f64),
            Metric::P99 => Some(f.latency.p99_us as f64),
            Metric::P999 => Some(f.latency.p999_us as f64),
            Metric::ErrorRate => Some(crate::units::percent(f.errors, f.attempts)),
            Metric::Efficiency => f.efficiency,
            Metric::Memory => f.memory_peak_bytes.map(|b| b as f64),
        }
    }
}

/// How the series is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendOptions {
    /// The search for change points.
    pub search: edivisive::Options,
    /// Smallest change reported, percent of the median before.
    pub min_change: f64,
}

impl Default for TrendOptions {
    fn default() -> Self {
        Self {
            search: edivisive::Options::default(),
            min_change: 5.0,
        }
    }
}

/// A reported change of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Index of the first point of the new regime.
    pub index: usize,
    /// Its label.
    pub at: String,
    /// Median of the regime before and after.
    pub before: f64,
    pub after: f64,
    /// Signed change, percent of `before`.
    pub change_percent: f64,
    /// Whether it is a change for the worse.
    pub worse: bool,
    pub p_value: f64,
    /// Set when the machine class or the method version changed at this point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub also_changed: Option<String>,
}

/// A metric over the series, and its changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricTrend {
    pub metric: Metric,
    /// The value at each point (`None` where the point does not have it).
    pub values: Vec<Option<f64>>,
    pub changes: Vec<Change>,
    /// Significant splits left out for being smaller than `min_change`.
    pub below_min_change: usize,
}

/// The trend of every metric the series has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub labels: Vec<String>,
    pub times: Vec<Option<String>>,
    pub metrics: Vec<MetricTrend>,
    pub min_change_percent: f64,
    pub alpha: f64,
    pub permutations: usize,
}

impl Trend {
    /// Changes for the worse, over every metric.
    pub fn worse(&self) -> impl Iterator<Item = (&MetricTrend, &Change)> {
        self.metrics
            .iter()
            .flat_map(|m| m.changes.iter().filter(|c| c.worse).map(move |c| (m, c)))
    }
}

/// Finds the changes of each of `metrics` over `points` (oldest first). A metric is
/// followed where at least two regimes' worth of points have it; points without it are
/// left out of its search.
pub fn analyse(points: &[Point], metrics: &[Metric], options: &TrendOptions) -> Trend {
    let mut out = Vec::new();
    for &metric in metrics {
        let values: Vec<Option<f64>> = points.iter().map(|p| metric.of(&p.figures)).collect();
        let present: Vec<(usize, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.filter(|x| x.is_finite()).map(|x| (i, x)))
            .collect();
        if present.len() < 2 * options.search.min_size.max(1) {
            continue;
        }
        let series: Vec<f64> = present.iter().map(|(_, x)| *x).collect();
        let splits = edivisive::change_points(&series, &options.search);
        let mut edges: Vec<usize> = vec![0];
        edges.extend(splits.iter().map(|s| s.index));
        edges.push(series.len());
        let mut changes = Vec::new();
        let mut below = 0;
        for (k, split) in splits.iter().enumerate() {
            let before = median(&series[edges[k]..edges[k + 1]]).unwrap_or(0.0);
            let after = median(&series[edges[k + 1]..edges[k + 2]]).unwrap_or(0.0);
            let change_percent = if before != 0.0 {
                100.0 * (after - before) / before
            } else if after == 0.0 {
                0.0
            } else {
                f64::INFINITY
            };
            if change_percent.abs() < options.min_change {
                below += 1;
                continue;
            }
            let index = present[split.index].0;
            let previous = present[split.index - 1].0;
            changes.push(Change {
                index,
                at: points[index].label.clone(),
                before,
                after,
                change_percent,
                worse: (change_percent > 0.0) == metric.higher_is_worse(),
                p_value: split.p_value,
                also_changed: what_else_changed(&points[previous], &points[index]),
            });
        }
        out.push(MetricTrend {
            metric,
            values,
            changes,
            below_min_change: below,
        });
    }
    Trend {
        labels: points.iter().map(|p| p.label.clone()).collect(),
        times: points.iter().map(|p| p.time.clone()).collect(),
        metrics: out,
        min_change_percent: options.min_change,
        alpha: options.search.alpha,
        permutations: options.search.permutations,
    }
}

/// The machine class or method version changing between two consecutive points, in words.
fn what_else_changed(before: &Point, after: &Point) -> Option<String> {
    let mut what = Vec::new();
    if let (Some(a), Some(b)) = (&before.machine, &after.machine)
        && a != b
    {
        what.push(format!("machine {a} → {b}"));
    }
    if before.method_version != after.method_version {
        what.push(format!(
            "method version {} → {}",
            before.method_version, after.method_version
        ));
    }
    (!what.is_empty()).then(|| what.join(", "))
}

#[cfg(test)]
mod tests;
