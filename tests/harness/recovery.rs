//! A server that restarts, or closes connections under the load, as real ones do: the lost
//! sessions are opened again, a request the server closed its connection on unread is sent
//! once more, only the requests sent while the server was down fail, and the report says
//! when it stopped and when it answered again.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    assert_eq!(recovery.sessions_lost, 0);
    let report = std::fs::read_to_string(dir.path().join("idle/report.md")).unwrap();
    assert!(
        report.contains("### Recovery") && report.contains("sent once more on a new connection"),
        "{report}"
    );
}

/// 4 stateful sessions at 200 req/s for 8 s after a 1 s warm-up.
const RESTART: &str = "scenario:\n  name: restart\n  clients: 4\n  warmup: 1s\n  phases:\n    - name: p\n      duration: 8s\n      rps: 200\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n";

/// The reference server as its own process on `port`, once it accepts.
fn start_server(port: u16) -> Child {
    let mut child = Command::new(BIN)
        .args(["refserver", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the reference server");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the ready line");
    assert!(
        line.starts_with(refserver::LISTENING_PREFIX),
        "not ready: {line:?}"
    );
    child
}

#[test]
fn a_stateful_server_restarted_mid_run_gets_its_sessions_back() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut server = start_server(port);
    let scenario = scenario::load(&scenario_file(dir.path(), "restart", RESTART)).unwrap();
    let out = results_dir(dir.path(), &scenario);
    let sut = SutSpec::Url {
        url: format!("http://127.0.0.1:{port}/mcp").parse().unwrap(),
        allow_remote: false,
    };
    let rt = runtime();
    let load = rt.spawn(async move { run_scenario(&scenario, &sut, &quiet(), &out).await });

    // 2 s into the measured time the server dies, and is back a second later: its sessions
    // are gone.
    std::thread::sleep(Duration::from_secs(3));
    server.kill().unwrap();
    server.wait().unwrap();
    let died = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let mut server = start_server(port);
    let down = died.elapsed().as_secs_f64();

    let result = rt.block_on(load).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let result = result.unwrap_or_else(|e| panic!("{e}"));
    let record = &result.record;
    assert!(record.scenario.stateful_sessions);
    let recovery = record.recovery.as_ref().expect("a recovery");
    assert_eq!(recovery.sessions_lost, 4, "{recovery:?}");
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
    let span = back - outage.from_seconds;
    assert!(
        span >= down - 0.3 && span <= down + 0.5,
        "{span:.2} s without answers for {down:.2} s down: {outage:?}"
    );
    assert!(
        outage.failed as f64 <= 200.0 * (down + 0.5),
        "{outage:?} in {down:.2} s"
    );
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
            && report.contains("4 sessions lost (HTTP 404 for its id)"),
        "{report}"
    );
}
