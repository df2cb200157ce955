//! The regression gate: compares a run (or several) with a baseline metric by metric and
//! says OK, WARNING or REGRESSION, accounting for run-to-run noise.
//!
//! Per metric, in its bad direction, with threshold T: a change <= T is OK, up to 1.5 T is
//! WARNING, beyond is REGRESSION (erlmcp's rule). A REGRESSION must also stand out of the
//! noise, or it is reported as WARNING:
//! - latency, throughput, memory, efficiency: each side's runs are compared with a one-sided
//!   exact Mann-Whitney U test (p <= 0.05; with 3 runs a side, every current run must be
//!   worse than every baseline run). Against a baseline *file*, recorded at another time,
//!   the test is against the baseline's runs worsened by T itself: every current run must
//!   be worse than every baseline run by more than the threshold. A same-run A/B comparison
//!   interleaves its trials, so drift cancels and the plain test suffices.
//! - error rates: a conditional binomial test on the error counts (p <= 0.05), so a
//!   tiny denominator (2 vs 5 errors) is judged by counts, not by its ratio alone.
//!   With a single run a side, latency-like metrics have no noise estimate and the
//!   threshold alone decides.
//!
//! A baseline recorded on another machine ([`Comparison::OtherMachine`]: another class, or
//! another host or boot of this class) cannot tell a slower machine from a slower server
//! within the machines' difference. Its efficiency is
//! scaled down by the CPU probe ratio when this machine's CPU is slower (never up), and a
//! machine-bound metric fails only beyond [`CROSS_MACHINE_FACTOR`] times the scaled baseline (every current run beyond every scaled baseline run by that
//! factor); a smaller change past T is a WARNING that says the machines differ. Error
//! rates do not depend on the machine and are gated as always.

pub mod noise;
pub mod windows;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::record::{Figures, Percentiles, WindowRecord};
pub use crate::scenario::thresholds::{DEFAULT_THRESHOLD_PERCENT, METRIC_KEYS, Thresholds};

use crate::machine::Machine;
use crate::units::median;
use noise::{error_counts_greater, mann_whitney_greater};
use windows::{Estimate, Paired, holm};

/// Significance level of the noise tests.
pub const ALPHA: f64 = 0.05;

/// The verdict on one metric, or on a whole comparison (the worst of its metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Warning,
    Regression,
}

impl Status {
    /// The label used in reports, with its sign.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "✅ OK",
            Status::Warning => "⚠️ WARNING",
            Status::Regression => "❌ REGRESSION",
        }
    }

    /// `OK`, `WARNING`, `REGRESSION`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Regression => "REGRESSION",
        }
    }
}

/// erlmcp's rule: `bad_change` (percent, positive = worse) against threshold `t`.
pub fn classify(bad_change: f64, t: f64) -> Status {
    if bad_change <= t {
        Status::Ok
    } else if bad_change <= 1.5 * t {
        Status::Warning
    } else {
        Status::Regression
    }
}

/// Across machines, a machine-bound metric fails only when it is worse than the baseline
/// scaled by the probe by more than this factor. Baselines of one server on the two machine
/// classes this project's CI runs on differed by up to 1.85x (efficiency), and runs on two
/// hosts of one class by up to 2x per trial (P50; docs/machines.md).
pub const CROSS_MACHINE_FACTOR: f64 = 2.5;

/// What the baseline side is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// A committed baseline file, recorded at another time on this host, in this boot.
    File,
    /// Baseline and current run in this run, trials interleaved.
    SameRun,
    /// A committed baseline file recorded on another host, or in another boot (of this
    /// class or another).
    OtherMachine(Across),
}

/// How a machine of another class is allowed for: the probe ratios (recorded; only the
/// CPU's is applied, see [`Across::scale`]) and the factor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Across {
    /// How much slower this machine's CPU loop is than the baseline machine's (1 unknown).
    pub cpu_slowdown: f64,
    /// How much slower its loopback round trip is (1 unknown).
    pub loopback_slowdown: f64,
    /// A machine-bound metric fails only beyond this factor of the scaled baseline.
    pub factor: f64,
    /// Whether the baseline's machine is of this class (another host or boot of it).
    #[serde(default)]
    pub same_class: bool,
}

impl Across {
    /// A CPU slowdown is allowed for up to this much; a wilder probe is taken at this.
    const MAX_SLOWDOWN: f64 = 4.0;

    /// The factor a baseline value in `unit` is multiplied by to stand for this machine.
    ///
    /// Scaling only ever loosens the rule: a baseline is never made stricter because the
    /// probe says this machine is faster. Only the CPU probe scales (efficiency and
    /// capacity, for a slower CPU): the loopback round trip varies by more than half between
    /// runs on one machine, so latencies are left to the factor alone.
    pub fn scale(&self, unit: Unit) -> f64 {
        let slowdown = if self.cpu_slowdown.is_finite() {
            self.cpu_slowdown.clamp(1.0, Self::MAX_SLOWDOWN)
        } else {
            1.0
        };
        match unit {
            Unit::PerCpuSecond => 1.0 / slowdown,
            Unit::Micros | Unit::RequestsPerSecond | Unit::Percent | Unit::Bytes => 1.0,
        }
    }
}

/// Unit of a metric's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    RequestsPerSecond,
    Micros,
    Percent,
    Bytes,
    PerCpuSecond,
}

/// The comparison of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    /// Table it belongs to: `Throughput`, `Latency`, `Latency by Operation`, `Error Rate`, `Resources`.
    pub group: String,
    /// Row name: `RPS`, `P99`, `tools/call:calculator P99`, `Total`, `timeout`, ...
    pub name: String,
    /// Threshold key (`p99`, `error_rate`, ...).
    pub key: String,
    pub unit: Unit,
    pub baseline: f64,
    pub current: f64,
    /// Signed change, percent; `None` when the baseline is 0 and the current is not.
    pub change_percent: Option<f64>,
    pub threshold_percent: f64,
    /// The status after the noise check.
    pub status: Status,
    /// The status by threshold alone.
    pub threshold_status: Status,
    /// How the noise check went, in words.
    pub noise: String,
    /// Confidence interval of the change, percent ([`windows::CONFIDENCE`]), where the
    /// metric was judged on per-second windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_percent: Option<[f64; 2]>,
}

/// The result of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The worst status of any metric.
    pub status: Status,
    pub comparison: Comparison,
    pub baseline_runs: usize,
    pub current_runs: usize,
    pub metrics: Vec<MetricVerdict>,
    /// The machines of the two sides, where both are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machines: Option<Machines>,
    /// Trials added because the verdict on the trials asked for was borderline: how many a
    /// side, and the metrics that were borderline then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_trials: Option<AddedTrials>,
}

/// Trials a gate added before deciding (see [`Verdict::borderline`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddedTrials {
    /// Trials added to the current side (and to the baseline side of a same-run A/B).
    pub trials: usize,
    /// The borderline metrics of the first verdict, by row name.
    pub because: Vec<String>,
}

/// The machine each side was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machines {
    pub baseline: Machine,
    pub current: Machine,
}

impl Machines {
    /// Both sides' machines, where both are known.
    pub fn of(baseline: Option<Machine>, current: Option<Machine>) -> Option<Self> {
        baseline
            .zip(current)
            .map(|(baseline, current)| Machines { baseline, current })
    }
}

impl Comparison {
    /// How a baseline file measured on `baseline` compares with runs on `current`: on this
    /// host and boot, or on another machine (a baseline without a fingerprint or a host
    /// counts as another; a current side without a fingerprint, an old record, is taken
    /// as this host).
    pub fn of_file(baseline: Option<&Machine>, current: Option<&Machine>) -> Self {
        let Some(current) = current else {
            return Comparison::File;
        };
        match baseline {
            Some(b) if b.class == current.class && b.same_host(current) => Comparison::File,
            _ => {
                let (cpu_slowdown, loopback_slowdown) =
                    match (current.probe, baseline.and_then(|b| b.probe)) {
                        (Some(c), Some(b)) => c.slowdown_against(&b),
                        _ => (1.0, 1.0),
                    };
                Comparison::OtherMachine(Across {
                    cpu_slowdown,
                    loopback_slowdown,
                    factor: CROSS_MACHINE_FACTOR,
                    same_class: baseline.is_some_and(|b| b.class == current.class),
                })
            }
        }
    }
}

impl Verdict {
    /// Metrics at `status`.
    pub fn at(&self, status: Status) -> impl Iterator<Item = &MetricVerdict> {
        self.metrics.iter().filter(move |m| m.status == status)
    }

    /// Metrics more trials could decide, by row name: a change beyond 1.5 T that the noise
    /// check did not confirm, or an interval of the change that reaches from within T to
    /// beyond 1.5 T. Against another machine more trials cannot tell the machines apart,
    /// so nothing is borderline there.
    pub fn borderline(&self) -> Vec<String> {
        if matches!(self.comparison, Comparison::OtherMachine(_)) {
            return Vec::new();
        }
        self.metrics
            .iter()
            .filter(|m| !m.noise.starts_with(NOT_GATED))
            .filter(|m| {
                let unconfirmed =
                    m.threshold_status == Status::Regression && m.status != Status::Regression;
                let straddles = m.status != Status::Regression
                    && m.ci_percent.is_some_and(|[low, high]| {
                        let t = m.threshold_percent;
                        low <= 1.5 * t && high > 1.5 * t && m.change_percent.unwrap_or(0.0) > t
                    });
                unconfirmed || straddles
            })
            .map(|m| format!("{} {}", m.group, m.name))
            .collect()
    }
}

/// How the noise column of a metric that was not gated begins.
pub const NOT_GATED: &str = "not gated";

#[derive(Clone, Copy, PartialEq)]
enum Worse {
    Higher,
    Lower,
}

/// One side of a comparison: its runs' figures and, where they were recorded, each run's
/// per-second windows.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub runs: &'a [Figures],
    /// Per run; empty when not known (the overall percentiles are then judged on runs).
    pub windows: &'a [Vec<WindowRecord>],
}

impl<'a> Side<'a> {
    /// Runs without their windows.
    pub fn runs(runs: &'a [Figures]) -> Self {
        Self { runs, windows: &[] }
    }

    /// Runs and their windows (in the same order).
    pub fn with_windows(runs: &'a [Figures], windows: &'a [Vec<WindowRecord>]) -> Self {
        Self { runs, windows }
    }
}

/// The overall percentiles judged on windows: their estimates and which the Holm
/// adjustment confirms.
struct Windowed {
    keys: Vec<&'static str>,
    estimates: Vec<Estimate>,
    confirmed: Vec<bool>,
    margin: f64,
}

struct Gate<'a> {
    baseline: &'a [Figures],
    current: &'a [Figures],
    thresholds: &'a Thresholds,
    comparison: Comparison,
    windowed: Option<Windowed>,
    out: Vec<MetricVerdict>,
}

/// The overall latency percentiles: row name, threshold key, quantile, figure.
type Percentile = (&'static str, &'static str, f64, fn(&Percentiles) -> u64);
const PERCENTILES: [Percentile; 4] = [
    ("P50", "p50", 0.50, |p| p.p50_us),
    ("P95", "p95", 0.95, |p| p.p95_us),
    ("P99", "p99", 0.99, |p| p.p99_us),
    ("P999", "p999", 0.999, |p| p.p999_us),
];

/// Compares `current` runs with `baseline` runs.
///
/// When both sides carry every run's window histograms and the baseline is of this host
/// (a file or a same-run A/B), the overall percentiles are judged on windows
/// ([`windows`]): pooled percentiles, a bootstrap interval of the change, and a REGRESSION
/// confirmed when the bootstrap puts the change beyond T (a file) or beyond 0 (same run),
/// with Holm's adjustment over the percentiles gated that way, so that the four of them
/// together raise a false alarm at most [`ALPHA`] of the time.
pub fn gate(
    baseline: Side<'_>,
    current: Side<'_>,
    thresholds: &Thresholds,
    comparison: Comparison,
) -> Verdict {
    let mut g = Gate {
        baseline: baseline.runs,
        current: current.runs,
        thresholds,
        comparison,
        windowed: None,
        out: Vec::new(),
    };
    g.windowed = g.windowed(baseline, current);
    g.continuous(
        "Throughput",
        "RPS",
        "throughput",
        Unit::RequestsPerSecond,
        Worse::Lower,
        |f| Some(f.throughput_rps),
    );
    for (name, key, _, get) in PERCENTILES {
        g.percentile("Latency", name, key, Figures::ok, move |f| {
            Some(get(&f.latency) as f64)
        });
    }
    let ops: BTreeSet<String> = baseline
        .runs
        .iter()
        .flat_map(|f| f.operations.keys().cloned())
        .filter(|op| current.runs.iter().all(|f| f.operations.contains_key(op)))
        .collect();
    for op in &ops {
        let name = format!("`{op}` P99");
        g.percentile(
            "Latency by Operation",
            &name,
            "p99",
            |f| f.ok_of(op),
            |f| f.operations.get(op).map(|p| p.p99_us as f64),
        );
    }
    g.errors("Total", |f| f.errors);
    let classes: BTreeSet<String> = baseline
        .runs
        .iter()
        .chain(current.runs)
        .flat_map(|f| f.errors_by_class.keys().cloned())
        .collect();
    for class in &classes {
        g.errors(class, |f| {
            f.errors_by_class.get(class).copied().unwrap_or(0)
        });
    }
    g.continuous(
        "Resources",
        "Memory (peak)",
        "memory",
        Unit::Bytes,
        Worse::Higher,
        |f| f.memory_peak_bytes.map(|b| b as f64),
    );
    g.efficiency();
    let status = g.out.iter().map(|m| m.status).max().unwrap_or(Status::Ok);
    Verdict {
        status,
        comparison,
        baseline_runs: baseline.runs.len(),
        current_runs: current.runs.len(),
        metrics: g.out,
        machines: None,
        added_trials: None,
    }
}

/// The status after the noise check: a REGRESSION the noise test did not confirm is a
/// WARNING, and any flagged change that is not confirmed says so in `noise`.
fn settle(threshold_status: Status, confirmed: bool, noise: &mut String, why: &str) -> Status {
    if threshold_status > Status::Ok && !confirmed {
        noise.push_str(": ");
        noise.push_str(why);
    }
    if threshold_status == Status::Regression && !confirmed {
        Status::Warning
    } else {
        threshold_status
    }
}

fn bad_change(base: f64, cur: f64, worse: Worse) -> Option<f64> {
    if base == 0.0 {
        return if cur == 0.0 { Some(0.0) } else { None };
    }
    let change = 100.0 * (cur - base) / base;
    Some(if worse == Worse::Higher {
        change
    } else {
        -change
    })
}

/// Samples each run needs for a percentile to be gated: ten beyond it (P99 needs 1,000,
/// P999 10,000). With fewer, the percentile is little more than the run's slowest request.
pub fn samples_needed(key: &str) -> u64 {
    match key {
        "p50" => 20,
        "p95" => 200,
        "p99" => 1_000,
        "p999" => 10_000,
        _ => 0,
    }
}

/// SUT CPU-seconds each run needs for its efficiency to be gated: the kernel counts CPU
/// time in 10 ms ticks, so below a second one tick either way moves it by more than 1%
/// (a 3 s run at 100 req/s used 12 to 16 ticks: 2,500 against 1,875 msg per CPU-second).
pub const CPU_SECONDS_NEEDED: f64 = 1.0;

impl Gate<'_> {
    /// The overall percentiles judged on windows, where both sides have them for every run
    /// and the baseline is of this host; Holm's family is the percentiles with enough
    /// samples to be gated.
    fn windowed(&self, baseline: Side<'_>, current: Side<'_>) -> Option<Windowed> {
        let margin = match self.comparison {
            Comparison::OtherMachine(_) => return None,
            Comparison::File => 1.0,
            Comparison::SameRun => 0.0,
        };
        if baseline.windows.len() != baseline.runs.len()
            || current.windows.len() != current.runs.len()
        {
            return None;
        }
        let paired = Paired::of(baseline.windows, current.windows)?;
        let fewest = baseline
            .runs
            .iter()
            .chain(current.runs)
            .map(Figures::ok)
            .min()
            .unwrap_or(0);
        let gated: Vec<&Percentile> = PERCENTILES
            .iter()
            .filter(|(_, key, _, _)| fewest >= samples_needed(key))
            .collect();
        let quantiles: Vec<f64> = gated.iter().map(|p| p.2).collect();
        let margins: Vec<f64> = gated
            .iter()
            .map(|p| margin * self.thresholds.of(p.1))
            .collect();
        let estimates = paired.compare(&quantiles, &margins);
        let confirmed = holm(
            &estimates.iter().map(|e| e.p_beyond).collect::<Vec<_>>(),
            ALPHA,
        );
        Some(Windowed {
            keys: gated.iter().map(|p| p.1).collect(),
            estimates,
            confirmed,
            margin,
        })
    }

    /// An overall percentile judged on windows (see [`gate`]).
    fn on_windows(&mut self, name: &str, key: &str) {
        let Some(w) = &self.windowed else { return };
        let Some(i) = w.keys.iter().position(|k| *k == key) else {
            return;
        };
        let e = &w.estimates[i];
        let t = self.thresholds.of(key);
        let bad = bad_change(e.base, e.current, Worse::Higher);
        let threshold_status = bad.map_or(Status::Regression, |x| classify(x, t));
        let beyond = if w.margin > 0.0 {
            format!(" beyond {t}%")
        } else {
            String::new()
        };
        let mut noise = format!(
            "{} vs {} windows: {:.0}% CI {:+.1}% to {:+.1}%, p={:.3}{beyond} (Holm over {})",
            e.windows[0],
            e.windows[1],
            windows::CONFIDENCE * 100.0,
            e.ci_percent[0],
            e.ci_percent[1],
            e.p_beyond,
            w.keys.len()
        );
        let status = settle(threshold_status, w.confirmed[i], &mut noise, "within noise");
        self.out.push(MetricVerdict {
            group: "Latency".into(),
            name: name.into(),
            key: key.into(),
            unit: Unit::Micros,
            baseline: e.base,
            current: e.current,
            change_percent: bad,
            threshold_percent: t,
            status,
            threshold_status,
            noise,
            ci_percent: Some(e.ci_percent),
        });
    }

    /// Efficiency (successful requests per SUT CPU-second), gated only when every run on
    /// both sides used [`CPU_SECONDS_NEEDED`].
    fn efficiency(&mut self) {
        let name = "Efficiency (msg per CPU-second)";
        let before = self.out.len();
        self.continuous(
            "Resources",
            name,
            "efficiency",
            Unit::PerCpuSecond,
            Worse::Lower,
            |f| f.efficiency,
        );
        let cpu_seconds = |f: &Figures| {
            f.efficiency
                .map(|e| if e > 0.0 { f.ok() as f64 / e } else { 0.0 })
        };
        let fewest = self
            .baseline
            .iter()
            .chain(self.current)
            .filter_map(cpu_seconds)
            .fold(f64::INFINITY, f64::min);
        if fewest < CPU_SECONDS_NEEDED
            && let Some(m) = self.out.get_mut(before)
        {
            m.status = Status::Ok;
            m.noise = format!(
                "{NOT_GATED}: {fewest:.2} SUT CPU-seconds in a run, {CPU_SECONDS_NEEDED} needed for efficiency"
            );
        }
    }

    /// A latency percentile (`key` = `p50` ... `p999`), gated only when every run on both
    /// sides has enough samples for it.
    fn percentile(
        &mut self,
        group: &str,
        name: &str,
        key: &str,
        samples: impl Fn(&Figures) -> u64,
        get: impl Fn(&Figures) -> Option<f64>,
    ) {
        let needed = samples_needed(key);
        let fewest = self
            .baseline
            .iter()
            .chain(self.current)
            .map(&samples)
            .min()
            .unwrap_or(0);
        let before = self.out.len();
        if group == "Latency"
            && self
                .windowed
                .as_ref()
                .is_some_and(|w| w.keys.contains(&key))
        {
            self.on_windows(name, key);
        } else {
            self.continuous(group, name, key, Unit::Micros, Worse::Higher, get);
        }
        if fewest >= needed {
            return;
        }
        if let Some(m) = self.out.get_mut(before) {
            m.status = Status::Ok;
            m.noise = format!("{NOT_GATED}: {fewest} samples in a run, {needed} needed for {name}");
        }
    }

    fn continuous(
        &mut self,
        group: &str,
        name: &str,
        key: &str,
        unit: Unit,
        worse: Worse,
        get: impl Fn(&Figures) -> Option<f64>,
    ) {
        let scale = match self.comparison {
            Comparison::OtherMachine(across) => across.scale(unit),
            Comparison::File | Comparison::SameRun => 1.0,
        };
        let b: Vec<f64> = self
            .baseline
            .iter()
            .filter_map(&get)
            .map(|x| x * scale)
            .collect();
        let c: Vec<f64> = self.current.iter().filter_map(&get).collect();
        let (Some(base), Some(cur)) = (median(&b), median(&c)) else {
            return;
        };
        let t = self.thresholds.of(key);
        let bad = bad_change(base, cur, worse);
        let threshold_status = bad.map_or(Status::Regression, |x| classify(x, t));
        // What a baseline value must be worsened to before a current one counts as evidence.
        // Against a file of this machine class, by the threshold itself: the file was
        // recorded at another time, so "some change" is expected and only one beyond T is
        // evidence. Against another host or machine class, by the cross-machine factor.
        let (worsen, beyond): (Box<dyn Fn(f64) -> f64>, String) = match (self.comparison, worse) {
            (Comparison::SameRun, _) => (Box::new(|x| x), String::new()),
            (Comparison::File, Worse::Higher) => (
                Box::new(move |x| x * (1.0 + t / 100.0)),
                format!(" beyond {t}%"),
            ),
            (Comparison::File, Worse::Lower) => (
                Box::new(move |x| x * (1.0 - t / 100.0)),
                format!(" beyond {t}%"),
            ),
            (Comparison::OtherMachine(a), Worse::Higher) => (
                Box::new(move |x| x * a.factor),
                format!(" beyond {}x", a.factor),
            ),
            (Comparison::OtherMachine(a), Worse::Lower) => (
                Box::new(move |x| x / a.factor),
                format!(" beyond {}x", a.factor),
            ),
        };
        let flip = |x: f64| if worse == Worse::Higher { x } else { -x };
        let beyond_worsened = flip(cur) > flip(worsen(base));
        let (confirmed, mut noise) = if b.len() < 2 || c.len() < 2 {
            let confirmed = match self.comparison {
                Comparison::OtherMachine(_) => beyond_worsened,
                Comparison::File | Comparison::SameRun => true,
            };
            (confirmed, format!("n/a ({} vs {} runs)", b.len(), c.len()))
        } else {
            let base_worsened: Vec<f64> = b.iter().map(|x| flip(worsen(*x))).collect();
            let current: Vec<f64> = c.iter().map(|x| flip(*x)).collect();
            let p = mann_whitney_greater(&base_worsened, &current).unwrap_or(1.0);
            (p <= ALPHA && beyond_worsened, format!("p={p:.3}{beyond}"))
        };
        let why = match self.comparison {
            Comparison::OtherMachine(a) => {
                if scale != 1.0 {
                    noise.push_str(&format!(" (baseline x{scale:.2} for this machine's CPU)"));
                }
                let other = if a.same_class { "host" } else { "machine" };
                format!("recorded on another {other}, not beyond {}x", a.factor)
            }
            Comparison::File | Comparison::SameRun => "within noise".to_string(),
        };
        let status = settle(threshold_status, confirmed, &mut noise, &why);
        self.out.push(MetricVerdict {
            group: group.into(),
            name: name.into(),
            key: key.into(),
            unit,
            baseline: base,
            current: cur,
            change_percent: bad.map(|x| if worse == Worse::Higher { x } else { -x }),
            threshold_percent: t,
            status,
            threshold_status,
            noise,
            ci_percent: None,
        });
    }

    fn errors(&mut self, name: &str, count: impl Fn(&Figures) -> u64) {
        let sum = |runs: &[Figures], f: &dyn Fn(&Figures) -> u64| runs.iter().map(f).sum::<u64>();
        let (kb, nb) = (
            sum(self.baseline, &count),
            sum(self.baseline, &|f| f.attempts),
        );
        let (kc, nc) = (
            sum(self.current, &count),
            sum(self.current, &|f| f.attempts),
        );
        let rate = |k: u64, n: u64| crate::units::percent(k, n);
        let (base, cur) = (rate(kb, nb), rate(kc, nc));
        let t = self.thresholds.of("error_rate");
        let bad = bad_change(base, cur, Worse::Higher);
        let threshold_status = bad.map_or(Status::Regression, |x| classify(x, t));
        let p = error_counts_greater(kb, nb, kc, nc);
        let confirmed = p <= ALPHA;
        let mut noise = format!("{kb} vs {kc} errors, p={p:.3}");
        let status = settle(threshold_status, confirmed, &mut noise, "within noise");
        self.out.push(MetricVerdict {
            group: "Error Rate".into(),
            name: name.into(),
            key: "error_rate".into(),
            unit: Unit::Percent,
            baseline: base,
            current: cur,
            change_percent: bad,
            threshold_percent: t,
            status,
            threshold_status,
            noise,
            ci_percent: None,
        });
    }
}

#[cfg(test)]
mod tests;
