//! Baselines and the gate end to end: receipts, scenario versions, and a same-run A/B that
//! catches a 20 ms slower server and passes an unchanged one.

use std::process::Command;

use harness::check::{CheckError, CheckOptions, check_same_run, load_baseline};
use harness::gate::Status;
use harness::scenario;
use harness::store::{Baseline, Document};
use harness::sut::SutSpec;

use crate::{BIN, quiet, refserver, run, runtime, scenario_file};

const SMALL: &str = "scenario:\n  name: small\n  clients: 4\n  warmup: 1s\n  phases:\n    - name: p\n      duration: 4s\n      rps: 300\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n  gate:\n    threshold: 30%\n    max_trials: 6\n";

#[test]
fn committed_baselines_verify_and_a_changed_digit_does_not() {
    let root = env!("CARGO_MANIFEST_DIR");
    let committed = format!("{root}/baselines/reference/amd-epyc-2cpu/warmup.json");
    let ok = Command::new(BIN)
        .args(["verify", &committed])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = std::fs::read_to_string(&committed).unwrap();
    // Change one digit of a measured figure.
    let at = text.find("\"p99_us\": ").unwrap() + "\"p99_us\": ".len();
    let digit = text.as_bytes()[at];
    let other = if digit == b'9' {
        '8'
    } else {
        (digit + 1) as char
    };
    let tampered = format!("{}{other}{}", &text[..at], &text[at + 1..]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warmup.json");
    std::fs::write(&path, tampered).unwrap();
    let out = Command::new(BIN).arg("verify").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("receipt mismatch"), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
}

#[test]
fn baseline_of_another_scenario_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "small", &SMALL.replace("4s", "1s"));
    let record = run(&file, SutSpec::Embedded(refserver(&[])), dir.path());
    let path = dir.path().join("small.json");
    Baseline::from_runs("reference", &[record], "2026-01-01T00:00:00Z".into())
        .write(&path)
        .unwrap();
    let same = scenario::load(&file).unwrap();
    assert!(load_baseline(&path, &same).is_ok());
    // Edit the scenario: the baseline no longer describes it.
    std::fs::write(&file, SMALL.replace("4s", "2s")).unwrap();
    let edited = scenario::load(&file).unwrap();
    let err = load_baseline(&path, &edited).unwrap_err();
    assert!(matches!(err, CheckError::Baseline(_)), "{err}");
    assert!(
        err.to_string().contains("recorded for another version"),
        "{err}"
    );
    let missing = load_baseline(&dir.path().join("none.json"), &edited).unwrap_err();
    assert!(matches!(missing, CheckError::MissingBaseline(_)));
}

/// A same-run A/B of [`SMALL`]. Its 30% threshold (REGRESSION beyond 45%) is for trials of
/// 1,200 requests answered in a few hundred microseconds: between two sets of trials of
/// one unchanged server here, P95 moved by 41% with the sets fully apart.
fn ab(dir: &std::path::Path, faults: Option<String>, trials: usize) -> harness::check::GateResult {
    let file = scenario_file(dir, "small", SMALL);
    let scenario = scenario::load(&file).unwrap();
    let options = CheckOptions {
        run: quiet(),
        trials,
        profile: "reference".into(),
    };
    let base = SutSpec::Embedded(refserver(&[]));
    let current = SutSpec::Embedded(refserver(&[]).with_faults(faults));
    runtime()
        .block_on(check_same_run(
            &scenario,
            &base,
            &current,
            &options,
            &dir.join("ab"),
        ))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_server_20ms_slower_fails_the_gate_naming_p99() {
    // 20 ms on every request: far beyond the P99 of 1,200 requests on a shared 2-core
    // machine, which scheduling alone has pushed to 4 ms as the median of five trials in CI
    // (where a 2 ms slowdown left P99 at +1.2%; docs/gate-accuracy.md measures the small
    // slowdowns). 16 connections carry 300 req/s of 20 ms requests at under half their
    // capacity, so the slowed server is slower, not saturated. Five trials a side, so that
    // one baseline trial whose P99 a hiccup pushed up cannot veto the verdict (with five, up
    // to three overlaps still give p <= 0.03). The warm-up keeps a cold server's first
    // answers out of the measurement.
    let dir = tempfile::tempdir().unwrap();
    let result = ab(dir.path(), Some("latency=20ms".into()), 5);
    let p99 = result
        .verdict
        .metrics
        .iter()
        .find(|m| m.group == "Latency" && m.name == "P99")
        .unwrap();
    assert_eq!(p99.status, Status::Regression, "{}", result.tables);
    assert_eq!(result.verdict.status, Status::Regression);
    assert!(
        result.tables.contains("- **Latency P99:**"),
        "{}",
        result.tables
    );
    let report = std::fs::read_to_string(&result.report).unwrap();
    assert!(report.contains("# Performance Regression Report") && report.contains("❌ REGRESSION"));
    let charts = result.report.parent().unwrap();
    assert!(charts.join("latency-spectrum.svg").is_file() && charts.join("gate.json").is_file());
}

#[test]
fn an_unchanged_rerun_passes() {
    let dir = tempfile::tempdir().unwrap();
    // Five trials a side, as the slowed case: with three, one set of trials whose P99 two
    // host hiccups pushed up was fully apart from the other (P99 +88%, p=0.05) in 1 of 15
    // reruns here; the median of five moves only when three trials do.
    let result = ab(dir.path(), None, 5);
    assert_ne!(
        result.verdict.status,
        Status::Regression,
        "{}",
        result.tables
    );
}
