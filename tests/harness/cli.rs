//! The `erlmcp-perf` command line.

use std::process::Command;

use crate::{BIN, scenario_file};

#[test]
fn run_prints_every_operation_of_the_realistic_mix() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args([
            "run",
            "scenarios/realistic.yml",
            "--quiet",
            "--duration-scale",
            "0.01",
        ])
        .arg("--out")
        .arg(out.path())
        .env_remove("ERLMCP_PERF_REFSERVER_FAULTS")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 0, or 1 when a busy machine made the run breach its SLO or fall behind its schedule:
    // either way the run completed and reported.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for op in [
        "tools/call:calculator",
        "tools/call:file_read",
        "resources/list",
        "prompts/list",
    ] {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(op));
        let line = line.unwrap_or_else(|| panic!("no row for {op}:\n{stdout}"));
        assert!(line.contains(" ms") || line.contains(" µs"), "{line}");
    }
    assert!(out.path().join("realistic/record.json").is_file());
    assert!(out.path().join("realistic/report.md").is_file());
}

#[test]
fn bad_scenario_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "bad",
        "scenario:\n  name: bad\n  phases:\n    - name: p\n      duration: 0s\n      rps: 10\n  requests:\n    - type: ping\n      weight: 100%\n",
    );
    for sub in ["check", "run"] {
        let output = Command::new(BIN).arg(sub).arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{sub}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{}:5: scenario.phases[0].duration: must be greater than zero",
                file.display()
            )),
            "{sub}: {stderr}"
        );
    }
}

#[test]
fn transport_is_checked_and_only_for_the_embedded_server() {
    for (args, expected) in [
        (&["--transport", "quic"][..], "unknown transport \"quic\""),
        (
            &["--transport", "tcp", "--url", "http://127.0.0.1:1/mcp"][..],
            "cannot be used with",
        ),
    ] {
        let output = Command::new(BIN)
            .args(["run", "scenarios/warmup.yml", "--quiet"])
            .args(args)
            .env_remove("ERLMCP_PERF_TRANSPORT")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
