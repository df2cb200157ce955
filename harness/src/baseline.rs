//! Baseline files: `baselines/<sut>/<scenario>.json`, with a SHA-256 receipt over their
//! canonical form. Written only by an explicit update, atomically; verified on every load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fsio::write_atomic;
use crate::gate::Figures;
use crate::gate::noise::median;
use crate::machine::{Machine, Probe};
use crate::record::{RunRecord, WindowRecord, decode_histogram, encode_histogram, merged_latency};

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

/// Which scenario, and which version of its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioIdentity {
    pub name: String,
    pub file: String,
    pub sha256: String,
}

/// Which server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SutIdentity {
    /// Profile name (`reference`).
    pub profile: String,
    pub kind: String,
    pub version: Option<String>,
    pub binary_sha256: Option<String>,
    pub image_id: Option<String>,
    pub faults: Option<String>,
}

/// Where and how it was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub harness_version: String,
    pub opt_level: String,
    pub git_commit: Option<String>,
    pub cpu_model: Option<String>,
    pub cpu_count: usize,
    pub duration_scale: f64,
    /// How the figures were measured ([`crate::load::METHOD_VERSION`]); files from before
    /// the version was recorded read as 1.
    #[serde(default = "crate::load::first_method_version")]
    pub method_version: u32,
    /// The machine's fingerprint and probe; absent in files from before it was recorded.
    #[serde(default)]
    pub machine: Option<Machine>,
}

/// Proof of integrity: SHA-256 over the canonical JSON of everything else (this
/// timestamp included, the hash itself left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub sha256: String,
    /// RFC 3339.
    pub timestamp: String,
}

/// A baseline that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("failed to read baseline {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("baseline {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("baseline {path} has schema version {found}; this harness reads version {BASELINE_SCHEMA_VERSION}{}", if *found > u64::from(BASELINE_SCHEMA_VERSION) { " (written by a newer harness)" } else { " (re-record it)" })]
    Schema { path: PathBuf, found: u64 },
    #[error(
        "receipt mismatch in baseline {path}: it records {recorded} but its contents hash to {computed}; the file was edited or corrupted (re-record it with ERLMCP_PERF_UPDATE_BASELINES=1)"
    )]
    ReceiptMismatch {
        path: PathBuf,
        recorded: String,
        computed: String,
    },
    #[error(
        "baseline {path} was recorded for another version of {scenario} (sha256 {recorded}, the file now hashes to {current}); re-record it with ERLMCP_PERF_UPDATE_BASELINES=1"
    )]
    ScenarioChanged {
        path: PathBuf,
        scenario: String,
        recorded: String,
        current: String,
    },
    #[error(
        "baseline {path} was recorded for scenario {recorded:?} ({recorded_file}), not {scenario:?} ({scenario_file}); pass the baseline of this scenario"
    )]
    OtherScenario {
        path: PathBuf,
        recorded: String,
        recorded_file: String,
        scenario: String,
        scenario_file: String,
    },
    #[error(
        "baseline {path} was measured with method version {recorded}, and this harness measures with version {current}: the generator's pacing, timing or connections changed what its figures mean, so the two are not compared; re-record it with ERLMCP_PERF_UPDATE_BASELINES=1 cargo nextest run --profile perf (or compare two builds of the server in one run with ERLMCP_PERF_BASELINE_IMAGE)"
    )]
    OtherMethod {
        path: PathBuf,
        recorded: u32,
        current: u32,
    },
    #[error("failed to write baseline {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// SHA-256 of the canonical form of a baseline's (or any receipted file's) JSON without
/// `receipt.sha256`. Computed on the file's own JSON when loading, so fields a later
/// harness adds never alter old receipts and no field of the file escapes the check.
pub fn receipt_of(mut value: Value) -> String {
    if let Some(receipt) = value.get_mut("receipt").and_then(Value::as_object_mut) {
        receipt.remove("sha256");
    }
    hex::encode(Sha256::digest(canonical_json(&value).as_bytes()))
}

/// The canonical form: compact JSON with object keys sorted at every level.
pub fn canonical_json(value: &Value) -> String {
    serde_json::to_string(&sorted(value)).expect("JSON values serialise")
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Writes `value` atomically as pretty JSON with keys sorted at every level.
pub fn write_sorted_json(path: &Path, value: &Value) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(&sorted(value)).expect("JSON values serialise");
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Writes a receipted document (a baseline, a capacity file) with [`write_sorted_json`],
/// naming the file in any error.
pub fn write_document(path: &Path, document: &impl Serialize) -> Result<(), BaselineError> {
    let value = serde_json::to_value(document).expect("receipted documents serialise");
    write_sorted_json(path, &value).map_err(|source| BaselineError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Reads a file as JSON, naming it in any error.
pub fn read_json(path: &Path) -> Result<Value, BaselineError> {
    let bytes = std::fs::read(path).map_err(|source| BaselineError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| BaselineError::Invalid {
        path: path.to_owned(),
        reason: format!("not JSON: {e}"),
    })
}

/// Decodes a receipted document read from `path` (errors name the field) and checks its
/// receipt against the document's own JSON.
pub fn verified<T: serde::de::DeserializeOwned>(
    path: &Path,
    value: Value,
    receipt: impl Fn(&T) -> &Receipt,
) -> Result<T, BaselineError> {
    let document: T =
        serde_path_to_error::deserialize(&value).map_err(|e| BaselineError::Invalid {
            path: path.to_owned(),
            reason: format!("{}: {}", e.path(), e.inner()),
        })?;
    let computed = receipt_of(value);
    let recorded = &receipt(&document).sha256;
    if computed != *recorded {
        return Err(BaselineError::ReceiptMismatch {
            path: path.to_owned(),
            recorded: recorded.clone(),
            computed,
        });
    }
    Ok(document)
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
            sut: SutIdentity {
                profile: profile.to_string(),
                kind: first.sut.kind.clone(),
                version: first.sut.version.clone(),
                binary_sha256: first.sut.binary_sha256.clone(),
                image_id: None,
                faults: first.sut.faults.clone(),
            },
            environment: Environment::here(
                first.harness.opt_level.clone(),
                first.scenario.duration_scale,
                machine_of(records),
            ),
            figures: median_figures(&runs),
            runs,
            windows: records.iter().map(|r| r.windows.clone()).collect(),
            latency_histogram: encode_histogram(&merged),
            receipt: Receipt {
                sha256: String::new(),
                timestamp,
            },
        };
        baseline.receipt.sha256 = baseline.compute_receipt();
        baseline
    }

    /// SHA-256 of the canonical JSON of this baseline with the receipt's hash left out.
    pub fn compute_receipt(&self) -> String {
        receipt_of(serde_json::to_value(self).expect("baselines serialise"))
    }

    /// The merged latency histogram.
    pub fn histogram(&self) -> Option<Histogram<u64>> {
        decode_histogram(&self.latency_histogram).ok()
    }

    /// Writes the baseline atomically: pretty JSON, keys sorted, so reviews read a diff.
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        write_document(path, self)
    }

    /// Reads a baseline and verifies its receipt.
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        let value = read_json(path)?;
        let invalid = |reason: String| BaselineError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let found = value
            .get("schema_version")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid("no `schema_version`".into()))?;
        if found != u64::from(BASELINE_SCHEMA_VERSION) {
            return Err(BaselineError::Schema {
                path: path.to_owned(),
                found,
            });
        }
        verified(path, value, |b: &Baseline| &b.receipt)
    }

    /// Refuses a baseline measured with another version of the measurement method.
    pub fn check_method(&self, path: &Path) -> Result<(), BaselineError> {
        self.environment.check_method(path)
    }

    /// Refuses a baseline recorded for another scenario (by name), or for another version
    /// of the scenario file.
    pub fn check_scenario(
        &self,
        path: &Path,
        scenario_name: &str,
        scenario_file: &str,
        scenario_sha256: &str,
    ) -> Result<(), BaselineError> {
        if self.scenario.name != scenario_name {
            Err(BaselineError::OtherScenario {
                path: path.to_owned(),
                recorded: self.scenario.name.clone(),
                recorded_file: self.scenario.file.clone(),
                scenario: scenario_name.to_string(),
                scenario_file: scenario_file.to_string(),
            })
        } else if self.scenario.sha256 == scenario_sha256 {
            Ok(())
        } else {
            Err(BaselineError::ScenarioChanged {
                path: path.to_owned(),
                scenario: scenario_file.to_string(),
                recorded: self.scenario.sha256.clone(),
                current: scenario_sha256.to_string(),
            })
        }
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

impl Environment {
    /// This checkout, on `machine` (this one, probed by the caller).
    pub fn here(opt_level: String, duration_scale: f64, machine: Option<Machine>) -> Self {
        let fingerprint = machine
            .clone()
            .unwrap_or_else(|| Machine::unprobed(&Default::default()));
        let git_commit = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        Self {
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            opt_level,
            git_commit,
            cpu_model: Some(fingerprint.cpu_model),
            cpu_count: fingerprint.cpu_count,
            duration_scale,
            method_version: crate::load::METHOD_VERSION,
            machine,
        }
    }
}

impl Environment {
    /// Refuses figures measured with another version of the measurement method.
    pub fn check_method(&self, path: &Path) -> Result<(), BaselineError> {
        if self.method_version == crate::load::METHOD_VERSION {
            Ok(())
        } else {
            Err(BaselineError::OtherMethod {
                path: path.to_owned(),
                recorded: self.method_version,
                current: crate::load::METHOD_VERSION,
            })
        }
    }
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

/// Per-figure medians over runs.
pub fn median_figures(runs: &[Figures]) -> Figures {
    let med = |f: &dyn Fn(&Figures) -> Option<f64>| {
        median(&runs.iter().filter_map(f).collect::<Vec<_>>())
    };
    let med_u =
        |f: &dyn Fn(&Figures) -> u64| med(&|r| Some(f(r) as f64)).unwrap_or(0.0).round() as u64;
    let mut classes = BTreeMap::new();
    for run in runs {
        for class in run.errors_by_class.keys() {
            classes.insert(
                class.clone(),
                med_u(&|r| r.errors_by_class.get(class).copied().unwrap_or(0)),
            );
        }
    }
    let mut operations = BTreeMap::new();
    for op in runs.iter().flat_map(|r| r.operations.keys()) {
        let get = |r: &Figures| r.operations.get(op).copied().unwrap_or_default();
        operations.insert(
            op.clone(),
            crate::gate::Percentiles {
                p50_us: med_u(&|r| get(r).p50_us),
                p95_us: med_u(&|r| get(r).p95_us),
                p99_us: med_u(&|r| get(r).p99_us),
                p999_us: med_u(&|r| get(r).p999_us),
            },
        );
    }
    Figures {
        throughput_rps: med(&|r| Some(r.throughput_rps)).unwrap_or(0.0),
        attempts: med_u(&|r| r.attempts),
        errors: med_u(&|r| r.errors),
        errors_by_class: classes,
        latency: crate::gate::Percentiles {
            p50_us: med_u(&|r| r.latency.p50_us),
            p95_us: med_u(&|r| r.latency.p95_us),
            p99_us: med_u(&|r| r.latency.p99_us),
            p999_us: med_u(&|r| r.latency.p999_us),
        },
        operation_ok: runs
            .iter()
            .flat_map(|r| r.operation_ok.keys())
            .map(|op| (op.clone(), med_u(&|r| r.ok_of(op))))
            .collect(),
        operations,
        cpu_cores: med(&|r| r.cpu_cores),
        memory_peak_bytes: med(&|r| r.memory_peak_bytes.map(|b| b as f64))
            .map(|b| b.round() as u64),
        efficiency: med(&|r| r.efficiency),
    }
}
