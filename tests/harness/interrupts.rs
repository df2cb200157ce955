//! `erlmcp-perf run` (and `capacity`, `calibrate`) stopped by Ctrl-C or SIGTERM keeps what
//! it measured: the sends end, the answers in flight come back, and `record.json` and
//! `report.md` are written marked interrupted, with exit code 130; a container SUT is still
//! removed.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::containers::{containers_of, docker_ready};
use crate::{BIN, scenario_file, wait_bounded};

/// 30 s at 200 requests per second after a 1 s warm-up: far longer than the test waits.
const LONG: &str = "scenario:\n  name: long\n  clients: 4\n  warmup: 1s\n  timeout: 2s\n  phases:\n    - name: p\n      duration: 30s\n      rps: 200\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n";

/// Starts `erlmcp-perf run` of [`LONG`] against `sut` (a `--sut` value, or the reference
/// server), its results under `out`.
fn start(dir: &Path, sut: Option<&str>) -> Child {
    let file = scenario_file(dir, "long", LONG);
    let mut command = Command::new(BIN);
    command
        .arg("run")
        .arg(&file)
        .args(["--quiet", "--out"])
        .arg(dir.join("out"))
        .env_remove("ERLMCP_PERF_REFSERVER_FAULTS")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(sut) = sut {
        command.args(["--sut", sut]);
    }
    command.spawn().expect("start erlmcp-perf run")
}

/// Waits until the run has measured for a few seconds (its SUT log exists, then 6 s),
/// signals it, and returns its exit code and record.
fn interrupt(mut child: Child, dir: &Path, signal: libc::c_int) -> (Option<i32>, Value) {
    let log = dir.join("out/long/sut.log");
    let until = Instant::now() + Duration::from_secs(90);
    while !log.exists() {
        if Instant::now() > until || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run never started");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(6));
    // SAFETY: signalling our own child process by pid; it has not been reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
    let status = wait_bounded(&mut child, Duration::from_secs(30))
        .expect("the interrupted run did not exit in time");
    let record = std::fs::read(dir.join("out/long/record.json")).expect("record.json written");
    (
        status.code(),
        serde_json::from_slice(&record).expect("a complete record"),
    )
}

fn assert_interrupted(code: Option<i32>, record: &Value, dir: &Path) {
    assert_eq!(code, Some(130), "its own exit code");
    let stop = &record["interrupted"];
    let covered = stop["measured_seconds_covered"]
        .as_f64()
        .expect("marked interrupted");
    assert!((0.5..29.0).contains(&covered), "{stop}");
    assert_eq!(
        stop["measured_seconds_planned"].as_f64(),
        Some(30.0),
        "{stop}"
    );
    assert_eq!(record["measured_seconds"].as_f64(), Some(covered));
    let t = &record["throughput"];
    let attempts = t["attempts"].as_u64().unwrap();
    assert!(attempts > 50, "{t}");
    // Every request sent was answered: none was cut off by the stop.
    assert_eq!(
        record["errors"]["total"].as_u64(),
        Some(0),
        "{}",
        record["errors"]
    );
    let planned = stop["planned_before"].as_u64().unwrap();
    assert_eq!(t["planned"].as_u64(), Some(planned), "{t}");
    assert!(planned > 50, "{stop}");
    let report = std::fs::read_to_string(dir.join("out/long/report.md")).unwrap();
    assert!(report.contains("**Interrupted**"), "{report}");
}

#[test]
fn ctrl_c_stops_the_load_and_keeps_a_complete_record() {
    let dir = tempfile::tempdir().unwrap();
    let child = start(dir.path(), None);
    let (code, record) = interrupt(child, dir.path(), libc::SIGINT);
    assert_interrupted(code, &record, dir.path());
}

#[test]
fn sigterm_keeps_the_record_and_removes_the_container() {
    if !docker_ready("sigterm_keeps_the_record_and_removes_the_container") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let child = start(dir.path(), Some("reference-container"));
    let pid = child.id();
    let (code, record) = interrupt(child, dir.path(), libc::SIGTERM);
    assert_interrupted(code, &record, dir.path());
    assert_eq!(containers_of(pid), Vec::<String>::new());
}

/// Starts `command` (quiet, against the reference server, in the workspace), sends it SIGINT
/// `after` the path `sign` appears (within `limit`), and returns its exit code.
fn interrupt_once(
    mut command: Command,
    sign: &Path,
    limit: Duration,
    after: Duration,
) -> Option<i32> {
    let mut child = command
        .env_remove("ERLMCP_PERF_REFSERVER_FAULTS")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start erlmcp-perf");
    let until = Instant::now() + limit;
    while !sign.exists() {
        if Instant::now() > until || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} never appeared", sign.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(after);
    // SAFETY: signalling our own child process by pid; it has not been reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    wait_bounded(&mut child, Duration::from_secs(30))
        .expect("the interrupted command did not exit in time")
        .code()
}

#[test]
fn an_interrupted_sweep_writes_the_steps_it_finished() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "sweep",
        "scenario:\n  name: sweep\n  clients: 4\n  warmup: 100ms\n  timeout: 2s\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n  capacity:\n    start: 100\n    max: 1600\n    factor: 2\n    step_duration: 3s\n",
    );
    let out = dir.path().join("out");
    let mut command = Command::new(BIN);
    command
        .arg("capacity")
        .arg(&file)
        .args(["--quiet", "--out"])
        .arg(&out);
    // Stop it a second and a half into its second step.
    let code = interrupt_once(
        command,
        &out.join("sweep/step-01/record.json"),
        Duration::from_secs(60),
        Duration::from_millis(1500),
    );
    assert_eq!(code, Some(130));
    let result: Value =
        serde_json::from_slice(&std::fs::read(out.join("sweep/capacity.json")).unwrap()).unwrap();
    assert_eq!(result["interrupted"], Value::Bool(true), "{result}");
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "only the finished step counts: {result}");
    let second: Value =
        serde_json::from_slice(&std::fs::read(out.join("sweep/step-02/record.json")).unwrap())
            .unwrap();
    assert!(second["interrupted"].is_object(), "{second}");
}

#[test]
fn an_interrupted_calibration_reports_the_reruns_it_finished() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "study",
        "scenario:\n  name: study\n  clients: 2\n  warmup: 200ms\n  phases:\n    - name: p\n      duration: 1s\n      rps: 100\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n",
    );
    let out = dir.path().join("out");
    let mut command = Command::new(BIN);
    command
        .arg("calibrate")
        .arg("--scenario")
        .arg(&file)
        .args(["--quick", "--trials", "2", "--duration-scale", "1", "--out"])
        .arg(&out);
    // Stop it as its second round begins: every case has one rerun.
    let code = interrupt_once(
        command,
        &out.join("unchanged/rerun-2"),
        Duration::from_secs(120),
        Duration::ZERO,
    );
    assert_eq!(code, Some(130));
    let study: Value =
        serde_json::from_slice(&std::fs::read(out.join("study.json")).unwrap()).unwrap();
    let study = &study["study"];
    assert_eq!(study["interrupted_in_round"], 2, "{study}");
    for case in study["cases"].as_array().unwrap() {
        assert_eq!(case["reruns"].as_array().unwrap().len(), 1, "{case}");
    }
    let doc = std::fs::read_to_string(out.join("gate-accuracy.md")).unwrap();
    assert!(doc.contains("**Interrupted** in round 2"), "{doc}");
}
