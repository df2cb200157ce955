//! `erlmcp-perf merge`: the records of one run's shards made into one record and report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use harness::outcome::Outcome;
use harness::record::{MergeError, RunRecord, merge};
use harness::{report, scenario, slo};

use crate::exit;

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The shards' record.json files, or directories: a directory stands for the
    /// `shard-*/record.json` files in it (`run --shard I/N` writes
    /// `<out>/<scenario>/shard-I-of-N/record.json`).
    #[arg(required = true)]
    records: Vec<PathBuf>,
    /// Directory the merged record.json and report.md go to.
    #[arg(long, short)]
    output: PathBuf,
    /// Merge even when some shards' records are missing (a partial run).
    #[arg(long)]
    allow_missing: bool,
    /// Wait up to this long (e.g. 30m) for every shard's record to appear, looking again
    /// every 2 s: for a merge started beside the shards (a Kubernetes merge Job).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    wait: Option<std::time::Duration>,
    /// The scenario file whose SLOs the merged record is checked against. Default: the
    /// path the records name, if it still holds the scenario they ran.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Merge without checking the scenario's SLOs (when its file is not at hand).
    #[arg(long, conflicts_with = "scenario")]
    no_slo: bool,
}

/// How often `--wait` looks for the shards' records again.
const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(2);

pub fn merge_records(args: MergeArgs) -> ExitCode {
    let deadline = args.wait.map(|w| std::time::Instant::now() + w);
    let mut told = false;
    let mut merged = loop {
        let attempt = inputs(&args.records).and_then(|inputs| {
            merge(&inputs, args.allow_missing).map_err(|e| match e {
                MergeError::Missing { .. } | MergeError::Empty => Attempt::NotYet(e.to_string()),
                e => Attempt::Failed(e.to_string()),
            })
        });
        match attempt {
            Ok(merged) => break merged,
            Err(Attempt::NotYet(why))
                if deadline.is_some_and(|d| std::time::Instant::now() + LOOK_AGAIN < d) =>
            {
                if !told {
                    eprintln!("waiting for the shards' records: {why}");
                    told = true;
                }
                std::thread::sleep(LOOK_AGAIN);
            }
            Err(Attempt::NotYet(why) | Attempt::Failed(why)) => {
                eprintln!("error: {why}");
                return ExitCode::from(exit::BAD_INPUT);
            }
        }
    };
    if args.no_slo {
        eprintln!("note: SLOs not checked (--no-slo)");
    } else {
        match slos(&merged, args.scenario.as_deref()) {
            Ok(scenario) => merged.slo = slo::check(&scenario.slo, &merged),
            Err(why) => {
                eprintln!(
                    "error: cannot check the scenario's SLOs: {why:#} (name the scenario with --scenario, or pass --no-slo)"
                );
                return ExitCode::from(exit::BAD_INPUT);
            }
        }
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

/// Why a merge did not happen yet.
enum Attempt {
    /// Shards are missing (or no record is there yet): worth waiting for.
    NotYet(String),
    Failed(String),
}

/// The records named: files as given, directories as their `shard-*/record.json`.
fn inputs(paths: &[PathBuf]) -> Result<Vec<(PathBuf, RunRecord)>, Attempt> {
    let mut files = Vec::new();
    for path in paths {
        if !path.exists() {
            // Shards still starting may not have made their directory or file yet.
            return Err(Attempt::NotYet(format!(
                "{} does not exist",
                path.display()
            )));
        }
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path)
            .map_err(|e| Attempt::Failed(format!("cannot list {}: {e}", path.display())))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("shard-"))
            .map(|e| e.path().join("record.json"))
            .filter(|p| p.is_file())
            .collect();
        if found.is_empty() {
            return Err(Attempt::NotYet(format!(
                "{} holds no shard-*/record.json yet",
                path.display()
            )));
        }
        found.sort();
        files.extend(found);
    }
    files
        .iter()
        .map(|p| read(p).map_err(|e| Attempt::Failed(format!("{e:#}"))))
        .collect()
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
