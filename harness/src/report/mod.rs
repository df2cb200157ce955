//! Reports of a run: `record.json`, `report.md`, and the terminal summary.

mod capacity;
pub mod console;
pub mod dashboard;
mod markdown;
mod recovery;
mod regression;
mod shards;
pub mod svg;
mod text;
mod trend;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fsio::write_atomic;
use crate::record::RunRecord;

pub use capacity::{
    capacity_headline, capacity_report, capacity_summary, capacity_verdict_text, step_line,
    step_table,
};
pub use markdown::run_report;
pub use recovery::recovery_lines;
pub use regression::{
    ComparisonContext, format_value, regression_report, verdict_summary, verdict_tables,
};
pub use text::{summary, thousands};
pub use trend::{TrendContext, trend_chart_file, trend_report, trend_svg};

/// Where a run's results were written.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub dir: PathBuf,
    pub record: PathBuf,
    pub report: PathBuf,
    /// SHA-256 of `record.json` as written.
    pub record_sha256: String,
    /// `latencies.csv`, when every request was kept.
    pub latencies: Option<PathBuf>,
}

/// Failure to write results.
#[derive(Debug, thiserror::Error)]
#[error("failed to write {path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Writes `record.json` and `report.md` into `dir`, each atomically.
pub fn write_run(dir: &Path, record: &RunRecord) -> Result<RunFiles, WriteError> {
    let record_path = dir.join("record.json");
    let mut json = serde_json::to_vec_pretty(record).expect("records serialise");
    json.push(b'\n');
    write_atomic(&record_path, &json).map_err(|source| WriteError {
        path: record_path.clone(),
        source,
    })?;
    let record_sha256 = hex::encode(Sha256::digest(&json));
    let report_path = dir.join("report.md");
    let report = run_report(record, &record_sha256);
    write_atomic(&report_path, report.as_bytes()).map_err(|source| WriteError {
        path: report_path.clone(),
        source,
    })?;
    Ok(RunFiles {
        dir: dir.to_owned(),
        record: record_path,
        report: report_path,
        record_sha256,
        latencies: None,
    })
}

/// Writes `latencies.csv` into `dir` atomically: one line per request of the run, warm-up
/// included (worker by worker, each worker's in the order they finished): its slot in the schedule, its intended send time
/// from the schedule's start, phase, operation, outcome, and latency from the intended and
/// from the actual send (microseconds, as the record's histograms count them).
pub fn write_latencies(
    dir: &Path,
    record: &RunRecord,
    samples: &[crate::load::Sample],
) -> Result<PathBuf, WriteError> {
    use std::fmt::Write as _;
    let path = dir.join("latencies.csv");
    let mut csv = String::with_capacity(64 * (samples.len() + 1));
    csv.push_str("slot,intended_us,phase,operation,outcome,latency_us,service_us\n");
    // A field with a comma or a quote is quoted, its quotes doubled (RFC 4180).
    let field = |text: &str| {
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let phases: Vec<String> = record.phases.iter().map(|p| field(&p.name)).collect();
    let ops: Vec<String> = record
        .operations
        .iter()
        .map(|o| field(&o.operation))
        .collect();
    fn name(names: &[String], i: u32) -> &str {
        names.get(i as usize).map_or("?", String::as_str)
    }
    for s in samples {
        let class;
        let outcome = match s.outcome {
            crate::mcp::Outcome::Ok => "ok",
            crate::mcp::Outcome::Cancelled => "cancelled",
            crate::mcp::Outcome::Failed(c) => {
                class = field(&c.to_string());
                class.as_str()
            }
        };
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            s.slot,
            s.at_us,
            name(&phases, s.segment),
            name(&ops, s.op),
            outcome,
            s.latency_us,
            s.service_us
        );
    }
    write_atomic(&path, csv.as_bytes()).map_err(|source| WriteError {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
