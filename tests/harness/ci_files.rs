//! The CI files a user copies to make the perf suite a required check:
//! `.github/workflows/perf.yml` and `.gitlab-ci.yml`. Each validates against its CI's schema
//! (`check-jsonschema` and its builtin, offline vendor schemas), a broken copy is rejected
//! (so the check can fail), and each runs the README's perf command and keeps its JUnit
//! report, so the files cannot drift from the README.
//!
//! Where `check-jsonschema` is not installed the schema tests print why and pass, unless
//! `ERLMCP_PERF_REQUIRE_TOOLS` is set (as `.ci/run` does): then they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The version the CI files were validated with (`.ci/run` installs it).
const CHECK_JSONSCHEMA_VERSION: &str = "0.39.0";

const WORKFLOW: &str = ".github/workflows/perf.yml";
const GITLAB_CI: &str = ".gitlab-ci.yml";
const GITHUB_SCHEMA: &str = "vendor.github-workflows";
const GITLAB_SCHEMA: &str = "vendor.gitlab-ci";

/// The README's perf command, and where nextest writes the perf profile's JUnit report.
const PERF_COMMAND: &str = "cargo nextest run --profile perf";
const JUNIT: &str = "target/nextest/perf/junit.xml";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The installed `check-jsonschema`'s version; `None` (after saying why) where it is
/// missing and not required, a panic where `ERLMCP_PERF_REQUIRE_TOOLS` requires it.
fn check_jsonschema_ready(test: &str) -> Option<String> {
    crate::tool_ready(
        test,
        Command::new("check-jsonschema").arg("--version"),
        &format!("pip install check-jsonschema=={CHECK_JSONSCHEMA_VERSION}"),
    )
}

/// Runs `check-jsonschema --builtin-schema <schema> <file>`.
fn validate(schema: &str, file: &Path) -> Output {
    Command::new("check-jsonschema")
        .arg("--builtin-schema")
        .arg(schema)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("run check-jsonschema on {}: {e}", file.display()))
}

fn describe(version: &str, output: &Output) -> String {
    format!(
        "{version}, {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Asserts `relative` validates against `schema`.
fn assert_valid(test: &str, schema: &str, relative: &str) {
    let Some(version) = check_jsonschema_ready(test) else {
        return;
    };
    let output = validate(schema, &root().join(relative));
    assert!(
        output.status.success(),
        "{relative} does not validate against {schema}: {}",
        describe(&version, &output)
    );
}

/// Writes `broken` (a copy of `relative` with a mistake) to a temporary directory and
/// asserts `schema` rejects it, naming `culprit`.
fn assert_rejected(test: &str, schema: &str, relative: &str, broken: &str, culprit: &str) {
    let Some(version) = check_jsonschema_ready(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = Path::new(relative).file_name().unwrap();
    let path: PathBuf = dir.path().join(name);
    std::fs::write(&path, broken).unwrap();
    let output = validate(schema, &path);
    let text = describe(&version, &output);
    assert!(
        !output.status.success(),
        "{schema} accepted a broken {relative}: {text}"
    );
    assert!(
        text.contains(culprit),
        "the rejection of the broken {relative} does not name {culprit:?}: {text}"
    );
}

/// Lines of a YAML file that run `cargo nextest run` (not comments).
fn nextest_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains("cargo nextest run"))
        .collect()
}

/// Asserts a CI file runs the README's perf command and keeps the JUnit report and results.
fn assert_runs_the_perf_suite(relative: &str, junit_key: &str) {
    let readme = read("README.md");
    assert!(
        readme.contains(PERF_COMMAND),
        "README.md no longer shows `{PERF_COMMAND}`"
    );
    assert!(
        readme.contains(JUNIT),
        "README.md no longer says the JUnit report goes to {JUNIT}"
    );
    // nextest writes `<target>/nextest/<profile>/<junit.path>`.
    let nextest = read(".config/nextest.toml");
    assert!(
        nextest.contains("[profile.perf.junit]\npath = \"junit.xml\""),
        ".config/nextest.toml no longer writes the perf profile's JUnit to {JUNIT}"
    );

    let text = read(relative);
    let runs = nextest_lines(&text);
    assert!(
        !runs.is_empty(),
        "{relative} never runs `cargo nextest run`"
    );
    for line in &runs {
        assert!(
            line.contains("--profile perf"),
            "{relative} runs nextest without `--profile perf`: {line}"
        );
    }
    assert!(
        text.contains(&format!("{junit_key} {JUNIT}")),
        "{relative} does not keep the JUnit report ({junit_key} {JUNIT})"
    );
    assert!(
        text.contains("target/perf/"),
        "{relative} does not keep the results in target/perf/"
    );
    assert!(
        text.contains("ERLMCP_PERF_UPDATE_BASELINES"),
        "{relative} has no way to re-record the baselines"
    );
    assert!(
        text.contains("ERLMCP_PERF_SUT") && text.contains("ERLMCP_PERF_DURATION_SCALE"),
        "{relative} does not pass ERLMCP_PERF_SUT and ERLMCP_PERF_DURATION_SCALE"
    );
}

#[test]
fn github_workflow_validates() {
    assert_valid("github_workflow_validates", GITHUB_SCHEMA, WORKFLOW);
}

#[test]
fn gitlab_ci_validates() {
    assert_valid("gitlab_ci_validates", GITLAB_SCHEMA, GITLAB_CI);
}

#[test]
fn github_workflow_without_runs_on_is_rejected() {
    let text = read(WORKFLOW);
    let broken: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("runs-on:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(broken, text, "{WORKFLOW} has no `runs-on:` to remove");
    assert_rejected(
        "github_workflow_without_runs_on_is_rejected",
        GITHUB_SCHEMA,
        WORKFLOW,
        &broken,
        "runs-on",
    );
}

#[test]
fn gitlab_ci_with_a_bad_artifacts_when_is_rejected() {
    let text = read(GITLAB_CI);
    let broken = text.replace("\n    when: always\n", "\n    when: sometimes\n");
    assert_ne!(broken, text, "{GITLAB_CI} has no `artifacts: when: always`");
    assert_rejected(
        "gitlab_ci_with_a_bad_artifacts_when_is_rejected",
        GITLAB_SCHEMA,
        GITLAB_CI,
        &broken,
        "sometimes",
    );
}

#[test]
fn github_workflow_runs_the_readme_perf_suite() {
    assert_runs_the_perf_suite(WORKFLOW, "path:");
    let text = read(WORKFLOW);
    for trigger in [
        "pull_request:",
        "push:",
        "workflow_dispatch:",
        "update_baselines:",
    ] {
        assert!(text.contains(trigger), "{WORKFLOW} lacks {trigger}");
    }
    assert!(
        text.contains("if: always()"),
        "{WORKFLOW} does not upload artifacts when the suite fails"
    );
}

#[test]
fn gitlab_ci_runs_the_readme_perf_suite() {
    assert_runs_the_perf_suite(GITLAB_CI, "junit:");
    let text = read(GITLAB_CI);
    assert!(
        text.contains("when: always"),
        "{GITLAB_CI} does not keep artifacts when the suite fails"
    );
    assert!(
        text.contains("when: manual"),
        "{GITLAB_CI} has no manual baseline-update job"
    );
}
