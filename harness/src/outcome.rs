//! The one rule that turns what a command measured into pass or fail, and the exit codes
//! the CLI's subcommands and the perf suite share (README, "The command line").

use crate::calibrate::{Goal, StudyError};
use crate::gate::Status;
use crate::record::RunRecord;
use crate::run::RunError;
use crate::sweep::CapacityError;

/// Exit codes.
pub mod exit {
    /// A check failed: a regression, a breached SLO, a generator that fell behind, a missed
    /// accuracy goal.
    pub const FAILED_CHECK: u8 = 1;
    /// A bad file, option or setting; nothing was run.
    pub const BAD_INPUT: u8 = 2;
    /// The SUT or the load could not be set up.
    pub const SETUP: u8 = 3;
    /// A result could not be written.
    pub const WRITE: u8 = 4;
    /// Stopped by Ctrl-C (128 + SIGINT).
    pub const INTERRUPTED: u8 = 130;
}

/// Whether what was measured passes, and if not, every reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub failures: Vec<String>,
    /// A trial was stopped early: its figures are partial, and the exit code says so.
    pub interrupted: bool,
}

impl Outcome {
    /// The trials of one scenario (one for `erlmcp-perf run`): they fail whatever any
    /// baseline says when the generator fell behind its schedule in a trial, or when a
    /// service-level limit is breached in most trials (one hiccup of a shared machine in
    /// one trial is not the server's level of service; with one trial, a breach fails).
    pub fn of_trials(records: &[RunRecord]) -> Self {
        let mut failures = Vec::new();
        let mut interrupted = false;
        for (i, r) in records.iter().enumerate() {
            if let Some(stop) = &r.interrupted {
                interrupted = true;
                failures.push(format!(
                    "trial {}: interrupted {:.1} s into its schedule: the figures cover {:.1} s of {:.1} s measured",
                    i + 1,
                    stop.after_seconds,
                    stop.measured_seconds_covered,
                    stop.measured_seconds_planned
                ));
            }
            if !r.generator.kept_schedule {
                failures.push(format!(
                    "trial {}: the load generator fell behind its schedule ({}% of sends late), so the figures describe the generator, not the server",
                    i + 1,
                    r.generator.late_percent
                ));
            }
        }
        let checks = records.first().map_or(0, |r| r.slo.len());
        for k in 0..checks {
            let breached: Vec<&RunRecord> = records
                .iter()
                .filter(|r| r.slo.get(k).is_some_and(|c| !c.passed))
                .collect();
            if breached.len() * 2 > records.len() {
                let c = &breached[0].slo[k];
                let actual: Vec<&str> = breached.iter().map(|r| r.slo[k].actual.as_str()).collect();
                failures.push(format!(
                    "service-level check breached in {} of {} trials: {} {} (limit {})",
                    breached.len(),
                    records.len(),
                    c.metric,
                    actual.join(", "),
                    c.limit
                ));
            }
        }
        Self {
            failures,
            interrupted,
        }
    }

    /// The missed goals of a gate accuracy study.
    pub fn of_goals(goals: &[Goal]) -> Self {
        Self {
            failures: goals
                .iter()
                .filter(|g| !g.met)
                .map(|g| g.text.clone())
                .collect(),
            interrupted: false,
        }
    }

    /// With a gate's verdict: a REGRESSION fails, first, described by `describe`.
    pub fn gated(mut self, status: Status, describe: impl FnOnce() -> String) -> Self {
        if status == Status::Regression {
            self.failures.insert(0, describe());
        }
        self
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// 0 when passed, [`exit::INTERRUPTED`] when stopped early, else [`exit::FAILED_CHECK`].
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            exit::INTERRUPTED
        } else if self.passed() {
            0
        } else {
            exit::FAILED_CHECK
        }
    }
}

/// The exit code of a run that did not produce a record.
pub fn run_error_code(e: &RunError) -> u8 {
    match e {
        RunError::Write(_) => exit::WRITE,
        RunError::Sut(_) | RunError::Load(_) => exit::SETUP,
    }
}

/// The exit code of a sweep that did not produce a result.
pub fn sweep_error_code(e: &CapacityError) -> u8 {
    match e {
        CapacityError::Write(_) => exit::WRITE,
        CapacityError::NotCapacity(_) | CapacityError::LinearNeedsStep(_) => exit::BAD_INPUT,
        CapacityError::Sut(_) | CapacityError::Load(_) | CapacityError::Baseline(_) => exit::SETUP,
    }
}

/// The exit code of a study that did not finish.
pub fn study_error_code(e: &StudyError) -> u8 {
    match e {
        StudyError::Replay { .. } => exit::BAD_INPUT,
        StudyError::Check(_) | StudyError::Baseline(_) => exit::SETUP,
        StudyError::Interrupted => exit::INTERRUPTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regression_fails_first_and_goals_fail_when_missed() {
        let passed = Outcome::default();
        assert!(passed.passed() && passed.exit_code() == 0);
        let failed = Outcome {
            failures: vec!["slo".into()],
            interrupted: false,
        }
        .gated(Status::Regression, || "regression".into())
        .gated(Status::Warning, || "warning".into());
        assert_eq!(failed.failures, ["regression", "slo"]);
        assert_eq!(failed.exit_code(), exit::FAILED_CHECK);
        let goals = [
            Goal {
                text: "met".into(),
                met: true,
            },
            Goal {
                text: "missed".into(),
                met: false,
            },
        ];
        assert_eq!(Outcome::of_goals(&goals).failures, ["missed"]);
    }
}
