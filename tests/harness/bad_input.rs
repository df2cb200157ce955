//! Bad files are refused with a clear error (file, field or line, reason) before anything
//! starts, and refusing them changes nothing on disk: SUT profiles and baselines. (Scenario
//! files have their table in `harness/src/scenario/tests.rs` and the CLI test in `cli.rs`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::check::{CheckError, CheckOptions, check_against_file, load_baseline};
use harness::scenario;
use harness::store::DocumentError;
use harness::sut::{SutSpec, profile};
use serde_json::Value;

use crate::{BIN, quiet, runtime};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// --- SUT profiles ----------------------------------------------------------------------

#[test]
fn bad_sut_profiles_name_file_line_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    // (profile text, line, field, part of the reason)
    let cases: &[(&str, Option<usize>, &str, &str)] = &[
        // Syntax.
        (
            "kind: container\nimage: \"erlmcp\n",
            Some(3),
            "image",
            "unexpected end of stream",
        ),
        (
            "kind: container\nenv: {A: 1\nmemory: 4G\n",
            Some(3),
            "env.?",
            "did not find expected ',' or '}'",
        ),
        // Unknown fields and values.
        (
            "kind: container\nimage: x\nreplicas: 3\n",
            Some(3),
            "replicas",
            "unknown field `replicas`, expected one of `kind`",
        ),
        ("kind: vm\n", Some(1), "kind", "unknown variant `vm`"),
        // Wrong types.
        (
            "kind: container\nimage: x\ncpus: [1]\n",
            Some(3),
            "cpus",
            "must be a number of CPUs",
        ),
        (
            "kind: container\nimage: x\nnodes: three\n",
            Some(3),
            "nodes",
            "invalid type",
        ),
        (
            "kind: container\nimage: x\nenv: [A, B]\n",
            Some(3),
            "env",
            "invalid type: sequence",
        ),
        // Impossible values.
        ("kind: container\nimage: x\ncpus: 0\n", Some(3), "cpus", ""),
        (
            "kind: container\nimage: x\nmemory: -1G\n",
            Some(3),
            "memory",
            "",
        ),
        (
            "kind: container\nimage: x\nports: 0\n",
            Some(3),
            "ports",
            "port 0 is not a port",
        ),
        (
            "kind: container\nimage: x\nports: 70000\n",
            Some(3),
            "ports",
            "must be a port from 1 to 65535",
        ),
        (
            "kind: container\nimage: x\nstartup_timeout: 0s\n",
            Some(3),
            "startup_timeout",
            "above zero",
        ),
        (
            "kind: container\nimage: x\nnodes: 17\n",
            Some(3),
            "nodes",
            "must be from 1 to 16",
        ),
        (
            "kind: container\nimage: x\nreadiness: { http: health }\n",
            Some(3),
            "readiness",
            "must start with `/`",
        ),
        (
            "kind: url\nurl: \"not a url\"\n",
            Some(2),
            "url",
            "\"not a url\"",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (text, line, field, reason)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.yml"));
        std::fs::write(&path, text).unwrap();
        let e = match profile::load(&path) {
            Ok(p) => {
                failures.push(format!("{text:?} was accepted: {p:?}"));
                continue;
            }
            Err(e) => e,
        };
        let message = e.to_string();
        let prefix = format!("invalid SUT profile {}:", path.display());
        let ok = e.line == *line
            && e.field == *field
            && !e.reason.is_empty()
            && e.reason.contains(reason)
            && message.starts_with(&prefix);
        if !ok {
            failures.push(format!(
                "{text:?}: got line {:?} field {:?}: {message}",
                e.line, e.field
            ));
        }
        // Refusing a file leaves it as it was.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), *text);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_missing_profile_names_its_path() {
    let e = profile::load(Path::new("suts/no-such-profile.yml")).unwrap_err();
    assert!(
        e.to_string().contains("suts/no-such-profile.yml") && e.reason.contains("failed to read"),
        "{e}"
    );
}

// --- Baselines -------------------------------------------------------------------------

/// A copy of the committed warm-up baseline in a temporary directory, edited by `edit`.
fn edited_baseline(dir: &Path, edit: impl FnOnce(&str) -> String) -> (PathBuf, String) {
    let text =
        std::fs::read_to_string(root().join("baselines/reference/amd-epyc-2cpu/warmup.json"))
            .unwrap();
    let edited = edit(&text);
    let path = dir.join("warmup.json");
    std::fs::write(&path, &edited).unwrap();
    (path, edited)
}

fn warmup() -> scenario::Scenario {
    scenario::load(&root().join("scenarios/warmup.yml")).unwrap()
}

/// Loads the baseline for the warm-up scenario, expecting a refusal; the file must be
/// left as it was.
fn refused(path: &Path, text: &str) -> DocumentError {
    let e = match load_baseline(path, &warmup()) {
        Err(CheckError::Baseline(e)) => e,
        Err(other) => panic!("refused otherwise: {other}"),
        Ok(_) => panic!("{} was accepted", path.display()),
    };
    assert!(
        e.to_string().contains(&path.display().to_string()),
        "the error names the file: {e}"
    );
    assert_eq!(std::fs::read_to_string(path).unwrap(), text, "file changed");
    e
}

#[test]
fn a_truncated_baseline_is_not_json() {
    let dir = tempfile::tempdir().unwrap();
    for keep in [0, 1, 100, 2000] {
        let (path, text) = edited_baseline(dir.path(), |t| t[..keep.min(t.len())].to_string());
        let e = refused(&path, &text);
        assert!(matches!(e, DocumentError::Invalid { .. }), "{e}");
        assert!(e.to_string().contains("is not valid: not JSON: EOF"), "{e}");
    }
}

#[test]
fn a_tampered_baseline_fails_its_receipt() {
    let dir = tempfile::tempdir().unwrap();
    // A figure improved by hand, a key added, the receipt's timestamp moved.
    let edits: [fn(&str) -> String; 3] = [
        |t| t.replacen("\"p99_us\": ", "\"p99_us\": 1", 1),
        |t| {
            t.replacen(
                "\"schema_version\": 1,",
                "\"schema_version\": 1, \"note\": 1,",
                1,
            )
        },
        |t| t.replacen("\"timestamp\": \"20", "\"timestamp\": \"19", 1),
    ];
    for edit in edits {
        let (path, text) = edited_baseline(dir.path(), edit);
        let e = refused(&path, &text);
        assert!(
            matches!(e, DocumentError::ReceiptMismatch { .. }),
            "{text:.80}: {e}"
        );
        assert!(e.to_string().contains("was edited or corrupted"), "{e}");
    }
}

#[test]
fn a_baseline_of_another_schema_version_is_refused_saying_which() {
    let dir = tempfile::tempdir().unwrap();
    for (edit, says) in [
        (
            "\"schema_version\": 2,",
            "schema version 2; this harness reads version 1 (written by a newer harness)",
        ),
        (
            "\"schema_version\": 0,",
            "schema version 0; this harness reads version 1 (re-record it)",
        ),
        (
            "\"schema_version\": \"1\",",
            "is not valid: no `schema_version`",
        ),
        ("", "is not valid: no `schema_version`"),
    ] {
        let (path, text) = edited_baseline(dir.path(), |t| {
            t.replacen("\"schema_version\": 1,", edit, 1)
        });
        let e = refused(&path, &text);
        assert!(e.to_string().contains(says), "{edit:?}: {e}");
    }
    // A field of the wrong type is named by its path.
    let (path, text) = edited_baseline(dir.path(), |t| {
        let mut v: Value = serde_json::from_str(t).unwrap();
        v["figures"]["attempts"] = Value::from("many");
        serde_json::to_string_pretty(&v).unwrap()
    });
    let e = refused(&path, &text);
    assert!(
        e.to_string()
            .contains("is not valid: figures.attempts: invalid type: string"),
        "{e}"
    );
}

#[test]
fn the_baseline_of_another_scenario_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baseline.json");
    let text =
        std::fs::read_to_string(root().join("baselines/reference/amd-epyc-2cpu/realistic.json"))
            .unwrap();
    std::fs::write(&path, &text).unwrap();
    let e = refused(&path, &text);
    assert!(matches!(e, DocumentError::OtherScenario { .. }), "{e}");
    let message = e.to_string();
    assert!(
        message.contains("was recorded for scenario \"Realistic Mixed Load\" (scenarios/realistic.yml), not \"Warmup\""),
        "{message}"
    );
}

#[test]
fn a_bad_baseline_fails_the_gate_before_any_load_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = edited_baseline(dir.path(), |t| t[..t.len() / 2].to_string());
    // A target the harness refuses: were the SUT started first, this would be the error.
    let sut = SutSpec::Url {
        url: "http://192.0.2.1:8080/mcp".parse().unwrap(),
        allow_remote: false,
        pid: None,
    };
    let options = CheckOptions {
        run: quiet(),
        trials: 1,
        profile: "reference".into(),
    };
    let out = dir.path().join("out");
    let result = runtime().block_on(check_against_file(&warmup(), &sut, &options, &path, &out));
    match result {
        Err(CheckError::Baseline(DocumentError::Invalid { .. })) => {}
        Err(other) => panic!("refused otherwise: {other}"),
        Ok(r) => panic!("gated against a truncated baseline: {}", r.tables),
    }
    assert!(!out.exists(), "nothing was run");
}

#[test]
fn verify_and_compare_refuse_bad_baselines_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let (truncated, _) = edited_baseline(dir.path(), |t| t[..t.len() / 3].to_string());
    let good = root().join("baselines/reference/amd-epyc-2cpu/warmup.json");
    let other = root().join("baselines/reference/amd-epyc-2cpu/realistic.json");
    let run = |args: &[&Path]| {
        let mut command = Command::new(BIN);
        for a in args {
            command.arg(a);
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&[Path::new("verify"), &truncated]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&truncated.display().to_string()),
        "{stderr}"
    );
    let compare = Path::new("compare");
    let (code, stderr) = run(&[
        compare,
        Path::new("--baseline"),
        &truncated,
        Path::new("--current"),
        &good,
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&truncated.display().to_string()),
        "{stderr}"
    );
    // Two files of different scenarios are not compared.
    let (code, stderr) = run(&[
        compare,
        Path::new("--baseline"),
        &good,
        Path::new("--current"),
        &other,
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("different scenarios"), "{stderr}");
}
