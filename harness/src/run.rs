//! One command's worth of work: start the SUT, drive the scenario, sample resources, write
//! `record.json` and `report.md`, stop the SUT.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::load::{self, CpuSet, LoadError, LoadPlan, Progress, ProgressMode};
use crate::machine::{Machine, Naming};
use crate::observe::{Sampler, Samples};
use crate::record::{RecordInputs, RunRecord};
use crate::report::{RunFiles, WriteError, write_run};
use crate::scenario::Scenario;
use crate::sut::{SutError, SutSpec};

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Factor applied to every phase and the warm-up.
    pub duration_scale: f64,
    pub progress: ProgressMode,
    /// The machine class records are filed under and the host they are close-gated on
    /// (`ERLMCP_PERF_MACHINE_CLASS`, `ERLMCP_PERF_HOST`); derived where `None`.
    pub machine: Naming,
}

/// A finished run.
#[derive(Debug)]
pub struct RunResult {
    pub record: RunRecord,
    pub files: RunFiles,
}

/// Why a run did not produce a record.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Sut(#[from] SutError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The directory a scenario's results go to: `<out_dir>/<file stem>`.
pub fn results_dir(out_dir: &Path, scenario: &Scenario) -> PathBuf {
    let stem = scenario
        .source
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| scenario.name.clone());
    out_dir.join(stem)
}

/// The CPUs the generator should keep to: those the SUT is not pinned to.
fn generator_cpus(sut: &SutSpec) -> Option<CpuSet> {
    let pinned = sut.cpuset()?;
    match (pinned.parse::<CpuSet>(), CpuSet::allowed()) {
        (Ok(sut_cpus), Ok(allowed)) => Some(allowed.without(&sut_cpus)),
        (Err(e), _) => {
            tracing::warn!("generator not pinned: {e}");
            None
        }
        (_, Err(e)) => {
            tracing::warn!("generator not pinned: cannot read its CPU affinity: {e}");
            None
        }
    }
}

/// Runs `scenario` against `sut` and writes its record, report and the SUT's log to `dir`.
pub async fn run_scenario(
    scenario: &Scenario,
    sut: &SutSpec,
    options: &RunOptions,
    dir: &Path,
) -> Result<RunResult, RunError> {
    let scenario = scenario.clone().scaled(options.duration_scale);
    let mut plan = LoadPlan::new(&scenario);
    plan.generator_cpus = generator_cpus(sut);
    let plan = Arc::new(plan);
    let machine = Machine::probed(options.machine.clone()).await;
    let running = sut.start(Some(dir.join("sut.log"))).await?;
    let sampler = running
        .resource_probe()
        .map(|probe| Sampler::start(probe, Duration::from_millis(250)));
    let progress = Arc::new(Progress::default());
    let reporter = tokio::spawn(load::report(
        progress.clone(),
        plan.schedule.clone(),
        scenario.name.clone(),
        options.progress,
    ));
    let outcome = load::run(plan.clone(), running.endpoints(), progress).await;
    let samples = match sampler {
        Some(s) => s.finish().await,
        None => Samples::None,
    };
    if outcome.is_err() {
        // The engine failed before its schedule began (no session opened): the reporter
        // would wait for a start that never comes.
        reporter.abort();
    }
    let _ = reporter.await;
    let info = running.info.clone();
    let nodes = running.nodes();
    running.stop().await;
    let outcome = outcome?;
    let measured_from = outcome.start + plan.schedule.measured_start();
    let measured_to = outcome.start + plan.schedule.duration();
    let resources = samples.summarize(measured_from, measured_to);
    let record = RunRecord::new(RecordInputs {
        scenario: &scenario,
        plan: &plan,
        outcome: &outcome,
        sut: info,
        resources,
        duration_scale: options.duration_scale,
        nodes,
        machine: Some(machine),
    });
    let files = write_run(dir, &record)?;
    Ok(RunResult { record, files })
}
