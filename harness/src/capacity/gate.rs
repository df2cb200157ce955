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
use crate::gate::{Comparison, Status, Unit, classify};
use crate::store::Document;

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

/// Compares a sweep with its baseline, threshold `t` percent. Against a baseline of another
/// machine class ([`Comparison::OtherMachine`]) its rates are scaled down for a slower CPU
/// by the probe, and a drop fails only beyond the cross-machine factor (below 40% of the
/// scaled rate, a drop of 60%, at 2.5x); the note then says first that the machines differ.
pub fn gate(
    baseline: &CapacityResult,
    current: &CapacityResult,
    t: f64,
    comparison: Comparison,
) -> CapacityVerdict {
    let scale = match comparison {
        Comparison::OtherMachine(a) => a.scale(Unit::PerCpuSecond),
        Comparison::File | Comparison::SameRun => 1.0,
    };
    let base = baseline.bracket.last_good.map(|r| r * scale);
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
    let mut status = classify(drop, t);
    let mut note = String::new();
    if let Comparison::OtherMachine(a) = comparison {
        let needed = round1(100.0 * (1.0 - 1.0 / a.factor));
        if status == Status::Regression && drop <= needed {
            status = Status::Warning;
        }
        let describe = |m: &Option<crate::machine::Machine>| {
            m.as_ref()
                .map_or_else(|| "an unknown machine".to_string(), |m| m.describe())
        };
        let class = current
            .environment
            .machine
            .as_ref()
            .map_or("<class>", |m| m.class.as_str());
        note.push_str(&format!(
            "the baseline was recorded on another machine: {}; this sweep: {}. Its rates are taken x{scale:.2} for this machine's CPU, and only a drop beyond {needed}% ({}x) fails; record this machine's own capacity baseline with ERLMCP_PERF_UPDATE_BASELINES=1 cargo nextest run --profile perf (it writes baselines/<sut>/{class}/). ",
            describe(&baseline.environment.machine),
            describe(&current.environment.machine),
            a.factor
        ));
    }
    let rate = |r: Option<f64>| r.map_or("none".into(), |r| format!("{r:.0} req/s"));
    note.push_str(&format!(
        "maximum sustainable rate {} against {} in the baseline",
        rate(cur),
        rate(base)
    ));
    if let Some(c) = change_percent {
        note.push_str(&format!(" ({c:+.1}%)"));
    }
    match (base, upper) {
        (None, _) => note.push_str("; the baseline sustained no step, nothing to compare"),
        (Some(b), Some(u)) if u >= b => note.push_str(&format!(
            "; the current sweep broke at {u:.0} req/s, not below the baseline's last good {b:.0} req/s: no drop beyond both sweeps' resolution"
        )),
        (Some(b), Some(u)) => note.push_str(&format!(
            "; the current sweep broke at {u:.0} req/s, {drop:.1}% below the baseline's last good {b:.0} req/s, a drop beyond both sweeps' resolution (threshold {t}%: {})",
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
) -> Result<CapacityVerdict, crate::store::DocumentError> {
    let baseline = CapacityResult::load(path)?;
    baseline.environment.check_method(path)?;
    baseline.scenario.check(path, &current.scenario)?;
    let comparison = Comparison::of_file(
        baseline.environment.machine.as_ref(),
        current.environment.machine.as_ref(),
    );
    Ok(gate(
        &baseline,
        current,
        thresholds.of("throughput"),
        comparison,
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::capacity::result::ResultInputs;
    use crate::capacity::search::Bracket;
    use crate::capacity::step::{StepVerdict, tests::step};
    use crate::sut::SutInfo;

    /// A result whose sweep sustained `good` and broke at `bad` (the SUT, or the generator).
    fn result(good: Option<f64>, bad: Option<f64>, generator: bool) -> CapacityResult {
        let scenario = crate::scenario::parse(
            "scenario:\n  name: cap\n  requests:\n    - type: ping\n      weight: 100%\n  capacity:\n    start: 100\n    max: 100000\n    step_duration: 1s\n",
            Path::new("cap.yml"),
        )
        .unwrap();
        let mut steps = Vec::new();
        if let Some(g) = good {
            steps.push(step(g, g, 2, 0.0));
        }
        if let Some(b) = bad {
            let mut s = step(b, b * 0.5, 900, 20.0);
            s.verdict = if generator {
                StepVerdict::GeneratorLimit
            } else {
                StepVerdict::Broke
            };
            steps.push(s);
        }
        CapacityResult::new(ResultInputs {
            spec: scenario.capacity.as_ref().unwrap(),
            scenario: &scenario,
            profile: "reference",
            sut: &SutInfo {
                kind: "embedded".into(),
                description: "test".into(),
                endpoint: "http://127.0.0.1:1/mcp".into(),
                transport: "http".into(),
                version: None,
                binary_sha256: None,
                faults: None,
            },
            opt_level: "2".into(),
            duration_scale: 1.0,
            machine: crate::machine::Machine::unprobed(&Default::default()),
            steps,
            bracket: Bracket {
                last_good: good,
                first_bad: bad,
            },
            interrupted: false,
            timestamp: "2026-01-01T00:00:00Z".into(),
        })
    }

    #[test]
    fn drops_are_classified_beyond_both_brackets() {
        let base = result(Some(10_000.0), Some(10_500.0), false);
        // (current last good, current first bad, expected drop beyond resolution, status)
        let cases = [
            (10_000.0, 10_500.0, 0.0, Status::Ok),
            // 10% lower but within the brackets' reach: 9,500..9,900 against 10,000.
            (9_000.0, 9_400.0, 6.0, Status::Ok),
            (8_500.0, 8_800.0, 12.0, Status::Warning),
            (2_400.0, 2_500.0, 75.0, Status::Regression),
        ];
        for (good, bad, drop, status) in cases {
            let v = gate(
                &base,
                &result(Some(good), Some(bad), false),
                10.0,
                Comparison::File,
            );
            assert_eq!(v.drop_beyond_resolution_percent, drop, "{}", v.note);
            assert_eq!(v.status, status, "{}", v.note);
        }
        let v = gate(
            &base,
            &result(Some(2_400.0), Some(2_500.0), false),
            10.0,
            Comparison::File,
        );
        assert_eq!(v.change_percent, Some(-76.0));
        assert!(
            v.note.contains("broke at 2500 req/s, 75.0% below"),
            "{}",
            v.note
        );
    }

    #[test]
    fn a_sweep_without_an_upper_bound_shows_no_drop() {
        let base = result(Some(10_000.0), Some(10_500.0), false);
        let generator = gate(
            &base,
            &result(Some(2_000.0), Some(2_100.0), true),
            10.0,
            Comparison::File,
        );
        assert_eq!(generator.status, Status::Ok);
        assert!(
            generator.note.contains("load generator limited"),
            "{}",
            generator.note
        );
        let unbroken = gate(
            &base,
            &result(Some(20_000.0), None, false),
            10.0,
            Comparison::File,
        );
        assert_eq!(unbroken.status, Status::Ok);
        assert_eq!(unbroken.change_percent, Some(100.0));
    }

    #[test]
    fn capacity_files_round_trip_with_their_receipt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capacity.json");
        let r = result(Some(8_000.0), Some(8_400.0), false);
        assert_eq!(r.recommended_rps, Some(6_400.0));
        assert_eq!(r.breaking_point_rps, Some(8_400.0));
        r.write(&path).unwrap();
        assert_eq!(CapacityResult::load(&path).unwrap(), r);
        let edited = std::fs::read_to_string(&path)
            .unwrap()
            .replace("8400", "9400");
        std::fs::write(&path, edited).unwrap();
        let e = CapacityResult::load(&path).unwrap_err().to_string();
        assert!(e.contains("receipt mismatch"), "{e}");
        let generator = result(Some(8_000.0), Some(8_400.0), true);
        assert_eq!(generator.limited_by, Limit::Generator);
        assert_eq!(
            generator.breaking_point_rps, None,
            "a generator limit is no breaking point"
        );
    }

    #[test]
    fn another_machine_fails_only_beyond_the_cross_machine_factor() {
        let base = result(Some(10_000.0), Some(10_500.0), false);
        let across = |cpu_slowdown| {
            Comparison::OtherMachine(crate::gate::Across {
                cpu_slowdown,
                loopback_slowdown: 1.0,
                factor: crate::gate::CROSS_MACHINE_FACTOR,
                same_class: false,
            })
        };
        // Half the capacity: a REGRESSION on one machine, a WARNING across machines.
        let half = result(Some(4_500.0), Some(5_000.0), false);
        assert_eq!(
            gate(&base, &half, 10.0, Comparison::File).status,
            Status::Regression
        );
        let v = gate(&base, &half, 10.0, across(1.0));
        assert_eq!(v.status, Status::Warning, "{}", v.note);
        assert!(v.note.contains("another machine"), "{}", v.note);
        // A CPU twice as slow by the probe explains half the capacity entirely.
        assert_eq!(gate(&base, &half, 10.0, across(2.0)).status, Status::Ok);
        // A fifth of the capacity is beyond any machine difference allowed for.
        let fifth = result(Some(1_500.0), Some(2_000.0), false);
        assert_eq!(
            gate(&base, &fifth, 10.0, across(1.0)).status,
            Status::Regression
        );
    }
}
