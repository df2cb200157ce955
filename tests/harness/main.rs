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
mod layers;
mod machines;
mod process_servers;
mod protocol;
mod recovery;
mod remote_target;
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
