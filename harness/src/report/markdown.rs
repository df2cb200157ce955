//! `report.md`: erlmcp's "Performance Baseline Report", filled from a [`RunRecord`].

use std::fmt::Write as _;

use super::text::thousands;
use crate::record::{LatencySummary, NodeRecord, RunRecord};
use crate::units::format_us;

const MIB: f64 = 1024.0 * 1024.0;

/// Renders the Markdown report of one run. `record_sha256` is the SHA-256 of the
/// `record.json` written beside it.
pub fn run_report(r: &RunRecord, record_sha256: &str) -> String {
    let mut s = String::new();
    header(&mut s, r);
    configuration(&mut s, r);
    phases(&mut s, r);
    throughput(&mut s, r);
    latency(&mut s, r);
    workflow_steps(&mut s, r);
    round_trips(&mut s, r);
    notification_streams(&mut s, r);
    errors(&mut s, r);
    recovery(&mut s, r);
    nodes_section(&mut s, r);
    resources(&mut s, r);
    server_view(&mut s, r);
    generator(&mut s, r);
    super::shards::shards_section(&mut s, r);
    slo_checks(&mut s, r);
    receipt(&mut s, r, record_sha256);
    s
}

/// The title, what was measured, and the verdict line.
fn header(s: &mut String, r: &RunRecord) {
    let _ = writeln!(s, "# Performance Baseline Report\n");
    let _ = writeln!(
        s,
        "**Scenario:** {} (`{}`)  ",
        r.scenario.name, r.scenario.path
    );
    let _ = writeln!(
        s,
        "**SUT:** {} `{}`{}  ",
        r.sut.kind,
        r.sut.description,
        r.sut
            .version
            .as_deref()
            .map(|v| format!(" version {v}"))
            .unwrap_or_default()
    );
    let _ = writeln!(s, "**Endpoint:** {}  ", r.sut.endpoint);
    if let Some(f) = &r.sut.faults {
        let _ = writeln!(s, "**Injected faults:** `{f}`  ");
    }
    let _ = writeln!(s, "**Date:** {}  ", r.started_at);
    let _ = writeln!(
        s,
        "**Harness:** erlmcp-perf {} (opt-level {})\n",
        r.harness.version, r.harness.opt_level
    );

    if let Some(stop) = &r.interrupted {
        let _ = writeln!(
            s,
            "⏹️ **Interrupted** {:.1} s into the schedule: the figures cover {:.1} s of the {:.1} s measured ({} of the requests due then).\n",
            stop.after_seconds,
            stop.measured_seconds_covered,
            stop.measured_seconds_planned,
            thousands(stop.planned_before)
        );
    }
    let verdict = if !r.generator.kept_schedule {
        "⚠️ **The load generator fell behind its schedule**: figures are a lower bound."
    } else if r.slo_passed() {
        "✅ **All service-level checks passed.**"
    } else {
        "❌ **Service-level check breached.**"
    };
    let _ = writeln!(s, "{verdict}\n");
}

/// Duration, rate, clients, scenario, transport, mix.
fn configuration(s: &mut String, r: &RunRecord) {
    let t = &r.throughput;
    let _ = writeln!(s, "## Test Configuration\n");
    let _ = writeln!(
        s,
        "- **Duration:** {:.1} s measured, after {:.1} s warm-up (duration scale {})",
        r.measured_seconds, r.scenario.warmup_seconds, r.scenario.duration_scale
    );
    let _ = writeln!(
        s,
        "- **Target RPS:** {} (mean offered over the measured phases)",
        fmt_rate(t.target_rps)
    );
    let _ = writeln!(
        s,
        "- **Clients:** {} MCP sessions (protocol {}{}, {})",
        r.scenario.clients,
        r.scenario.protocol_version,
        match r.scenario.protocol_requested.as_deref() {
            Some(asked) if asked != r.scenario.protocol_version => format!(", asked for {asked}"),
            _ => String::new(),
        },
        if r.scenario.stateful_sessions {
            "stateful sessions"
        } else {
            "stateless"
        }
    );
    let _ = writeln!(
        s,
        "- **Scenario:** `{}` (SHA-256 `{}`)",
        r.scenario.path, r.scenario.sha256
    );
    let _ = writeln!(s, "- **Transport:** {}", r.sut.transport);
    if let Some(replaced) = r.sessions_replaced {
        let _ = writeln!(
            s,
            "- **Session churn:** {replaced} sessions replaced after their lifetime"
        );
    }
    let _ = writeln!(s, "- **Request timeout:** {} ms", r.scenario.timeout_ms);
    let mix: Vec<String> = r
        .scenario
        .mix
        .iter()
        .map(|m| format!("`{}` {}%", m.operation, m.weight_percent))
        .collect();
    let _ = writeln!(s, "- **Mix:** {}\n", mix.join(", "));
}

/// One row per phase of the schedule.
fn phases(s: &mut String, r: &RunRecord) {
    let _ = writeln!(
        s,
        "| Phase | Duration | Offered | Achieved | OK | Errors | P50 | P99 |"
    );
    let _ = writeln!(
        s,
        "|-------|----------|---------|----------|----|--------|-----|-----|"
    );
    for p in &r.phases {
        let offered = if (p.rps - p.rps_end).abs() < 1e-9 {
            format!("{}/s", fmt_rate(p.rps))
        } else {
            format!("{} → {}/s", fmt_rate(p.rps), fmt_rate(p.rps_end))
        };
        let name = if p.measured {
            p.name.clone()
        } else {
            format!("{} (not measured)", p.name)
        };
        let _ = writeln!(
            s,
            "| {name} | {:.1} s | {offered} | {}/s | {} | {} | {} | {} |",
            p.duration_seconds,
            fmt_rate(p.achieved_rps),
            thousands(p.ok),
            thousands(p.failed),
            format_us(p.latency.p50_us),
            format_us(p.latency.p99_us)
        );
    }
}

/// Achieved rate against the target, and request counts.
fn throughput(s: &mut String, r: &RunRecord) {
    let t = &r.throughput;
    let _ = writeln!(s, "\n## Results\n");
    let _ = writeln!(s, "### Throughput\n```");
    let _ = writeln!(
        s,
        "Value: {} msg/s ({:.2}% of target)\nRequests: {} sent, {} ok, {} failed (of {} planned)",
        fmt_rate(t.achieved_rps),
        t.percent_of_target,
        thousands(t.attempts),
        thousands(t.ok),
        thousands(t.failed),
        thousands(t.planned)
    );
    let _ = writeln!(s, "```\n");
}

/// Overall percentiles and the per-operation table.
fn latency(s: &mut String, r: &RunRecord) {
    let t = &r.throughput;
    let _ = writeln!(s, "### Latency\n");
    let _ = writeln!(
        s,
        "Latency is measured from each request's **intended** send time (coordinated-omission safe); service time from the actual send. Successful requests only.\n"
    );
    let _ = writeln!(s, "```");
    let _ = writeln!(s, "P50: {}", format_us(r.latency.p50_us));
    let _ = writeln!(s, "P95: {}", format_us(r.latency.p95_us));
    let _ = writeln!(s, "P99: {}", format_us(r.latency.p99_us));
    let _ = writeln!(s, "P999: {}", format_us(r.latency.p999_us));
    let _ = writeln!(s, "```\n");
    let _ = writeln!(
        s,
        "| Operation | Weight | Requests | Errors | P50 | P95 | P99 | P999 | Max |"
    );
    let _ = writeln!(
        s,
        "|-----------|--------|----------|--------|-----|-----|-----|------|-----|"
    );
    for op in &r.operations {
        latency_row(
            s,
            &format!("`{}`", op.operation),
            &format!("{}%", op.weight_percent),
            op.attempts,
            op.errors.total,
            &op.latency,
        );
    }
    latency_row(
        s,
        "**all (latency)**",
        "100%",
        t.attempts,
        t.failed,
        &r.latency,
    );
    latency_row(
        s,
        "all (service time)",
        "",
        t.attempts,
        t.failed,
        &r.service_time,
    );
}

/// Each workflow step's answers, timed from the step's send (a workflow's own row in the
/// latency table runs from its intended start to its last answer).
fn workflow_steps(s: &mut String, r: &RunRecord) {
    if r.steps.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Workflow Steps\nEach step from its send to its answer (every copy of a fan-out counted); a workflow's own row above runs from its intended start to its last answer, think time included.\n"
    );
    let _ = writeln!(
        s,
        "| Step | Workflow weight | Answers | Errors | P50 | P95 | P99 | P999 | Max |"
    );
    let _ = writeln!(
        s,
        "|------|-----------------|---------|--------|-----|-----|-----|------|-----|"
    );
    for step in &r.steps {
        latency_row(
            s,
            &format!("`{}`", step.operation),
            &format!("{}%", step.weight_percent),
            step.attempts,
            step.errors.total,
            &step.latency,
        );
    }
}

/// Calls the server asked a question of: the time to its first question beside the time
/// to the final answer.
fn round_trips(s: &mut String, r: &RunRecord) {
    let asked: Vec<_> = r
        .operations
        .iter()
        .filter_map(|o| o.first_question.as_ref().map(|f| (o, f)))
        .collect();
    if asked.is_empty() && r.questions_answered.is_none() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Server Round Trips\nThe server's questions answered by the harness: {}. Each call's first question (a server request, or an `input_required` result) against its final answer, both from the intended send time.\n",
        r.questions_answered.unwrap_or(0)
    );
    let _ = writeln!(
        s,
        "| Operation | First question P50 | P99 | Final answer P50 | P99 |"
    );
    let _ = writeln!(s, "|-----------|-----|-----|-----|-----|");
    for (o, first) in asked {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} |",
            o.operation,
            format_us(first.p50_us),
            format_us(first.p99_us),
            format_us(o.latency.p50_us),
            format_us(o.latency.p99_us)
        );
    }
}

/// The notification streams the sessions held open.
fn notification_streams(s: &mut String, r: &RunRecord) {
    let Some(n) = &r.notifications else {
        return;
    };
    let _ = writeln!(
        s,
        "\n### Notification Streams\nEvery session subscribed to `{}` and held its notification stream open for the whole run: {} streams opened, {} dropped, {} updates received.",
        n.resource, n.streams_opened, n.streams_dropped, n.received
    );
    if let Some(d) = &n.delivery {
        let _ = writeln!(
            s,
            "Delivery latency (from the server's send stamp): P50 {}, P99 {}, max {}.",
            format_us(d.p50_us),
            format_us(d.p99_us),
            format_us(d.max_us)
        );
    }
}

/// Error rate and the errors by class.
fn errors(s: &mut String, r: &RunRecord) {
    let t = &r.throughput;
    let _ = writeln!(s, "\n### Error Rate\n```");
    let per_10k = if t.attempts == 0 {
        0.0
    } else {
        r.errors.total as f64 * 10_000.0 / t.attempts as f64
    };
    let _ = writeln!(
        s,
        "Rate: {}% ({} errors per 10,000 requests)",
        r.errors.rate_percent,
        trim_float(per_10k)
    );
    if r.errors.by_class.is_empty() {
        let _ = writeln!(s, "Error types: none");
    } else {
        let _ = writeln!(s, "Error types:");
        for (class, n) in &r.errors.by_class {
            let _ = writeln!(
                s,
                "  - {class}: {n} ({}%)",
                crate::units::percent(*n, t.attempts)
            );
        }
    }
    let _ = writeln!(s, "```\n");
    let cancelled: Vec<String> = r
        .operations
        .iter()
        .filter(|o| o.cancelled > 0)
        .map(|o| format!("`{}` {}", o.operation, o.cancelled))
        .collect();
    if !cancelled.is_empty() {
        let total: u64 = r.operations.iter().map(|o| o.cancelled).sum();
        let _ = writeln!(
            s,
            "\nCancelled by the harness (the scenario's `cancel`; neither successes nor errors): {total} ({})",
            cancelled.join(", ")
        );
    }
}

/// Outages, lost sessions and re-sent requests, when there were any.
fn recovery(s: &mut String, r: &RunRecord) {
    let lines = super::recovery_lines(r);
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(s, "### Recovery\n");
    for line in lines {
        let _ = writeln!(s, "- {line}");
    }
    let _ = writeln!(s);
}

/// SUT CPU, memory and efficiency, or why they were not sampled.
fn resources(s: &mut String, r: &RunRecord) {
    let _ = writeln!(s, "### Resource Usage\n```");
    match &r.resources {
        Some(res) => {
            let _ = writeln!(
                s,
                "CPU: {:.2} cores mean, {:.2} peak ({:.1} CPU-seconds over {:.1} s, {})",
                res.cpu_cores_mean,
                res.cpu_cores_peak,
                res.cpu_seconds,
                res.wall_seconds,
                res.source
            );
            let _ = writeln!(
                s,
                "Memory: {:.1} MiB at end, {:.1} MiB peak",
                res.memory_bytes_last as f64 / MIB,
                res.memory_bytes_peak as f64 / MIB
            );
            let _ = writeln!(
                s,
                "Efficiency: {} msg per CPU-second",
                r.efficiency.map_or("n/a".into(), |e| thousands(e as u64))
            );
            if let Some(leak) = &r.leak {
                let after = leak.after_cool_down_bytes.map_or(String::new(), |b| {
                    format!(", {:.1} MiB after the cool-down", b as f64 / MIB)
                });
                let _ = writeln!(
                    s,
                    "Memory trend: {:+.2} MiB/min (least squares over {} samples, R² {:.2}), {:.1} -> {:.1} MiB{after}: {}",
                    leak.growth_per_minute / MIB,
                    leak.samples,
                    leak.r_squared,
                    leak.start_bytes as f64 / MIB,
                    leak.end_bytes as f64 / MIB,
                    if leak.leak { "LEAK" } else { "no leak" }
                );
            }
            if let Some(first) = r.nodes.first() {
                let _ = writeln!(
                    s,
                    "Sampled: node 1 ({}) only, of {} nodes",
                    first.name,
                    r.nodes.len()
                );
            }
        }
        None => {
            let _ = writeln!(s, "Not sampled: the harness did not start this SUT.");
        }
    }
    let _ = writeln!(s, "```\n");
}

/// The server's own metrics over the measured window, beside what the harness measured.
fn server_view(s: &mut String, r: &RunRecord) {
    let Some(v) = &r.server else { return };
    let _ = writeln!(
        s,
        "### The Server's Own View\nIts metrics at `{}`, scraped at the start and the end of the measured window; the harness counted {} requests and measured P50 {}, P99 {} from the intended send time (the server's own latency leaves out the network and any queue in front of it).\n",
        v.url,
        thousands(r.throughput.attempts),
        format_us(r.latency.p50_us),
        format_us(r.latency.p99_us)
    );
    if !v.counters.is_empty() {
        let _ = writeln!(s, "| Counter | In the window |\n|---|---|");
        for (series, delta) in v.counters.iter().take(15) {
            let _ = writeln!(s, "| `{series}` | {} |", thousands(delta.round() as u64));
        }
        let _ = writeln!(s);
    }
    if !v.histograms.is_empty() {
        let _ = writeln!(
            s,
            "| Histogram | Observations | P50 | P95 | P99 |\n|---|---|---|---|---|"
        );
        for (series, h) in &v.histograms {
            let seconds = series
                .split('{')
                .next()
                .is_some_and(|n| n.ends_with("_seconds"));
            let show = |x: f64| {
                if seconds {
                    format_us((x * 1e6).round() as u64)
                } else {
                    format!("{x:.4}")
                }
            };
            let _ = writeln!(
                s,
                "| `{series}` | {} | {} | {} | {} |",
                thousands(h.count.round() as u64),
                show(h.p50),
                show(h.p95),
                show(h.p99)
            );
        }
        let _ = writeln!(s);
    }
}

/// The generator's own send lag, and whether it kept the schedule.
fn generator(s: &mut String, r: &RunRecord) {
    let g = &r.generator;
    let _ = writeln!(s, "### Load Generator\n```");
    let _ = writeln!(
        s,
        "Send lag: p50 {}, p99 {}, max {}\nLate (> {} ms): {} ({}%): {}\nCPU: {:.2} s, {:.2} cores",
        format_us(g.lag_p50_us),
        format_us(g.lag_p99_us),
        format_us(g.lag_max_us),
        g.late_threshold_ms,
        thousands(g.late),
        g.late_percent,
        if g.kept_schedule {
            "schedule kept"
        } else {
            "FELL BEHIND SCHEDULE"
        },
        g.cpu_seconds,
        g.cpu_cores
    );
    let _ = writeln!(s, "```\n");
}

/// The scenario's service-level checks, when it has any.
fn slo_checks(s: &mut String, r: &RunRecord) {
    if !r.slo.is_empty() {
        let _ = writeln!(s, "### Service-Level Checks\n");
        let _ = writeln!(s, "| Metric | Limit | Actual | Status |");
        let _ = writeln!(s, "|--------|-------|--------|--------|");
        for c in &r.slo {
            let status = if c.passed { "✅ OK" } else { "❌ BREACHED" };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {status} |",
                c.metric, c.limit, c.actual
            );
        }
        let _ = writeln!(s);
    }
}

/// The hashes that tie the report to its record, scenario and server.
fn receipt(s: &mut String, r: &RunRecord, record_sha256: &str) {
    let _ = writeln!(s, "## Proof Receipt\n```");
    let _ = writeln!(s, "record.json SHA-256: {record_sha256}");
    let _ = writeln!(s, "Scenario SHA-256: {}", r.scenario.sha256);
    if let Some(bin) = &r.sut.binary_sha256 {
        let _ = writeln!(s, "SUT binary SHA-256: {bin}");
    }
    let _ = writeln!(s, "Started: {}", r.started_at);
    let _ = writeln!(s, "```");
}

/// The per-node table of a cluster, and a line for every node that had errors.
fn nodes_section(s: &mut String, r: &RunRecord) {
    if r.nodes.is_empty() {
        return;
    }
    let _ = writeln!(s, "### Nodes\n");
    let _ = writeln!(
        s,
        "Sessions are spread round-robin over the nodes; every request counts against the node its session is on.\n"
    );
    let _ = writeln!(
        s,
        "| Node | Container | Endpoint | Requests | OK | Errors | P50 | P99 |"
    );
    let _ = writeln!(
        s,
        "|------|-----------|----------|----------|----|--------|-----|-----|"
    );
    for n in &r.nodes {
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} |",
            n.node,
            n.name,
            n.endpoint,
            thousands(n.attempts),
            thousands(n.ok),
            thousands(n.errors.total),
            format_us(n.latency.p50_us),
            format_us(n.latency.p99_us)
        );
    }
    let _ = writeln!(s);
    for n in r.nodes.iter().filter(|n| n.errors.total > 0) {
        let _ = writeln!(s, "{}\n", node_error_line(n));
    }
}

/// `⚠️ node 2 (name): 812 errors (connect 800, timeout 12) of 900 requests: it stopped
/// answering at 4.1 s into the run (failures from 4.1 s to 8.0 s).`
fn node_error_line(n: &NodeRecord) -> String {
    let classes: Vec<String> = n
        .errors
        .by_class
        .iter()
        .map(|(class, count)| format!("{class} {}", thousands(*count)))
        .collect();
    let mut line = format!(
        "⚠️ **node {} (`{}`): {} errors** ({}) of {} requests",
        n.node,
        n.name,
        thousands(n.errors.total),
        classes.join(", "),
        thousands(n.attempts)
    );
    if let (Some(first), Some(last)) = (n.first_error_seconds, n.last_error_seconds) {
        let span = format!("failures from {first:.1} s to {last:.1} s into the run");
        let _ = match n.last_ok_seconds {
            None => write!(line, ": it never answered ({span})"),
            // The last answer it gave was a failure: it went away and did not come back.
            Some(ok) if ok < last => write!(
                line,
                ": it stopped answering at {:.1} s into the run ({span}, last success at {ok:.1} s)",
                first.max(ok)
            ),
            Some(_) => write!(line, ": {span}; it answered again afterwards"),
        };
    }
    line.push('.');
    line
}

fn latency_row(s: &mut String, name: &str, weight: &str, n: u64, errors: u64, l: &LatencySummary) {
    let _ = writeln!(
        s,
        "| {name} | {weight} | {} | {} | {} | {} | {} | {} | {} |",
        thousands(n),
        thousands(errors),
        format_us(l.p50_us),
        format_us(l.p95_us),
        format_us(l.p99_us),
        format_us(l.p999_us),
        format_us(l.max_us)
    );
}

fn fmt_rate(x: f64) -> String {
    if x >= 100.0 {
        thousands(x.round() as u64)
    } else {
        trim_float((x * 10.0).round() / 10.0)
    }
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorSummary;

    fn node(ok: Option<f64>, errors: Option<(f64, f64)>) -> NodeRecord {
        let by_class: std::collections::BTreeMap<String, u64> = match errors {
            Some(_) => [("connect".to_string(), 800), ("timeout".to_string(), 12)].into(),
            None => Default::default(),
        };
        NodeRecord {
            node: 2,
            name: "erlmcp-perf-1-1-node2".into(),
            endpoint: "http://127.0.0.1:1/mcp".into(),
            attempts: 900,
            ok: 88,
            errors: ErrorSummary {
                total: by_class.values().sum(),
                rate_percent: 0.0,
                by_class,
            },
            latency: LatencySummary::of(&crate::load::histogram(2)),
            latency_histogram: None,
            first_error_seconds: errors.map(|e| e.0),
            last_error_seconds: errors.map(|e| e.1),
            last_ok_seconds: ok,
        }
    }

    #[test]
    fn a_node_that_died_gets_a_clear_line() {
        let line = node_error_line(&node(Some(4.0), Some((4.1, 8.0))));
        assert_eq!(
            line,
            "⚠️ **node 2 (`erlmcp-perf-1-1-node2`): 812 errors** (connect 800, timeout 12) of \
             900 requests: it stopped answering at 4.1 s into the run (failures from 4.1 s to \
             8.0 s into the run, last success at 4.0 s)."
        );
        assert!(node_error_line(&node(None, Some((0.0, 8.0)))).contains("it never answered"));
        assert!(node_error_line(&node(Some(7.0), Some((4.1, 5.0)))).contains("answered again"));
    }
}
