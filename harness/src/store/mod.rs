//! Receipted documents: files whose contents carry a SHA-256 receipt over their canonical
//! JSON (baselines, capacity files). [`Document`] is the one way each is sealed, written
//! (atomically, pretty JSON, keys sorted, so reviews read a diff) and loaded (schema version
//! checked, fields decoded with their path in any error, receipt verified).

pub mod baseline;
mod identity;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fsio::write_atomic;

pub use baseline::{Baseline, Located, locate, machine_of};
pub use identity::{Environment, ScenarioIdentity, SutIdentity};

/// Proof of integrity: SHA-256 over the canonical JSON of everything else (this
/// timestamp included, the hash itself left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub sha256: String,
    /// RFC 3339.
    pub timestamp: String,
}

impl Receipt {
    /// A receipt not sealed yet (see [`Document::seal`]).
    pub fn unsealed(timestamp: String) -> Self {
        Self {
            sha256: String::new(),
            timestamp,
        }
    }
}

/// A receipted document: its schema, its receipt, and the provided ways to seal, write and
/// load it.
pub trait Document: Serialize + DeserializeOwned {
    /// What the file is called in messages (`baseline`, `capacity file`).
    const NAME: &'static str;
    /// The schema version this harness writes and reads.
    const SCHEMA_VERSION: u32;

    fn receipt(&self) -> &Receipt;
    fn receipt_mut(&mut self) -> &mut Receipt;

    /// Refuses JSON that is another kind of document, before its schema is looked at.
    fn check_kind(_value: &Value) -> Result<(), String> {
        Ok(())
    }

    /// SHA-256 of the canonical JSON of this document with the receipt's hash left out.
    fn compute_receipt(&self) -> String {
        receipt_of(serde_json::to_value(self).expect("receipted documents serialise"))
    }

    /// Computes and stores the receipt.
    fn seal(&mut self) {
        let sha256 = self.compute_receipt();
        self.receipt_mut().sha256 = sha256;
    }

    /// Writes the document atomically with [`write_sorted_json`], naming the file in any error.
    fn write(&self, path: &Path) -> Result<(), DocumentError> {
        let value = serde_json::to_value(self).expect("receipted documents serialise");
        write_sorted_json(path, &value).map_err(|source| DocumentError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads a document, checks its kind and schema version, decodes it (errors name the
    /// field) and verifies its receipt against the file's own JSON.
    fn load(path: &Path) -> Result<Self, DocumentError> {
        Self::decode(read_json(path)?, path)
    }

    /// [`Document::load`] of JSON already read, `path` naming where it came from in errors
    /// (a file, or a file at a commit).
    fn decode(value: Value, path: &Path) -> Result<Self, DocumentError> {
        let invalid = |reason: String| DocumentError::Invalid {
            path: path.to_owned(),
            reason,
        };
        Self::check_kind(&value).map_err(invalid)?;
        let found = value
            .get("schema_version")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid("no `schema_version`".into()))?;
        if found != u64::from(Self::SCHEMA_VERSION) {
            return Err(DocumentError::Schema {
                path: path.to_owned(),
                name: Self::NAME,
                found,
                reads: Self::SCHEMA_VERSION,
            });
        }
        let document: Self = serde_path_to_error::deserialize(&value)
            .map_err(|e| invalid(format!("{}: {}", e.path(), e.inner())))?;
        let computed = receipt_of(value);
        let recorded = &document.receipt().sha256;
        if computed != *recorded {
            return Err(DocumentError::ReceiptMismatch {
                path: path.to_owned(),
                recorded: recorded.clone(),
                computed,
            });
        }
        Ok(document)
    }
}

/// A receipted document that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("failed to read baseline {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("baseline {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{name} {path} has schema version {found}; this harness reads version {reads}{}", if *found > u64::from(*reads) { " (written by a newer harness)" } else { " (re-record it)" })]
    Schema {
        path: PathBuf,
        name: &'static str,
        found: u64,
        reads: u32,
    },
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

/// SHA-256 of the canonical form of a receipted file's JSON without `receipt.sha256`.
/// Computed on the file's own JSON when loading, so fields a later harness adds never
/// alter old receipts and no field of the file escapes the check.
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

/// Reads a file as JSON, naming it in any error.
pub fn read_json(path: &Path) -> Result<Value, DocumentError> {
    let bytes = std::fs::read(path).map_err(|source| DocumentError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| DocumentError::Invalid {
        path: path.to_owned(),
        reason: format!("not JSON: {e}"),
    })
}
