//! The knee of the latency curve: the offered rate after which P99 latency turns from
//! flat to steep, found as the point farthest below the chord from the first to the last
//! step (the "Kneedle" construction on normalised axes).

use serde::{Deserialize, Serialize};

use super::step::{StepResult, StepVerdict};

/// Where latency starts to climb.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    pub offered_rps: f64,
    pub p99_us: u64,
}

/// The knee of P99 against offered rate over the steps the SUT answered; `None` with
/// fewer than three such steps or a curve that never bends upward.
pub fn knee(steps: &[StepResult]) -> Option<Knee> {
    let mut points: Vec<&StepResult> = steps
        .iter()
        .filter(|s| s.verdict != StepVerdict::GeneratorLimit && s.p99_us > 0)
        .collect();
    points.sort_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps));
    points.dedup_by(|a, b| a.offered_rps == b.offered_rps);
    if points.len() < 3 {
        return None;
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    let (x0, x1) = (first.offered_rps, last.offered_rps);
    let (y0, y1) = (first.p99_us as f64, last.p99_us as f64);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let (best, gap) = points
        .iter()
        .map(|s| {
            let x = (s.offered_rps - x0) / (x1 - x0);
            let y = (s.p99_us as f64 - y0) / (y1 - y0);
            (s, x - y)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (gap > 0.0).then_some(Knee {
        offered_rps: best.offered_rps,
        p99_us: best.p99_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::step::tests::step;

    #[test]
    fn finds_the_bend_of_a_hockey_stick() {
        // Flat at 2 ms up to 8,000 req/s, then steep.
        let curve = [
            (1000.0, 2),
            (2000.0, 2),
            (4000.0, 2),
            (8000.0, 3),
            (10_000.0, 20),
            (12_000.0, 200),
        ];
        let steps: Vec<StepResult> = curve.iter().map(|&(r, ms)| step(r, r, ms, 0.0)).collect();
        let k = knee(&steps).unwrap();
        assert_eq!(k.offered_rps, 10_000.0);
        // Order of the steps does not matter (bisection runs them out of order).
        let mut shuffled = steps.clone();
        shuffled.reverse();
        assert_eq!(knee(&shuffled), Some(k));
    }

    #[test]
    fn no_knee_without_a_bend() {
        let flat: Vec<StepResult> = [1000.0, 2000.0, 4000.0]
            .iter()
            .map(|&r| step(r, r, 5, 0.0))
            .collect();
        assert_eq!(knee(&flat), None);
        assert_eq!(knee(&flat[..2]), None);
    }
}
