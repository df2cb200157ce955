//! Baseline files: `baselines/<sut>/<scenario>.json`, with a SHA-256 receipt over their
//! canonical form. Written only by an explicit update, atomically; verified on every load.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{Document, DocumentError, Environment, Receipt, ScenarioIdentity, SutIdentity};
use crate::machine::{Machine, Probe};
use crate::record::{
    Figures, RunRecord, WindowRecord, decode_histogram, encode_histogram, merged_latency,
};

/// Version of the baseline schema.
pub const BASELINE_SCHEMA_VERSION: u32 = 1;

/// A committed baseline: what a SUT measured on a scenario, with proof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub schema_version: u32,
    pub scenario: ScenarioIdentity,
    pub sut: SutIdentity,
    pub environment: Environment,
    /// Medians over `runs` of each figure.
    pub figures: Figures,
    /// Every run's figures: the noise the gate judges changes against.
    pub runs: Vec<Figures>,
    /// Per-second windows of each run (latency over time).
    pub windows: Vec<Vec<WindowRecord>>,
    /// All runs' latency merged: HdrHistogram V2 + DEFLATE, base64.
    pub latency_histogram: String,
    pub receipt: Receipt,
}

impl Baseline {
    /// Builds a baseline from runs of one scenario on one SUT (at least one run).
    pub fn from_runs(profile: &str, records: &[RunRecord], timestamp: String) -> Self {
        let first = &records[0];
        let runs: Vec<Figures> = records.iter().map(Figures::of).collect();
        let merged = merged_latency(records);
        let mut baseline = Self {
            schema_version: BASELINE_SCHEMA_VERSION,
            scenario: ScenarioIdentity {
                name: first.scenario.name.clone(),
                file: first.scenario.path.clone(),
                sha256: first.scenario.sha256.clone(),
            },
            sut: SutIdentity::of(profile, &first.sut),
            environment: Environment::here(
                first.harness.opt_level.clone(),
                first.scenario.duration_scale,
                machine_of(records),
            ),
            figures: Figures::median_of(&runs),
            runs,
            windows: records.iter().map(|r| r.windows.clone()).collect(),
            latency_histogram: encode_histogram(&merged),
            receipt: Receipt::unsealed(timestamp),
        };
        baseline.seal();
        baseline
    }

    /// The merged latency histogram.
    pub fn histogram(&self) -> Option<Histogram<u64>> {
        decode_histogram(&self.latency_histogram).ok()
    }

    /// Refuses a baseline measured with another version of the measurement method, or
    /// recorded for another scenario or another version of its file.
    pub fn check_fits(
        &self,
        path: &Path,
        scenario: &ScenarioIdentity,
    ) -> Result<(), DocumentError> {
        self.environment.check_method(path)?;
        self.scenario.check(path, scenario)
    }
}

impl Document for Baseline {
    const NAME: &'static str = "baseline";
    const SCHEMA_VERSION: u32 = BASELINE_SCHEMA_VERSION;

    fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    fn receipt_mut(&mut self) -> &mut Receipt {
        &mut self.receipt
    }
}

/// The machine of a set of runs: the first run's fingerprint with the median of every
/// run's probe.
pub fn machine_of(records: &[RunRecord]) -> Option<Machine> {
    let mut machine = records.iter().find_map(|r| r.machine.clone())?;
    let probes: Vec<Probe> = records
        .iter()
        .filter_map(|r| r.machine.as_ref().and_then(|m| m.probe))
        .collect();
    machine.probe = Probe::median(&probes);
    Some(machine)
}

/// Where a scenario's baseline is read from and recorded to, in a SUT's baseline directory
/// (`baselines/<sut>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file to gate against: this machine class's (`<dir>/<class>/<stem>.json`), else
    /// another class's (one with as many CPUs first, then by name), else one filed for no
    /// class (`<dir>/<stem>.json`); `None` when there is none.
    pub read: Option<PathBuf>,
    /// Where the update flag records this machine's baseline: `<dir>/<class>/<stem>.json`.
    pub record: PathBuf,
}

/// Finds the baseline of scenario `stem` for machine `class` under `dir`.
pub fn locate(dir: &Path, class: &str, stem: &str) -> Located {
    let file = format!("{stem}.json");
    let record = dir.join(class).join(&file);
    let read = if record.is_file() {
        Some(record.clone())
    } else {
        // The class ends in its CPU count (`-2cpu`): prefer one with as many CPUs.
        let cpus = |class: &str| class.rsplit('-').next().map(str::to_string);
        let own = cpus(class);
        let mut others: Vec<(bool, PathBuf)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| {
                let other = e.file_name().to_string_lossy().into_owned();
                (cpus(&other) != own, e.path().join(&file))
            })
            .filter(|(_, p)| p.is_file())
            .collect();
        others.sort();
        others
            .into_iter()
            .map(|(_, p)| p)
            .next()
            .or_else(|| Some(dir.join(&file)).filter(|p| p.is_file()))
    };
    Located { read, record }
}
