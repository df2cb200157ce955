//! The search for the breaking point: which rate to try next, given what the steps so far
//! said. Pure: it never runs load, so it is tested on synthetic verdicts.
//!
//! `bisect` grows the rate geometrically (by `factor`) until a step breaks, then halves the
//! interval between the last good and the first bad rate until it is within `resolution`
//! of the last good rate. `linear` steps from `start` by `step` until a step breaks.

use serde::{Deserialize, Serialize};

use super::spec::{CapacitySpec, MAX_STEPS, Strategy};

/// What the steps so far established: the sustainable rate lies in
/// `[last_good, first_bad)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Bracket {
    /// Highest rate a step sustained.
    pub last_good: Option<f64>,
    /// Lowest rate at which a step broke.
    pub first_bad: Option<f64>,
}

/// The state of one search.
#[derive(Debug, Clone)]
pub struct Search {
    strategy: Strategy,
    start: f64,
    max: f64,
    factor: f64,
    step: f64,
    resolution: f64,
    bracket: Bracket,
    next: Option<f64>,
    steps: usize,
}

impl Search {
    /// A search over `spec`'s range; the first rate is `spec.start_rps`.
    pub fn new(spec: &CapacitySpec) -> Self {
        Self {
            strategy: spec.strategy,
            start: spec.start_rps,
            max: spec.max_rps,
            factor: spec.factor,
            step: spec.step_rps.unwrap_or(spec.start_rps),
            resolution: spec.resolution_percent / 100.0,
            bracket: Bracket::default(),
            next: Some(spec.start_rps.round().max(1.0)),
            steps: 0,
        }
    }

    /// The rate of the next step, or `None` when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// What the steps so far established.
    pub fn bracket(&self) -> Bracket {
        self.bracket
    }

    /// Steps recorded so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Records a step at `rate`: `good` when it met every break criterion.
    pub fn record(&mut self, rate: f64, good: bool) {
        self.steps += 1;
        let b = &mut self.bracket;
        if good {
            b.last_good = Some(b.last_good.map_or(rate, |g| g.max(rate)));
        } else {
            b.first_bad = Some(b.first_bad.map_or(rate, |f| f.min(rate)));
        }
        self.next = if self.steps >= MAX_STEPS {
            None
        } else {
            self.choose()
        };
    }

    fn choose(&self) -> Option<f64> {
        let Bracket {
            last_good,
            first_bad,
        } = self.bracket;
        match (last_good, first_bad) {
            (None, None) => Some(self.start),
            // Broke at the first step: nothing below it is tried.
            (None, Some(_)) => None,
            (Some(good), None) => {
                if good >= self.max {
                    return None;
                }
                let grown = match self.strategy {
                    Strategy::Bisect => good * self.factor,
                    Strategy::Linear => good + self.step,
                };
                Some(grown.round().min(self.max))
            }
            (Some(_), Some(_)) if self.strategy == Strategy::Linear => None,
            (Some(good), Some(bad)) => {
                if bad - good <= self.resolution * good {
                    return None;
                }
                let mid = ((good + bad) / 2.0).round();
                (mid > good && mid < bad).then_some(mid)
            }
        }
    }
}

/// Runs a search to its end against `sustains` (true when the rate is sustained): the
/// rates tried, in order, and the bracket. For tests and for comparing strategies on a
/// model of a server.
pub fn simulate(spec: &CapacitySpec, mut sustains: impl FnMut(f64) -> bool) -> (Vec<f64>, Bracket) {
    let mut search = Search::new(spec);
    let mut tried = Vec::new();
    while let Some(rate) = search.next_rate() {
        tried.push(rate);
        search.record(rate, sustains(rate));
    }
    (tried, search.bracket())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::capacity::spec::BreakCriteria;

    fn spec(strategy: Strategy, step: Option<f64>) -> CapacitySpec {
        CapacitySpec {
            strategy,
            start_rps: 1000.0,
            max_rps: 64_000.0,
            factor: 2.0,
            step_rps: step,
            resolution_percent: 5.0,
            step_duration: Duration::from_secs(1),
            criteria: BreakCriteria {
                error_rate_percent: 5.0,
                p99_us: None,
                min_throughput_percent: 95.0,
            },
        }
    }

    #[test]
    fn bisection_converges_within_resolution_in_at_most_half_the_linear_steps() {
        // With the break at least three times the start rate (a sweep's range is wide).
        for capacity in [3_333.0, 7_900.0, 12_345.0, 16_000.0, 40_000.0] {
            let sustains = |r: f64| r <= capacity;
            let (fast, b) = simulate(&spec(Strategy::Bisect, None), sustains);
            let (good, bad) = (b.last_good.unwrap(), b.first_bad.unwrap());
            assert!(good <= capacity && bad > capacity, "{capacity}: {b:?}");
            assert!(bad - good <= 0.05 * good, "{capacity}: {b:?}");
            // A linear sweep with the same resolution at the break: steps of 5% of it.
            let step = (0.05 * capacity).floor();
            let (slow, lb) = simulate(&spec(Strategy::Linear, Some(step)), sustains);
            let linear_good = lb.last_good.unwrap();
            assert!(
                (linear_good - good).abs() <= 0.05 * good,
                "{capacity}: {lb:?} vs {b:?}"
            );
            assert!(
                2 * fast.len() <= slow.len(),
                "{capacity}: bisect {} steps ({fast:?}), linear {}",
                fast.len(),
                slow.len()
            );
        }
    }

    #[test]
    fn grows_geometrically_then_bisects() {
        let (tried, b) = simulate(&spec(Strategy::Bisect, None), |r| r <= 5_000.0);
        assert_eq!(
            tried,
            vec![
                1000.0, 2000.0, 4000.0, 8000.0, 6000.0, 5000.0, 5500.0, 5250.0
            ]
        );
        assert_eq!(b.last_good, Some(5000.0));
        assert_eq!(b.first_bad, Some(5250.0));
    }

    #[test]
    fn stops_at_max_and_at_a_broken_start() {
        let (tried, b) = simulate(&spec(Strategy::Bisect, None), |_| true);
        assert_eq!(*tried.last().unwrap(), 64_000.0);
        assert_eq!(b.first_bad, None);
        let mut capped = spec(Strategy::Bisect, None);
        capped.max_rps = 5000.0;
        let (tried, _) = simulate(&capped, |_| true);
        assert_eq!(tried, vec![1000.0, 2000.0, 4000.0, 5000.0]);
        let (tried, b) = simulate(&spec(Strategy::Bisect, None), |_| false);
        assert_eq!(tried, vec![1000.0]);
        assert_eq!(
            b,
            Bracket {
                last_good: None,
                first_bad: Some(1000.0)
            }
        );
    }

    #[test]
    fn linear_steps_until_the_first_break() {
        let (tried, b) = simulate(&spec(Strategy::Linear, Some(5000.0)), |r| r < 12_000.0);
        assert_eq!(tried, vec![1000.0, 6000.0, 11_000.0, 16_000.0]);
        assert_eq!(b.last_good, Some(11_000.0));
        assert_eq!(b.first_bad, Some(16_000.0));
    }

    #[test]
    fn a_noisy_server_still_ends_with_a_consistent_bracket() {
        // Breaks above 8,000 but also at 6,000 once (a hiccup): the bracket stays ordered.
        let (tried, b) = simulate(&spec(Strategy::Bisect, None), |r| {
            r <= 8_000.0 && r != 6_000.0
        });
        assert!(tried.len() <= MAX_STEPS);
        let (good, bad) = (b.last_good.unwrap(), b.first_bad.unwrap());
        assert!(good < bad, "{tried:?} {b:?}");
    }
}
