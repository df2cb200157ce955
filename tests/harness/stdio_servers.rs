//! Stdio servers the harness did not write, as users name them: `--sut stdio:COMMAND` and
//! `kind: process` profiles (here over the reference server's stdio mode and a chatty
//! wrapper of it), and the real erlmcp when it has been built.

use std::path::Path;

use harness::sut::SutSpec;
use harness::sut::profile::{self, SpecContext};

use crate::{BIN, run, scenario_file};

/// 600 requests over 3 sessions in 3 s.
const MIX: &str = "scenario:\n  name: stdio\n  clients: 3\n  phases:\n    - name: p\n      duration: 3s\n      rps: 200\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 50%\n    - type: resource_list\n      weight: 50%\n";

fn spec(value: &str) -> SutSpec {
    profile::spec_for(value, &SpecContext::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_stdio_command_is_one_process_per_session_with_its_resources_summed() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "stdio", MIX);
    let r = run(
        &file,
        spec(&format!("stdio:{BIN} refserver --stdio")),
        dir.path(),
    );
    assert_eq!(
        (r.throughput.attempts, r.errors.total),
        (600, 0),
        "{:?}",
        r.errors
    );
    assert_eq!(
        (r.sut.kind.as_str(), r.sut.transport.as_str()),
        ("process", "stdio")
    );
    assert!(r.sut.binary_sha256.is_some(), "the program is hashed");
    let resources = r
        .resources
        .as_ref()
        .expect("the sessions' processes are sampled");
    assert!(
        resources.source == "procfs" && resources.samples >= 2,
        "{resources:?}"
    );
    // Three reference servers hold at least a few MiB each.
    assert!(
        resources.memory_bytes_peak > 3 * 1024 * 1024,
        "{resources:?}"
    );
    assert!(r.efficiency.is_some());
}

#[test]
fn a_bare_program_name_is_found_on_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "stdio", MIX);
    let r = run(
        &file,
        spec(&format!("stdio:sh -c \"exec '{BIN}' refserver --stdio\"")),
        dir.path(),
    );
    assert_eq!(
        (r.throughput.attempts, r.errors.total),
        (600, 0),
        "{:?}",
        r.errors
    );
}

#[test]
fn a_server_that_floods_stderr_never_stalls_and_its_stderr_is_kept() {
    // Every answer is copied to stderr four times: 600 answers so copied are more than
    // twice what a pipe holds (64 KiB), so a server whose stderr nobody drained would stall.
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "stdio", MIX);
    let chatty = dir.path().join("chatty.sh");
    std::fs::write(
        &chatty,
        format!(
            "'{BIN}' refserver --stdio | while IFS= read -r l; do printf '%s\\n' \"$l\"; printf '%s %s %s %s\\n' \"$l\" \"$l\" \"$l\" \"$l\" >&2; done\n"
        ),
    )
    .unwrap();
    let command = format!("stdio:/bin/sh {}", chatty.display());
    let r = run(&file, spec(&command), dir.path());
    assert_eq!(
        (r.throughput.attempts, r.errors.total),
        (600, 0),
        "{:?}",
        r.errors
    );
    let log = std::fs::metadata(dir.path().join("stdio/sut.log")).expect("sut.log");
    assert!(log.len() > 128 * 1024, "stderr kept: {} bytes", log.len());
}

#[test]
fn a_process_profile_starts_its_command_in_its_directory_with_its_env() {
    let dir = tempfile::tempdir().unwrap();
    // The server runs only where the profile's `dir` and `env` say: `./srv` exists only in
    // `bin/`, and it refuses to start without MARK.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let srv = bin.join("srv");
    std::fs::write(
        &srv,
        format!("#!/bin/sh\n[ \"$MARK\" = yes ] || exit 7\nexec '{BIN}' refserver --stdio\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&srv, std::fs::Permissions::from_mode(0o755)).unwrap();
    let profile = dir.path().join("p.yml");
    std::fs::write(
        &profile,
        "kind: process\ncommand: [./srv]\ndir: bin\nenv: { MARK: \"yes\" }\nversion: \"9\"\n",
    )
    .unwrap();
    let file = scenario_file(dir.path(), "stdio", MIX);
    let r = run(&file, spec(&profile.display().to_string()), dir.path());
    assert_eq!(
        (r.throughput.attempts, r.errors.total),
        (600, 0),
        "{:?}",
        r.errors
    );
    assert_eq!(r.sut.version.as_deref(), Some("9"));
}

#[test]
fn a_stdio_server_that_dies_at_start_fails_the_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "stdio", MIX);
    let scenario = harness::scenario::load(&file).unwrap();
    let sut = spec("stdio:/bin/sh -c 'echo no such module >&2; exit 3'");
    let e = crate::runtime()
        .block_on(harness::run::run_scenario(
            &scenario,
            &sut,
            &crate::quiet(),
            &dir.path().join("out"),
        ))
        .expect_err("a server that exits cannot be measured");
    let text = e.to_string();
    assert!(text.contains("failed to open MCP session"), "{text}");
    assert!(text.contains("stdio:/bin/sh"), "{text}");
}

/// The erlmcp checkout beside this project and its compiled code, when both are there.
fn erlmcp_built() -> Option<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("../shared/sut/erlmcp/run-stdio.sh");
    let lib = root.join("target/erlmcp/lib");
    (script.is_file() && lib.is_dir()).then_some(())
}

#[test]
fn the_real_erlmcp_answers_its_calculator_tools_over_stdio() {
    if erlmcp_built().is_none() {
        eprintln!(
            "skipped: erlmcp is not built here (../shared/sut/erlmcp/build.sh target/erlmcp, with erlang-nox installed)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let yaml = "scenario:\n  name: erlmcp\n  clients: 2\n  timeout: 5s\n  phases:\n    - name: p\n      duration: 3s\n      rps: 100\n  requests:\n    - type: tool_call\n      tool: add\n      arguments: { a: 1, b: 2 }\n      weight: 50%\n    - type: resource_read\n      uri: \"calculator://help\"\n      weight: 50%\n";
    let file = scenario_file(dir.path(), "erlmcp", yaml);
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("suts/erlmcp-process.yml");
    let r = run(&file, spec(&profile.display().to_string()), dir.path());
    assert_eq!(
        (r.throughput.attempts, r.errors.total),
        (300, 0),
        "{:?}",
        r.errors
    );
    assert_eq!(r.scenario.protocol_version, "2025-06-18");
    let resources = r
        .resources
        .as_ref()
        .expect("erlmcp's processes are sampled");
    assert!(
        resources.memory_bytes_peak > 10 * 1024 * 1024,
        "{resources:?}"
    );
}
