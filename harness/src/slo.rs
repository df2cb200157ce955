//! The scenario's service-level limits, checked against a run's record.

use std::time::Duration;

use crate::record::{RunRecord, SloCheck};
use crate::scenario::Slo;
use crate::units::format_us;

/// Checks every limit the scenario sets.
pub fn check(slo: &Slo, record: &RunRecord) -> Vec<SloCheck> {
    let mut checks = Vec::new();
    let latency = [
        ("p50", slo.p50, record.latency.p50_us),
        ("p95", slo.p95, record.latency.p95_us),
        ("p99", slo.p99, record.latency.p99_us),
        ("p999", slo.p999, record.latency.p999_us),
    ];
    for (metric, limit, actual_us) in latency {
        if let Some(limit) = limit {
            checks.push(SloCheck {
                metric: metric.into(),
                limit: format!("<= {}", humantime::format_duration(limit)),
                actual: format_us(actual_us),
                passed: Duration::from_micros(actual_us) <= limit,
            });
        }
    }
    if let Some(limit) = slo.error_rate {
        let actual = record.errors.rate_percent;
        checks.push(SloCheck {
            metric: "error_rate".into(),
            limit: format!("<= {limit}%"),
            actual: format!("{actual}%"),
            passed: actual <= limit,
        });
    }
    if let Some(limit) = slo.min_throughput {
        let actual = record.throughput.percent_of_target;
        checks.push(SloCheck {
            metric: "throughput".into(),
            limit: format!(">= {limit}% of target"),
            actual: format!("{actual}% of target"),
            passed: actual >= limit,
        });
    }
    if let Some(leak) = &record.leak {
        let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
        let returned = match leak.returned {
            Some(true) => ", came back after the cool-down",
            Some(false) => ", stayed after the cool-down",
            None => "",
        };
        checks.push(SloCheck {
            metric: "memory_growth".into(),
            limit: format!(
                "<= {:.2} MiB/min (counted with R² >= {}, unless it comes back)",
                mib(leak.max_growth_per_minute as f64),
                leak.min_r2
            ),
            actual: format!(
                "{:+.2} MiB/min, R² {:.2}{returned}",
                mib(leak.growth_per_minute),
                leak.r_squared
            ),
            passed: !leak.leak,
        });
    }
    checks
}
