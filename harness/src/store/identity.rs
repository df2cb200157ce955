//! Who and where a receipted document is about: the scenario (and the version of its
//! file), the server, and the environment it was measured in.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::DocumentError;
use crate::machine::Machine;
use crate::scenario::Scenario;
use crate::sut::SutInfo;

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

impl ScenarioIdentity {
    /// The identity of a scenario as loaded.
    pub fn of(scenario: &Scenario) -> Self {
        Self {
            name: scenario.name.clone(),
            file: scenario.source.path.display().to_string(),
            sha256: scenario.source.sha256.clone(),
        }
    }

    /// Refuses a document recorded for another scenario (by name), or for another version
    /// of the scenario file than `current`.
    pub fn check(&self, path: &Path, current: &ScenarioIdentity) -> Result<(), DocumentError> {
        if self.name != current.name {
            Err(DocumentError::OtherScenario {
                path: path.to_owned(),
                recorded: self.name.clone(),
                recorded_file: self.file.clone(),
                scenario: current.name.clone(),
                scenario_file: current.file.clone(),
            })
        } else if self.sha256 == current.sha256 {
            Ok(())
        } else {
            Err(DocumentError::ScenarioChanged {
                path: path.to_owned(),
                scenario: current.file.clone(),
                recorded: self.sha256.clone(),
                current: current.sha256.clone(),
            })
        }
    }
}

impl SutIdentity {
    /// The identity of the server `sut`, run under the profile named `profile`.
    pub fn of(profile: &str, sut: &SutInfo) -> Self {
        Self {
            profile: profile.to_string(),
            kind: sut.kind.clone(),
            version: sut.version.clone(),
            binary_sha256: sut.binary_sha256.clone(),
            image_id: None,
            faults: sut.faults.clone(),
        }
    }
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
    /// Refuses figures measured with another version of the measurement method.
    pub fn check_method(&self, path: &Path) -> Result<(), DocumentError> {
        if self.method_version == crate::load::METHOD_VERSION {
            Ok(())
        } else {
            Err(DocumentError::OtherMethod {
                path: path.to_owned(),
                recorded: self.method_version,
                current: crate::load::METHOD_VERSION,
            })
        }
    }
}
