//! The summary printed on the terminal at the end of a run.

use std::fmt::Write as _;

use crate::record::RunRecord;
use crate::units::format_us;

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A compact plain-text summary: throughput, latency per operation, errors, resources.
pub fn summary(r: &RunRecord) -> String {
    let mut s = String::new();
    let t = &r.throughput;
    let _ = writeln!(
        s,
        "{}: {} ok / {} sent in {:.1}s: {:.1} msg/s ({:.2}% of target {:.1}/s), errors {:.3}%",
        r.scenario.name,
        thousands(t.ok),
        thousands(t.attempts),
        r.measured_seconds,
        t.achieved_rps,
        t.percent_of_target,
        t.target_rps,
        r.errors.rate_percent
    );
    if let Some(stop) = &r.interrupted {
        let _ = writeln!(
            s,
            "  interrupted {:.1} s into the schedule: figures cover {:.1} s of {:.1} s measured",
            stop.after_seconds, stop.measured_seconds_covered, stop.measured_seconds_planned
        );
    }
    let _ = writeln!(
        s,
        "  {:<28} {:>8} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "operation", "requests", "errors", "p50", "p95", "p99", "p999"
    );
    let row = |s: &mut String, name: &str, n: u64, e: u64, l: &crate::record::LatencySummary| {
        let _ = writeln!(
            s,
            "  {:<28} {:>8} {:>7} {:>10} {:>10} {:>10} {:>10}",
            name,
            n,
            e,
            format_us(l.p50_us),
            format_us(l.p95_us),
            format_us(l.p99_us),
            format_us(l.p999_us)
        );
    };
    for op in &r.operations {
        row(
            &mut s,
            &op.operation,
            op.attempts,
            op.errors.total,
            &op.latency,
        );
    }
    row(&mut s, "all", t.attempts, t.failed, &r.latency);
    for (class, n) in &r.errors.by_class {
        let _ = writeln!(s, "  error {class}: {n}");
    }
    for line in super::recovery_lines(r) {
        let _ = writeln!(s, "  recovery: {line}");
    }
    if let Some(res) = &r.resources {
        let _ = writeln!(
            s,
            "  SUT: {:.2} cores mean, {:.1} MiB peak; efficiency {} msg per CPU-second",
            res.cpu_cores_mean,
            res.memory_bytes_peak as f64 / (1024.0 * 1024.0),
            r.efficiency.map_or("n/a".into(), |e| thousands(e as u64))
        );
    }
    let g = &r.generator;
    let _ = writeln!(
        s,
        "  generator: send lag p99 {} max {}, {:.3}% late, {:.2} cores{}",
        format_us(g.lag_p99_us),
        format_us(g.lag_max_us),
        g.late_percent,
        g.cpu_cores,
        if g.kept_schedule {
            ""
        } else {
            " (FELL BEHIND SCHEDULE)"
        }
    );
    for c in &r.slo {
        let _ = writeln!(
            s,
            "  slo {}: {} (limit {}) {}",
            c.metric,
            c.actual,
            c.limit,
            if c.passed { "ok" } else { "BREACHED" }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(9_847_123), "9,847,123");
    }
}
