//! Baselines and machines: a baseline of another machine class or host does not fail the
//! gate by the machine alone but still catches a real regression; a baseline of another
//! measurement method is refused; every committed baseline is of the current method and
//! filed under its machine's class.

use std::path::{Path, PathBuf};

use harness::capacity::CapacityResult;
use harness::check::{CheckOptions, check_against_file, load_baseline, update_baseline};
use harness::gate::{Comparison, Side, Status, gate};
use harness::load::METHOD_VERSION;
use harness::record::Figures;
use harness::scenario;
use harness::store::{Baseline, Document, locate, read_json, receipt_of, write_sorted_json};
use harness::sut::SutSpec;
use serde_json::Value;

use crate::{quiet, refserver, runtime, scenario_file};

const SMALL: &str = "scenario:\n  name: small\n  clients: 4\n  warmup: 1s\n  phases:\n    - name: p\n      duration: 2s\n      rps: 600\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n";

fn options() -> CheckOptions {
    CheckOptions {
        run: quiet(),
        trials: 3,
        profile: "reference".into(),
    }
}

/// Rewrites a baseline as the update flag would have written it after `edit`: the edited
/// JSON, keys sorted, its receipt recomputed.
fn edit_baseline(from: &Path, to: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value = read_json(from).unwrap();
    edit(&mut value);
    let receipt = receipt_of(value.clone());
    value["receipt"]["sha256"] = Value::String(receipt);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    write_sorted_json(to, &value).unwrap();
}

/// The fingerprint of a machine of another class.
fn other_machine(value: &mut Value) {
    let machine = &mut value["environment"]["machine"];
    machine["class"] = "other-cpu-2cpu".into();
    machine["cpu_model"] = "Other CPU".into();
    value["environment"]["cpu_model"] = "Other CPU".into();
}

/// Multiplies every latency of every run by `factor`.
fn scale_latencies(value: &mut Value, factor: f64) {
    fn scale(v: &mut Value, factor: f64) {
        match v {
            Value::Object(map) => {
                for (k, x) in map.iter_mut() {
                    match x.as_u64() {
                        Some(us) if k.ends_with("_us") => {
                            *x = ((us as f64 * factor).round() as u64).into();
                        }
                        _ => scale(x, factor),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|x| scale(x, factor)),
            _ => {}
        }
    }
    scale(&mut value["runs"], factor);
}

#[test]
fn a_baseline_of_another_machine_warns_and_still_catches_a_2ms_slower_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "small", SMALL);
    let scenario = scenario::load(&file).unwrap();
    let rt = runtime();
    let here = dir.path().join("baselines/here.json");
    let recorded = rt
        .block_on(update_baseline(
            &scenario,
            &SutSpec::Embedded(refserver(&[])),
            &options(),
            &here,
            &dir.path().join("record"),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let machine = recorded.environment.machine.clone().expect("a fingerprint");
    assert_eq!(recorded.environment.method_version, METHOD_VERSION);
    assert!(machine.probe.is_some(), "{machine:?}");

    // The same data, as if recorded on a machine of another class.
    let other = dir.path().join("baselines/other.json");
    edit_baseline(&here, &other, other_machine);
    assert!(
        Baseline::load(&other).is_ok(),
        "the edited receipt verifies"
    );

    let unchanged = rt
        .block_on(check_against_file(
            &scenario,
            &SutSpec::Embedded(refserver(&[])),
            &options(),
            &other,
            &dir.path().join("unchanged"),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(unchanged.verdict.comparison, Comparison::OtherMachine(_)),
        "{:?}",
        unchanged.verdict.comparison
    );
    assert_ne!(
        unchanged.verdict.status,
        Status::Regression,
        "{}",
        unchanged.tables
    );
    assert!(
        unchanged
            .tables
            .contains("The baseline was recorded on another machine"),
        "{}",
        unchanged.tables
    );
    let report = std::fs::read_to_string(&unchanged.report).unwrap();
    assert!(
        report.contains("The baseline was recorded on another machine")
            && report.contains("`other-cpu-2cpu` (Other CPU")
            && report.contains(&format!("`{}`", machine.class)),
        "{report}"
    );

    // The other machine was 1.5x faster: across classes that is what a machine difference
    // looks like, and does not fail (that the same figures fail within one class is
    // asserted on fixed figures in the gate's unit tests: on a busy host a run's own noise
    // can reach 1.5x).
    let faster = dir.path().join("baselines/faster.json");
    edit_baseline(&here, &faster, |v| scale_latencies(v, 1.0 / 1.5));
    let faster_other = dir.path().join("baselines/faster-other.json");
    edit_baseline(&faster, &faster_other, other_machine);
    let current: Vec<Figures> = unchanged.records.iter().map(Figures::of).collect();
    let base = Baseline::load(&faster_other).unwrap();
    let here_now = harness::store::machine_of(&unchanged.records);
    let comparison = Comparison::of_file(base.environment.machine.as_ref(), here_now.as_ref());
    let across = gate(
        Side::runs(&base.runs),
        Side::runs(&current),
        &scenario.gate,
        comparison,
    );
    assert_ne!(across.status, Status::Regression);

    // The file recorded here, in this boot, is gated closely; the same file as if recorded
    // on another host of this class (or before a reboot) is gated across machines.
    let at = |path: &Path| {
        let b = Baseline::load(path).unwrap();
        Comparison::of_file(b.environment.machine.as_ref(), here_now.as_ref())
    };
    assert_eq!(at(&here), Comparison::File);
    let other_host = dir.path().join("baselines/other-host.json");
    edit_baseline(&here, &other_host, |v| {
        v["environment"]["machine"]["host"] = "boot-000000000000".into();
    });
    assert!(
        matches!(at(&other_host), Comparison::OtherMachine(a) if a.same_class),
        "{:?}",
        at(&other_host)
    );

    // A real regression is still caught against the other machine's baseline.
    let slower = rt
        .block_on(check_against_file(
            &scenario,
            &SutSpec::Embedded(refserver(&[]).with_faults(Some("latency=2ms".into()))),
            &options(),
            &other,
            &dir.path().join("slower"),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        slower.verdict.status,
        Status::Regression,
        "{}",
        slower.tables
    );
    assert!(
        slower.tables.contains("another machine"),
        "{}",
        slower.tables
    );
}

#[test]
fn a_baseline_of_another_measurement_method_is_refused_with_the_re_record_command() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "small", &SMALL.replace("2s", "1s"));
    let scenario = scenario::load(&file).unwrap();
    let here = dir.path().join("here.json");
    runtime()
        .block_on(update_baseline(
            &scenario,
            &SutSpec::Embedded(refserver(&[])),
            &CheckOptions {
                trials: 1,
                ..options()
            },
            &here,
            &dir.path().join("record"),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(load_baseline(&here, &scenario).is_ok());
    let old = dir.path().join("old.json");
    edit_baseline(&here, &old, |v| {
        v["environment"]
            .as_object_mut()
            .unwrap()
            .remove("method_version");
    });
    let err = load_baseline(&old, &scenario).unwrap_err().to_string();
    assert!(
        err.contains("method version 1")
            && err.contains(&format!("version {METHOD_VERSION}"))
            && err.contains("ERLMCP_PERF_UPDATE_BASELINES=1 cargo nextest run --profile perf")
            && err.contains(&old.display().to_string()),
        "{err}"
    );
}

/// Every `*.json` under `dir`, recursively.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_committed_baseline_is_of_this_method_and_scenario_and_filed_under_its_machine_class() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("baselines");
    let files = json_files(&root);
    assert!(!files.is_empty());
    for path in files {
        let value = read_json(&path).unwrap();
        let (environment, identity) =
            if value.get("kind").and_then(Value::as_str) == Some("capacity") {
                let c = CapacityResult::load(&path).unwrap_or_else(|e| panic!("{e}"));
                (c.environment, c.scenario)
            } else {
                let b = Baseline::load(&path).unwrap_or_else(|e| panic!("{e}"));
                (b.environment, b.scenario)
            };
        // Recorded from the scenario file as it is now: a change to the file re-records
        // every baseline of it, of every SUT profile and class.
        let scenario = scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(&identity.file))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            identity.sha256,
            scenario.source.sha256,
            "{} was recorded for another version of {}: re-record it with ERLMCP_PERF_UPDATE_BASELINES=1",
            path.display(),
            identity.file
        );
        assert_eq!(
            environment.method_version,
            METHOD_VERSION,
            "{} was measured with another method: re-record it",
            path.display()
        );
        let machine = environment
            .machine
            .unwrap_or_else(|| panic!("{} has no machine fingerprint", path.display()));
        let class_dir = path.parent().and_then(Path::file_name).unwrap();
        assert_eq!(
            class_dir.to_string_lossy(),
            machine.class,
            "{} is not filed under its machine's class",
            path.display()
        );
    }
}

#[test]
fn baselines_are_found_by_machine_class_then_any_class() {
    let dir = tempfile::tempdir().unwrap();
    let sut = dir.path();
    let none = locate(sut, "a-2cpu", "x");
    assert_eq!(none.read, None);
    assert_eq!(none.record, sut.join("a-2cpu/x.json"));
    std::fs::create_dir_all(sut.join("b-2cpu")).unwrap();
    std::fs::write(sut.join("b-2cpu/x.json"), "{}").unwrap();
    std::fs::create_dir_all(sut.join("a-64cpu")).unwrap();
    std::fs::write(sut.join("a-64cpu/x.json"), "{}").unwrap();
    // Another class with as many CPUs comes before one of the same model with more.
    assert_eq!(
        locate(sut, "a-2cpu", "x").read,
        Some(sut.join("b-2cpu/x.json"))
    );
    std::fs::create_dir_all(sut.join("a-2cpu")).unwrap();
    std::fs::write(sut.join("a-2cpu/x.json"), "{}").unwrap();
    let own = locate(sut, "a-2cpu", "x");
    assert_eq!(own.read, Some(sut.join("a-2cpu/x.json")));
    assert_eq!(own.record, sut.join("a-2cpu/x.json"));
}
