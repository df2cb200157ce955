//! `report.md` of a gated scenario: erlmcp's "Performance Regression Report", filled from a
//! [`Verdict`].

use std::fmt::Write as _;

use super::text::thousands;
use crate::gate::{ALPHA, Comparison, MetricVerdict, Status, Unit, Verdict};
use crate::units::format_us;

/// What the report says around the verdict.
#[derive(Debug, Clone, Default)]
pub struct ComparisonContext {
    pub scenario_name: String,
    pub scenario_file: String,
    /// One line describing the baseline side (file and receipt, or the A/B baseline SUT).
    pub baseline: String,
    /// One line describing the current side.
    pub current: String,
    /// Proof lines: (label, SHA-256).
    pub receipts: Vec<(String, String)>,
    /// Charts beside the report: (caption, file name).
    pub charts: Vec<(String, String)>,
    /// RFC 3339 time of the comparison.
    pub timestamp: String,
    /// Runs set aside and run again, with the reason.
    pub discarded: Vec<String>,
    /// Profiles taken at the start and end of the measured window (the SUT profile's
    /// `profiling` hooks): (label, path relative to the report).
    pub profiles: Vec<(String, String)>,
}

/// Where to look first when the gate flags a change: operations ranked by how much their
/// latency grew (erlmcp's hot spots), the server's CPU per request against the baseline's,
/// and the profiles of both sides.
fn root_cause(s: &mut String, ctx: &ComparisonContext, v: &Verdict) {
    let _ = writeln!(s, "## Root Cause\n");
    let mut hot: Vec<&MetricVerdict> = v
        .metrics
        .iter()
        .filter(|m| m.group == "Latency by Operation")
        .collect();
    hot.sort_by(|a, b| {
        let growth = |m: &MetricVerdict| m.change_percent.unwrap_or(f64::INFINITY);
        growth(b).total_cmp(&growth(a))
    });
    if hot.is_empty() {
        let _ = writeln!(s, "No operation had enough samples to compare.\n");
    } else {
        let _ = writeln!(
            s,
            "### Hot Spots\nOperations ranked by how much their latency grew.\n\n| Rank | Operation | Baseline | Current | Change | Status |\n|---|---|---|---|---|---|"
        );
        for (i, m) in hot.iter().take(10).enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                i + 1,
                m.name,
                format_value(m.unit, m.baseline),
                format_value(m.unit, m.current),
                format_change(m),
                m.status.label()
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "### CPU per Request\n");
    match v.metrics.iter().find(|m| m.key == "efficiency") {
        Some(e) if e.baseline > 0.0 && e.current > 0.0 => {
            let (before, after) = (1e6 / e.baseline, 1e6 / e.current);
            let _ = writeln!(
                s,
                "The server spent {after:.1} µs of CPU per successful request against {before:.1} µs in the baseline ({:+.1}%): {}\n",
                (after / before - 1.0) * 100.0,
                if after > before * 1.1 {
                    "the server does more work per request (look at the CPU profiles)"
                } else {
                    "about the same work per request, so the time went to waiting (locks, I/O, a sleep, the scheduler)"
                }
            );
        }
        _ => {
            let _ = writeln!(
                s,
                "Not known: the SUT's CPU was not sampled on both sides (a `--url` target without `--pid`).\n"
            );
        }
    }
    let _ = writeln!(s, "### Profiles\n");
    if ctx.profiles.is_empty() {
        let _ = writeln!(
            s,
            "None taken: the SUT profile names no `profiling` hooks (see README, \"Profiling hooks\").\n"
        );
    } else {
        for (label, path) in &ctx.profiles {
            let _ = writeln!(s, "- [{label}]({path})");
        }
        let _ = writeln!(s);
    }
}

/// Formats a metric's value in its unit.
pub fn format_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Micros => format_us(v.round() as u64),
        Unit::RequestsPerSecond | Unit::PerCpuSecond if v >= 100.0 => thousands(v.round() as u64),
        Unit::RequestsPerSecond | Unit::PerCpuSecond => format!("{v:.1}"),
        Unit::Percent => format!("{}%", (v * 10_000.0).round() / 10_000.0),
        Unit::Bytes => format!("{:.1} MiB", v / (1024.0 * 1024.0)),
    }
}

fn format_change(m: &MetricVerdict) -> String {
    match m.change_percent {
        None => "new".into(),
        Some(c) => format!("{c:+.1}%"),
    }
}

/// The verdict line and the summary bullets.
pub fn verdict_summary(v: &Verdict) -> String {
    let mut s = String::new();
    let headline = match v.status {
        Status::Regression => "❌ **REGRESSION DETECTED**",
        Status::Warning => "⚠️ **WARNINGS, NO REGRESSION**",
        Status::Ok => "✅ **NO REGRESSION**",
    };
    let _ = writeln!(s, "{headline}\n");
    if let Some(line) = machines_line(v) {
        let _ = writeln!(s, "{line}\n");
    }
    let flagged: Vec<&MetricVerdict> = v.metrics.iter().filter(|m| m.status > Status::Ok).collect();
    if flagged.is_empty() {
        let _ = writeln!(s, "- Every metric is within its threshold.");
    }
    for m in flagged {
        let _ = writeln!(
            s,
            "- **{} {}:** {} ({})",
            m.group,
            m.name,
            format_change(m),
            m.status.name()
        );
    }
    s
}

/// What the two machines mean for the verdict, in plain words: said first whenever the
/// baseline was recorded on another machine class.
pub fn machines_line(v: &Verdict) -> Option<String> {
    let Comparison::OtherMachine(a) = v.comparison else {
        return None;
    };
    let (baseline, current) = match &v.machines {
        Some(m) => (m.baseline.describe(), m.current.describe()),
        None => ("an unknown machine".into(), "this machine".into()),
    };
    let class = v
        .machines
        .as_ref()
        .map_or("<class>", |m| m.current.class.as_str());
    let which = if a.same_class {
        "on another host of this class, or before this host's last boot"
    } else {
        "on another machine"
    };
    Some(format!(
        "**The baseline was recorded {which}**: {baseline}; this run: {current}. A machine-bound metric (latency, throughput, memory, efficiency) fails only beyond {}x the baseline (efficiency scaled x{:.2} for this machine's CPU by the probe); smaller changes are WARNINGs, not evidence (error rates are gated as always). To gate closely here, record this host's own baseline (`ERLMCP_PERF_UPDATE_BASELINES=1 cargo nextest run --profile perf` writes `baselines/<sut>/{class}/`; a dedicated runner sets `ERLMCP_PERF_HOST` to keep it across reboots), or compare two builds in one run (`ERLMCP_PERF_BASELINE_IMAGE`).",
        a.factor,
        a.scale(crate::gate::Unit::PerCpuSecond),
    ))
}

/// The summary and one table per metric group, as in erlmcp's report.
pub fn verdict_tables(v: &Verdict) -> String {
    let mut s = verdict_summary(v);
    let mut group: Option<&str> = None;
    for m in &v.metrics {
        if group != Some(m.group.as_str()) {
            group = Some(&m.group);
            let first = if m.group == "Error Rate" {
                "Type"
            } else {
                "Metric"
            };
            let _ = writeln!(s, "\n### {}\n", m.group);
            let _ = writeln!(
                s,
                "| {first} | Baseline | Current | Change | Status | Noise |"
            );
            let _ = writeln!(
                s,
                "|--------|----------|---------|--------|--------|-------|"
            );
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            m.name,
            format_value(m.unit, m.baseline),
            format_value(m.unit, m.current),
            format_change(m),
            m.status.label(),
            m.noise
        );
    }
    s
}

/// The whole Markdown report.
pub fn regression_report(ctx: &ComparisonContext, v: &Verdict) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Performance Regression Report\n");
    let _ = writeln!(
        s,
        "**Scenario:** {} (`{}`)  ",
        ctx.scenario_name, ctx.scenario_file
    );
    let _ = writeln!(s, "**Baseline:** {}  ", ctx.baseline);
    let _ = writeln!(s, "**Current:** {}  ", ctx.current);
    if let Some(m) = &v.machines {
        let same = if m.baseline.class == m.current.class {
            "same machine class"
        } else {
            "another machine class"
        };
        let _ = writeln!(
            s,
            "**Machines:** baseline {}; current {} ({same})  ",
            m.baseline.describe(),
            m.current.describe()
        );
    }
    let thresholds: Vec<String> = {
        let mut keys: Vec<(String, f64)> = v
            .metrics
            .iter()
            .map(|m| (m.key.clone(), m.threshold_percent))
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        keys.dedup();
        let default = keys
            .iter()
            .map(|k| k.1)
            .fold(f64::NAN, |a, b| if a.is_nan() { b } else { a.min(b) });
        let mut out = vec![format!("{default}% degradation")];
        out.extend(
            keys.iter()
                .filter(|k| k.1 != default)
                .map(|(k, t)| format!("{k} {t}%")),
        );
        out
    };
    let _ = writeln!(s, "**Threshold:** {}\n", thresholds.join(", "));
    let _ = writeln!(s, "## Summary\n");
    let tables = verdict_tables(v);
    let (summary, details) = tables
        .split_once("\n### ")
        .map_or((tables.as_str(), ""), |(a, b)| (a, b));
    let _ = writeln!(s, "{summary}");
    let _ = writeln!(s, "## Detailed Comparison\n");
    if !details.is_empty() {
        let _ = writeln!(s, "### {details}");
    }
    if !ctx.charts.is_empty() {
        let _ = writeln!(s, "## Charts\n");
        for (caption, file) in &ctx.charts {
            let _ = writeln!(s, "![{caption}]({file})\n");
        }
    }
    if v.status > Status::Ok {
        root_cause(&mut s, ctx, v);
    }
    if !ctx.discarded.is_empty() {
        let _ = writeln!(s, "## Discarded Runs\n");
        for note in &ctx.discarded {
            let _ = writeln!(s, "- {note}");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Method\n");
    let kind = match v.comparison {
        Comparison::File => "a committed baseline file",
        Comparison::SameRun => "a same-run A/B comparison with interleaved trials",
        Comparison::OtherMachine(a) if a.same_class => {
            "a committed baseline file of another host (or boot) of this machine class"
        }
        Comparison::OtherMachine(_) => "a committed baseline file of another machine class",
    };
    let _ = writeln!(
        s,
        "Current ({} runs) against {kind} ({} runs); figures are medians of runs. Per metric, a change in its bad direction above the threshold T is a WARNING, above 1.5 T a REGRESSION, which must also stand out of the noise: a one-sided exact Mann-Whitney U test across runs (p <= {ALPHA}){}; error rates by a conditional binomial test on the counts (p <= {ALPHA}). A REGRESSION within the noise is reported as WARNING. Only REGRESSION fails.\n",
        v.current_runs,
        v.baseline_runs,
        match v.comparison {
            Comparison::File =>
                ", against the baseline's runs worsened by T itself (every current run worse than every baseline run by more than the threshold)",
            Comparison::OtherMachine(_) =>
                ", against the baseline's runs worsened by the cross-machine factor (efficiency first scaled down for a slower CPU by the probe): every current run worse than every baseline run by more than that factor",
            Comparison::SameRun => "",
        }
    );
    if v.metrics.iter().any(|m| m.ci_percent.is_some()) {
        let _ = writeln!(
            s,
            "The overall percentiles (rows with an interval in their Noise column) were judged on per-second windows instead: each side's percentile over all its requests, a {:.0}% interval of the change from {} bootstrap draws of each run's windows, and a REGRESSION confirmed when the draws put the change beyond {} at p <= {ALPHA} after Holm's adjustment over those percentiles.\n",
            crate::gate::windows::CONFIDENCE * 100.0,
            crate::gate::windows::RESAMPLES,
            match v.comparison {
                Comparison::SameRun => "0",
                _ => "T",
            }
        );
    }
    if let Some(added) = &v.added_trials {
        let _ = writeln!(
            s,
            "**{} trial(s) added** to the current side{} because the verdict on the trials asked for was borderline on: {}.\n",
            added.trials,
            if v.comparison == Comparison::SameRun {
                " and to the baseline"
            } else {
                ""
            },
            added.because.join(", ")
        );
    }
    let _ = writeln!(s, "## Proof Receipt\n```");
    for (label, sha) in &ctx.receipts {
        let _ = writeln!(s, "{label}: {sha}");
    }
    let _ = writeln!(s, "Timestamp: {}", ctx.timestamp);
    let _ = writeln!(s, "```");
    s
}
