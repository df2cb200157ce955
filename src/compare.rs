//! `erlmcp-perf compare` and `erlmcp-perf verify`: the gate and the receipts from the
//! command line, on files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use harness::capacity::CapacityResult;
use harness::gate::{Comparison, Machines, Side, Status, Thresholds, gate};
use harness::machine::Machine;
use harness::record::Figures;
use harness::record::{RunRecord, WindowRecord};
use harness::report::{ComparisonContext, regression_report, verdict_tables};
use harness::store::{Baseline, Document};

use crate::CompareArgs;
use crate::exit;

/// What a file holds: every run of a baseline, or the one run of a record.
pub(crate) struct Loaded {
    pub runs: Vec<Figures>,
    /// Each run's per-second windows.
    pub windows: Vec<Vec<WindowRecord>>,
    /// The baseline's receipt, or the SHA-256 of the record's canonical JSON.
    pub sha256: String,
    /// The scenario's name.
    pub scenario: String,
    /// Measurement method version.
    pub method_version: u32,
    /// The machine it was measured on, if recorded.
    pub machine: Option<Machine>,
    /// When it was measured: the baseline's receipt time, the record's start (RFC 3339).
    pub time: String,
}

/// The runs of a file: every run of a baseline, or the one run of a record.
fn load_runs(path: &Path) -> Result<Loaded, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("failed to read {}: {e}", path.display()))?;
    parse_runs(&bytes, path)
}

/// [`load_runs`] of bytes already read; `name` says where they came from in errors.
pub(crate) fn parse_runs(bytes: &[u8], name: &Path) -> Result<Loaded, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("{} is not JSON: {e}", name.display()))?;
    if value.get("receipt").is_some() {
        let b = Baseline::decode(value, name).map_err(|e| e.to_string())?;
        Ok(Loaded {
            sha256: b.receipt.sha256.clone(),
            scenario: b.scenario.name,
            runs: b.runs,
            windows: b.windows,
            method_version: b.environment.method_version,
            machine: b.environment.machine,
            time: b.receipt.timestamp,
        })
    } else {
        let r: RunRecord = serde_json::from_value(value).map_err(|e| {
            format!(
                "{} is neither a baseline nor a record.json: {e}",
                name.display()
            )
        })?;
        let sha = harness::store::canonical_json(&serde_json::to_value(&r).unwrap_or_default());
        use sha2::Digest;
        Ok(Loaded {
            runs: vec![Figures::of(&r)],
            windows: vec![r.windows.clone()],
            sha256: hex::encode(sha2::Sha256::digest(sha.as_bytes())),
            scenario: r.scenario.name,
            method_version: r.harness.method_version,
            machine: r.machine,
            time: r.started_at,
        })
    }
}

pub fn compare(args: CompareArgs) -> ExitCode {
    if !(args.threshold > 0.0 && args.threshold <= 1000.0) {
        eprintln!(
            "error: --threshold must be above 0 and at most 1000, got {}",
            args.threshold
        );
        return ExitCode::from(exit::BAD_INPUT);
    }
    let (baseline, current) = match (load_runs(&args.baseline), load_runs(&args.current)) {
        (Ok(b), Ok(c)) => (b, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    if baseline.scenario != current.scenario {
        eprintln!(
            "error: {} is of scenario {:?} and {} of scenario {:?}: results of different scenarios are not compared",
            args.baseline.display(),
            baseline.scenario,
            args.current.display(),
            current.scenario
        );
        return ExitCode::from(exit::BAD_INPUT);
    }
    if baseline.method_version != current.method_version {
        eprintln!(
            "error: {} was measured with method version {} and {} with version {}: the generator's pacing, timing or connections changed what the figures mean, so they are not compared; re-record the older one with this harness (ERLMCP_PERF_UPDATE_BASELINES=1 cargo nextest run --profile perf)",
            args.baseline.display(),
            baseline.method_version,
            args.current.display(),
            current.method_version
        );
        return ExitCode::from(exit::BAD_INPUT);
    }
    let comparison = Comparison::of_file(baseline.machine.as_ref(), current.machine.as_ref());
    let mut verdict = gate(
        Side::with_windows(&baseline.runs, &baseline.windows),
        Side::with_windows(&current.runs, &current.windows),
        &Thresholds::uniform(args.threshold),
        comparison,
    );
    verdict.machines = Machines::of(baseline.machine.clone(), current.machine.clone());
    println!("{}", verdict_tables(&verdict));
    if let Some(output) = &args.output {
        let context = ComparisonContext {
            scenario_name: "comparison".into(),
            scenario_file: String::new(),
            baseline: format!(
                "`{}` ({} runs)",
                args.baseline.display(),
                baseline.runs.len()
            ),
            current: format!("`{}` ({} runs)", args.current.display(), current.runs.len()),
            receipts: vec![
                ("Baseline SHA".into(), baseline.sha256),
                ("Current SHA".into(), current.sha256),
            ],
            charts: Vec::new(),
            discarded: Vec::new(),
            profiles: Vec::new(),
            timestamp: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        if let Err(e) =
            harness::fsio::write_atomic(output, regression_report(&context, &verdict).as_bytes())
        {
            eprintln!("error: failed to write {}: {e}", output.display());
            return ExitCode::from(exit::WRITE);
        }
    }
    if verdict.status == Status::Regression {
        ExitCode::from(exit::FAILED_CHECK)
    } else {
        ExitCode::SUCCESS
    }
}

/// A baseline's or a capacity file's receipt, verified.
fn verified_receipt(path: &Path) -> Result<String, harness::store::DocumentError> {
    let is_capacity = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| harness::capacity::result::is_capacity(&v));
    if is_capacity {
        CapacityResult::load(path).map(|c| c.receipt.sha256)
    } else {
        Baseline::load(path).map(|b| b.receipt.sha256)
    }
}

pub fn verify(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        match verified_receipt(file) {
            Ok(sha) => println!("{}: receipt ok ({sha})", file.display()),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(exit::FAILED_CHECK)
    } else {
        ExitCode::SUCCESS
    }
}
