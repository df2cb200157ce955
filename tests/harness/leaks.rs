//! A soak's leak check: a reference server that keeps memory for every request (the `leak`
//! fault) gets the leak verdict, and fails its run; the unchanged server does not.

use harness::sut::SutSpec;

use crate::{refserver, run, scenario_file};

/// 300 requests a second for 20 s; 16 KiB kept per request is about 280 MiB a minute,
/// against a limit of 20 MiB a minute.
const SOAK: &str = "scenario:
  name: Soak check
  clients: 8
  warmup: 2s
  phases:
    - name: soak
      duration: 20s
      rps: 300
  requests:
    - type: tool_call
      tool: calculator
      weight: 100%
  leak:
    max_growth_per_minute: 20MiB
    cool_down: 3s
";

#[test]
fn a_leaking_server_gets_the_leak_verdict_and_an_unchanged_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "soak", SOAK);
    let leaking = run(
        &file,
        SutSpec::Embedded(refserver(&["--faults", "leak=16KiB"])),
        &dir.path().join("leaking"),
    );
    let verdict = leaking.leak.as_ref().expect("a leak check");
    println!("leaking server: {verdict:?}");
    assert!(verdict.leak, "{verdict:?}");
    assert!(
        verdict.growth_per_minute > 100.0 * 1024.0 * 1024.0,
        "{verdict:?}"
    );
    assert!(verdict.r_squared > 0.9, "{verdict:?}");
    assert_eq!(verdict.returned, Some(false), "{verdict:?}");
    let check = leaking
        .slo
        .iter()
        .find(|c| c.metric == "memory_growth")
        .expect("the leak check among the SLO checks");
    assert!(!check.passed, "{check:?}");
    let report = std::fs::read_to_string(dir.path().join("leaking/soak/report.md")).unwrap();
    assert!(
        report.contains("Memory trend:") && report.contains("LEAK"),
        "{report}"
    );

    let unchanged = run(
        &file,
        SutSpec::Embedded(refserver(&[])),
        &dir.path().join("unchanged"),
    );
    let verdict = unchanged.leak.as_ref().expect("a leak check");
    println!("unchanged server: {verdict:?}");
    assert!(!verdict.leak, "{verdict:?}");
    assert!(
        unchanged.slo.iter().all(|c| c.passed),
        "{:?}",
        unchanged.slo
    );
}
