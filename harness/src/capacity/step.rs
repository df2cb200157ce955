//! One step of a sweep: a constant rate, its own unmeasured warm-up, then the measured
//! window; and the verdict of the break criteria on what it measured.

use serde::{Deserialize, Serialize};

use crate::record::RunRecord;
use crate::scenario::capacity::BreakCriteria;
use crate::scenario::{Phase, Scenario};

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepVerdict {
    /// Every break criterion met: the SUT sustained the rate.
    Good,
    /// The SUT broke: errors, latency or saturation past a criterion.
    Broke,
    /// The load generator fell behind its schedule: the step measured the generator, so
    /// it says nothing about the SUT and bounds the search without being its capacity.
    GeneratorLimit,
}

impl StepVerdict {
    /// Whether the search may go above this rate.
    pub fn is_good(self) -> bool {
        self == StepVerdict::Good
    }
}

/// What one step measured and what the criteria said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// 1-based, in the order run.
    pub index: usize,
    /// Offered rate, requests per second.
    pub offered_rps: f64,
    /// Successful requests per second, over the time the SUT took to answer the measured
    /// window's requests (at least the window): a saturated server drains late.
    pub achieved_rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub mean_us: f64,
    pub attempts: u64,
    pub errors: u64,
    pub error_rate_percent: f64,
    /// Sends later than the generator's late threshold, percent.
    pub late_percent: f64,
    /// Mean SUT CPU cores in use over the measured window, where sampled.
    pub cpu_cores: Option<f64>,
    /// Mean requests in flight (Little's law: achieved rate times mean latency).
    pub concurrency: f64,
    pub verdict: StepVerdict,
    /// Each criterion the step failed, in words.
    pub reasons: Vec<String>,
}

/// The scenario of one step: the sweep's scenario as a single constant-rate phase of
/// `duration` at `rate`, after the scenario's own warm-up.
pub fn step_scenario(scenario: &Scenario, rate: f64, duration: std::time::Duration) -> Scenario {
    let mut step = scenario.clone();
    step.capacity = None;
    step.phases = vec![Phase {
        name: format!("{rate} req/s"),
        duration,
        rps: rate,
        rps_end: rate,
    }];
    step
}

impl StepResult {
    /// A step's result from its record; `rate` is the rate the step offered.
    /// `drain_seconds` is the time from the start of the measured window until its last
    /// request was answered.
    pub fn from_record(
        index: usize,
        rate: f64,
        record: &RunRecord,
        drain_seconds: f64,
        criteria: &BreakCriteria,
    ) -> Self {
        let t = &record.throughput;
        let seconds = drain_seconds.max(record.measured_seconds);
        let achieved_rps = round1(t.ok as f64 / seconds);
        let mut step = Self {
            index,
            offered_rps: rate,
            achieved_rps,
            p50_us: record.latency.p50_us,
            p99_us: record.latency.p99_us,
            mean_us: record.latency.mean_us,
            attempts: t.attempts,
            errors: record.errors.total,
            error_rate_percent: record.errors.rate_percent,
            late_percent: record.generator.late_percent,
            cpu_cores: record.resources.as_ref().map(|r| round2(r.cpu_cores_mean)),
            concurrency: round2(achieved_rps * record.latency.mean_us / 1e6),
            verdict: StepVerdict::Good,
            reasons: Vec::new(),
        };
        let (verdict, reasons) = judge(&step, record.generator.kept_schedule, criteria);
        step.verdict = verdict;
        step.reasons = reasons;
        step
    }
}

impl StepResult {
    /// A step at `rate` whose sessions could not be opened after earlier steps: nothing
    /// was sent, the sweep ends with it, and it does not move the search's bracket.
    pub fn unreachable(index: usize, rate: f64, why: &str) -> Self {
        Self {
            index,
            offered_rps: rate,
            achieved_rps: 0.0,
            p50_us: 0,
            p99_us: 0,
            mean_us: 0.0,
            attempts: 0,
            errors: 0,
            error_rate_percent: 100.0,
            late_percent: 0.0,
            cpu_cores: None,
            concurrency: 0.0,
            verdict: StepVerdict::Broke,
            reasons: vec![format!(
                "the SUT accepted no session after the earlier steps, so the sweep ended here: {why}"
            )],
        }
    }
}

/// The break criteria on a step's figures.
///
/// A generator that did not keep its schedule makes latency (measured from the intended
/// send time) and achieved throughput describe the generator, so then only errors judge
/// the SUT: requests that failed or timed out after they were sent are the SUT's failures
/// whatever the schedule. A late generator without such errors is a generator limit.
pub fn judge(
    step: &StepResult,
    generator_kept_schedule: bool,
    c: &BreakCriteria,
) -> (StepVerdict, Vec<String>) {
    let mut reasons = Vec::new();
    if step.error_rate_percent > c.error_rate_percent {
        reasons.push(format!(
            "error rate {}% above {}%",
            step.error_rate_percent, c.error_rate_percent
        ));
    }
    if !generator_kept_schedule {
        let late = format!(
            "the load generator fell behind its schedule ({}% of sends late)",
            step.late_percent
        );
        return if reasons.is_empty() {
            (StepVerdict::GeneratorLimit, vec![late])
        } else {
            reasons.push(format!("{late}, so latency and throughput were not judged"));
            (StepVerdict::Broke, reasons)
        };
    }
    if let Some(limit) = c.p99_us
        && step.p99_us > limit
    {
        reasons.push(format!(
            "P99 {} above {}",
            crate::units::format_us(step.p99_us),
            crate::units::format_us(limit)
        ));
    }
    let share = if step.offered_rps > 0.0 {
        100.0 * step.achieved_rps / step.offered_rps
    } else {
        100.0
    };
    if share < c.min_throughput_percent {
        reasons.push(format!(
            "achieved {:.1}% of the offered rate, below {}% (saturated)",
            share, c.min_throughput_percent
        ));
    }
    let verdict = if reasons.is_empty() {
        StepVerdict::Good
    } else {
        StepVerdict::Broke
    };
    (verdict, reasons)
}

pub(super) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A step with the given figures and a good verdict.
    pub fn step(offered: f64, achieved: f64, p99_ms: u64, error_rate: f64) -> StepResult {
        StepResult {
            index: 1,
            offered_rps: offered,
            achieved_rps: achieved,
            p50_us: p99_ms * 300,
            p99_us: p99_ms * 1000,
            mean_us: p99_ms as f64 * 400.0,
            attempts: 1000,
            errors: (error_rate * 10.0) as u64,
            error_rate_percent: error_rate,
            late_percent: 0.0,
            cpu_cores: Some(1.0),
            concurrency: achieved * p99_ms as f64 * 0.4 / 1000.0,
            verdict: StepVerdict::Good,
            reasons: Vec::new(),
        }
    }

    fn criteria(p99_ms: Option<u64>) -> BreakCriteria {
        BreakCriteria {
            error_rate_percent: 5.0,
            p99_us: p99_ms.map(|ms| ms * 1000),
            min_throughput_percent: 95.0,
        }
    }

    #[test]
    fn each_criterion_breaks_a_step_and_says_why() {
        let cases = [
            (step(1000.0, 1000.0, 10, 0.0), None, StepVerdict::Good, ""),
            (step(1000.0, 1000.0, 10, 5.0), None, StepVerdict::Good, ""),
            (
                step(1000.0, 1000.0, 10, 5.1),
                None,
                StepVerdict::Broke,
                "error rate 5.1% above 5%",
            ),
            (
                step(1000.0, 1000.0, 60, 0.0),
                Some(50),
                StepVerdict::Broke,
                "P99 60.00 ms above 50.00 ms",
            ),
            (step(1000.0, 1000.0, 60, 0.0), None, StepVerdict::Good, ""),
            (
                step(1000.0, 940.0, 10, 0.0),
                None,
                StepVerdict::Broke,
                "achieved 94.0% of the offered rate",
            ),
            (step(1000.0, 950.0, 10, 0.0), None, StepVerdict::Good, ""),
        ];
        for (s, p99, verdict, reason) in cases {
            let (v, reasons) = judge(&s, true, &criteria(p99));
            assert_eq!(v, verdict, "{reasons:?}");
            assert_eq!(reasons.is_empty(), reason.is_empty(), "{reasons:?}");
            assert!(
                reason.is_empty() || reasons.iter().any(|r| r.contains(reason)),
                "{reasons:?} lacks {reason:?}"
            );
        }
    }

    #[test]
    fn a_late_generator_leaves_only_errors_to_judge_the_sut() {
        // Slow and short of throughput, but the generator was late: its limit, not the SUT's.
        let mut s = step(9000.0, 5000.0, 900, 1.0);
        s.late_percent = 12.5;
        let (v, reasons) = judge(&s, false, &criteria(Some(50)));
        assert_eq!(v, StepVerdict::GeneratorLimit);
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("12.5% of sends late"), "{reasons:?}");
        assert!(!v.is_good());
        // Requests that failed after they were sent are the SUT's failures.
        s.error_rate_percent = 30.0;
        let (v, reasons) = judge(&s, false, &criteria(Some(50)));
        assert_eq!(v, StepVerdict::Broke);
        assert!(
            reasons[0].contains("error rate 30% above 5%"),
            "{reasons:?}"
        );
        assert!(reasons[1].contains("not judged"), "{reasons:?}");
    }

    #[test]
    fn a_step_the_sut_accepted_no_session_for_broke_and_is_left_out_of_the_fits() {
        let lost = StepResult::unreachable(3, 16_000.0, "connect");
        assert_eq!(lost.verdict, StepVerdict::Broke);
        assert!(
            lost.reasons[0].contains("accepted no session") && lost.reasons[0].ends_with("connect")
        );
        let steps = vec![
            step(1_000.0, 1_000.0, 2, 0.0),
            step(2_000.0, 2_000.0, 3, 0.0),
            step(4_000.0, 4_000.0, 20, 0.0),
            lost,
        ];
        let answered = &steps[..3];
        use crate::capacity::{knee::knee, usl::fit};
        assert_eq!(knee(&steps), knee(answered));
        assert_eq!(fit(&steps).points, fit(answered).points);
    }
}
