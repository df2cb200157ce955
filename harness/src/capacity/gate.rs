//! The capacity gate: a drop of the maximum sustainable rate against a committed capacity
//! baseline, judged by the other gate's rule ([`crate::gate::classify`]: up to T OK, up to
//! 1.5 T WARNING, beyond REGRESSION).
//!
//! A sweep knows its capacity only to its resolution: it lies in `[last_good, first_bad)`.
//! So the drop counted as evidence is the smallest drop both brackets allow: from the
//! baseline's last good rate down to the current first bad rate. A difference inside the
//! two brackets is no evidence of a regression. A current sweep that the generator
//! limited, or that never broke, has no upper bound, so it cannot show a drop.

use serde::{Deserialize, Serialize};

use super::result::{CapacityResult, Limit};
use super::step::round1;
use crate::gate::{Status, classify};

/// The capacity gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityVerdict {
    pub status: Status,
    /// Maximum sustainable rate of the baseline and of the current sweep.
    pub baseline_rps: Option<f64>,
    pub current_rps: Option<f64>,
    /// Signed change of the maximum sustainable rate, percent.
    pub change_percent: Option<f64>,
    /// The drop both sweeps' brackets agree on (0 when they overlap), percent: what is
    /// classified.
    pub drop_beyond_resolution_percent: f64,
    pub threshold_percent: f64,
    /// In words, for the report and the failure message.
    pub note: String,
}

/// Compares a sweep with its baseline, threshold `t` percent.
pub fn gate(baseline: &CapacityResult, current: &CapacityResult, t: f64) -> CapacityVerdict {
    let base = baseline.bracket.last_good;
    let cur = current.bracket.last_good;
    let change_percent = match (base, cur) {
        (Some(b), Some(c)) if b > 0.0 => Some(round1(100.0 * (c - b) / b)),
        (Some(_), None) => Some(-100.0),
        _ => None,
    };
    let upper = match current.limited_by {
        Limit::Sut => current.bracket.first_bad,
        Limit::Generator | Limit::MaxRate => None,
    };
    let drop = match (base, upper) {
        (Some(b), Some(u)) if b > 0.0 => round1((100.0 * (b - u) / b).max(0.0)),
        _ => 0.0,
    };
    let status = classify(drop, t);
    let rate = |r: Option<f64>| r.map_or("none".into(), |r| format!("{r:.0} req/s"));
    let mut note = format!(
        "maximum sustainable rate {} against {} in the baseline",
        rate(cur),
        rate(base)
    );
    if let Some(c) = change_percent {
        note.push_str(&format!(" ({c:+.1}%)"));
    }
    match (base, upper) {
        (None, _) => note.push_str("; the baseline sustained no step, nothing to compare"),
        (Some(b), Some(u)) => note.push_str(&format!(
            "; the current sweep broke at {u:.0} req/s, {drop:.1}% below the baseline's last good {b:.0} req/s beyond both sweeps' resolution (threshold {t}%: {})",
            status.name()
        )),
        (Some(_), None) if current.limited_by == Limit::Generator => note.push_str(
            "; the load generator limited the current sweep, so it cannot show a drop of the SUT's capacity",
        ),
        (Some(_), None) => note.push_str("; the current sweep never broke up to its maximum"),
    }
    CapacityVerdict {
        status,
        baseline_rps: base,
        current_rps: cur,
        change_percent,
        drop_beyond_resolution_percent: drop,
        threshold_percent: t,
        note,
    }
}

/// Loads the capacity baseline at `path` (receipt verified, recorded for this version of
/// the scenario file) and gates `current` against it with the scenario's `throughput`
/// threshold.
pub fn gate_against_file(
    path: &std::path::Path,
    current: &CapacityResult,
    thresholds: &crate::gate::Thresholds,
) -> Result<CapacityVerdict, crate::baseline::BaselineError> {
    let baseline = CapacityResult::load(path)?;
    if baseline.scenario.sha256 != current.scenario.sha256 {
        return Err(crate::baseline::BaselineError::ScenarioChanged {
            path: path.to_owned(),
            scenario: current.scenario.file.clone(),
            recorded: baseline.scenario.sha256,
            current: current.scenario.sha256.clone(),
        });
    }
    Ok(gate(&baseline, current, thresholds.of("throughput")))
}
