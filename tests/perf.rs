//! The perf suite: one test per `scenarios/*.yml`, run against the embedded reference
//! server. Run it with `cargo nextest run --profile perf`.
//!
//! A test fails when its scenario does not parse, the server or the load cannot start, a
//! service-level check in the scenario's `slo` is breached, or the load generator fell
//! behind its schedule (then the figures would describe the generator, not the server).

use std::path::{Path, PathBuf};

use harness::load::ProgressMode;
use harness::run::{RunOptions, run_scenario};
use harness::sut::{SpecContext, SutSpec, profile};
use harness::{env, report, scenario};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    // Paths in records and reports read relative to the workspace (`scenarios/x.yml`,
    // `target/perf`), whatever directory the suite was started from.
    if let Err(e) = std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")) {
        eprintln!("warning: cannot enter the workspace directory: {e}");
    }
    let trials = match scenario_files() {
        Ok(files) => files
            .into_iter()
            .map(|file| {
                let stem = file
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                Trial::test(format!("scenario::{stem}"), move || run(&file))
            })
            .collect(),
        Err(e) => vec![Trial::test("scenario::discover", move || Err(e.into()))],
    };
    libtest_mimic::run(&args, trials).exit();
}

fn scenario_files() -> Result<Vec<PathBuf>, String> {
    let dir = Path::new("scenarios");
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("failed to read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The SUT named by `ERLMCP_PERF_SUT` (a profile name, `suts/<name>.yml`, or a path);
/// the default, `reference`, is the embedded reference server with
/// `ERLMCP_PERF_REFSERVER_FAULTS` applied.
fn sut_spec() -> Result<SutSpec, Failed> {
    let ctx = SpecContext::from_env(env!("CARGO_BIN_EXE_erlmcp-perf"), ["refserver"]);
    profile::spec_from_env(&ctx).map_err(|e| e.to_string().into())
}

fn run(file: &Path) -> Result<(), Failed> {
    if harness::BUILD_OPT_LEVEL == "0" {
        return Err(
            "the perf suite needs an optimised build of the load generator; \
                    this one has opt-level 0 (see [profile.dev] in Cargo.toml)"
                .into(),
        );
    }
    let scenario = scenario::load(file).map_err(|e| e.to_string())?;
    let duration_scale = env::duration_scale().map_err(|e| e.to_string())?;
    let sut = sut_spec()?;
    let options = RunOptions {
        duration_scale,
        out_dir: env::out_dir(),
        progress: ProgressMode::Lines,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("failed to start the async runtime: {e}"))?;
    let result = runtime
        .block_on(run_scenario(scenario, &sut, &options))
        .map_err(|e| e.to_string())?;
    let summary = report::summary(&result.record);
    println!("{summary}  report: {}", result.files.report.display());
    let record = &result.record;
    if !record.generator.kept_schedule {
        return Err(format!(
            "the load generator fell behind its schedule ({}% of sends late), so the \
             figures describe the generator, not the server:\n{summary}",
            record.generator.late_percent
        )
        .into());
    }
    if !record.slo_passed() {
        return Err(format!("service-level check breached:\n{summary}").into());
    }
    Ok(())
}
