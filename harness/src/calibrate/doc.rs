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

/// Trials of the current side its gates took: mean and most.
fn trials(c: &super::CaseResult) -> String {
    let n = c.reruns.len();
    if n == 0 {
        return "–".into();
    }
    let sum: usize = c.reruns.iter().map(|r| r.trials).sum();
    let most = c.reruns.iter().map(|r| r.trials).max().unwrap_or(0);
    format!("{:.1}, {most}", sum as f64 / n as f64)
}

/// The heading of the hand-written reading of a study, which [`keep_reading`] carries over.
pub const READING_HEADING: &str = "## Reading this study";

/// `rendered` with the hand-written reading of `old` (a study's Markdown written earlier to
/// the same file) appended: from [`READING_HEADING`] to the end. `rendered` as it is when
/// `old` has none.
pub fn keep_reading(rendered: &str, old: &str) -> String {
    let heading = old
        .match_indices(READING_HEADING)
        .find(|(i, _)| *i == 0 || old[..*i].ends_with('\n'))
        .map(|(i, _)| i);
    match heading {
        Some(i) => format!("{}\n\n{}", rendered.trim_end(), old[i..].trim_end()) + "\n",
        None => rendered.to_string(),
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
        "| Gate | {} trials a side {}, more (up to the scenario's \
         `gate.max_trials`) while a verdict is borderline; overall percentiles judged on \
         per-second windows (pooled percentile, a bootstrap of runs and of each drawn run's \
         windows, a REGRESSION confirmed when the change is beyond T against a file or 0 in \
         an A/B at p ≤ 0.05 after Holm's adjustment over the percentiles); other metrics on runs (one-sided Mann-Whitney of \
         the current runs against the baseline's{}); errors on counts |",
        study.trials,
        if study.same_run {
            "in a same-run A/B (unchanged and changed server interleaved trial by trial)"
        } else {
            "against the fresh baseline file"
        },
        if study.same_run { "" } else { " worsened by T" }
    );
    let t = &study.thresholds;
    let _ = writeln!(
        md,
        "| Thresholds | T = {}% (P99 {}%): WARNING beyond T, REGRESSION beyond 1.5 T |",
        t.default,
        t.of("p99")
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
        "Each rerun is a full gate ({} trials a side to begin with) of the unchanged server \
         {}. A false alarm is a REGRESSION verdict (it would fail CI); a WARNING is reported \
         but passes.\n",
        study.trials,
        if study.same_run {
            "against trials of the same unchanged server interleaved with its own"
        } else {
            "against the fresh baseline"
        }
    );
    let _ = writeln!(
        md,
        "| Reruns | REGRESSION (false alarm) | WARNING | Metrics at REGRESSION | Trials a gate took (mean, most) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
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
            "| {n} | {} | {} | {} | {} |",
            pct(c.failed(), n),
            pct(warnings, n),
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
            trials(c)
        );
    }

    false_alarms_by_metric(&mut md, study);

    let _ = writeln!(md, "\n## Detection\n");
    let _ = writeln!(
        md,
        "A P99 slowdown of x% delays 2% of requests, drawn at random, by what moves the \
         P99 of the fresh baseline's latency distribution by x% (predicted from its \
         histogram; the other requests are left as they were, so the median stays); the \
         measured change is beside it. The throughput cut and the error rate \
         answer that share of requests with a JSON-RPC error: in an open model the offered \
         rate is fixed, so lost throughput shows as failed requests. *Flagged* means the hurt \
         metric was at WARNING or REGRESSION; *caught* means REGRESSION (the gate fails).\n"
    );
    let _ = writeln!(
        md,
        "| Injected | Fault spec | Reruns | Metric | Median measured change | Median interval | Flagged | Caught | Gate failed | Trials a gate took (mean, most) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    for c in study.cases.iter().filter(|c| c.case.target.is_some()) {
        let n = c.reruns.len();
        let _ = writeln!(
            md,
            "| {} | `{}` | {n} | {} | {} | {} | {} | {} | {} | {} |",
            c.case.name,
            c.case.faults.as_deref().unwrap_or(""),
            c.case.target.map_or("", Target::label),
            c.median_change()
                .map_or("–".into(), |x| format!("{x:+.1}%")),
            c.median_interval()
                .map_or("–".into(), |[l, h]| format!("{l:+.1}% to {h:+.1}%")),
            pct(c.target_at_least(Status::Warning), n),
            pct(c.target_at_least(Status::Regression), n),
            pct(c.failed(), n),
            trials(c)
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

/// Per metric, how often unchanged reruns put it at REGRESSION and at WARNING, and the
/// family-wise rate: a rerun fails when any of its gated metrics is at REGRESSION, so the
/// rate that matters to CI is the first row, not any one metric's.
fn false_alarms_by_metric(md: &mut String, study: &Study) {
    let Some(c) = study.cases.iter().find(|c| c.case.target.is_none()) else {
        return;
    };
    let n = c.reruns.len();
    let mut names: Vec<&str> = c
        .reruns
        .iter()
        .flat_map(|r| r.regressions.iter().chain(&r.warnings).map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let _ = writeln!(
        md,
        "\nBy metric: every metric and operation is gated at once, each at its own threshold \
         and noise check, with no correction for their number; the family-wise rate (any \
         metric, the rate CI sees) is the first row.\n"
    );
    let _ = writeln!(md, "| Metric | REGRESSION | WARNING |\n|---|---|---|");
    let warned = c.reruns.iter().filter(|r| !r.warnings.is_empty()).count();
    let _ = writeln!(
        md,
        "| **any (family-wise)** | {} | {} |",
        pct(c.failed(), n),
        pct(warned, n)
    );
    for name in names {
        let at = |list: fn(&super::Rerun) -> &Vec<String>| {
            c.reruns
                .iter()
                .filter(|r| list(r).iter().any(|m| m == name))
                .count()
        };
        let _ = writeln!(
            md,
            "| {name} | {} | {} |",
            pct(at(|r| &r.regressions), n),
            pct(at(|r| &r.warnings), n)
        );
    }
}
