//! Self-tests of the harness against the reference server: one integration-test binary
//! with shared helpers (`cargo nextest run`).

mod agents;
mod bad_input;
mod calibrate;
mod capacity;
mod ci_files;
mod cli;
mod connections;
mod containers;
mod engine;
mod faults;
mod gate;
mod interrupts;
mod kubernetes;
mod layers;
mod leaks;
mod machines;
mod monitoring;
mod process_servers;
mod protocol;
mod recovery;
mod remote_target;
mod shards;
mod stdio_servers;
mod transports;
mod trend;

use std::path::{Path, PathBuf};

use harness::load::Silent;
use harness::record::RunRecord;
use harness::run::{RunOptions, results_dir, run_scenario};
use harness::scenario;
use harness::sut::{EmbeddedSpec, SutSpec};

/// The `erlmcp-perf` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_erlmcp-perf");

/// The reference server, started by the harness with extra refserver flags.
pub fn refserver(flags: &[&str]) -> EmbeddedSpec {
    let mut args = vec!["refserver"];
    args.extend_from_slice(flags);
    EmbeddedSpec::new(BIN, args)
}

/// Fails a test that needs a tool, rather than skipping it, when the tool is missing.
pub const REQUIRE_TOOLS: &str = "ERLMCP_PERF_REQUIRE_TOOLS";

/// Whether `ERLMCP_PERF_REQUIRE_TOOLS` is set (to anything but empty or `0`).
pub fn require_tools() -> bool {
    std::env::var(REQUIRE_TOOLS).is_ok_and(|v| !v.trim().is_empty() && v.trim() != "0")
}

/// The output of `probe` (a tool's version command), or, where it cannot run: `None` after
/// saying why, or a panic when `ERLMCP_PERF_REQUIRE_TOOLS` requires the tool. `install`
/// says how to get it.
pub fn tool_ready(test: &str, probe: &mut std::process::Command, install: &str) -> Option<String> {
    let why = match probe.output() {
        Ok(out) if out.status.success() => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return Some(text.trim().to_string());
        }
        Ok(out) => format!(
            "`{probe:?}` exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("cannot run `{probe:?}`: {e}"),
    };
    if require_tools() {
        panic!("{test}: {why}, and {REQUIRE_TOOLS} is set; install it: `{install}`");
    }
    eprintln!(
        "SKIPPED {test}: {why}; install it (`{install}`), and set {REQUIRE_TOOLS} to make this a failure"
    );
    None
}

/// Writes `yaml` as `<dir>/<name>.yml` and returns its path.
pub fn scenario_file(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yml"));
    std::fs::write(&path, yaml).expect("write scenario");
    path
}

/// Runs a scenario file against `sut`, writing results under `out`.
pub fn run(file: &Path, sut: SutSpec, out: &Path) -> RunRecord {
    let scenario = scenario::load(file).unwrap_or_else(|e| panic!("{e}"));
    let options = quiet();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(run_scenario(
            &scenario,
            &sut,
            &options,
            &results_dir(out, &scenario),
        ))
        .unwrap_or_else(|e| panic!("run failed: {e}"))
        .record
}

/// Full-length runs without progress output.
pub fn quiet() -> RunOptions {
    RunOptions {
        duration_scale: 1.0,
        progress: std::sync::Arc::new(Silent),
        machine: Default::default(),
        pacing: Default::default(),
        stop: Default::default(),
        live: None,
        part: Default::default(),
    }
}

/// A multi-threaded runtime for one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Waits for `child` at most `limit`; kills and reaps it if it takes longer (`None`).
pub fn wait_bounded(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return Some(status);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
