//! The gate's accuracy study, against the reference server and its fault injection:
//! - false alarms: unchanged reruns gated against a fresh baseline;
//! - detection: reruns with a known injected slowdown (P99 +x%), a throughput cut or an
//!   error rate, and how often the gate flags the metric that was hurt;
//! - measurement accuracy: a known injected latency against what the harness reports
//!   (see [`accuracy`]).
//!
//! Reruns go round-robin over the cases (one rerun of each per round), so the machine's
//! drift over the study spreads over every case alike instead of favouring the first.

pub mod accuracy;
mod doc;
pub mod slowdown;

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::check::{CheckError, run_trial, run_trials, windows_of};
use crate::gate::{Comparison, MetricVerdict, Side, Status, Verdict, gate};
use crate::record::RunRecord;
use crate::record::{Figures, merged_latency};
use crate::run::RunOptions;
use crate::scenario::Scenario;
use crate::store::{Baseline, Document};
use crate::sut::{EmbeddedSpec, SutSpec};

pub use accuracy::{AccuracyRow, OverheadRow};
pub use doc::{READING_HEADING, keep_reading, render};

/// The metric a case is meant to hurt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Overall P99 latency.
    P99,
    /// Successful requests per second.
    Throughput,
    /// The total error rate.
    ErrorRate,
}

impl Target {
    /// Whether `m` is the verdict row of this target.
    fn is(self, m: &MetricVerdict) -> bool {
        match self {
            Target::P99 => m.group == "Latency" && m.name == "P99",
            Target::Throughput => m.group == "Throughput",
            Target::ErrorRate => m.group == "Error Rate" && m.name == "Total",
        }
    }

    /// The row's name in reports.
    pub fn label(self) -> &'static str {
        match self {
            Target::P99 => "P99",
            Target::Throughput => "RPS",
            Target::ErrorRate => "error rate",
        }
    }
}

/// One condition of the study: what the server is told to do, and what should notice.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// `unchanged`, `P99 +15%`, `throughput -10%`, `error rate 0.5%`.
    pub name: String,
    /// The reference server's fault spec, if any.
    pub faults: Option<String>,
    /// The metric that should catch it; `None` for the unchanged case.
    pub target: Option<Target>,
    /// Size of the injected change, percent of the baseline value (0 when unchanged).
    pub injected_percent: f64,
    /// Reruns of this case.
    pub reruns: usize,
}

/// What the gate said about one rerun.
#[derive(Debug, Clone, Serialize)]
pub struct Rerun {
    /// The overall verdict: REGRESSION fails the gate.
    pub status: Status,
    /// The target metric's status (`None` for the unchanged case).
    pub target_status: Option<Status>,
    /// The target metric's measured change, percent.
    pub target_change: Option<f64>,
    /// Its confidence interval, percent, where it was judged on windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_interval: Option<[f64; 2]>,
    /// Metrics at REGRESSION, by name.
    pub regressions: Vec<String>,
    /// Metrics at WARNING, by name.
    pub warnings: Vec<String>,
    /// Trials of the current side the gate took (more than asked when borderline).
    pub trials: usize,
    /// The borderline metrics that made it take more, if it did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub borderline: Vec<String>,
}

impl Rerun {
    fn of(
        verdict: &Verdict,
        target: Option<Target>,
        trials: usize,
        borderline: Vec<String>,
    ) -> Self {
        let row = target.and_then(|t| verdict.metrics.iter().find(|m| t.is(m)));
        Self {
            status: verdict.status,
            target_status: row.map(|m| m.status),
            target_change: row.and_then(|m| m.change_percent),
            target_interval: row.and_then(|m| m.ci_percent),
            regressions: verdict
                .at(Status::Regression)
                .map(|m| format!("{} {}", m.group, m.name))
                .collect(),
            warnings: verdict
                .at(Status::Warning)
                .map(|m| format!("{} {}", m.group, m.name))
                .collect(),
            trials,
            borderline,
        }
    }
}

/// A case and its reruns.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: Case,
    pub reruns: Vec<Rerun>,
}

impl CaseResult {
    /// Reruns that failed the gate (overall REGRESSION).
    pub fn failed(&self) -> usize {
        self.count(|r| r.status == Status::Regression)
    }

    /// Reruns whose target metric was at least at `status`.
    pub fn target_at_least(&self, status: Status) -> usize {
        self.count(|r| r.target_status.is_some_and(|s| s >= status))
    }

    /// The median measured change of the target metric, percent.
    pub fn median_change(&self) -> Option<f64> {
        let changes: Vec<f64> = self.reruns.iter().filter_map(|r| r.target_change).collect();
        crate::units::median(&changes)
    }

    /// The median bounds of the target metric's intervals, percent.
    pub fn median_interval(&self) -> Option<[f64; 2]> {
        let bound = |i: usize| {
            let v: Vec<f64> = self
                .reruns
                .iter()
                .filter_map(|r| r.target_interval.map(|b| b[i]))
                .collect();
            crate::units::median(&v)
        };
        Some([bound(0)?, bound(1)?])
    }

    fn count(&self, f: impl Fn(&Rerun) -> bool) -> usize {
        self.reruns.iter().filter(|r| f(r)).count()
    }
}

/// How to run the study.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// The gated scenario (its `gate:` thresholds apply).
    pub scenario: Scenario,
    /// The reference server; each case sets its faults.
    pub server: EmbeddedSpec,
    /// Duration scale and progress of every trial.
    pub run: RunOptions,
    /// Trials per side of each gate.
    pub trials: usize,
    /// Each rerun a same-run A/B (unchanged and changed server interleaved, trial by
    /// trial) instead of a gate against the fresh baseline file.
    pub same_run: bool,
    /// Unchanged reruns (false alarms).
    pub reruns: usize,
    /// Reruns of each injected case.
    pub detection_reruns: usize,
    /// Reruns of each gross case (P99 +50% or more, the throughput cut, the error rate),
    /// which must fail the gate every time.
    pub gross_reruns: usize,
    /// Injected P99 slowdowns, percent of the baseline's P99.
    pub slowdowns: Vec<f64>,
    /// Injected cut of successful throughput, percent (requests answered with an error).
    pub throughput_cut: f64,
    /// Injected error rate, percent.
    pub error_rate: f64,
    /// Rate of the measurement-accuracy runs, requests per second; `None` skips them.
    pub accuracy_rate: Option<f64>,
    /// Rates of the harness-overhead runs.
    pub overhead_rates: Vec<f64>,
    /// Results go here.
    pub out: PathBuf,
    /// Send no load: read every run's `record.json` from an earlier study in `out` and gate
    /// them again (to see what a change of the gate's statistics does to the same runs).
    pub replay: bool,
}

/// Why the study could not finish.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error(transparent)]
    Baseline(#[from] crate::store::DocumentError),
    /// A record of the study being replayed is missing or unreadable.
    #[error("cannot replay {path}: {reason}")]
    Replay { path: PathBuf, reason: String },
    /// Stopped (Ctrl-C, SIGTERM) before its fresh baseline was measured: nothing to gate.
    #[error("the study was stopped before its baseline was measured")]
    Interrupted,
}

/// The records of `n` trials: run now, or read back when replaying.
async fn trial_records(
    options: &StudyOptions,
    sut: &SutSpec,
    dir: &Path,
    label: &str,
) -> Result<Vec<RunRecord>, StudyError> {
    let n = options.trials.max(1);
    if options.replay {
        return (1..=n)
            .map(|i| read_record(&dir.join(format!("{label}-{i}"))))
            .collect();
    }
    let mut discarded = Vec::new();
    let results = run_trials(
        &options.scenario,
        sut,
        &options.run,
        dir,
        label,
        n,
        &mut discarded,
    )
    .await
    .map_err(CheckError::from)?;
    for note in discarded {
        tracing::warn!("{note}");
    }
    Ok(results.into_iter().map(|r| r.record).collect())
}

/// Gates one rerun of `sut`: its trials against the fresh `baseline` file, or (in an A/B
/// study) against as many trials of the unchanged server interleaved with them; more
/// trials (pairs, in A/B) while the verdict is borderline, up to the scenario's bound.
/// Returns the verdict, the current side's trials and the first verdict's borderline
/// metrics.
async fn gate_rerun(
    options: &StudyOptions,
    baseline: &Baseline,
    sut: &SutSpec,
    dir: &Path,
) -> Result<(Verdict, usize, Vec<String>), StudyError> {
    let n = options.trials.max(1);
    let most = options.scenario.gate.max_trials(n);
    let unchanged = server(options, None);
    let (mut base, mut current): (Vec<RunRecord>, Vec<RunRecord>) = (Vec::new(), Vec::new());
    let verdict_of = |base: &[RunRecord], current: &[RunRecord]| {
        let c: Vec<Figures> = current.iter().map(Figures::of).collect();
        let c_windows = windows_of(current);
        if options.same_run {
            let b: Vec<Figures> = base.iter().map(Figures::of).collect();
            let b_windows = windows_of(base);
            gate(
                Side::with_windows(&b, &b_windows),
                Side::with_windows(&c, &c_windows),
                &options.scenario.gate,
                Comparison::SameRun,
            )
        } else {
            gate(
                Side::with_windows(&baseline.runs, &baseline.windows),
                Side::with_windows(&c, &c_windows),
                &options.scenario.gate,
                Comparison::File,
            )
        }
    };
    let mut borderline = Vec::new();
    loop {
        if current.len() >= n {
            let verdict = verdict_of(&base, &current);
            if current.len() == n {
                borderline = verdict.borderline();
            }
            if verdict.borderline().is_empty()
                || current.len() >= most
                || options.run.stop.requested()
            {
                return Ok((verdict, current.len(), borderline));
            }
        }
        let k = current.len() + 1;
        if options.same_run {
            let Some(b) =
                one_trial(options, &unchanged, &dir.join(format!("baseline-{k}"))).await?
            else {
                return Ok((verdict_of(&base, &current), current.len(), borderline));
            };
            base.push(b);
        }
        let Some(c) = one_trial(options, sut, &dir.join(format!("trial-{k}"))).await? else {
            return Ok((verdict_of(&base, &current), current.len(), borderline));
        };
        current.push(c);
    }
}

/// One more trial into `dir`: run now, or read back when replaying (`None` when the study
/// replayed took no such trial).
async fn one_trial(
    options: &StudyOptions,
    sut: &SutSpec,
    dir: &Path,
) -> Result<Option<RunRecord>, StudyError> {
    if options.replay {
        return if dir.join("record.json").exists() {
            read_record(dir).map(Some)
        } else {
            Ok(None)
        };
    }
    let mut discarded = Vec::new();
    let result = run_trial(&options.scenario, sut, &options.run, dir, &mut discarded)
        .await
        .map_err(CheckError::from)?;
    for note in discarded {
        tracing::warn!("{note}");
    }
    Ok(Some(result.record))
}

/// Reads `dir/record.json`.
fn read_record(dir: &Path) -> Result<RunRecord, StudyError> {
    let path = dir.join("record.json");
    let bad = |reason: String| StudyError::Replay {
        path: path.clone(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))
}

/// Everything the study found.
#[derive(Debug, Clone, Serialize)]
pub struct Study {
    /// The fresh baseline every rerun was gated against.
    pub baseline: Baseline,
    /// Its median P99, microseconds: what the slowdowns are a percentage of.
    pub baseline_p99_us: u64,
    pub trials: usize,
    /// The scenario's gate thresholds the study judged with.
    pub thresholds: crate::gate::Thresholds,
    /// Whether each rerun was a same-run A/B instead of a gate against the fresh baseline.
    pub same_run: bool,
    pub duration_scale: f64,
    pub scenario_file: String,
    pub cases: Vec<CaseResult>,
    pub accuracy: Vec<AccuracyRow>,
    pub overhead: Vec<OverheadRow>,
    /// Set when the study was stopped early (Ctrl-C, SIGTERM): the round it stopped in;
    /// the reruns finished before it are kept, the one under way is dropped, and the
    /// accuracy runs are skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted_in_round: Option<usize>,
}

/// The cases of a study: unchanged, each slowdown, the throughput cut and the error rate.
/// A slowdown of x% delays a share of requests by what moves the P99 of `baseline` (the
/// baseline's latency) by x% ([`slowdown`]).
pub fn cases(options: &StudyOptions, baseline: &Histogram<u64>) -> Vec<Case> {
    let mut cases = vec![Case {
        name: "unchanged".into(),
        faults: None,
        target: None,
        injected_percent: 0.0,
        reruns: options.reruns,
    }];
    for &pct in &options.slowdowns {
        cases.push(Case {
            name: format!("P99 +{pct}%"),
            faults: Some(slowdown::tail_fault(baseline, pct)),
            target: Some(Target::P99),
            injected_percent: pct,
            reruns: if pct >= MUST_CATCH_PERCENT {
                options.gross_reruns
            } else {
                options.detection_reruns
            },
        });
    }
    let injected_errors = |name: String, pct: f64, target| Case {
        name,
        faults: Some(format!("error_rate={}", pct / 100.0)),
        target: Some(target),
        injected_percent: pct,
        reruns: options.gross_reruns,
    };
    if options.throughput_cut > 0.0 {
        cases.push(injected_errors(
            format!("throughput -{}%", options.throughput_cut),
            options.throughput_cut,
            Target::Throughput,
        ));
    }
    if options.error_rate > 0.0 {
        cases.push(injected_errors(
            format!("error rate {}%", options.error_rate),
            options.error_rate,
            Target::ErrorRate,
        ));
    }
    cases
}

fn server(options: &StudyOptions, faults: Option<String>) -> SutSpec {
    SutSpec::Embedded(options.server.clone().with_faults(faults))
}

fn slug(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').to_lowercase()
}

/// Runs the study; `progress` hears one line per finished gate.
pub async fn run_study(
    options: &StudyOptions,
    progress: impl Fn(&str),
) -> Result<Study, StudyError> {
    let base_dir = options.out.join("baseline");
    let stop = &options.run.stop;
    let records = trial_records(options, &server(options, None), &base_dir, "run").await?;
    if stop.requested() {
        return Err(StudyError::Interrupted);
    }
    let baseline = Baseline::from_runs(
        "reference",
        &records,
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    );
    if !options.replay {
        baseline.write(&base_dir.join("baseline.json"))?;
    }
    let baseline_p99_us = baseline.figures.latency.p99_us;
    progress(&format!(
        "fresh baseline: {} runs, P99 {} µs",
        baseline.runs.len(),
        baseline_p99_us
    ));
    let mut results: Vec<CaseResult> = cases(options, &merged_latency(&records))
        .into_iter()
        .map(|case| CaseResult {
            case,
            reruns: Vec::new(),
        })
        .collect();
    let rounds = results.iter().map(|c| c.case.reruns).max().unwrap_or(0);
    let mut interrupted_in_round = None;
    'rounds: for round in 1..=rounds {
        for result in results.iter_mut().filter(|c| c.case.reruns >= round) {
            if stop.requested() {
                interrupted_in_round = Some(round);
                break 'rounds;
            }
            let case = &result.case;
            let dir = options
                .out
                .join(slug(&case.name))
                .join(format!("rerun-{round}"));
            let sut = server(options, case.faults.clone());
            let (verdict, trials, borderline) = gate_rerun(options, &baseline, &sut, &dir).await?;
            // A rerun cut short measured less than the others: it is not gated.
            if stop.requested() {
                interrupted_in_round = Some(round);
                break 'rounds;
            }
            let rerun = Rerun::of(&verdict, case.target, trials, borderline);
            progress(&format!(
                "round {round}/{rounds} {}: {}{}",
                case.name,
                rerun.status.name(),
                match (case.target, rerun.target_status, rerun.target_change) {
                    (Some(t), Some(s), Some(c)) =>
                        format!(" ({} {c:+.1}% {})", t.label(), s.name()),
                    _ => String::new(),
                }
            ));
            result.reruns.push(rerun);
        }
    }
    let (accuracy, overhead) = match options.accuracy_rate {
        Some(rate) if interrupted_in_round.is_none() => {
            accuracy::measure(options, rate, &options.out.join("accuracy"), &progress).await?
        }
        _ => (Vec::new(), Vec::new()),
    };
    Ok(Study {
        baseline_p99_us,
        trials: options.trials.max(1),
        thresholds: options.scenario.gate.clone(),
        same_run: options.same_run,
        duration_scale: options.run.duration_scale,
        scenario_file: options.scenario.source.path.display().to_string(),
        baseline,
        cases: results,
        accuracy,
        overhead,
        interrupted_in_round,
    })
}

/// The study's goals, each with whether it was met.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub text: String,
    pub met: bool,
}

/// Reruns of an injected case that must be caught in every rerun (it is far beyond the
/// threshold): slowdowns of at least this much, percent.
pub const MUST_CATCH_PERCENT: f64 = 50.0;
/// A P99 slowdown of this much must be caught (P99 at REGRESSION) in [`CATCH_SHARE`] of
/// reruns.
pub const CATCH_PERCENT: f64 = 15.0;
pub const CATCH_SHARE: f64 = 0.95;
/// A P99 slowdown of this much must be flagged (P99 at WARNING or worse) in
/// [`FLAG_SHARE`] of reruns.
pub const FLAG_PERCENT: f64 = 10.0;
pub const FLAG_SHARE: f64 = 0.80;

/// The study's goals: no false alarm; P99 +15% caught in at least 95% of reruns and +10%
/// flagged in at least 80%; gross changes (>= +50%, the throughput cut, the error rate)
/// failing the gate every time.
pub fn goals(cases: &[CaseResult]) -> Vec<Goal> {
    let mut goals = Vec::new();
    for c in cases {
        let n = c.reruns.len();
        if n == 0 {
            continue;
        }
        let pct = c.case.injected_percent;
        let share = |status: Status, share: f64, verb: &str| {
            let k = c.target_at_least(status);
            Goal {
                text: format!(
                    "{}: P99 {verb} in at least {:.0}% of reruns ({k} of {n})",
                    c.case.name,
                    share * 100.0
                ),
                met: k as f64 >= share * n as f64,
            }
        };
        match c.case.target {
            None => goals.push(Goal {
                text: format!("no false alarm in {n} unchanged reruns"),
                met: c.failed() == 0,
            }),
            Some(Target::P99) if pct >= MUST_CATCH_PERCENT => goals.push(must_fail(c)),
            Some(Target::P99) if pct == CATCH_PERCENT => goals.push(share(
                Status::Regression,
                CATCH_SHARE,
                "caught at REGRESSION",
            )),
            Some(Target::P99) if pct == FLAG_PERCENT => {
                goals.push(share(Status::Warning, FLAG_SHARE, "flagged"))
            }
            Some(Target::P99) => {}
            Some(_) => goals.push(must_fail(c)),
        }
    }
    goals
}

fn must_fail(c: &CaseResult) -> Goal {
    let n = c.reruns.len();
    let failed = c.failed();
    Goal {
        text: format!(
            "{}: the gate fails in every rerun ({failed} of {n})",
            c.case.name
        ),
        met: failed == n,
    }
}

#[cfg(test)]
mod tests;
