//! Load shaped like agents, against the reference server: workflows whose steps use
//! earlier results, fan-outs, session opens as the measured operation, and the scenario's
//! headers and bearer token.

use std::process::Command;

use harness::record::RunRecord;
use harness::sut::{SutSpec, Transport};

use crate::{BIN, refserver, run, runtime, scenario_file};

/// 40 workflows (20 a second for 2 s) over 4 sessions: list the tools, call the first
/// one listed, then add 1 to its answer in 3 copies at once.
fn agents(version: &str) -> String {
    format!(
        r#"scenario:
  name: agents
  clients: 4
  protocol_version: "{version}"
  phases:
    - name: p
      duration: 2s
      rps: 20
  workflows:
    - name: turn
      weight: 100%
      steps:
        - name: list
          type: tool_list
        - name: mul
          type: tool_call
          tool: "${{list.tools[0].name}}"
          arguments: {{ a: 6, b: 7, op: mul }}
          think: 5ms
        - name: add
          type: tool_call
          tool: calculator
          arguments: {{ a: "${{mul.content[0].text | number}}", b: 1, op: add }}
          fan_out: 3
"#
    )
}

fn step<'a>(r: &'a RunRecord, label: &str) -> &'a harness::record::OperationRecord {
    r.steps
        .iter()
        .find(|s| s.operation == label)
        .unwrap_or_else(|| panic!("no step {label}: {:?}", r.steps))
}

#[test]
fn workflows_count_every_step_and_use_earlier_results() {
    for (version, transport) in [
        ("2025-06-18", Transport::Http),
        ("2026-07-28", Transport::Http),
        ("2026-07-28", Transport::Stdio),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = scenario_file(dir.path(), "agents", &agents(version));
        let sut = SutSpec::Embedded(refserver(&[]).with_transport(transport));
        let r = run(&file, sut, dir.path());
        let what = format!("{version} over {transport}");
        // The phase's rate is workflows per second: the run's figures are the workflows'.
        assert_eq!(r.throughput.planned, 40, "{what}");
        assert_eq!(r.throughput.ok, 40, "{what}: {:?}", r.errors);
        assert_eq!(r.operations.len(), 1);
        assert_eq!(r.operations[0].operation, "workflow:turn");
        assert_eq!(r.operations[0].ok, 40);
        // Every step answered: the tool named by the list's first entry, and a number
        // taken from the multiplication (a string there would be refused by the tool).
        assert_eq!(
            (step(&r, "turn/list").ok, step(&r, "turn/list").attempts),
            (40, 40)
        );
        assert_eq!(
            (step(&r, "turn/mul").ok, step(&r, "turn/mul").attempts),
            (40, 40)
        );
        assert_eq!(
            (step(&r, "turn/add").ok, step(&r, "turn/add").attempts),
            (120, 120)
        );
        // A workflow takes at least its think time and its steps.
        assert!(r.latency.p50_us >= 5_000, "{what}: {:?}", r.latency);
        assert!(r.latency.p50_us >= step(&r, "turn/list").latency.p50_us);
        let report = std::fs::read_to_string(dir.path().join("agents/report.md")).unwrap();
        assert!(report.contains("### Workflow Steps"), "{report}");
        assert!(report.contains("`turn/add`"));
    }
}

#[test]
fn a_step_whose_value_is_missing_fails_the_workflow_and_stops_it() {
    let yaml = agents("2025-06-18").replace("list.tools[0].name", "list.tools[9].name");
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "agents", &yaml);
    let r = run(&file, SutSpec::Embedded(refserver(&[])), dir.path());
    assert_eq!(r.throughput.failed, 40);
    assert_eq!(r.errors.by_class.get("workflow:missing_value"), Some(&40));
    assert_eq!(step(&r, "turn/list").ok, 40);
    assert_eq!(step(&r, "turn/mul").attempts, 40);
    assert_eq!(step(&r, "turn/mul").ok, 0);
    assert_eq!(step(&r, "turn/add").attempts, 0, "later steps are not sent");
}

/// 100 session opens (50 a second for 2 s) and tool calls beside them.
fn flood(version: &str, auth: &str) -> String {
    format!(
        "scenario:\n  name: flood\n  clients: 2\n  protocol_version: \"{version}\"\n  phases:\n    - name: p\n      duration: 2s\n      rps: 100\n  requests:\n    - type: session_open\n      weight: 50%\n    - type: tool_call\n      tool: calculator\n      weight: 50%\n{auth}"
    )
}

#[test]
fn session_opens_are_measured_as_an_operation() {
    for version in ["2025-06-18", "2026-07-28"] {
        let dir = tempfile::tempdir().unwrap();
        let file = scenario_file(dir.path(), "flood", &flood(version, ""));
        let r = run(&file, SutSpec::Embedded(refserver(&[])), dir.path());
        let open = r
            .operations
            .iter()
            .find(|o| o.operation == "session/open")
            .expect("session/open measured");
        assert_eq!(
            (open.attempts, open.ok),
            (100, 100),
            "{version}: {:?}",
            r.errors
        );
        assert!(open.latency.p50_us > 0);
        assert_eq!(r.throughput.ok, 200, "{version}");
    }
}

#[test]
fn the_bearer_token_is_sent_and_never_written_and_a_refusal_is_auth() {
    const TOKEN: &str = "s3cret-token-of-the-test";
    let rt = runtime();
    let server = refserver(&["--bearer-token", TOKEN]);
    let running = rt
        .block_on(SutSpec::Embedded(server).start(None))
        .expect("reference server");
    let url = running.endpoint().to_string();
    let dir = tempfile::tempdir().unwrap();
    let auth = "  headers:\n    x-tenant: perf\n  auth:\n    bearer_env: ERLMCP_PERF_TEST_BEARER\n";
    let runs = [
        ("with", flood("2025-06-18", auth), Some(TOKEN)),
        ("wrong", flood("2026-07-28", auth), Some("not-the-token")),
    ];
    for (name, yaml, token) in runs {
        let file = scenario_file(dir.path(), name, &yaml);
        let out = dir.path().join("out");
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--quiet", "--url", &url, "--out"])
            .arg(&out)
            .arg(&file);
        if let Some(token) = token {
            cmd.env("ERLMCP_PERF_TEST_BEARER", token);
        }
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let record = std::fs::read_to_string(out.join(name).join("record.json"));
        match name {
            "with" => {
                assert!(output.status.success(), "{stderr}");
                let record = record.unwrap();
                let r: RunRecord = serde_json::from_str(&record).unwrap();
                assert_eq!(
                    (r.throughput.ok, r.errors.total),
                    (200, 0),
                    "{:?}",
                    r.errors
                );
                let report = std::fs::read_to_string(out.join(name).join("report.md")).unwrap();
                for text in [&record, &report, &stderr.to_string()] {
                    assert!(!text.contains(TOKEN), "the token was written out");
                }
            }
            _ => {
                // The sessions the run needs cannot open: the run stops at once, naming
                // the refusal, and writes no record.
                assert!(!output.status.success());
                assert!(stderr.contains("auth:401"), "{stderr}");
                assert!(!stderr.contains("not-the-token"), "{stderr}");
                assert!(record.is_err());
            }
        }
    }
    rt.block_on(running.stop());
}

#[test]
fn sessions_are_replaced_after_their_lifetime() {
    // 200 requests over 2 clients whose sessions live for 10 requests each: 20 sessions
    // in all, give or take the one a client's last, partly used session leaves over.
    let yaml = "scenario:\n  name: churn\n  clients: 2\n  session_lifetime:\n    requests: 10\n  phases:\n    - name: p\n      duration: 2s\n      rps: 100\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n";
    for flags in [&[][..], &["--stateless"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let file = scenario_file(dir.path(), "churn", yaml);
        let r = run(&file, SutSpec::Embedded(refserver(flags)), dir.path());
        assert_eq!(
            (r.throughput.ok, r.errors.total),
            (200, 0),
            "{:?}",
            r.errors
        );
        let replaced = r.sessions_replaced.expect("counted");
        assert!(
            (18..=19).contains(&replaced),
            "{flags:?}: {replaced} replaced"
        );
    }
}

/// The reference server's `/metrics` text.
fn metrics_of(url: &str) -> String {
    use std::io::{Read, Write};
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("host:port");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to /metrics");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// The count of one `mcp_requests_total` series, 0 if absent.
fn requests_total(metrics: &str, method: &str, outcome: &str) -> u64 {
    let series = format!("mcp_requests_total{{method=\"{method}\",outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

#[test]
fn cancelled_calls_are_counted_and_the_server_stops_their_work() {
    // 100 calls of a tool that takes 200 ms; half are cancelled 20 ms after their send.
    // Enough connections that no call waits for one (a call cancelled before it was sent
    // never reaches the server).
    let yaml = |version: &str| {
        format!(
            "scenario:\n  name: cancel\n  clients: 2\n  connections: 16\n  protocol_version: \"{version}\"\n  phases:\n    - name: p\n      duration: 2s\n      rps: 50\n  requests:\n    - type: tool_call\n      tool: sleep\n      arguments: {{ ms: 200 }}\n      weight: 100%\n      cancel:\n        share: 50%\n        after: 20ms\n"
        )
    };
    for version in ["2025-06-18", "2026-07-28"] {
        let rt = runtime();
        let server = refserver(&["--agent-tools"]);
        let running = rt
            .block_on(SutSpec::Embedded(server).start(None))
            .expect("reference server");
        let url = running.endpoint().to_string();
        let dir = tempfile::tempdir().unwrap();
        let file = scenario_file(dir.path(), "cancel", &yaml(version));
        let r = rt.block_on(async {
            let scenario = harness::scenario::load(&file).unwrap();
            let sut = SutSpec::Url {
                url: url.parse().unwrap(),
                allow_remote: false,
                pid: None,
            };
            harness::run::run_scenario(&scenario, &sut, &crate::quiet(), dir.path())
                .await
                .unwrap()
                .record
        });
        let op = &r.operations[0];
        assert_eq!(r.errors.total, 0, "{version}: {:?}", r.errors);
        assert_eq!(op.ok + op.cancelled, 100, "{version}");
        assert!(
            (35..=65).contains(&op.cancelled),
            "{version}: {}",
            op.cancelled
        );
        // Every cancelled call stopped on the server: counted there as cancelled work,
        // and no more of them finished than the harness saw finish.
        std::thread::sleep(std::time::Duration::from_millis(400));
        let metrics = metrics_of(&url);
        let stopped = requests_total(&metrics, "tools/call", "cancelled");
        let finished = requests_total(&metrics, "tools/call", "ok");
        assert_eq!(
            (stopped, finished),
            (op.cancelled, op.ok),
            "{version}: {metrics}"
        );
        let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        assert!(report.contains("Cancelled by the harness"), "{report}");
        rt.block_on(running.stop());
    }
}

#[test]
fn server_questions_are_answered_and_timed_apart_from_the_final_answer() {
    // 50 calls of a tool that asks the client to sample a message first: a server
    // request before 2026-07-28, an input_required result in 2026-07-28. Each is answered
    // 10 ms later, so every final answer comes at least 10 ms after its first question.
    let yaml = |version: &str| {
        format!(
            "scenario:\n  name: ask\n  clients: 2\n  protocol_version: \"{version}\"\n  server_requests:\n    answer_after: 10ms\n  phases:\n    - name: p\n      duration: 2s\n      rps: 25\n  requests:\n    - type: tool_call\n      tool: ask\n      weight: 100%\n"
        )
    };
    for (version, transport) in [
        ("2025-06-18", Transport::Http),
        ("2025-06-18", Transport::Stdio),
        ("2026-07-28", Transport::Http),
        ("2026-07-28", Transport::Stdio),
    ] {
        let what = format!("{version} over {transport}");
        let dir = tempfile::tempdir().unwrap();
        let file = scenario_file(dir.path(), "ask", &yaml(version));
        let sut = SutSpec::Embedded(refserver(&["--agent-tools"]).with_transport(transport));
        let r = run(&file, sut, dir.path());
        assert_eq!(
            (r.throughput.ok, r.errors.total),
            (50, 0),
            "{what}: {:?}",
            r.errors
        );
        assert_eq!(r.questions_answered, Some(50), "{what}");
        let op = &r.operations[0];
        let final_p50 = op.latency.p50_us;
        // Over a stream transport a server request cannot be told apart by the call it
        // belongs to; 2026-07-28's input_required results always can.
        if transport == Transport::Http || version == "2026-07-28" {
            let first = op.first_question.as_ref().expect("first questions timed");
            assert!(
                final_p50 >= first.p50_us + 9_900,
                "{what}: first {} final {final_p50}",
                first.p50_us
            );
        }
        assert!(final_p50 >= 10_000, "{what}: {final_p50}");
        let report = std::fs::read_to_string(dir.path().join("ask/report.md")).unwrap();
        assert!(report.contains("### Server Round Trips"), "{what}");
    }
}

#[test]
fn notification_streams_stay_open_and_their_updates_are_timed() {
    // 2 sessions hold their stream open for a 2 s run (1 s warm-up); the server sends an
    // update every 100 ms to each: about 30 per session, stamped with their send time.
    let yaml = |version: &str| {
        format!(
            "scenario:\n  name: listen\n  clients: 2\n  protocol_version: \"{version}\"\n  warmup: 1s\n  listen:\n    resource: \"ref://clock\"\n  phases:\n    - name: p\n      duration: 2s\n      rps: 20\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n"
        )
    };
    for (version, transport) in [
        ("2025-06-18", Transport::Http),
        ("2026-07-28", Transport::Http),
        ("2025-06-18", Transport::Stdio),
        ("2026-07-28", Transport::Stdio),
    ] {
        let what = format!("{version} over {transport}");
        let dir = tempfile::tempdir().unwrap();
        let file = scenario_file(dir.path(), "listen", &yaml(version));
        let sut = SutSpec::Embedded(refserver(&["--agent-tools"]).with_transport(transport));
        let r = run(&file, sut, dir.path());
        assert_eq!(
            (r.throughput.ok, r.errors.total),
            (40, 0),
            "{what}: {:?}",
            r.errors
        );
        let n = r.notifications.as_ref().expect("notifications recorded");
        assert_eq!(n.streams_opened, 2, "{what}: {n:?}");
        // Closing the sessions at the end is not a drop.
        assert_eq!(n.streams_dropped, 0, "{what}: {n:?}");
        assert!(n.received >= 2 * 15, "{what}: {n:?}");
        let delivery = n.delivery.as_ref().expect("stamped updates timed");
        assert!(delivery.p50_us < 100_000, "{what}: {delivery:?}");
        let report = std::fs::read_to_string(dir.path().join("listen/report.md")).unwrap();
        assert!(report.contains("### Notification Streams"), "{what}");
    }
}
