//! [`Figures`]: the gated numbers of one run (and their medians over runs), as stored in
//! baselines and compared by the gate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RunRecord;
use crate::units::median;

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
}

/// What one run measured, reduced to what the gate compares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Successful requests per second.
    pub throughput_rps: f64,
    /// Requests completed (successful or not).
    pub attempts: u64,
    /// Failed requests.
    pub errors: u64,
    /// Failed requests by class (`timeout`, `http_status:503`, ...).
    pub errors_by_class: BTreeMap<String, u64>,
    /// Latency from intended send time, all operations.
    pub latency: Percentiles,
    /// Latency per operation.
    pub operations: BTreeMap<String, Percentiles>,
    /// Successful requests per operation (the samples behind its percentiles).
    #[serde(default)]
    pub operation_ok: BTreeMap<String, u64>,
    /// Mean SUT CPU cores in use.
    pub cpu_cores: Option<f64>,
    /// Peak SUT resident memory, bytes.
    pub memory_peak_bytes: Option<u64>,
    /// Successful requests per SUT CPU-second.
    pub efficiency: Option<f64>,
}

impl Figures {
    /// The figures of a run record.
    pub fn of(r: &RunRecord) -> Self {
        let p = |l: &super::LatencySummary| Percentiles {
            p50_us: l.p50_us,
            p95_us: l.p95_us,
            p99_us: l.p99_us,
            p999_us: l.p999_us,
        };
        Self {
            throughput_rps: r.throughput.achieved_rps,
            attempts: r.throughput.attempts,
            errors: r.errors.total,
            errors_by_class: r.errors.by_class.clone(),
            latency: p(&r.latency),
            operations: r
                .operations
                .iter()
                .map(|o| (o.operation.clone(), p(&o.latency)))
                .collect(),
            operation_ok: r
                .operations
                .iter()
                .map(|o| (o.operation.clone(), o.ok))
                .collect(),
            cpu_cores: r.resources.as_ref().map(|x| x.cpu_cores_mean),
            memory_peak_bytes: r.resources.as_ref().map(|x| x.memory_bytes_peak),
            efficiency: r.efficiency,
        }
    }

    /// Successful requests: the samples behind the overall percentiles.
    pub fn ok(&self) -> u64 {
        self.attempts.saturating_sub(self.errors)
    }

    /// Successful requests of one operation (the overall count if not recorded).
    pub fn ok_of(&self, op: &str) -> u64 {
        self.operation_ok
            .get(op)
            .copied()
            .unwrap_or_else(|| self.ok())
    }

    /// Per-figure medians over runs.
    pub fn median_of(runs: &[Figures]) -> Figures {
        let med = |f: &dyn Fn(&Figures) -> Option<f64>| {
            median(&runs.iter().filter_map(f).collect::<Vec<_>>())
        };
        let med_u =
            |f: &dyn Fn(&Figures) -> u64| med(&|r| Some(f(r) as f64)).unwrap_or(0.0).round() as u64;
        let mut classes = BTreeMap::new();
        for run in runs {
            for class in run.errors_by_class.keys() {
                classes.insert(
                    class.clone(),
                    med_u(&|r| r.errors_by_class.get(class).copied().unwrap_or(0)),
                );
            }
        }
        let mut operations = BTreeMap::new();
        for op in runs.iter().flat_map(|r| r.operations.keys()) {
            let get = |r: &Figures| r.operations.get(op).copied().unwrap_or_default();
            operations.insert(
                op.clone(),
                Percentiles {
                    p50_us: med_u(&|r| get(r).p50_us),
                    p95_us: med_u(&|r| get(r).p95_us),
                    p99_us: med_u(&|r| get(r).p99_us),
                    p999_us: med_u(&|r| get(r).p999_us),
                },
            );
        }
        Figures {
            throughput_rps: med(&|r| Some(r.throughput_rps)).unwrap_or(0.0),
            attempts: med_u(&|r| r.attempts),
            errors: med_u(&|r| r.errors),
            errors_by_class: classes,
            latency: Percentiles {
                p50_us: med_u(&|r| r.latency.p50_us),
                p95_us: med_u(&|r| r.latency.p95_us),
                p99_us: med_u(&|r| r.latency.p99_us),
                p999_us: med_u(&|r| r.latency.p999_us),
            },
            operation_ok: runs
                .iter()
                .flat_map(|r| r.operation_ok.keys())
                .map(|op| (op.clone(), med_u(&|r| r.ok_of(op))))
                .collect(),
            operations,
            cpu_cores: med(&|r| r.cpu_cores),
            memory_peak_bytes: med(&|r| r.memory_peak_bytes.map(|b| b as f64))
                .map(|b| b.round() as u64),
            efficiency: med(&|r| r.efficiency),
        }
    }

    /// Error rate, percent.
    pub fn error_rate_percent(&self) -> f64 {
        crate::units::percent(self.errors, self.attempts)
    }
}
