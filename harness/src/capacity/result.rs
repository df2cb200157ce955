//! `capacity.json`: every step, the maximum sustainable rate, the recommended capacity,
//! the knee and the USL fit, with a SHA-256 receipt computed as baselines' are. A
//! committed one is the capacity baseline.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::knee::{Knee, knee};
use super::search::Bracket;
use super::step::{StepResult, StepVerdict};
use super::usl::{UslFit, fit};
use crate::machine::Machine;
use crate::scenario::Scenario;
use crate::scenario::capacity::CapacitySpec;
use crate::store::{Document, Environment, Receipt, ScenarioIdentity, SutIdentity};
use crate::sut::SutInfo;

/// Version of the `capacity.json` schema.
pub const CAPACITY_SCHEMA_VERSION: u32 = 1;
/// The `kind` of a capacity file, which tells it from a run baseline.
pub const CAPACITY_KIND: &str = "capacity";
/// Share of the maximum sustainable rate recommended as capacity (erlmcp's 80%).
pub const RECOMMENDED_SHARE: f64 = 0.8;

/// What bounded the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// The SUT broke: its breaking point is known to the search's resolution.
    Sut,
    /// The load generator fell behind first: the SUT's breaking point was not reached and
    /// the maximum sustainable rate is only a lower bound of its capacity.
    Generator,
    /// Every step up to the sweep's maximum was sustained.
    MaxRate,
}

/// The result of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityResult {
    /// Always `capacity`.
    pub kind: String,
    pub schema_version: u32,
    pub scenario: ScenarioIdentity,
    pub sut: SutIdentity,
    pub environment: Environment,
    /// The sweep's settings, as run (durations scaled).
    pub spec: CapacitySpec,
    /// Every step, in the order run.
    pub steps: Vec<StepResult>,
    /// The sustainable rate lies in `[last_good, first_bad)`.
    pub bracket: Bracket,
    pub limited_by: Limit,
    /// Highest rate a step sustained (a lower bound when `limited_by` is not `sut`).
    pub max_sustainable_rps: Option<f64>,
    /// Lowest rate at which the SUT broke; absent unless `limited_by` is `sut`.
    pub breaking_point_rps: Option<f64>,
    /// 80% of the maximum sustainable rate.
    pub recommended_rps: Option<f64>,
    /// Where P99 latency turns steep.
    pub knee: Option<Knee>,
    pub usl: UslFit,
    /// The sweep was stopped early (Ctrl-C, SIGTERM): `steps` are those it finished.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub receipt: Receipt,
}

/// What [`CapacityResult::new`] is built from.
pub struct ResultInputs<'a> {
    /// The scaled scenario as run.
    pub scenario: &'a Scenario,
    pub spec: &'a CapacitySpec,
    pub profile: &'a str,
    pub sut: &'a SutInfo,
    pub opt_level: String,
    pub duration_scale: f64,
    /// The machine, probed before the sweep.
    pub machine: Machine,
    pub steps: Vec<StepResult>,
    pub bracket: Bracket,
    /// Whether the sweep was stopped before its search ended.
    pub interrupted: bool,
    /// RFC 3339.
    pub timestamp: String,
}

impl CapacityResult {
    /// Assembles the result of a finished sweep and seals it with a receipt.
    pub fn new(inputs: ResultInputs<'_>) -> Self {
        let ResultInputs {
            scenario,
            spec,
            profile,
            sut,
            opt_level,
            duration_scale,
            machine,
            steps,
            bracket,
            interrupted,
            timestamp,
        } = inputs;
        let limited_by = limit_of(&steps, bracket);
        let max = bracket.last_good;
        let mut result = Self {
            kind: CAPACITY_KIND.into(),
            schema_version: CAPACITY_SCHEMA_VERSION,
            scenario: ScenarioIdentity::of(scenario),
            sut: SutIdentity::of(profile, sut),
            environment: Environment::here(opt_level, duration_scale, Some(machine)),
            spec: spec.clone(),
            knee: knee(&steps),
            usl: fit(&steps),
            steps,
            bracket,
            limited_by,
            max_sustainable_rps: max,
            breaking_point_rps: (limited_by == Limit::Sut)
                .then_some(bracket.first_bad)
                .flatten(),
            recommended_rps: max.map(|m| (m * RECOMMENDED_SHARE).round()),
            interrupted,
            receipt: Receipt::unsealed(timestamp),
        };
        result.seal();
        result
    }

    /// The gap between the last good and the first bad rate, when both are known.
    pub fn resolution_rps(&self) -> Option<f64> {
        Some(self.bracket.first_bad? - self.bracket.last_good?)
    }
}

impl Document for CapacityResult {
    const NAME: &'static str = "capacity file";
    const SCHEMA_VERSION: u32 = CAPACITY_SCHEMA_VERSION;

    fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    fn receipt_mut(&mut self) -> &mut Receipt {
        &mut self.receipt
    }

    fn check_kind(value: &Value) -> Result<(), String> {
        if is_capacity(value) {
            Ok(())
        } else {
            Err(format!(
                "not a capacity file (no `\"kind\": \"{CAPACITY_KIND}\"`)"
            ))
        }
    }
}

/// Whether a JSON document is a capacity file.
pub fn is_capacity(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some(CAPACITY_KIND)
}

/// What bounded the sweep: the verdict of the step at the first bad rate.
fn limit_of(steps: &[StepResult], bracket: Bracket) -> Limit {
    let Some(bad) = bracket.first_bad else {
        return Limit::MaxRate;
    };
    let generator = steps
        .iter()
        .any(|s| s.offered_rps == bad && s.verdict == StepVerdict::GeneratorLimit);
    if generator {
        Limit::Generator
    } else {
        Limit::Sut
    }
}
