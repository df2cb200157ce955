//! Runs a capacity sweep: starts the SUT once, measures the search's steps against it
//! (each with its own unmeasured warm-up and its own CPU sampling, by the same step as a
//! run), stops the SUT, assembles the result and writes its files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::capacity::CapacityVerdict;
use crate::capacity::result::{CapacityResult, ResultInputs};
use crate::capacity::search::Search;
use crate::capacity::step::{StepResult, StepVerdict, step_scenario};
use crate::load::{LoadError, Silent};
use crate::machine::Machine;
use crate::report::write_run;
use crate::run::{RunOptions, Target, measure};
use crate::scenario::Scenario;
use crate::scenario::capacity::{CapacitySpec, Strategy};
use crate::store::Document;
use crate::sut::SutSpec;

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
    let sweep = Sweep {
        scenario: &scenario,
        spec: &spec,
        target: Target {
            sut,
            running: &running,
            machine: &machine,
            duration_scale: scale,
            pacing: options.run.pacing,
            stop: options.run.stop.clone(),
            live: options.run.live.clone(),
            profile_dir: None,
            part: Default::default(),
        },
        dir,
    };
    let mut search = Search::new(&spec);
    let mut steps = Vec::new();
    let mut failure = None;
    let stop = &options.run.stop;
    while let Some(rate) = search.next_rate() {
        if stop.requested() {
            break;
        }
        let index = steps.len() + 1;
        match run_step(&sweep, rate, index).await {
            // Stopped mid-step: its partial figures judge nothing.
            Ok(None) => break,
            Ok(Some(step)) => {
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
        interrupted: stop.requested(),
        timestamp: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
    }))
}

/// What every step of a sweep shares.
struct Sweep<'a> {
    /// The scaled scenario.
    scenario: &'a Scenario,
    spec: &'a CapacitySpec,
    target: Target<'a>,
    dir: &'a Path,
}

/// One step at `rate`: warm-up, measured window, CPU sampled over the window; `None` when
/// a stop cut it short (its record is still written, marked interrupted).
async fn run_step(
    sweep: &Sweep<'_>,
    rate: f64,
    index: usize,
) -> Result<Option<StepResult>, CapacityError> {
    let step = step_scenario(sweep.scenario, rate, sweep.spec.step_duration);
    let measured = measure(&sweep.target, &step, Arc::new(Silent)).await?;
    write_run(
        &sweep.dir.join(format!("step-{index:02}")),
        &measured.record,
    )?;
    if measured.record.interrupted.is_some() {
        return Ok(None);
    }
    Ok(Some(StepResult::from_record(
        index,
        rate,
        &measured.record,
        measured.drain.as_secs_f64(),
        &sweep.spec.criteria,
    )))
}

/// Why a sweep did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error("{0} is not a capacity scenario: it has no `capacity` section")]
    NotCapacity(PathBuf),
    #[error("{0}: the linear search needs a step (`capacity.step` or --step)")]
    LinearNeedsStep(PathBuf),
    #[error(transparent)]
    Sut(#[from] crate::sut::SutError),
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
    #[error(transparent)]
    Write(#[from] crate::report::WriteError),
    #[error(transparent)]
    Baseline(#[from] crate::store::DocumentError),
}

/// Where a sweep's files went.
#[derive(Debug, Clone)]
pub struct CapacityFiles {
    pub result: PathBuf,
    pub chart: PathBuf,
    pub report: PathBuf,
}

/// File name of the chart beside `report.md`.
pub const CHART_FILE: &str = "capacity.svg";

/// Writes `capacity.json`, the chart and `report.md` into `dir`, each atomically; `gate`
/// is the capacity gate's verdict and the baseline file's name, when gated.
pub fn write_files(
    dir: &Path,
    result: &CapacityResult,
    gate: Option<(&CapacityVerdict, &str)>,
) -> Result<CapacityFiles, CapacityError> {
    use crate::report::svg::{CapacityPoint, capacity_chart};
    let files = CapacityFiles {
        result: dir.join("capacity.json"),
        chart: dir.join(CHART_FILE),
        report: dir.join("report.md"),
    };
    result.write(&files.result)?;
    let points: Vec<CapacityPoint> = result
        .steps
        .iter()
        .map(|s| CapacityPoint {
            offered: s.offered_rps,
            achieved: s.achieved_rps,
            p50_us: s.p50_us,
            p99_us: s.p99_us,
            sustained: match s.verdict {
                StepVerdict::Good => Some(true),
                StepVerdict::Broke => Some(false),
                StepVerdict::GeneratorLimit => None,
            },
        })
        .collect();
    let title = format!(
        "{}: latency and throughput by offered rate",
        result.scenario.name
    );
    let svg = capacity_chart(
        &title,
        &points,
        result.breaking_point_rps,
        result.recommended_rps,
    );
    let write = |path: &PathBuf, bytes: &[u8]| {
        crate::fsio::write_atomic(path, bytes).map_err(|source| {
            CapacityError::Write(crate::report::WriteError {
                path: path.clone(),
                source,
            })
        })
    };
    write(&files.chart, svg.as_bytes())?;
    let report = crate::report::capacity_report(result, CHART_FILE, gate);
    write(&files.report, report.as_bytes())?;
    Ok(files)
}
