//! `erlmcp-perf dashboard`: erlmcp's Grafana dashboard, its baseline and threshold lines
//! drawn from a committed baseline file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use harness::fsio::write_atomic;
use harness::report::dashboard::{DashboardBasis, grafana_dashboard};
use harness::store::{Baseline, Document};

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct DashboardArgs {
    /// The baseline the dashboard's lines come from
    /// (`baselines/<sut>/<machine class>/<scenario>.json`); its receipt is checked.
    baseline: PathBuf,
    /// Where the dashboard JSON goes.
    #[arg(long, default_value = "monitoring/grafana/dashboards/performance.json")]
    output: PathBuf,
    /// The gate's threshold, percent: the throughput panel's regression line is this far
    /// below the baseline.
    #[arg(long, default_value_t = 10.0)]
    threshold: f64,
}

pub fn dashboard(args: DashboardArgs) -> ExitCode {
    match write(&args) {
        Ok(()) => {
            println!("dashboard: {}", args.output.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::BAD_INPUT)
        }
    }
}

fn write(args: &DashboardArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.threshold.is_finite() && args.threshold > 0.0 && args.threshold < 100.0,
        "--threshold must be above 0 and below 100, got {}",
        args.threshold
    );
    let baseline = Baseline::load(&args.baseline)?;
    let source = args.baseline.display().to_string();
    let dashboard = grafana_dashboard(&DashboardBasis {
        baseline: &baseline,
        source: &source,
        threshold_percent: args.threshold,
    });
    let mut json = serde_json::to_vec_pretty(&dashboard).context("serialising the dashboard")?;
    json.push(b'\n');
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_atomic(&args.output, &json).with_context(|| format!("writing {}", args.output.display()))
}
