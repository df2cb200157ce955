//! Measurement accuracy: runs with a known injected latency, and what the harness reports
//! against the truth; and the harness's own overhead at a few rates.
//!
//! The truth of a faulted run is the unfaulted latency distribution `S` (measured by a
//! reference run at the same rate) plus the injected delay `D`, independent of it: its
//! CDF is `F(x) = Σ w_s · P(D <= x - s)` over the reference histogram, inverted by
//! bisection. A constant delay shifts every percentile by exactly the delay; a uniform
//! jitter spreads it; a periodic stall of `d` every `p` makes a share `d/p` of requests
//! wait a uniform `(0, d]` (over a window of whole periods, whatever its phase).

use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{StudyError, StudyOptions, read_record, server};
use crate::check::CheckError;
use crate::record::{RunRecord, merged_latency};
use crate::run::{RunOptions, run_scenario};
use crate::scenario::{Phase, Scenario};

/// Measured time of an accuracy run: a whole number of stall periods.
pub const ACCURACY_SECONDS: u64 = 10;
/// Measured time of an overhead run.
pub const OVERHEAD_SECONDS: u64 = 5;

/// An injected delay with a known distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Injected {
    /// The same delay for every request.
    Constant { delay_us: f64 },
    /// `base` plus a uniform delay in `[0, width]`.
    Uniform { base_us: f64, width_us: f64 },
    /// Requests arriving in a stall of `duration` every `period` wait for it to end.
    Stall { duration_us: f64, period_us: f64 },
}

impl Injected {
    /// `P(D <= y)`.
    pub fn cdf(&self, y: f64) -> f64 {
        match *self {
            Injected::Constant { delay_us } => f64::from(u8::from(y >= delay_us)),
            Injected::Uniform { base_us, width_us } => {
                if width_us <= 0.0 {
                    f64::from(u8::from(y >= base_us))
                } else {
                    ((y - base_us) / width_us).clamp(0.0, 1.0)
                }
            }
            Injected::Stall {
                duration_us,
                period_us,
            } => {
                if y < 0.0 {
                    0.0
                } else {
                    let share = duration_us / period_us;
                    (1.0 - share) + share * (y / duration_us).min(1.0)
                }
            }
        }
    }

    /// The largest delay it can add.
    fn max_us(&self) -> f64 {
        match *self {
            Injected::Constant { delay_us } => delay_us,
            Injected::Uniform { base_us, width_us } => base_us + width_us,
            Injected::Stall { duration_us, .. } => duration_us,
        }
    }

    /// The reference server's fault spec for it.
    pub fn faults(&self) -> String {
        match *self {
            Injected::Constant { delay_us } => format!("latency={}us", delay_us.round()),
            Injected::Uniform { base_us, width_us } => format!(
                "latency={}us,jitter={}us",
                base_us.round(),
                width_us.round()
            ),
            Injected::Stall {
                duration_us,
                period_us,
            } => format!(
                "stall={}ms/{}ms",
                (duration_us / 1e3).round(),
                (period_us / 1e3).round()
            ),
        }
    }
}

/// The `q` quantile of `reference + injected`, microseconds.
pub fn true_quantile(reference: &Histogram<u64>, injected: &Injected, q: f64) -> f64 {
    let total = reference.len() as f64;
    if total == 0.0 {
        return 0.0;
    }
    let points: Vec<(f64, f64)> = reference
        .iter_recorded()
        .map(|v| {
            (
                reference.median_equivalent(v.value_iterated_to()) as f64,
                v.count_at_value() as f64 / total,
            )
        })
        .collect();
    let cdf = |x: f64| -> f64 { points.iter().map(|(s, w)| w * injected.cdf(x - s)).sum() };
    let (mut lo, mut hi) = (0.0, reference.max() as f64 + injected.max_us() + 1.0);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if cdf(mid) >= q {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// Percentiles compared in the accuracy table.
pub const QUANTILES: [(&str, f64); 4] = [
    ("P50", 0.50),
    ("P90", 0.90),
    ("P99", 0.99),
    ("P99.9", 0.999),
];

fn measured(record: &RunRecord, q: f64) -> u64 {
    let l = &record.latency;
    match q {
        0.50 => l.p50_us,
        0.90 => l.p90_us,
        0.99 => l.p99_us,
        _ => l.p999_us,
    }
}

/// One accuracy run: what was injected, what was reported, what is true.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyRow {
    pub name: String,
    pub faults: String,
    pub injected: Injected,
    /// `(label, reported µs, true µs)` per percentile of [`QUANTILES`].
    pub percentiles: Vec<(String, u64, f64)>,
    /// Service time (from the actual send) P99, microseconds.
    pub service_p99_us: u64,
    pub requests: u64,
}

/// The harness's own latency at a rate, against an unfaulted reference server.
#[derive(Debug, Clone, Serialize)]
pub struct OverheadRow {
    pub rate: f64,
    pub latency_p50_us: u64,
    pub latency_p99_us: u64,
    pub service_p50_us: u64,
    pub lag_p50_us: u64,
    pub lag_p99_us: u64,
    pub late_percent: f64,
    pub generator_kept_schedule: bool,
}

fn constant_rate(scenario: &Scenario, rate: f64, seconds: u64) -> Scenario {
    let mut s = scenario.clone();
    s.warmup = Duration::from_secs(2);
    s.phases = vec![Phase {
        name: format!("{rate} req/s"),
        duration: Duration::from_secs(seconds),
        rps: rate,
        rps_end: rate,
    }];
    s.slo = Default::default();
    s
}

async fn one_run(
    options: &StudyOptions,
    scenario: &Scenario,
    faults: Option<String>,
    dir: &Path,
) -> Result<RunRecord, StudyError> {
    if options.replay {
        return read_record(dir);
    }
    let run = RunOptions {
        duration_scale: 1.0,
        ..options.run.clone()
    };
    let sut = server(options, faults);
    Ok(run_scenario(scenario, &sut, &run, dir)
        .await
        .map_err(CheckError::from)?
        .record)
}

/// Runs the accuracy cases at `rate` and the overhead runs, results under `dir`.
pub async fn measure(
    options: &StudyOptions,
    rate: f64,
    dir: &Path,
    progress: &impl Fn(&str),
) -> Result<(Vec<AccuracyRow>, Vec<OverheadRow>), StudyError> {
    let scenario = constant_rate(&options.scenario, rate, ACCURACY_SECONDS);
    let reference = one_run(options, &scenario, None, &dir.join("reference")).await?;
    let reference_histogram = merged_latency(std::slice::from_ref(&reference));
    let ms = 1_000.0;
    let cases = [
        ("fixed 5 ms", Injected::Constant { delay_us: 5.0 * ms }),
        (
            "5 ms + jitter 0-5 ms",
            Injected::Uniform {
                base_us: 5.0 * ms,
                width_us: 5.0 * ms,
            },
        ),
        (
            "stall 1 s every 10 s",
            Injected::Stall {
                duration_us: 1_000.0 * ms,
                period_us: 10_000.0 * ms,
            },
        ),
    ];
    let mut rows = Vec::new();
    for (i, (name, injected)) in cases.into_iter().enumerate() {
        let faults = injected.faults();
        let record = one_run(
            options,
            &scenario,
            Some(faults.clone()),
            &dir.join(format!("case-{}", i + 1)),
        )
        .await?;
        let percentiles = QUANTILES
            .iter()
            .map(|&(label, q)| {
                (
                    label.to_string(),
                    measured(&record, q),
                    true_quantile(&reference_histogram, &injected, q),
                )
            })
            .collect();
        progress(&format!("accuracy: {name} measured"));
        rows.push(AccuracyRow {
            name: name.into(),
            faults,
            injected,
            percentiles,
            service_p99_us: record.service_time.p99_us,
            requests: record.latency.count,
        });
    }
    let mut overhead = Vec::new();
    for &r in &options.overhead_rates {
        let s = constant_rate(&options.scenario, r, OVERHEAD_SECONDS);
        let rec = one_run(options, &s, None, &dir.join(format!("overhead-{r}"))).await?;
        progress(&format!("overhead: {r} req/s measured"));
        overhead.push(OverheadRow {
            rate: r,
            latency_p50_us: rec.latency.p50_us,
            latency_p99_us: rec.latency.p99_us,
            service_p50_us: rec.service_time.p50_us,
            lag_p50_us: rec.generator.lag_p50_us,
            lag_p99_us: rec.generator.lag_p99_us,
            late_percent: rec.generator.late_percent,
            generator_kept_schedule: rec.generator.kept_schedule,
        });
    }
    Ok((rows, overhead))
}
