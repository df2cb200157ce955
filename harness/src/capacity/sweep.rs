//! Runs a sweep: starts the SUT once, runs the search's steps against it (each with its
//! own unmeasured warm-up and its own CPU sampling), stops the SUT, and assembles the
//! result.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::CapacityError;
use super::result::{CapacityResult, ResultInputs};
use super::search::Search;
use super::spec::{CapacitySpec, Strategy};
use super::step::{StepResult, step_scenario};
use crate::load::{self, LoadError, LoadPlan, Progress};
use crate::machine::Machine;
use crate::observe::{Sampler, Samples};
use crate::record::{RecordInputs, RunRecord};
use crate::report::write_run;
use crate::run::RunOptions;
use crate::scenario::Scenario;
use crate::sut::{RunningSut, SutSpec};

/// Pause between steps, so the next step's warm-up does not start on the last one's
/// backlog.
const SETTLE: Duration = Duration::from_millis(500);

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub run: RunOptions,
    /// Replaces the file's `search`.
    pub strategy: Option<Strategy>,
    /// Replaces the file's `step` (the linear search's increment).
    pub step_rps: Option<f64>,
    /// SUT profile name recorded in the result (`reference`).
    pub profile: String,
}

/// The scenario's capacity settings with the options' overrides, checked.
pub fn effective_spec(
    scenario: &Scenario,
    options: &SweepOptions,
) -> Result<CapacitySpec, CapacityError> {
    let mut spec = scenario
        .capacity
        .clone()
        .ok_or_else(|| CapacityError::NotCapacity(scenario.source.path.clone()))?;
    if let Some(strategy) = options.strategy {
        spec.strategy = strategy;
    }
    if let Some(step) = options.step_rps {
        spec.step_rps = Some(step);
    }
    if spec.strategy == Strategy::Linear && spec.step_rps.is_none() {
        return Err(CapacityError::LinearNeedsStep(scenario.source.path.clone()));
    }
    Ok(spec)
}

/// Runs the sweep of `scenario` against `sut`; each step's record goes to
/// `dir/step-NN/`, the SUT's log to `dir/sut.log`. `on_step` hears of every step as it ends.
pub async fn run_sweep(
    scenario: &Scenario,
    sut: &SutSpec,
    options: &SweepOptions,
    dir: &Path,
    mut on_step: impl FnMut(&StepResult),
) -> Result<CapacityResult, CapacityError> {
    let mut spec = effective_spec(scenario, options)?;
    let scale = options.run.duration_scale;
    let scenario = scenario.clone().scaled(scale);
    spec.step_duration = scenario
        .capacity
        .as_ref()
        .map_or(spec.step_duration, |c| c.step_duration);
    let machine = Machine::probed(options.run.machine.clone()).await;
    let running = sut.start(Some(dir.join("sut.log"))).await?;
    let info = running.info.clone();
    let mut search = Search::new(&spec);
    let mut steps = Vec::new();
    let mut failure = None;
    while let Some(rate) = search.next_rate() {
        let index = steps.len() + 1;
        let sweep = Sweep {
            scenario: &scenario,
            spec: &spec,
            running: &running,
            scale,
            dir,
            machine: &machine,
        };
        match run_step(&sweep, rate, index).await {
            Ok(step) => {
                search.record(rate, step.verdict.is_good());
                on_step(&step);
                steps.push(step);
            }
            // A SUT that accepts no session after earlier steps stopped answering because of
            // them (the last step broke it, or it fell over): the sweep ends there with what
            // it measured, the step reported, and the search's bracket left as the answered
            // steps set it. The first step's failure is a setup error.
            Err(CapacityError::Load(e @ LoadError::Session { .. })) if !steps.is_empty() => {
                let step = StepResult::unreachable(index, rate, &e.to_string());
                on_step(&step);
                steps.push(step);
                break;
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        tokio::time::sleep(SETTLE).await;
    }
    running.stop().await;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(CapacityResult::new(ResultInputs {
        scenario: &scenario,
        spec: &spec,
        profile: &options.profile,
        sut: &info,
        opt_level: crate::BUILD_OPT_LEVEL.into(),
        duration_scale: scale,
        machine,
        steps,
        bracket: search.bracket(),
        timestamp: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
    }))
}

/// What every step of a sweep shares.
struct Sweep<'a> {
    /// The scaled scenario.
    scenario: &'a Scenario,
    spec: &'a CapacitySpec,
    running: &'a RunningSut,
    scale: f64,
    dir: &'a Path,
    machine: &'a Machine,
}

/// One step at `rate`: warm-up, measured window, CPU sampled over the window.
async fn run_step(sweep: &Sweep<'_>, rate: f64, index: usize) -> Result<StepResult, CapacityError> {
    let Sweep {
        scenario,
        spec,
        running,
        scale,
        dir,
        machine,
    } = *sweep;
    let step = step_scenario(scenario, rate, spec.step_duration);
    let plan = Arc::new(LoadPlan::new(&step));
    let sampler = running
        .resource_probe()
        .map(|probe| Sampler::start(probe, Duration::from_millis(250)));
    let outcome = load::run(
        plan.clone(),
        running.endpoints(),
        Arc::new(Progress::default()),
    )
    .await;
    let samples = match sampler {
        Some(s) => s.finish().await,
        None => Samples::None,
    };
    let outcome = outcome?;
    let measured_from = outcome.start + plan.schedule.measured_start();
    let measured_to = outcome.start + plan.schedule.duration();
    let record = RunRecord::new(RecordInputs {
        scenario: &step,
        plan: &plan,
        outcome: &outcome,
        sut: running.info.clone(),
        resources: samples.summarize(measured_from, measured_to),
        duration_scale: scale,
        nodes: running.nodes(),
        machine: Some(machine.clone()),
    });
    write_run(&dir.join(format!("step-{index:02}")), &record)?;
    let drain = outcome
        .finished
        .saturating_duration_since(measured_from)
        .as_secs_f64();
    Ok(StepResult::from_record(
        index,
        rate,
        &record,
        drain,
        &spec.criteria,
    ))
}
