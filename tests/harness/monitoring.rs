//! What operators watch: the shipped Prometheus files check clean with `promtool`, the
//! shipped Grafana dashboard is the one generated from the committed baseline and passes
//! the Grafana Foundation SDK's dashboard model (`monitoring/grafana/validate.py`), and a
//! real Prometheus scraping a run's live metrics computes erlmcp's recording rules in
//! agreement with the run's `record.json`, every panel's query answering.
//!
//! Where `prometheus`/`promtool` (Debian's `prometheus` package) or the SDK is missing the
//! tests say so and pass, unless `ERLMCP_PERF_REQUIRE_TOOLS` is set (as `.ci/run` does).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use harness::exposition::MetricsServer;
use harness::load::LiveMetrics;
use harness::report::dashboard::{DashboardBasis, grafana_dashboard, panel_expressions};
use harness::run::run_scenario;
use harness::scenario;
use harness::store::{Baseline, Document};
use harness::sut::SutSpec;
use serde_json::Value;

use crate::{quiet, refserver, runtime, tool_ready};

/// The baseline the shipped dashboard is generated from.
const DASHBOARD_BASELINE: &str = "baselines/reference/amd-epyc-2cpu/baseline.json";
const DASHBOARD: &str = "monitoring/grafana/dashboards/performance.json";
/// The SDK release `.ci/run` installs (Grafana 11.6's schemas).
const GRAFANA_SDK: &str = "grafana-foundation-sdk==1769699379!11.6.0";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn promtool_ready(test: &str) -> bool {
    tool_ready(
        test,
        Command::new("promtool").arg("--version"),
        "apt-get install prometheus",
    )
    .is_some()
}

fn grafana_sdk_ready(test: &str) -> bool {
    tool_ready(
        test,
        Command::new("python3").args(["-c", "import grafana_foundation_sdk"]),
        &format!("python3 -m pip install '{GRAFANA_SDK}'"),
    )
    .is_some()
}

/// Runs `program args` in the workspace; its combined output and whether it succeeded.
fn run_tool(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_shipped_prometheus_files_check_clean() {
    if !promtool_ready("the_shipped_prometheus_files_check_clean") {
        return;
    }
    // `check config` checks the rule files it names as well.
    let (ok, text) = run_tool(
        "promtool",
        &["check", "config", "monitoring/prometheus/prometheus.yml"],
    );
    assert!(ok, "{text}");
    assert!(text.contains("6 rules found"), "{text}");
    // And a broken rule is refused: the check can fail.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("rules.yml");
    let rules = std::fs::read_to_string(root().join("monitoring/prometheus/rules.yml")).unwrap();
    std::fs::write(&bad, rules.replace("[1m]))", "[1m])")).unwrap();
    let (ok, text) = run_tool("promtool", &["check", "rules", bad.to_str().unwrap()]);
    assert!(!ok, "a rule with an unbalanced parenthesis passed: {text}");
}

#[test]
fn the_shipped_dashboard_is_generated_from_the_baseline_and_valid() {
    let baseline = Baseline::load(&root().join(DASHBOARD_BASELINE)).expect("committed baseline");
    let expected = grafana_dashboard(&DashboardBasis {
        baseline: &baseline,
        source: DASHBOARD_BASELINE,
        threshold_percent: 10.0,
    });
    let shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(DASHBOARD)).unwrap()).unwrap();
    assert_eq!(
        shipped, expected,
        "{DASHBOARD} is not what `erlmcp-perf dashboard {DASHBOARD_BASELINE}` writes: run it"
    );
    if !grafana_sdk_ready("the_shipped_dashboard_is_generated_from_the_baseline_and_valid") {
        return;
    }
    let (ok, text) = run_tool("python3", &["monitoring/grafana/validate.py", DASHBOARD]);
    assert!(ok, "{text}");
    // A misspelt field is caught: the validation can fail.
    let mut broken = shipped.clone();
    broken["panels"][1]["fieldConfig"]["defaults"]["unitt"] = "ms".into();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&broken).unwrap()).unwrap();
    let (ok, text) = run_tool(
        "python3",
        &["monitoring/grafana/validate.py", bad.to_str().unwrap()],
    );
    assert!(!ok && text.contains("unitt"), "{text}");
}

/// A Prometheus server on loopback, killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Prometheus {
    /// Starts Prometheus scraping `harness` (job `erlmcp-perf`) and `sut` (job `erlmcp`)
    /// every second and evaluating the shipped rules every second.
    fn start(dir: &Path, harness: SocketAddr, sut: &str) -> Self {
        let rules = root().join("monitoring/prometheus/rules.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: erlmcp-perf\n    static_configs:\n      - targets: [\"{harness}\"]\n\
             \x20 - job_name: erlmcp\n    static_configs:\n      - targets: [\"{sut}\"]\n",
            rules.display()
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let prometheus = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if get(&format!("{}/-/ready", prometheus.url)).is_some_and(|(code, _)| code == 200) {
                return prometheus;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
        panic!("prometheus did not become ready in 30 s:\n{log}");
    }

    /// `query` evaluated at `at` (Unix seconds): the API's `data.result`.
    fn query(&self, query: &str, at: f64) -> Vec<Value> {
        let url = format!(
            "{}/api/v1/query?query={}&time={at:.3}",
            self.url,
            url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let (code, body) = get(&url).unwrap_or_else(|| panic!("no answer to {url}"));
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert!(
            code == 200 && v["status"] == "success",
            "{query} failed ({code}): {body}"
        );
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of `query` at `at`.
    fn value(&self, query: &str, at: f64) -> f64 {
        let result = self.query(query, at);
        assert_eq!(result.len(), 1, "{query}: {result:?}");
        result[0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{query}: {result:?}"))
    }
}

/// A blocking GET on loopback: status and body.
fn get(url: &str) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let response = reqwest::get(url).await.ok()?;
        let code = response.status().as_u16();
        Some((code, response.text().await.ok()?))
    })
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[test]
fn prometheus_computes_the_recording_rules_the_record_agrees_with() {
    let test = "prometheus_computes_the_recording_rules_the_record_agrees_with";
    let mut probe = Command::new("prometheus");
    if tool_ready(test, probe.arg("--version"), "apt-get install prometheus").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    // 2% of requests answered with a JSON-RPC error, so the error rate is not zero.
    let running = rt
        .block_on(SutSpec::Embedded(refserver(&["--faults", "error_rate=0.02"])).start(None))
        .expect("reference server");
    let endpoint = running.endpoint().to_string();
    let sut_addr = endpoint
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let live = Arc::new(LiveMetrics::new());
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), live.clone()).unwrap();
    let prometheus = Prometheus::start(dir.path(), server.local_addr(), &sut_addr);
    // Longer than the request rate's 1-minute window, with no warm-up: every request the
    // live metrics count is one the record counts.
    let file = crate::scenario_file(
        dir.path(),
        "watched",
        "scenario:\n  name: Watched\n  clients: 8\n  phases:\n    - name: steady\n      duration: 75s\n      rps: 300\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 70%\n    - type: resource_list\n      weight: 30%\n",
    );
    let scenario = scenario::load(&file).unwrap();
    let mut options = quiet();
    options.live = Some(live);
    let target = SutSpec::Url {
        url: endpoint.parse().unwrap(),
        allow_remote: false,
        pid: running.pid(),
    };
    let record = rt
        .block_on(run_scenario(
            &scenario,
            &target,
            &options,
            &dir.path().join("run"),
        ))
        .expect("run")
        .record;
    let ended = unix_now();
    // Two more scrapes and evaluations after the last request.
    std::thread::sleep(Duration::from_secs(3));
    // The counters: every request the record counts, no more.
    let counted = prometheus.value("sum(erlmcp_perf_requests_total)", unix_now());
    assert_eq!(
        counted as u64, record.throughput.attempts,
        "Prometheus counted {counted} requests, the record {}",
        record.throughput.attempts
    );
    // The request rate two seconds before the end: its 1-minute window lies inside the
    // run. The percentiles and the error rate after the last scrape: their 5-minute window
    // holds the whole run, as the record does.
    let at = ended - 2.0;
    let after = unix_now();
    let rate = prometheus.value("erlmcp:request_rate:1m", at);
    let p99 = prometheus.value("erlmcp:latency_p99:5m", after);
    let error_rate = prometheus.value("erlmcp:error_rate:5m", after);
    let record_rate = record.throughput.achieved_rps;
    let record_p99 = record.latency.p99_us as f64;
    let record_errors = record.throughput.failed as f64 / record.throughput.attempts as f64;
    println!(
        "throughput: Prometheus {rate:.1} req/s, record {record_rate:.1} req/s ({:+.2}%)",
        (rate / record_rate - 1.0) * 100.0
    );
    println!(
        "P99: Prometheus {p99:.0} µs, record {record_p99:.0} µs ({:+.2}%; buckets are 9% wide)",
        (p99 / record_p99 - 1.0) * 100.0
    );
    println!(
        "error rate: Prometheus {:.3}%, record {:.3}%",
        error_rate * 100.0,
        record_errors * 100.0
    );
    assert!(
        (rate / record_rate - 1.0).abs() < 0.03,
        "rate {rate} against {record_rate}"
    );
    // Within one bucket (2^(1/8), 9%), and the requests of the first second, before the
    // first scrape saw the series.
    assert!(
        (p99 / record_p99 - 1.0).abs() < 0.12,
        "P99 {p99} µs against {record_p99} µs"
    );
    assert!(
        (error_rate - record_errors).abs() < 0.004 && record_errors > 0.01,
        "error rate {error_rate} against {record_errors}"
    );
    // Every panel of the shipped dashboard answers over this run.
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(DASHBOARD)).unwrap()).unwrap();
    for expr in panel_expressions(&dashboard) {
        let result = prometheus.query(&expr, at);
        assert!(!result.is_empty(), "the panel query {expr} found nothing");
        println!("panel query {expr}: {} series", result.len());
    }
    drop(prometheus);
    drop(server);
    rt.block_on(running.stop());
}

#[test]
fn a_regression_report_has_the_root_cause_and_both_sides_profiles() {
    use harness::check::{CheckOptions, check_same_run};
    use harness::gate::Status;
    use harness::sut::SpecContext;
    // The shipped reference profile, with its /proc profiling hooks, on both sides; the
    // current side 2 ms slower on every request.
    let profile = |faults: Option<&str>| {
        let ctx = SpecContext {
            refserver_program: crate::BIN.into(),
            refserver_args: vec!["refserver".into()],
            faults: faults.map(String::from),
            image_override: None,
        };
        harness::sut::profile::spec_for(root().join("suts/reference.yml").to_str().unwrap(), &ctx)
            .expect("the reference profile")
    };
    let (unchanged, slower) = (profile(None), profile(Some("latency=2ms")));
    assert!(
        unchanged.window_hooks().is_some(),
        "the shipped profile names hooks"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = crate::scenario_file(
        dir.path(),
        "ab",
        "scenario:\n  name: AB\n  clients: 4\n  warmup: 1s\n  phases:\n    - name: steady\n      duration: 3s\n      rps: 200\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 60%\n    - type: resource_list\n      weight: 40%\n",
    );
    let scenario = scenario::load(&file).unwrap();
    let options = CheckOptions {
        run: quiet(),
        trials: 3,
        profile: "reference".into(),
    };
    let out = dir.path().join("gate");
    let result = runtime()
        .block_on(check_same_run(
            &scenario, &unchanged, &slower, &options, &out,
        ))
        .expect("gate");
    assert_eq!(
        result.verdict.status,
        Status::Regression,
        "{}",
        result.tables
    );
    let report = std::fs::read_to_string(&result.report).unwrap();
    for part in [
        "## Root Cause",
        "### Hot Spots",
        "### CPU per Request",
        "### Profiles",
    ] {
        assert!(report.contains(part), "{part} missing:\n{report}");
    }
    // Both operations grew by about 2 ms: both ranked, the first with a REGRESSION.
    let hot = report.split("### Hot Spots").nth(1).unwrap();
    assert!(hot.contains("| 1 |") && hot.contains("REGRESSION"), "{hot}");
    // The server's own view of each trial: it counted the requests the harness sent in
    // the measured window, and its latency histogram has the 2 ms in it.
    for record in &result.records {
        let server = record
            .server
            .as_ref()
            .expect("the server's metrics scraped");
        let counted: f64 = server
            .counters
            .iter()
            .filter(|(series, _)| series.starts_with("mcp_requests_total"))
            .map(|(_, n)| n)
            .sum();
        let sent = record.throughput.attempts as f64;
        assert!(
            (counted / sent - 1.0).abs() < 0.05,
            "the server counted {counted}, the harness {sent}: {server:?}"
        );
        let calls = server
            .histograms
            .iter()
            .find(|(series, _)| series.contains("tools/call"))
            .map(|(_, h)| h)
            .expect("the server's tools/call latency");
        // Its buckets double from 10 µs: 2 ms and a little falls in (1.28 ms, 2.56 ms].
        assert!(
            (0.00128..=0.00256).contains(&calls.p50),
            "server P50 {} s: {server:?}",
            calls.p50
        );
    }
    assert!(
        report.contains("### The Server's Own View") || {
            let trial = std::fs::read_to_string(out.join("current-1/report.md")).unwrap();
            trial.contains("### The Server's Own View")
        }
    );
    for side in ["baseline", "current"] {
        for point in ["start", "end"] {
            let link = format!("{side}-1/profile-{point}.txt");
            assert!(
                report.contains(&format!("]({link})")),
                "{link} not linked:\n{report}"
            );
            let text = std::fs::read_to_string(out.join(&link)).unwrap();
            assert!(
                text.contains("VmRSS:") && text.contains("# threads"),
                "{text}"
            );
        }
    }
}
