//! `report.md` of a capacity sweep and its terminal summary: the steps, the maximum
//! sustainable rate, the recommended capacity, the knee, the USL fit, the chart and, when
//! gated, the capacity gate's verdict.

use std::fmt::Write as _;

use super::text::thousands;
use crate::capacity::{CapacityResult, CapacityVerdict, Limit, StepVerdict};
use crate::units::format_us;

fn rate(r: f64) -> String {
    thousands(r.round() as u64)
}

/// The headline: what the sweep found, in one sentence.
pub fn capacity_headline(r: &CapacityResult) -> String {
    let max = r.max_sustainable_rps.map(rate);
    let rec = r.recommended_rps.map(rate);
    match (r.limited_by, max, rec) {
        (_, None, _) => format!(
            "the SUT broke at the first step ({} req/s): lower `capacity.start`",
            r.bracket.first_bad.map(rate).unwrap_or_default()
        ),
        (Limit::Sut, Some(max), Some(rec)) => format!(
            "breaks at {} req/s; maximum sustainable {max} req/s (resolution {} req/s); recommended capacity {rec} req/s",
            r.breaking_point_rps.map(rate).unwrap_or_default(),
            r.resolution_rps().map(rate).unwrap_or_default()
        ),
        (Limit::Generator, Some(max), _) => format!(
            "the load generator fell behind at {} req/s before the SUT broke: the SUT sustained {max} req/s, a lower bound of its capacity, not its capacity",
            r.bracket.first_bad.map(rate).unwrap_or_default()
        ),
        (_, Some(max), _) => format!(
            "no break up to the sweep's maximum: the SUT sustained {max} req/s (raise `capacity.max`)"
        ),
    }
}

/// The step table (Markdown).
pub fn step_table(r: &CapacityResult) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| Step | Offered | Achieved | P50 | P99 | Errors | SUT CPU | In flight | Verdict |"
    );
    let _ = writeln!(
        s,
        "|------|---------|----------|-----|-----|--------|---------|-----------|---------|"
    );
    for st in &r.steps {
        let verdict = match st.verdict {
            StepVerdict::Good => "✅ sustained".to_string(),
            StepVerdict::Broke => format!("❌ broke: {}", st.reasons.join("; ")),
            StepVerdict::GeneratorLimit => format!("⚠️ generator limit: {}", st.reasons.join("; ")),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {}% | {} | {:.1} | {} |",
            st.index,
            rate(st.offered_rps),
            rate(st.achieved_rps),
            format_us(st.p50_us),
            format_us(st.p99_us),
            st.error_rate_percent,
            st.cpu_cores
                .map_or("n/a".into(), |c| format!("{c:.2} cores")),
            st.concurrency,
            verdict
        );
    }
    s
}

/// The capacity gate's verdict as a short Markdown section body.
pub fn capacity_verdict_text(v: &CapacityVerdict) -> String {
    format!("{} **Capacity:** {}\n", v.status.label(), v.note)
}

/// The whole report. `chart` is the SVG's file name beside it; `gate` the verdict and the
/// baseline file it was judged against.
pub fn capacity_report(
    r: &CapacityResult,
    chart: &str,
    gate: Option<(&CapacityVerdict, &str)>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Capacity Report\n");
    let _ = writeln!(
        s,
        "**Scenario:** {} (`{}`)  ",
        r.scenario.name, r.scenario.file
    );
    let _ = writeln!(
        s,
        "**SUT:** {} (profile `{}`){}  ",
        r.sut.kind,
        r.sut.profile,
        r.sut
            .faults
            .as_deref()
            .map(|f| format!(", injected faults `{f}`"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "**Harness:** erlmcp-perf {} (opt-level {}), duration scale {}\n",
        r.environment.harness_version, r.environment.opt_level, r.environment.duration_scale
    );
    let _ = writeln!(s, "## Summary\n");
    let _ = writeln!(s, "- **Result:** {}", capacity_headline(r));
    if let Some(k) = r.knee {
        let _ = writeln!(
            s,
            "- **Knee of the latency curve:** {} req/s (P99 {})",
            rate(k.offered_rps),
            format_us(k.p99_us)
        );
    }
    let u = &r.usl;
    match (u.lambda, u.sigma, u.kappa) {
        (Some(l), Some(sg), Some(k)) => {
            let _ = writeln!(
                s,
                "- **Universal Scalability Law:** λ {l:.1} req/s, σ {sg:.4}, κ {k:.6}{}; {}{}",
                u.peak_rps
                    .map(|p| format!(", peak {} req/s", rate(p)))
                    .unwrap_or_default(),
                u.note,
                if u.meaningful {
                    ""
                } else {
                    " (not meaningful)"
                }
            );
        }
        _ => {
            let _ = writeln!(s, "- **Universal Scalability Law:** no fit: {}", u.note);
        }
    }
    let _ = writeln!(
        s,
        "- **Steps:** {} ({} search)\n",
        r.steps.len(),
        match r.spec.strategy {
            crate::capacity::Strategy::Bisect => "geometric growth, then bisection",
            crate::capacity::Strategy::Linear => "linear",
        }
    );
    if let Some((v, file)) = gate {
        let _ = writeln!(s, "## Capacity Gate\n");
        let _ = writeln!(s, "Against `{file}`:\n");
        let _ = writeln!(s, "{}", capacity_verdict_text(v));
        let _ = writeln!(
            s,
            "A sweep knows its capacity only between its last good and first bad rate, so the drop judged is the one both sweeps' brackets agree on: from the baseline's last good rate to the current first bad rate ({:.1}%), against threshold T = {}% (up to T OK, up to 1.5 T WARNING, beyond REGRESSION). A difference within the sweeps' resolution is no evidence of a regression.\n",
            v.drop_beyond_resolution_percent, v.threshold_percent
        );
    }
    let _ = writeln!(s, "## Chart\n");
    let _ = writeln!(
        s,
        "![Latency and throughput against offered rate]({chart})\n"
    );
    let _ = writeln!(s, "## Steps\n");
    let _ = writeln!(s, "{}", step_table(r));
    let c = &r.spec.criteria;
    let _ = writeln!(s, "## Method\n");
    let _ = writeln!(
        s,
        "The SUT was started once; each step offered a constant rate (open model) for {} after an unmeasured warm-up, and its SUT CPU was sampled over the measured window. A step breaks when its error rate exceeds {}%{}, or it achieves less than {}% of the offered rate (achieved = successes over the time the SUT took to answer the window's requests). A step whose load generator fell behind its schedule is a *generator limit*: it bounds the search but is never taken for the SUT's capacity. {}. The recommended capacity is 80% of the maximum sustainable rate. The knee is the step farthest below the chord of the P99 curve; the USL is fitted by least squares with concurrency from Little's law (achieved rate times mean latency).\n",
        humantime::format_duration(r.spec.step_duration),
        c.error_rate_percent,
        c.p99_us
            .map(|p| format!(", its P99 exceeds {}", format_us(p)))
            .unwrap_or_default(),
        c.min_throughput_percent,
        match r.spec.strategy {
            crate::capacity::Strategy::Bisect => format!(
                "The search grew the rate from {} by a factor of {} until a step broke, then bisected between the last good and the first bad rate until they were within {}% of each other",
                rate(r.spec.start_rps),
                r.spec.factor,
                r.spec.resolution_percent
            ),
            crate::capacity::Strategy::Linear => format!(
                "The search stepped from {} by {} req/s until a step broke",
                rate(r.spec.start_rps),
                r.spec.step_rps.map(rate).unwrap_or_default()
            ),
        }
    );
    let _ = writeln!(s, "## Proof Receipt\n```");
    let _ = writeln!(
        s,
        "capacity.json SHA-256 (canonical, receipt excluded): {}",
        r.receipt.sha256
    );
    let _ = writeln!(s, "Scenario SHA-256: {}", r.scenario.sha256);
    let _ = writeln!(s, "Timestamp: {}", r.receipt.timestamp);
    let _ = writeln!(s, "```");
    s
}

/// A plain-text summary for the terminal.
pub fn capacity_summary(r: &CapacityResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}: {}", r.scenario.name, capacity_headline(r));
    let _ = writeln!(
        s,
        "  {:>4} {:>9} {:>9} {:>10} {:>10} {:>8} {:>7}  verdict",
        "step", "offered", "achieved", "p50", "p99", "errors", "cpu"
    );
    for st in &r.steps {
        let _ = writeln!(s, "{}", step_line(st));
    }
    if let Some(k) = r.knee {
        let _ = writeln!(
            s,
            "  knee: {} req/s (P99 {})",
            rate(k.offered_rps),
            format_us(k.p99_us)
        );
    }
    let _ = writeln!(s, "  USL: {}", r.usl.note);
    s
}

/// One step as a terminal line.
pub fn step_line(st: &crate::capacity::StepResult) -> String {
    let verdict = match st.verdict {
        StepVerdict::Good => "sustained".to_string(),
        StepVerdict::Broke => format!("broke: {}", st.reasons.join("; ")),
        StepVerdict::GeneratorLimit => format!("generator limit: {}", st.reasons.join("; ")),
    };
    format!(
        "  {:>4} {:>9} {:>9} {:>10} {:>10} {:>7}% {:>7}  {verdict}",
        st.index,
        rate(st.offered_rps),
        rate(st.achieved_rps),
        format_us(st.p50_us),
        format_us(st.p99_us),
        st.error_rate_percent,
        st.cpu_cores.map_or("n/a".into(), |c| format!("{c:.2}")),
    )
}
