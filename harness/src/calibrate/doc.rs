//! `gate-accuracy.md`: the study as a person reads it.

use std::fmt::Write as _;

use super::{Goal, Study, Target};
use crate::gate::Status;
use crate::units::format_us;

fn pct(part: usize, whole: usize) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!(
            "{part} of {whole} ({:.0}%)",
            100.0 * part as f64 / whole as f64
        )
    }
}

/// Renders the study; `command` is the command line that produced it.
pub fn render(study: &Study, goals: &[Goal], command: &str, when: &str) -> String {
    let mut md = String::new();
    let env = &study.baseline.environment;
    let _ = writeln!(md, "# Gate accuracy\n");
    let _ = writeln!(
        md,
        "How often the regression gate calls an unchanged server a regression, how often it \
         catches a known slowdown, and how close the reported latency is to a known truth. \
         Produced by `erlmcp-perf calibrate` against the reference server and its fault \
         injection.\n"
    );
    if let Some(round) = study.interrupted_in_round {
        let _ = writeln!(
            md,
            "⏹️ **Interrupted** in round {round}: the figures below are of the reruns finished before it; the one under way was dropped and the accuracy runs were skipped.\n"
        );
    }
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| Command | `{command}` |");
    let _ = writeln!(md, "| Finished | {when} |");
    let _ = writeln!(
        md,
        "| Machine | {} × {} CPUs (shared, noisy) |",
        env.cpu_model.as_deref().unwrap_or("unknown CPU"),
        env.cpu_count
    );
    let _ = writeln!(
        md,
        "| Harness | {} (opt-level {}{}) |",
        env.harness_version,
        env.opt_level,
        env.git_commit
            .as_deref()
            .map(|c| format!(", commit `{}`", &c[..c.len().min(12)]))
            .unwrap_or_default()
    );
    let _ = writeln!(
        md,
        "| Scenario | `{}` at duration scale {} |",
        study.scenario_file, study.duration_scale
    );
    let _ = writeln!(
        md,
        "| Gate | {} trials a side against a baseline file; a REGRESSION must also pass the \
         noise check for a file (one-sided Mann-Whitney, p ≤ 0.05, of the current runs \
         against the baseline's runs worsened by the threshold) |",
        study.trials
    );
    let _ = writeln!(
        md,
        "| Fresh baseline | {} runs, P99 {} |\n",
        study.baseline.runs.len(),
        format_us(study.baseline_p99_us)
    );

    let _ = writeln!(md, "## Goals\n");
    for g in goals {
        let _ = writeln!(md, "- {} {}", if g.met { "✅" } else { "❌" }, g.text);
    }

    let _ = writeln!(md, "\n## False alarms\n");
    let _ = writeln!(
        md,
        "Each rerun is a full gate ({} trials) of the unchanged server against the fresh \
         baseline. A false alarm is a REGRESSION verdict (it would fail CI); a WARNING is \
         reported but passes.\n",
        study.trials
    );
    let _ = writeln!(
        md,
        "| Reruns | REGRESSION (false alarm) | WARNING | Metrics at REGRESSION |"
    );
    let _ = writeln!(md, "|---|---|---|---|");
    for c in study.cases.iter().filter(|c| c.case.target.is_none()) {
        let n = c.reruns.len();
        let warnings = c
            .reruns
            .iter()
            .filter(|r| r.status == Status::Warning)
            .count();
        let mut names: Vec<&str> = c
            .reruns
            .iter()
            .flat_map(|r| r.regressions.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        let _ = writeln!(
            md,
            "| {n} | {} | {} | {} |",
            pct(c.failed(), n),
            pct(warnings, n),
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        );
    }

    let _ = writeln!(md, "\n## Detection\n");
    let _ = writeln!(
        md,
        "A P99 slowdown of x% adds a fixed x% of the baseline's P99 to every request (so \
         lower percentiles move by more, relatively). The throughput cut and the error rate \
         answer that share of requests with a JSON-RPC error: in an open model the offered \
         rate is fixed, so lost throughput shows as failed requests. *Flagged* means the hurt \
         metric was at WARNING or REGRESSION; *caught* means REGRESSION (the gate fails).\n"
    );
    let _ = writeln!(
        md,
        "| Injected | Fault spec | Reruns | Metric | Median measured change | Flagged | Caught | Gate failed |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for c in study.cases.iter().filter(|c| c.case.target.is_some()) {
        let n = c.reruns.len();
        let _ = writeln!(
            md,
            "| {} | `{}` | {n} | {} | {} | {} | {} | {} |",
            c.case.name,
            c.case.faults.as_deref().unwrap_or(""),
            c.case.target.map_or("", Target::label),
            c.median_change()
                .map_or("–".into(), |x| format!("{x:+.1}%")),
            pct(c.target_at_least(Status::Warning), n),
            pct(c.target_at_least(Status::Regression), n),
            pct(c.failed(), n),
        );
    }

    if !study.accuracy.is_empty() {
        let _ = writeln!(md, "\n## Measurement accuracy\n");
        let _ = writeln!(
            md,
            "Each run injects a delay of known distribution `D` in the reference server. The \
             truth is the unfaulted latency `S` of a reference run at the same rate plus `D` \
             (the two independent): its percentiles come from the reference histogram \
             convolved with `D`. Latency is measured from the intended send time, so a stall \
             is charged to every request scheduled inside it (coordinated omission \
             corrected).\n"
        );
        let _ = writeln!(
            md,
            "| Injected | Fault spec | Requests | Percentile | Reported | Truth | Error |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for row in &study.accuracy {
            for (label, reported, truth) in &row.percentiles {
                let err = *reported as f64 - truth;
                let _ = writeln!(
                    md,
                    "| {} | `{}` | {} | {label} | {} | {} | {:+.0} µs ({:+.1}%) |",
                    row.name,
                    row.faults,
                    row.requests,
                    format_us(*reported),
                    format_us(truth.round() as u64),
                    err,
                    if *truth > 0.0 {
                        100.0 * err / truth
                    } else {
                        0.0
                    }
                );
            }
        }
    }
    if !study.overhead.is_empty() {
        let _ = writeln!(md, "\n## Harness overhead\n");
        let _ = writeln!(
            md,
            "Unfaulted reference server at each rate. *Send lag* is how late the generator \
             sent against its schedule; latency (from the intended send) minus service time \
             (from the actual send) is what the generator's pacing adds. The reference \
             server's own time is inside both. docs/performance.md compares the generator \
             with other tools against a minimal endpoint.\n"
        );
        let _ = writeln!(
            md,
            "| Rate | Latency P50 | Latency P99 | Service time P50 | Send lag P50 | Send lag P99 | Late sends | Kept schedule |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        for o in &study.overhead {
            let _ = writeln!(
                md,
                "| {} req/s | {} | {} | {} | {} | {} | {}% | {} |",
                o.rate,
                format_us(o.latency_p50_us),
                format_us(o.latency_p99_us),
                format_us(o.service_p50_us),
                format_us(o.lag_p50_us),
                format_us(o.lag_p99_us),
                o.late_percent,
                if o.generator_kept_schedule {
                    "yes"
                } else {
                    "no"
                }
            );
        }
    }
    let _ = writeln!(
        md,
        "\nEvery rerun's records are under the study's output directory; `study.json` there \
         holds every verdict."
    );
    md
}
