//! The trend report: the change points found over a series of results, a chart per
//! metric, and every point's values.

use std::fmt::Write as _;

use super::format_value;
use super::svg::trend_chart;
use crate::trend::{MetricTrend, Trend};

/// What the series is, for the report's header.
pub struct TrendContext {
    /// Where the results came from (a directory, a file's git history).
    pub source: String,
    /// Lines about inputs that were left out, if any.
    pub skipped: Vec<String>,
}

/// The file name of a metric's chart.
pub fn trend_chart_file(m: &MetricTrend) -> String {
    format!("trend-{}.svg", m.metric.key())
}

/// The chart of one metric.
pub fn trend_svg(trend: &Trend, m: &MetricTrend) -> String {
    let changes: Vec<(usize, bool)> = m.changes.iter().map(|c| (c.index, c.worse)).collect();
    trend_chart(
        &format!("{} over {} results", m.metric.title(), trend.labels.len()),
        m.metric.title(),
        &trend.labels,
        &m.values,
        &changes,
    )
}

/// The Markdown report of a trend.
pub fn trend_report(trend: &Trend, context: &TrendContext) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Performance trend\n");
    let _ = writeln!(s, "- **Source:** {}", context.source);
    let span = match (trend.times.first(), trend.times.last()) {
        (Some(Some(a)), Some(Some(b))) => format!(", {a} to {b}"),
        _ => String::new(),
    };
    let _ = writeln!(s, "- **Results:** {}{span}", trend.labels.len());
    let _ = writeln!(
        s,
        "- **Method:** E-divisive change points (energy distance), each split kept when at most {} of {} shuffles within its segments reach it; a change is reported when its regime's median moved by at least {}%",
        trend.alpha, trend.permutations, trend.min_change_percent
    );
    for line in &context.skipped {
        let _ = writeln!(s, "- {line}");
    }
    let worse = trend.worse().count();
    let total: usize = trend.metrics.iter().map(|m| m.changes.len()).sum();
    let _ = writeln!(
        s,
        "\n{}\n",
        match (total, worse) {
            (0, _) => "✅ **NO CHANGE POINT** in any metric".to_string(),
            (_, 0) => format!("✅ **{total} CHANGE POINT(S), NONE FOR THE WORSE**"),
            _ => format!("❌ **{worse} CHANGE POINT(S) FOR THE WORSE** (of {total})"),
        }
    );
    let _ = writeln!(s, "## Change points\n");
    if total == 0 {
        let _ = writeln!(s, "None.\n");
    } else {
        let _ = writeln!(
            s,
            "| Metric | From | Before (median) | After (median) | Change | p | Verdict | Also changed there |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---|---|");
        for m in &trend.metrics {
            let unit = m.metric.unit();
            for c in &m.changes {
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} | {} | {:+.1}% | {:.3} | {} | {} |",
                    m.metric.title(),
                    c.at,
                    format_value(unit, c.before),
                    format_value(unit, c.after),
                    c.change_percent,
                    c.p_value,
                    if c.worse { "❌ worse" } else { "✅ better" },
                    c.also_changed.as_deref().unwrap_or("")
                );
            }
        }
        let _ = writeln!(s);
    }
    let small: usize = trend.metrics.iter().map(|m| m.below_min_change).sum();
    if small > 0 {
        let _ = writeln!(
            s,
            "{small} significant split(s) smaller than {}% are not reported.\n",
            trend.min_change_percent
        );
    }
    let _ = writeln!(s, "## Charts\n");
    for m in &trend.metrics {
        let _ = writeln!(s, "![{}]({})\n", m.metric.title(), trend_chart_file(m));
    }
    let _ = writeln!(s, "## Every result\n");
    let mut header = "| # | Result | Measured |".to_string();
    let mut rule = "|---:|---|---|".to_string();
    for m in &trend.metrics {
        let _ = write!(header, " {} |", m.metric.title());
        rule.push_str("---:|");
    }
    let _ = writeln!(s, "{header}\n{rule}");
    for (i, label) in trend.labels.iter().enumerate() {
        let _ = write!(
            s,
            "| {i} | `{label}` | {} |",
            trend.times[i].as_deref().unwrap_or("")
        );
        for m in &trend.metrics {
            let cell = m.values[i].map_or(String::new(), |v| format_value(m.metric.unit(), v));
            let mark = if m.changes.iter().any(|c| c.index == i) {
                " ◀"
            } else {
                ""
            };
            let _ = write!(s, " {cell}{mark} |");
        }
        let _ = writeln!(s);
    }
    s
}
