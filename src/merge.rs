//! `erlmcp-perf merge`: the records of one run's shards made into one record and report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use harness::outcome::Outcome;
use harness::record::{RunRecord, merge};
use harness::{report, scenario, slo};

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The shards' record.json files (`run --shard I/N` writes them under `shard-I-of-N/`).
    #[arg(required = true)]
    records: Vec<PathBuf>,
    /// Directory the merged record.json and report.md go to.
    #[arg(long, short)]
    output: PathBuf,
    /// Merge even when some shards' records are missing (a partial run).
    #[arg(long)]
    allow_missing: bool,
    /// The scenario file whose SLOs the merged record is checked against. Default: the
    /// path the records name, if it still holds the scenario they ran.
    #[arg(long)]
    scenario: Option<PathBuf>,
}

pub fn merge_records(args: MergeArgs) -> ExitCode {
    let inputs = match args
        .records
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let mut merged = match merge(&inputs, args.allow_missing) {
        Ok(merged) => merged,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    match slos(&merged, args.scenario.as_deref()) {
        Ok(scenario) => merged.slo = slo::check(&scenario.slo, &merged),
        Err(why) => eprintln!("note: SLOs not checked: {why:#}"),
    }
    if let Err(e) = std::fs::create_dir_all(&args.output) {
        eprintln!("error: cannot create {}: {e}", args.output.display());
        return ExitCode::from(exit::WRITE);
    }
    let files = match report::write_run(&args.output, &merged) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::WRITE);
        }
    };
    for s in &merged.shards {
        println!(
            "shard {}: {} planned, {} ok, {} failed, p99 {}",
            s.shard,
            report::thousands(s.planned),
            report::thousands(s.ok),
            report::thousands(s.failed),
            harness::units::format_us(s.p99_us)
        );
    }
    print!("{}", report::summary(&merged));
    println!("  record: {}", files.record.display());
    println!("  report: {}", files.report.display());
    ExitCode::from(Outcome::of_trials(std::slice::from_ref(&merged)).exit_code())
}

fn read(path: &Path) -> anyhow::Result<(PathBuf, RunRecord)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let record = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a record.json", path.display()))?;
    Ok((path.to_path_buf(), record))
}

/// The scenario the merged record ran, checked to be the same file version.
fn slos(merged: &RunRecord, given: Option<&Path>) -> anyhow::Result<scenario::Scenario> {
    let path = given.map_or_else(|| PathBuf::from(&merged.scenario.path), Path::to_path_buf);
    let scenario = scenario::load(&path)?;
    anyhow::ensure!(
        scenario.source.sha256 == merged.scenario.sha256,
        "{} is not the scenario the records ran (its SHA-256 is {}, theirs {}); name it with --scenario",
        path.display(),
        scenario.source.sha256,
        merged.scenario.sha256
    );
    Ok(scenario)
}
