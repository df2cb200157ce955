//! The load engine against the reference server: latency from intended send time, error
//! classes, session modes.

use harness::sut::SutSpec;

use crate::{refserver, run, scenario_file};

#[test]
fn stall_is_charged_to_the_requests_scheduled_inside_it() {
    // A 1 s stall every 10 s; 12 s of load always covers one whole stall window. Requests
    // intended inside the stall wait for it to end, so at least the 1.6% intended in its
    // first 200 ms see >= 800 ms: the P99 must show the stall.
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "stall",
        "scenario:\n  name: stall\n  clients: 10\n  phases:\n    - name: steady\n      duration: 12s\n      rps: 200\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n",
    );
    let sut = SutSpec::Embedded(refserver(&[]).with_faults(Some("stall=1s/10s".into())));
    let r = run(&file, sut, dir.path());
    assert_eq!(r.throughput.planned, 2400);
    assert_eq!(
        r.throughput.attempts, 2400,
        "every scheduled request is accounted for"
    );
    assert_eq!(r.errors.total, 0, "{:?}", r.errors);
    assert!(
        r.latency.p99_us >= 800_000,
        "P99 {} us hides the stall",
        r.latency.p99_us
    );
    assert!(r.latency.max_us <= 1_500_000, "max {} us", r.latency.max_us);
    assert!(
        r.latency.p50_us < 100_000,
        "P50 {} us: most requests are not stalled",
        r.latency.p50_us
    );
    // The per-second windows show when it happened: a stall touches one or two windows,
    // and 12 s of load see at most two stalls.
    let stalled = r.windows.iter().filter(|w| w.p99_us >= 500_000).count();
    assert!(
        (1..=4).contains(&stalled),
        "{stalled} stalled windows: {:?}",
        r.windows
    );
    let calm = r.windows.iter().filter(|w| w.p99_us < 100_000).count();
    assert!(calm >= 8, "{calm} calm windows: {:?}", r.windows);
    assert_eq!(r.sut.faults.as_deref(), Some("stall=1s/10s"));
}

#[test]
fn errors_are_counted_by_class() {
    // Division by zero is a tool error (isError), injected faults are JSON-RPC errors.
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "errors",
        "scenario:\n  name: errors\n  clients: 4\n  phases:\n    - name: p\n      duration: 3s\n      rps: 200\n  requests:\n    - type: tool_call\n      tool: calculator\n      arguments: { a: 1, b: 0, op: div }\n      weight: 50%\n    - type: resource_list\n      weight: 50%\n",
    );
    let sut = SutSpec::Embedded(refserver(&["--error-rate", "0.2"]));
    let r = run(&file, sut, dir.path());
    let divide = &r.operations[0];
    let list = &r.operations[1];
    assert_eq!(divide.operation, "tools/call:calculator");
    assert_eq!(divide.attempts, 300);
    assert_eq!(list.attempts, 300);
    let tool_errors = divide
        .errors
        .by_class
        .get("tool_error")
        .copied()
        .unwrap_or(0);
    let injected = |op: &harness::record::OperationRecord| {
        op.errors
            .by_class
            .get("jsonrpc:-32603")
            .copied()
            .unwrap_or(0)
    };
    // Every division either hit the injected fault first or failed as a tool error.
    assert_eq!(tool_errors + injected(divide), 300, "{:?}", divide.errors);
    assert_eq!(divide.ok, 0);
    // About 20% of the listings were injected faults (binomial, 300 draws: 60 +- 21 at 3 sigma).
    let faults = injected(list);
    assert!(
        (25..=100).contains(&faults),
        "{faults} injected faults of 300"
    );
    assert_eq!(list.ok + faults, 300, "{:?}", list.errors);
    assert_eq!(r.errors.total, tool_errors + injected(divide) + faults);
}

#[test]
fn stateless_json_server_and_older_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "modes",
        "scenario:\n  name: modes\n  clients: 3\n  protocol_version: \"2025-03-26\"\n  phases:\n    - name: p\n      duration: 2s\n      rps: 100\n  requests:\n    - type: tool_call\n      tool: file_read\n      weight: 25%\n    - type: prompt_get\n      prompt: greeting\n      arguments: { name: perf }\n      weight: 25%\n    - type: resource_read\n      uri: \"ref://status\"\n      weight: 25%\n    - type: ping\n      weight: 25%\n",
    );
    for flags in [&["--stateless", "--json-response"][..], &[]] {
        let sut = SutSpec::Embedded(refserver(flags));
        let r = run(&file, sut, dir.path());
        assert_eq!(r.errors.total, 0, "{flags:?}: {:?}", r.errors);
        assert_eq!(r.throughput.ok, 200, "{flags:?}");
        assert_eq!(r.scenario.protocol_version, "2025-03-26");
        assert_eq!(r.scenario.stateful_sessions, flags.is_empty(), "{flags:?}");
    }
}

#[test]
fn results_are_written_with_resources_sampled() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "written",
        "scenario:\n  name: written\n  clients: 2\n  warmup: 500ms\n  phases:\n    - name: p\n      duration: 2s\n      rps: 100\n  requests:\n    - type: ping\n      weight: 100%\n  slo:\n    p99: 1ms\n",
    );
    let r = run(&file, SutSpec::Embedded(refserver(&[])), dir.path());
    let out = dir.path().join("written");
    let json: harness::record::RunRecord =
        serde_json::from_slice(&std::fs::read(out.join("record.json")).unwrap()).unwrap();
    assert_eq!(json, r, "record.json holds the whole record");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for needle in [
        "# Performance Baseline Report",
        "### Throughput",
        "P999:",
        "### Resource Usage",
        "## Proof Receipt",
    ] {
        assert!(report.contains(needle), "report lacks {needle}");
    }
    // The warm-up is listed but not measured.
    assert_eq!(r.phases[0].name, "warmup");
    assert!(!r.phases[0].measured);
    assert_eq!(r.throughput.attempts, 200);
    let res = r
        .resources
        .as_ref()
        .expect("the embedded server's resources are sampled");
    assert!(res.memory_bytes_peak > 0 && res.samples >= 5, "{res:?}");
    // A 1 ms P99 limit on a loopback server is a coin toss; the check must be evaluated.
    assert_eq!(r.slo.len(), 1);
    assert_eq!(r.slo[0].metric, "p99");
    assert!(std::fs::read_to_string(out.join("sut.log")).is_ok());
}

/// 2 sessions of one connection to a server taking 100 ms a request: 20 req/s at most,
/// offered 60 req/s for 3 s with a 1 s timeout.
const OVERLOAD: &str = "scenario:\n  name: overload\n  clients: 2\n  connections: 1\n  timeout: 1s\n  phases:\n    - name: p\n      duration: 3s\n      rps: 60\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n";

#[test]
fn slots_past_the_in_flight_limit_wait_unsent_and_time_out_without_being_sent() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "overload", OVERLOAD);
    let r = run(
        &file,
        SutSpec::Embedded(refserver(&["--latency", "100ms"])),
        dir.path(),
    );
    assert_eq!(r.throughput.planned, 180);
    assert_eq!(r.throughput.attempts, 180, "every slot is accounted for");
    let generator = &r.generator;
    assert!(generator.in_flight_limit >= 2, "{generator:?}");
    // The server answers 20 a second, for the 3 s of the schedule and up to a timeout
    // after: the rest waited past their timeout and were never sent.
    assert!(
        (40..=100).contains(&r.throughput.ok),
        "{} ok",
        r.throughput.ok
    );
    assert!(generator.never_sent >= 60, "{generator:?}");
    assert_eq!(
        r.errors.by_class.get("timeout").copied(),
        Some(generator.never_sent),
        "only the requests never sent failed: {:?}",
        r.errors.by_class
    );
    // Those sent waited for a free request, and that wait is in their latency: not in
    // the server's time.
    assert!(r.latency.p50_us >= 400_000, "P50 {} us", r.latency.p50_us);
    assert!(
        r.service_time.p99_us < 400_000,
        "service P99 {} us",
        r.service_time.p99_us
    );
}
