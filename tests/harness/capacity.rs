//! Capacity sweeps against the reference server: the CLI's files and exit codes, and a
//! sweep that finds a breaking point the server's CPU cost fixes.

use std::process::Command;

use harness::capacity::{Limit, StepVerdict};
use harness::scenario;
use harness::sut::SutSpec;
use harness::sweep::{SweepOptions, run_sweep};

use crate::{BIN, quiet, refserver, runtime, scenario_file};

const MIX: &str = "scenario:\n  name: cap\n  clients: 4\n  warmup: 100ms\n  timeout: 1s\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 50%\n    - type: resource_list\n      weight: 50%\n";

#[test]
fn capacity_command_writes_result_chart_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "cap",
        &format!(
            "{MIX}  capacity:\n    start: 50\n    max: 200\n    factor: 2\n    step_duration: 400ms\n"
        ),
    );
    let out = dir.path().join("out");
    let output = Command::new(BIN)
        .arg("capacity")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .env_remove("ERLMCP_PERF_REFSERVER_FAULTS")
        .env_remove("ERLMCP_PERF_DURATION_SCALE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // 50, 100, 200 req/s: far below what the server sustains, so no break up to max.
    assert!(
        stdout.contains("no break up to the sweep's maximum"),
        "{stdout}"
    );
    let json = out.join("cap/capacity.json");
    for f in [
        &json,
        &out.join("cap/capacity.svg"),
        &out.join("cap/step-03/record.json"),
    ] {
        assert!(f.is_file(), "{} missing\n{stdout}", f.display());
    }
    let report = std::fs::read_to_string(out.join("cap/report.md")).unwrap();
    assert!(report.contains("](capacity.svg)"), "{report}");
    let verify = Command::new(BIN).arg("verify").arg(&json).output().unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // Gated against itself: no drop.
    let gated = Command::new(BIN)
        .args(["capacity", "--quiet", "--baseline"])
        .arg(&json)
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .env_remove("ERLMCP_PERF_REFSERVER_FAULTS")
        .env_remove("ERLMCP_PERF_DURATION_SCALE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&gated.stdout);
    assert_eq!(gated.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("OK **Capacity:**"), "{stdout}");
}

#[test]
fn capacity_scenarios_are_refused_by_run_and_bad_ones_by_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "cap",
        &format!("{MIX}  capacity:\n    start: 50\n    max: 200\n    step_duration: 1s\n"),
    );
    let run = Command::new(BIN).arg("run").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is a capacity scenario"), "{stderr}");
    let linear = Command::new(BIN)
        .args(["capacity", "--search", "linear"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&linear.stderr);
    assert_eq!(linear.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the linear search needs a step"),
        "{stderr}"
    );
    let bad = scenario_file(
        dir.path(),
        "bad",
        &format!("{MIX}  capacity:\n    start: 500\n    max: 200\n    step_duration: 1s\n"),
    );
    let output = Command::new(BIN)
        .arg("capacity")
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:14: scenario.capacity.max: must not be below `start` (500)",
            bad.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_cpu_bound_server_breaks_where_its_cost_says() {
    // 4 ms of CPU per request: on this machine's cores the server cannot sustain 500
    // requests per second per core, so a sweep to 3,200 must break, and no rate it
    // reports sustained can exceed that bound.
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "cpu",
        &format!(
            "{MIX}  capacity:\n    start: 100\n    max: 3200\n    factor: 2\n    resolution: 25%\n    step_duration: 500ms\n    break:\n      p99: 200ms\n"
        ),
    );
    let scenario = scenario::load(&file).unwrap();
    let sut = SutSpec::Embedded(refserver(&[]).with_faults(Some("work=4ms".into())));
    let options = SweepOptions {
        run: quiet(),
        strategy: None,
        step_rps: None,
        profile: "reference".into(),
    };
    let result = runtime()
        .block_on(run_sweep(
            &scenario,
            &sut,
            &options,
            &dir.path().join("out"),
            |_| {},
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let bound = cores * 1000.0 / 4.0;
    let table = harness::report::capacity_summary(&result);
    assert_ne!(result.limited_by, Limit::MaxRate, "{table}");
    assert!(result.bracket.first_bad.is_some(), "{table}");
    for s in &result.steps {
        if s.verdict == StepVerdict::Good {
            assert!(
                s.offered_rps <= bound,
                "sustained {} above {bound}\n{table}",
                s.offered_rps
            );
        }
    }
    if let (Some(good), Some(bad)) = (result.bracket.last_good, result.bracket.first_bad) {
        assert!(good < bad, "{table}");
        assert_eq!(
            result.recommended_rps,
            Some((good * 0.8).round()),
            "{table}"
        );
    }
    assert_eq!(result.sut.faults.as_deref(), Some("work=4ms"), "{table}");
}

#[test]
fn a_sweep_of_a_server_that_freezes_after_overload_ends_with_a_written_result() {
    // More than 300 requests in one second freeze the reference server for 8 s, its
    // `initialize` included, as a real server still draining an overload's backlog does.
    // A step at 800 req/s (1 s after a 100 ms warm-up) puts more than 300 requests in some
    // second and breaks it (400 may or may not, as its requests fall into seconds); the next
    // step's sessions cannot open within the 1 s timeout, so the sweep ends there with what
    // it measured, and the files are written.
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "freeze",
        &format!(
            "{MIX}  capacity:\n    start: 100\n    max: 1600\n    factor: 2\n    resolution: 10%\n    step_duration: 1s\n    break:\n      p99: 200ms\n"
        ),
    );
    let scenario = scenario::load(&file).unwrap();
    let sut = SutSpec::Embedded(refserver(&[]).with_faults(Some("overload=300/8s".into())));
    let options = SweepOptions {
        run: quiet(),
        strategy: None,
        step_rps: None,
        profile: "reference".into(),
    };
    let out = dir.path().join("out");
    let result = runtime()
        .block_on(run_sweep(&scenario, &sut, &options, &out, |_| {}))
        .unwrap_or_else(|e| panic!("the sweep must end with a result: {e}"));
    let table = harness::report::capacity_summary(&result);
    let last = result.steps.last().expect("steps");
    assert_eq!(last.verdict, StepVerdict::Broke, "{table}");
    assert!(
        last.reasons
            .iter()
            .any(|r| r.contains("accepted no session")),
        "the last step says why the sweep ended\n{table}"
    );
    assert_eq!(result.limited_by, Limit::Sut, "{table}");
    let (good, bad) = (result.bracket.last_good, result.bracket.first_bad);
    assert!(
        good.is_some_and(|g| g >= 200.0) && bad.is_some_and(|b| b <= 800.0),
        "sustained up to 300 a second, broken by 800\n{table}"
    );
    let files = harness::sweep::write_files(&out, &result, None).expect("written");
    let written = std::fs::read_to_string(&files.result).unwrap();
    assert!(written.contains("\"breaking_point_rps\""), "{written}");
}
