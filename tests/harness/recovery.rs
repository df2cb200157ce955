//! A server that restarts, or closes connections under the load, as real ones do: the lost
//! sessions are opened again, a request the server closed its connection on unread is sent
//! once more, only the requests sent while the server was down fail, and the report says
//! when it stopped and when it answered again.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use harness::load::{LoadPlan, Progress};
use harness::mcp::Endpoint;
use harness::run::{results_dir, run_scenario};
use harness::scenario;
use harness::sut::SutSpec;

use crate::{BIN, quiet, refserver, run, runtime, scenario_file};

/// 2 clients with 4 connections each at 100 req/s: every connection sits idle for about
/// 80 ms between its requests, beyond the 20 ms after which the server closes it.
const IDLE: &str = "scenario:\n  name: idle\n  clients: 2\n  warmup: 500ms\n  phases:\n    - name: p\n      duration: 4s\n      rps: 100\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n";

#[test]
fn a_server_closing_idle_connections_as_requests_arrive_costs_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "idle", IDLE);
    let sut = SutSpec::Embedded(refserver(&[]).with_faults(Some("idle_close=20ms".into())));
    let record = run(&file, sut, dir.path());
    assert_eq!(record.errors.total, 0, "{:?}", record.errors.by_class);
    assert_eq!(record.throughput.ok, record.throughput.planned);
    let recovery = record.recovery.as_ref().expect("the re-sends are recorded");
    // Nearly every request after a connection's first finds it closed.
    assert!(recovery.resends >= 100, "{recovery:?}");
    assert!(recovery.outages.is_empty(), "{recovery:?}");
    assert_eq!(recovery.session_lost, 0);
    let report = std::fs::read_to_string(dir.path().join("idle/report.md")).unwrap();
    assert!(
        report.contains("### Recovery") && report.contains("sent once more on a new connection"),
        "{report}"
    );
}

/// 4 stateful sessions at 200 req/s for 8 s after a 1 s warm-up.
const RESTART: &str = "scenario:\n  name: restart\n  clients: 4\n  warmup: 1s\n  phases:\n    - name: p\n      duration: 8s\n      rps: 200\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n";

/// The reference server as its own process with `flags`, once it accepts.
fn start_server(flags: &[&str]) -> Child {
    let mut child = Command::new(BIN)
        .arg("refserver")
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the reference server");
    let stdout = child.stdout.take().expect("piped stdout");
    // With `--tcp-bind` the TCP line comes first; the HTTP line is the last and means ready.
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("a ready line before the end of output")
            .expect("read the ready line");
        if line.starts_with(refserver::LISTENING_PREFIX) {
            break;
        }
        assert!(
            line.starts_with(refserver::TCP_LISTENING_PREFIX),
            "not ready: {line:?}"
        );
    }
    child
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// Kills `server` 3 s after the load started (2 s into its measured time) and starts it
/// again with `flags` a second later; how long it was down, to its ready line.
fn restart_after_3s(server: &mut Child, flags: &[&str]) -> f64 {
    std::thread::sleep(Duration::from_secs(3));
    server.kill().unwrap();
    server.wait().unwrap();
    let died = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    *server = start_server(flags);
    died.elapsed().as_secs_f64()
}

/// An outage of `span` seconds with `failed` requests at [`RESTART`]'s 200 req/s is the
/// `down` seconds the server was down, to a beat or two at either end.
fn assert_outage_spans_the_downtime(span: f64, failed: u64, down: f64) {
    assert!(
        span >= down - 0.3 && span <= down + 0.5,
        "{span:.2} s without answers for {down:.2} s down"
    );
    assert!(
        failed as f64 <= 200.0 * (down + 0.5),
        "{failed} failed in {down:.2} s down"
    );
}

#[test]
fn a_stateful_server_restarted_mid_run_gets_its_sessions_back() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut server = start_server(&["--bind", &bind]);
    let scenario = scenario::load(&scenario_file(dir.path(), "restart", RESTART)).unwrap();
    let out = results_dir(dir.path(), &scenario);
    let sut = SutSpec::Url {
        url: format!("http://127.0.0.1:{port}/mcp").parse().unwrap(),
        allow_remote: false,
        pid: None,
    };
    let rt = runtime();
    let load = rt.spawn(async move { run_scenario(&scenario, &sut, &quiet(), &out).await });

    // 2 s into the measured time the server dies, and is back a second later: its sessions
    // are gone.
    let down = restart_after_3s(&mut server, &["--bind", &bind]);

    let result = rt.block_on(load).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let result = result.unwrap_or_else(|e| panic!("{e}"));
    let record = &result.record;
    assert!(record.scenario.stateful_sessions);
    let recovery = record.recovery.as_ref().expect("a recovery");
    assert_eq!(recovery.session_lost, 4, "{recovery:?}");
    assert_eq!(recovery.session_renewals_failed, 0, "{recovery:?}");
    assert_eq!(recovery.outages.len(), 1, "{recovery:?}");
    let outage = &recovery.outages[0];
    // Every failure is a request sent while the server was down.
    assert_eq!(outage.failed, record.errors.total, "{recovery:?}");
    let back = outage.answered_again_seconds.expect("it answered again");
    assert!(
        (1.5..=2.5).contains(&outage.from_seconds),
        "stopped at {outage:?}"
    );
    assert_outage_spans_the_downtime(back - outage.from_seconds, outage.failed, down);
    // After it, everything was answered.
    let after = record
        .windows
        .iter()
        .filter(|w| w.second as f64 >= back.ceil());
    for w in after {
        assert_eq!(w.failed, 0, "{w:?}");
    }
    let report = std::fs::read_to_string(&result.files.report).unwrap();
    assert!(
        report.contains("### Recovery")
            && report.contains("The server stopped answering at")
            && report.contains("4 sessions lost (HTTP 404"),
        "{report}"
    );
}

#[test]
fn a_tcp_server_restarted_mid_run_is_dialed_again() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let flags = ["--tcp-bind", bind.as_str()];
    let mut server = start_server(&flags);
    let scenario = scenario::load(&scenario_file(dir.path(), "restart", RESTART)).unwrap();
    let plan = Arc::new(LoadPlan::new(&scenario));
    let endpoint = Endpoint::Tcp(bind.parse().unwrap());
    let rt = runtime();
    let load = rt.spawn(async move {
        harness::load::run(plan, &[endpoint], Arc::new(Progress::default())).await
    });
    let down = restart_after_3s(&mut server, &flags);
    let outcome = rt.block_on(load).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}"));
    let overall = outcome.stats.overall();
    // Each of the 4 connections broke once and was dialed again.
    assert_eq!(outcome.recovery.renewals.len(), 4, "{:?}", outcome.recovery);
    let outages = harness::load::outages(&outcome.stats.beats);
    assert_eq!(outages.len(), 1, "{outages:?}");
    let outage = &outages[0];
    assert_eq!(
        outage.failed,
        overall.failed(),
        "{outage:?} {:?}",
        overall.errors
    );
    let back = outage.answered_again.expect("it answered again");
    assert_outage_spans_the_downtime((back - outage.from).as_secs_f64(), outage.failed, down);
    assert_eq!(
        overall.attempts(),
        1_600,
        "every request of the schedule went out"
    );
}
