//! Capacity sweeps: find the rate at which the SUT breaks, in fewer steps than a linear
//! sweep, and the capacity to recommend.
//!
//! A capacity scenario has a `capacity:` section ([`spec`]) instead of phases. The sweep
//! ([`sweep`]) starts the SUT once and runs steps ([`step`]) at the rates the search
//! ([`search`]) picks; the result ([`result`]) adds the knee ([`knee`]) and a Universal
//! Scalability Law fit ([`usl`]); the capacity gate ([`gate`]) compares it with a committed
//! one.

pub mod gate;
pub mod knee;
pub mod result;
pub mod search;
pub mod spec;
pub mod step;
pub mod sweep;
pub mod usl;

use std::path::PathBuf;

pub use gate::{CapacityVerdict, gate};
pub use result::{CapacityResult, Limit};
pub use spec::{CapacitySpec, Strategy};
pub use step::{StepResult, StepVerdict};
pub use sweep::{SweepOptions, run_sweep};

/// Why a sweep did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error("{0} is not a capacity scenario: it has no `capacity` section")]
    NotCapacity(PathBuf),
    #[error("{0}: the linear search needs a step (`capacity.step` or --step)")]
    LinearNeedsStep(PathBuf),
    #[error(transparent)]
    Sut(#[from] crate::sut::SutError),
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
    #[error(transparent)]
    Write(#[from] crate::report::WriteError),
    #[error(transparent)]
    Baseline(#[from] crate::baseline::BaselineError),
}

/// Where a sweep's files went.
#[derive(Debug, Clone)]
pub struct CapacityFiles {
    pub result: PathBuf,
    pub chart: PathBuf,
    pub report: PathBuf,
}

/// File name of the chart beside `report.md`.
pub const CHART_FILE: &str = "capacity.svg";

/// Writes `capacity.json`, the chart and `report.md` into `dir`, each atomically; `gate`
/// is the capacity gate's verdict and the baseline file's name, when gated.
pub fn write_files(
    dir: &std::path::Path,
    result: &CapacityResult,
    gate: Option<(&CapacityVerdict, &str)>,
) -> Result<CapacityFiles, CapacityError> {
    use crate::report::svg::{CapacityPoint, capacity_chart};
    let files = CapacityFiles {
        result: dir.join("capacity.json"),
        chart: dir.join(CHART_FILE),
        report: dir.join("report.md"),
    };
    result.write(&files.result)?;
    let points: Vec<CapacityPoint> = result
        .steps
        .iter()
        .map(|s| CapacityPoint {
            offered: s.offered_rps,
            achieved: s.achieved_rps,
            p50_us: s.p50_us,
            p99_us: s.p99_us,
            sustained: match s.verdict {
                StepVerdict::Good => Some(true),
                StepVerdict::Broke => Some(false),
                StepVerdict::GeneratorLimit => None,
            },
        })
        .collect();
    let title = format!(
        "{}: latency and throughput by offered rate",
        result.scenario.name
    );
    let svg = capacity_chart(
        &title,
        &points,
        result.breaking_point_rps,
        result.recommended_rps,
    );
    let write = |path: &PathBuf, bytes: &[u8]| {
        crate::fsio::write_atomic(path, bytes).map_err(|source| {
            CapacityError::Write(crate::report::WriteError {
                path: path.clone(),
                source,
            })
        })
    };
    write(&files.chart, svg.as_bytes())?;
    let report = crate::report::capacity_report(result, CHART_FILE, gate);
    write(&files.report, report.as_bytes())?;
    Ok(files)
}
