//! Gated runs: repeat trials of a scenario and compare them with a committed baseline file
//! or, in the same run, with another SUT; and the explicit baseline update.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::fsio::write_atomic;
use crate::gate::{AddedTrials, Comparison, Machines, Side, Verdict, gate};
use crate::record::Figures;
use crate::record::{RunRecord, WindowRecord, merged_latency};
use crate::report::svg::{Series, latency_over_time, percentile_spectrum};
use crate::report::{ComparisonContext, WriteError, regression_report, verdict_tables};
use crate::run::{RunError, RunOptions, RunResult, run_scenario};
use crate::scenario::Scenario;
use crate::store::{Baseline, Document, DocumentError, ScenarioIdentity, machine_of};
use crate::sut::SutSpec;

/// Trials a gated run makes on each side unless told otherwise: with three a side, the
/// Mann-Whitney test can reach p = 0.05.
pub const DEFAULT_TRIALS: usize = 3;

/// How to run a gated scenario.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub run: RunOptions,
    /// Runs per side.
    pub trials: usize,
    /// SUT profile name recorded in baselines (`reference`).
    pub profile: String,
}

/// Why a gated run could not reach a verdict.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Baseline(#[from] DocumentError),
    #[error("no baseline at {0}")]
    MissingBaseline(PathBuf),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A verdict and where its report is.
#[derive(Debug)]
pub struct GateResult {
    pub verdict: Verdict,
    /// The summary and tables (Markdown), for logs and failure messages.
    pub tables: String,
    pub report: PathBuf,
    /// The current side's runs.
    pub records: Vec<RunRecord>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Re-runs of a trial whose generator fell behind its schedule (its figures describe the
/// generator, not the SUT), before the trial is kept as it is.
pub const MAX_RERUNS: usize = 2;

/// Runs one trial into `dir`; a run whose load generator fell behind its schedule is set
/// aside (renamed `<dir>-discarded-<k>`, noted in `discarded`) and run again, up to
/// [`MAX_RERUNS`] times.
pub async fn run_trial(
    scenario: &Scenario,
    sut: &SutSpec,
    options: &RunOptions,
    dir: &Path,
    discarded: &mut Vec<String>,
) -> Result<RunResult, RunError> {
    let mut attempt = 0;
    loop {
        let result = run_scenario(scenario, sut, options, dir).await?;
        let g = &result.record.generator;
        if g.kept_schedule || attempt == MAX_RERUNS {
            return Ok(result);
        }
        attempt += 1;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aside = dir.with_file_name(format!("{name}-discarded-{attempt}"));
        let _ = std::fs::remove_dir_all(&aside);
        let _ = std::fs::rename(dir, &aside);
        discarded.push(format!(
            "`{}`: the load generator fell behind its schedule ({}% of sends later than {} ms); run again",
            aside.display(),
            g.late_percent,
            g.late_threshold_ms
        ));
    }
}

/// Runs `n` trials against `sut`, results in `dir/<label>-<i>/`.
pub async fn run_trials(
    scenario: &Scenario,
    sut: &SutSpec,
    options: &RunOptions,
    dir: &Path,
    label: &str,
    n: usize,
    discarded: &mut Vec<String>,
) -> Result<Vec<RunResult>, RunError> {
    let mut results = Vec::with_capacity(n);
    for i in 1..=n {
        let trial_dir = dir.join(format!("{label}-{i}"));
        results.push(run_trial(scenario, sut, options, &trial_dir, discarded).await?);
    }
    Ok(results)
}

fn records(results: &[RunResult]) -> Vec<RunRecord> {
    results.iter().map(|r| r.record.clone()).collect()
}

/// Each record's per-second windows.
pub fn windows_of(records: &[RunRecord]) -> Vec<Vec<WindowRecord>> {
    records.iter().map(|r| r.windows.clone()).collect()
}

/// Records a new baseline for `scenario` on `sut` at `path` (the only writer of baselines).
pub async fn update_baseline(
    scenario: &Scenario,
    sut: &SutSpec,
    options: &CheckOptions,
    path: &Path,
    dir: &Path,
) -> Result<Baseline, CheckError> {
    let mut discarded = Vec::new();
    let trials = options.trials.max(1);
    let results = run_trials(
        scenario,
        sut,
        &options.run,
        dir,
        "run",
        trials,
        &mut discarded,
    )
    .await?;
    for note in &discarded {
        tracing::warn!("{note}");
    }
    let baseline = Baseline::from_runs(&options.profile, &records(&results), now());
    baseline.write(path)?;
    Ok(baseline)
}

/// Loads the baseline at `path` and checks it belongs to this version of the scenario, before
/// any load is sent.
pub fn load_baseline(path: &Path, scenario: &Scenario) -> Result<Baseline, CheckError> {
    if !path.exists() {
        return Err(CheckError::MissingBaseline(path.to_owned()));
    }
    let baseline = Baseline::load(path)?;
    baseline.check_fits(path, &ScenarioIdentity::of(scenario))?;
    Ok(baseline)
}

/// Runs trials and gates them against the baseline file at `path`.
pub async fn check_against_file(
    scenario: &Scenario,
    sut: &SutSpec,
    options: &CheckOptions,
    path: &Path,
    dir: &Path,
) -> Result<GateResult, CheckError> {
    let baseline = load_baseline(path, scenario)?;
    let mut discarded = Vec::new();
    let trials = options.trials.max(1);
    let mut results = run_trials(
        scenario,
        sut,
        &options.run,
        dir,
        "trial",
        trials,
        &mut discarded,
    )
    .await?;
    let verdict_of = |results: &[RunResult]| {
        let records = records(results);
        let current: Vec<Figures> = records.iter().map(Figures::of).collect();
        let windows = windows_of(&records);
        let comparison = Comparison::of_file(
            baseline.environment.machine.as_ref(),
            machine_of(&records).as_ref(),
        );
        gate(
            Side::with_windows(&baseline.runs, &baseline.windows),
            Side::with_windows(&current, &windows),
            &scenario.gate,
            comparison,
        )
    };
    let mut verdict = verdict_of(&results);
    let borderline = verdict.borderline();
    let most = scenario.gate.max_trials(trials);
    let mut added = 0;
    while !verdict.borderline().is_empty() && results.len() < most && !options.run.stop.requested()
    {
        let trial_dir = dir.join(format!("trial-{}", results.len() + 1));
        results.push(run_trial(scenario, sut, &options.run, &trial_dir, &mut discarded).await?);
        added += 1;
        verdict = verdict_of(&results);
    }
    if added > 0 {
        verdict.added_trials = Some(AddedTrials {
            trials: added,
            because: borderline,
        });
    }
    let records = records(&results);
    let here = machine_of(&records);
    verdict.machines = Machines::of(baseline.environment.machine.clone(), here);
    let context = ComparisonContext {
        scenario_name: scenario.name.clone(),
        scenario_file: scenario.source.path.display().to_string(),
        baseline: format!(
            "`{}` ({} runs of {} `{}`, recorded {}, duration scale {})",
            path.display(),
            baseline.runs.len(),
            baseline.sut.kind,
            baseline.sut.profile,
            baseline.receipt.timestamp,
            baseline.environment.duration_scale
        ),
        current: describe(&records, options),
        receipts: vec![("Baseline receipt".into(), baseline.receipt.sha256.clone())],
        charts: Vec::new(),
        timestamp: now(),
        discarded,
        profiles: profile_links("current", "trial", &records),
    };
    let baseline_histogram = baseline.histogram();
    let baseline_windows = baseline.windows.first().cloned().unwrap_or_default();
    write_gate(
        dir,
        context,
        &verdict,
        baseline_histogram,
        &baseline_windows,
        &results,
    )
}

/// Runs baseline and current trials interleaved (baseline-1, current-1, baseline-2, ...) and
/// gates current against baseline: a noisy machine slows both alike.
pub async fn check_same_run(
    scenario: &Scenario,
    baseline_sut: &SutSpec,
    current_sut: &SutSpec,
    options: &CheckOptions,
    dir: &Path,
) -> Result<GateResult, CheckError> {
    let n = options.trials.max(1);
    let (mut base, mut current) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut discarded = Vec::new();
    let verdict_of = |base: &[RunRecord], current: &[RunResult]| {
        let cur = records(current);
        let b: Vec<Figures> = base.iter().map(Figures::of).collect();
        let c: Vec<Figures> = cur.iter().map(Figures::of).collect();
        let (b_windows, c_windows) = (windows_of(base), windows_of(&cur));
        gate(
            Side::with_windows(&b, &b_windows),
            Side::with_windows(&c, &c_windows),
            &scenario.gate,
            Comparison::SameRun,
        )
    };
    let most = scenario.gate.max_trials(n);
    let mut borderline = Vec::new();
    let mut verdict = loop {
        if base.len() >= n {
            let v = verdict_of(&base, &current);
            if base.len() == n {
                borderline = v.borderline();
            }
            if v.borderline().is_empty() || base.len() >= most || options.run.stop.requested() {
                break v;
            }
        }
        let i = base.len() + 1;
        let b_dir = dir.join(format!("baseline-{i}"));
        base.push(
            run_trial(scenario, baseline_sut, &options.run, &b_dir, &mut discarded)
                .await?
                .record,
        );
        let c_dir = dir.join(format!("current-{i}"));
        current.push(run_trial(scenario, current_sut, &options.run, &c_dir, &mut discarded).await?);
    };
    if base.len() > n {
        verdict.added_trials = Some(AddedTrials {
            trials: base.len() - n,
            because: borderline,
        });
    }
    let cur = records(&current);
    verdict.machines = Machines::of(machine_of(&base), machine_of(&cur));
    let context = ComparisonContext {
        scenario_name: scenario.name.clone(),
        scenario_file: scenario.source.path.display().to_string(),
        baseline: format!("same-run A/B: {}", describe(&base, options)),
        current: describe(&cur, options),
        receipts: Vec::new(),
        charts: Vec::new(),
        timestamp: now(),
        discarded,
        profiles: [
            profile_links("baseline", "baseline", &base),
            profile_links("current", "current", &cur),
        ]
        .concat(),
    };
    let windows = base[0].windows.clone();
    write_gate(
        dir,
        context,
        &verdict,
        Some(merged_latency(&base)),
        &windows,
        &current,
    )
}

/// Links to the profiles of trials run into `<dir>-<i>/`, labelled `<side> trial <i>`.
fn profile_links(side: &str, dir: &str, records: &[RunRecord]) -> Vec<(String, String)> {
    records
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r.profiles.iter().map(move |file| {
                (
                    format!("{side} trial {}: {file}", i + 1),
                    format!("{dir}-{}/{file}", i + 1),
                )
            })
        })
        .collect()
}

fn describe(records: &[RunRecord], options: &CheckOptions) -> String {
    let first = &records[0];
    let faults = first
        .sut
        .faults
        .as_deref()
        .map(|f| format!(", faults `{f}`"))
        .unwrap_or_default();
    format!(
        "{} trials of {} `{}`{faults}, duration scale {}",
        records.len(),
        first.sut.kind,
        first.sut.description,
        options.run.duration_scale
    )
}

fn write_gate(
    dir: &Path,
    mut context: ComparisonContext,
    verdict: &Verdict,
    baseline_histogram: Option<hdrhistogram::Histogram<u64>>,
    baseline_windows: &[crate::record::WindowRecord],
    current: &[RunResult],
) -> Result<GateResult, CheckError> {
    let records = records(current);
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        write_atomic(&path, bytes).map_err(|source| WriteError {
            path: path.clone(),
            source,
        })?;
        Ok::<PathBuf, WriteError>(path)
    };
    let current_histogram = merged_latency(&records);
    let (blue, red) = ("#1f77b4", "#d62728");
    let mut spectrum = vec![Series {
        name: "current",
        color: red,
        data: &current_histogram,
    }];
    if let Some(h) = &baseline_histogram {
        spectrum.insert(
            0,
            Series {
                name: "baseline",
                color: blue,
                data: h,
            },
        );
    }
    write(
        "latency-spectrum.svg",
        percentile_spectrum("Latency by percentile", &spectrum).as_bytes(),
    )?;
    let over_time = [
        Series {
            name: "baseline (first run)",
            color: blue,
            data: baseline_windows,
        },
        Series {
            name: "current (first trial)",
            color: red,
            data: records[0].windows.as_slice(),
        },
    ];
    write(
        "latency-over-time.svg",
        latency_over_time("P99 latency over time", &over_time).as_bytes(),
    )?;
    context.charts = vec![
        (
            "Latency percentile spectrum, baseline and current".into(),
            "latency-spectrum.svg".into(),
        ),
        (
            "P99 latency per second".into(),
            "latency-over-time.svg".into(),
        ),
    ];
    let mut json = serde_json::to_vec_pretty(verdict).expect("verdicts serialise");
    json.push(b'\n');
    write("gate.json", &json)?;
    for (i, result) in current.iter().enumerate() {
        context.receipts.push((
            format!("Current trial {} record.json", i + 1),
            result.files.record_sha256.clone(),
        ));
    }
    context.receipts.push((
        "Comparison hash (gate.json)".into(),
        hex::encode(Sha256::digest(&json)),
    ));
    let report = write("report.md", regression_report(&context, verdict).as_bytes())?;
    let mut tables = verdict_tables(verdict);
    for note in &context.discarded {
        tables.push_str(&format!("\nDiscarded: {note}\n"));
    }
    Ok(GateResult {
        verdict: verdict.clone(),
        tables,
        report,
        records,
    })
}
