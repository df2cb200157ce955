//! The Grafana dashboard of erlmcp's performance guide, written from a committed baseline:
//! the five panels (golden signals, throughput against the baseline and its regression
//! line, latency percentiles with the baseline's P99 as the alert line, efficiency, the
//! ten slowest operations) over the recording rules of `monitoring/prometheus/rules.yml`,
//! with the baseline's own figures where the guide had constants.

use serde_json::{Value, json};

use crate::store::Baseline;

/// The dashboard's `uid`: provisioning replaces the dashboard of the same uid.
pub const DASHBOARD_UID: &str = "erlmcp-perf";

/// What the dashboard is drawn against.
#[derive(Debug, Clone)]
pub struct DashboardBasis<'a> {
    pub baseline: &'a Baseline,
    /// Where the baseline file is, as the dashboard names it.
    pub source: &'a str,
    /// The gate's threshold, percent: the throughput line is this far below the baseline.
    pub threshold_percent: f64,
}

/// The dashboard JSON (Grafana's dashboard model, schema version 39).
pub fn grafana_dashboard(basis: &DashboardBasis<'_>) -> Value {
    let b = basis.baseline;
    let rps = round(b.figures.throughput_rps, 1);
    let p99_ms = round(b.figures.latency.p99_us as f64 / 1000.0, 3);
    let floor = round(rps * (1.0 - basis.threshold_percent / 100.0), 1);
    let t = basis.threshold_percent;
    let name = match &b.sut.version {
        Some(v) => format!("{} {v}", b.sut.profile),
        None => b.sut.profile.clone(),
    };
    let date = b
        .receipt
        .timestamp
        .get(..10)
        .unwrap_or(&b.receipt.timestamp);
    let baseline_label = format!("Baseline ({name}, {date})");
    let mut efficiency_targets = vec![target(
        "A",
        "erlmcp:request_rate:1m / sum(rate(process_cpu_seconds_total{job=\"erlmcp\"}[1m]))",
        "Messages per CPU second",
    )];
    if let Some(e) = b.figures.efficiency {
        efficiency_targets.push(target(
            "B",
            &format!("vector({})", round(e, 1)),
            &baseline_label,
        ));
    }
    let panels = vec![
        json!({
            "id": 1,
            "type": "stat",
            "title": "Golden Signals",
            "description": "Successful requests per second, P99 latency and error rate, as the harness sees them",
            "gridPos": {"h": 6, "w": 24, "x": 0, "y": 0},
            "datasource": datasource(),
            "targets": [
                target("A", "erlmcp:request_rate:1m", "Throughput (msg/s)"),
                target("B", "erlmcp:latency_p99:5m / 1000", "P99 Latency (ms)"),
                target("C", "erlmcp:error_rate:5m * 100", "Error Rate (%)"),
            ],
            "fieldConfig": {"defaults": {"decimals": 2}, "overrides": []},
            "options": {
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
                "colorMode": "value",
                "graphMode": "area",
                "textMode": "value_and_name"
            }
        }),
        json!({
            "id": 2,
            "type": "timeseries",
            "title": "Throughput Trend",
            "description": format!("Successful requests per second against the baseline of {} and the gate's -{t}% line", basis.source),
            "gridPos": {"h": 8, "w": 12, "x": 0, "y": 6},
            "datasource": datasource(),
            "targets": [
                target("A", "erlmcp:request_rate:1m", "Current RPS"),
                target("B", &format!("vector({rps})"), &baseline_label),
                target("C", &format!("vector({floor})"), &format!("Regression Threshold (-{t}%)")),
            ],
            "fieldConfig": {"defaults": {"unit": "reqps"}, "overrides": []}
        }),
        json!({
            "id": 3,
            "type": "timeseries",
            "title": "Latency Distribution (P50/P95/P99)",
            "description": format!("Latency from the intended send time, ms; the red line is the baseline's P99 ({p99_ms} ms), where erlmcp's guide raises its P99 alert"),
            "gridPos": {"h": 8, "w": 12, "x": 12, "y": 6},
            "datasource": datasource(),
            "targets": [
                target("A", "erlmcp:latency_p50:5m / 1000", "P50 (median)"),
                target("B", "erlmcp:latency_p95:5m / 1000", "P95"),
                target("C", "erlmcp:latency_p99:5m / 1000", "P99"),
            ],
            "fieldConfig": {
                "defaults": {
                    "unit": "ms",
                    "custom": {"thresholdsStyle": {"mode": "line+area"}},
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [
                            {"color": "green", "value": null},
                            {"color": "red", "value": p99_ms}
                        ]
                    }
                },
                "overrides": []
            }
        }),
        json!({
            "id": 4,
            "type": "timeseries",
            "title": "Efficiency (msg/CPU·s)",
            "description": "Successful requests per CPU-second of the server under test (its process_cpu_seconds_total, job erlmcp)",
            "gridPos": {"h": 8, "w": 12, "x": 0, "y": 14},
            "datasource": datasource(),
            "targets": efficiency_targets,
            "fieldConfig": {"defaults": {}, "overrides": []}
        }),
        json!({
            "id": 5,
            "type": "table",
            "title": "Hot Spots (Top 10 slowest operations)",
            "description": "P99 latency by operation over the last 5 minutes, µs",
            "gridPos": {"h": 8, "w": 12, "x": 12, "y": 14},
            "datasource": datasource(),
            "targets": [{
                "refId": "A",
                "datasource": datasource(),
                "expr": "topk(10, erlmcp_operation_duration_us{quantile=\"0.99\"})",
                "format": "table",
                "instant": true
            }],
            "fieldConfig": {"defaults": {"unit": "µs"}, "overrides": []}
        }),
    ];
    json!({
        "uid": DASHBOARD_UID,
        "title": "erlmcp Performance (Operator-First)",
        "description": format!(
            "Generated by `erlmcp-perf dashboard` from {} (receipt {}): do not edit by hand",
            basis.source, b.receipt.sha256
        ),
        "tags": ["erlmcp", "erlmcp-perf"],
        "editable": false,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-30m", "to": "now"},
        "refresh": "15s",
        "templating": {
            "list": [{
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus"
            }]
        },
        "panels": panels
    })
}

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

fn target(ref_id: &str, expr: &str, legend: &str) -> Value {
    json!({
        "refId": ref_id,
        "datasource": datasource(),
        "expr": expr,
        "legendFormat": legend
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Every PromQL expression of a dashboard's panels, in panel order.
pub fn panel_expressions(dashboard: &Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_come_from_the_baseline() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../baselines/reference/amd-epyc-2cpu/baseline.json"
        ))
        .expect("the committed baseline");
        let baseline: Baseline = serde_json::from_str(&text).expect("a baseline");
        let d = grafana_dashboard(&DashboardBasis {
            baseline: &baseline,
            source: "baseline.json",
            threshold_percent: 10.0,
        });
        let exprs = panel_expressions(&d);
        let rps = round(baseline.figures.throughput_rps, 1);
        assert!(exprs.contains(&format!("vector({rps})")), "{exprs:?}");
        let floor = round(rps * 0.9, 1);
        assert!(exprs.contains(&format!("vector({floor})")), "{exprs:?}");
        let p99 = round(baseline.figures.latency.p99_us as f64 / 1000.0, 3);
        assert_eq!(
            d["panels"][2]["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
            json!(p99)
        );
        assert_eq!(d["panels"].as_array().map(Vec::len), Some(5));
    }
}
