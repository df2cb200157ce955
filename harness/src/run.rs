//! One command's worth of work: start the SUT, measure the scenario against it, write
//! `record.json` and `report.md`, stop the SUT; and [`measure`], the one step that drives a
//! schedule against a running SUT into a record (runs and capacity steps alike).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::load::{
    self, CpuSet, LiveMetrics, LoadError, LoadPlan, Pacing, Progress, ProgressListener, Sample,
    Shard, Stop,
};
use crate::machine::{Machine, Naming};
use crate::observe::{Sampler, Samples, server_view};
use crate::record::{RecordInputs, RunRecord};
use crate::report::{RunFiles, WriteError, write_latencies, write_run};
use crate::scenario::Scenario;
use crate::sut::{ProfilePoint, RunningSut, SutError, SutSpec};

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Factor applied to every phase and the warm-up.
    pub duration_scale: f64,
    /// Hears each run's progress (`report::console::listener` shows it on stderr).
    pub progress: Arc<dyn ProgressListener>,
    /// The machine class records are filed under and the host they are close-gated on
    /// (`ERLMCP_PERF_MACHINE_CLASS`, `ERLMCP_PERF_HOST`); derived where `None`.
    pub machine: Naming,
    /// How the generator paces its sends (`ERLMCP_PERF_PACER`).
    pub pacing: Pacing,
    /// Stops a run early, keeping what it measured (the CLI requests it on Ctrl-C).
    pub stop: Stop,
    /// Live metrics every run counts into, when the harness serves them
    /// (`--metrics-addr`, `ERLMCP_PERF_METRICS_ADDR`).
    pub live: Option<Arc<LiveMetrics>>,
    /// This process's part of the run (`--shard`, `--start-at`, `--latencies`).
    pub part: Part,
}

/// How one process takes part in a run: its shard of the schedule, the wall-clock instant
/// the shards start at, and whether every request is written out (`latencies.csv`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Part {
    pub shard: Shard,
    pub start_at: Option<SystemTime>,
    pub latencies: bool,
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

/// A running SUT and what every measurement against it shares.
pub struct Target<'a> {
    pub sut: &'a SutSpec,
    pub running: &'a RunningSut,
    pub machine: &'a Machine,
    pub duration_scale: f64,
    pub pacing: Pacing,
    pub stop: Stop,
    pub live: Option<Arc<LiveMetrics>>,
    /// Where the SUT profile's profiling hooks write (the run's directory); `None` runs
    /// none.
    pub profile_dir: Option<&'a Path>,
    /// This process's part of the run.
    pub part: Part,
}

/// What [`measure`] produced.
pub struct Measured {
    /// The record, with its SLO checks.
    pub record: RunRecord,
    /// From the start of the measured window to the last request's end.
    pub drain: Duration,
    /// Every request, when [`Part::latencies`] asked for them.
    pub samples: Option<Vec<Sample>>,
}

/// Drives `scenario` (already scaled) against the running SUT: the generator pinned off a
/// pinned SUT's CPUs, the SUT's resources sampled, progress told to `progress`.
pub async fn measure(
    target: &Target<'_>,
    scenario: &Scenario,
    progress: Arc<dyn ProgressListener>,
) -> Result<Measured, LoadError> {
    let mut plan = LoadPlan::new(scenario).sharded(target.part.shard);
    plan.start_at = target.part.start_at;
    plan.keep_samples = target.part.latencies;
    plan.generator_cpus = generator_cpus(target.sut);
    plan.pacing = target.pacing;
    plan.stop = target.stop.clone();
    let plan = Arc::new(plan);
    let running = target.running;
    let sampler = running
        .resource_probe()
        .map(|probe| Sampler::start(probe, Duration::from_millis(250)));
    let live = target.live.as_ref().map(|live| {
        let operations: Vec<String> = plan.operations.iter().map(|op| op.label()).collect();
        let phases: Vec<String> = plan
            .schedule
            .segments()
            .iter()
            .map(|s| s.name.clone())
            .collect();
        live.run(&scenario.name, &operations, &phases)
    });
    let counters = Arc::new(Progress::with_live(live));
    let reporter = tokio::spawn(load::watch(
        counters.clone(),
        plan.schedule.clone(),
        scenario.name.clone(),
        progress,
        1.0 / f64::from(target.part.shard.count),
    ));
    let hooks = target.sut.window_hooks().zip(target.profile_dir);
    let run = load::run(plan.clone(), running.endpoints(), counters.clone());
    let mut profiles = Vec::new();
    let (mut scrapes, mut server) = (None, None);
    let outcome = match hooks {
        None => run.await,
        Some((hooks, dir)) => {
            // The start hook waits for the schedule to begin and its warm-up to pass; a
            // run that ends first (or never begins) drops it.
            let measured_start = plan.schedule.measured_start();
            let start_hook = async {
                let began = counters.started().await;
                tokio::time::sleep_until((began + measured_start).into()).await;
                let scraped = running.scrape_metrics(hooks).await;
                (
                    running.profile(hooks, ProfilePoint::Start, dir).await,
                    scraped,
                )
            };
            tokio::pin!(run, start_hook);
            let mut hooked = false;
            let outcome = loop {
                tokio::select! {
                    outcome = &mut run => break outcome,
                    (file, scraped) = &mut start_hook, if !hooked => {
                        hooked = true;
                        profiles.extend(file);
                        scrapes = scraped;
                    }
                }
            };
            if outcome.is_ok() {
                let after = running.scrape_metrics(hooks).await;
                server = scrapes
                    .zip(after)
                    .map(|((url, before), (_, after))| server_view(&url, &before, &after));
                profiles.extend(running.profile(hooks, ProfilePoint::End, dir).await);
            }
            outcome
        }
    };
    // A soak's cool-down: the SUT idle and still sampled, for its memory to come back.
    if let Some(leak) = scenario
        .leak
        .filter(|_| outcome.is_ok() && sampler.is_some())
    {
        tokio::select! {
            () = tokio::time::sleep(leak.cool_down) => {}
            () = target.stop.wait() => {}
        }
    }
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
    let mut outcome = outcome?;
    let requests = outcome.stats.samples.take();
    let measured_from = outcome.start + plan.schedule.measured_start();
    let measured_to = outcome
        .stopped
        .unwrap_or(outcome.start + plan.schedule.duration());
    let mut record = RunRecord::new(RecordInputs {
        scenario,
        plan: &plan,
        outcome: &outcome,
        sut: running.info.clone(),
        resources: samples.summarize(measured_from, measured_to),
        duration_scale: target.duration_scale,
        nodes: running.nodes(),
        machine: Some(target.machine.clone()),
    });
    record.leak = scenario
        .leak
        .and_then(|spec| crate::leak::judge(&spec, &samples.memory(), measured_from, measured_to));
    record.server = server;
    record.profiles = profiles
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    record.slo = crate::slo::check(&scenario.slo, &record);
    Ok(Measured {
        record,
        drain: outcome.finished.saturating_duration_since(measured_from),
        samples: requests,
    })
}

/// Runs `scenario` against `sut` and writes its record, report and the SUT's log to `dir`.
pub async fn run_scenario(
    scenario: &Scenario,
    sut: &SutSpec,
    options: &RunOptions,
    dir: &Path,
) -> Result<RunResult, RunError> {
    let scenario = scenario.clone().scaled(options.duration_scale);
    let machine = Machine::probed(options.machine.clone()).await;
    let running = sut.start(Some(dir.join("sut.log"))).await?;
    let target = Target {
        sut,
        running: &running,
        machine: &machine,
        duration_scale: options.duration_scale,
        pacing: options.pacing,
        stop: options.stop.clone(),
        live: options.live.clone(),
        profile_dir: Some(dir),
        part: options.part,
    };
    let measured = measure(&target, &scenario, options.progress.clone()).await;
    running.stop().await;
    let Measured {
        record, samples, ..
    } = measured?;
    let mut files = write_run(dir, &record)?;
    if let Some(samples) = samples {
        files.latencies = Some(write_latencies(dir, &record, &samples)?);
    }
    Ok(RunResult { record, files })
}
