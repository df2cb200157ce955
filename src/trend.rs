//! `erlmcp-perf trend`: change points over a series of results, read from files and
//! directories or from the history of one baseline file in git.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use harness::record::Figures;
use harness::report::{TrendContext, trend_chart_file, trend_report, trend_svg};
use harness::trend::{Metric, Point, TrendOptions, analyse, edivisive};

use crate::compare::{Loaded, parse_runs};
use crate::exit;

#[derive(clap::Args, Debug)]
pub struct TrendArgs {
    /// Results: baseline files and `record.json` files, or directories searched for them
    /// (a directory's results are ordered by the time they were measured).
    #[arg(required_unless_present = "git", conflicts_with = "git")]
    paths: Vec<PathBuf>,
    /// Instead: the history of this baseline file in git, one result per commit that
    /// changed it, oldest first.
    #[arg(long)]
    git: Option<PathBuf>,
    /// Metrics followed: throughput, p50, p95, p99, p999, error_rate, efficiency, memory.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "throughput,p50,p95,p99,p999,error_rate,efficiency,memory"
    )]
    metrics: Vec<String>,
    /// Smallest change reported: percent between the medians of two regimes.
    #[arg(long, default_value_t = 5.0)]
    min_change: f64,
    /// A split is kept when at most this share of shuffles reach its statistic.
    #[arg(long, default_value_t = 0.01)]
    alpha: f64,
    /// Shuffles per significance test.
    #[arg(long, default_value_t = 999)]
    permutations: usize,
    /// Fewest results in a regime.
    #[arg(long, default_value_t = 3)]
    min_size: usize,
    /// Exit 1 when a change for the worse is found.
    #[arg(long)]
    fail_on_worse: bool,
    /// Where `trend.md`, `trend.json` and a chart per metric go.
    #[arg(long, default_value = "target/perf/trend")]
    out: PathBuf,
}

/// One result read, before it becomes a point.
struct Read {
    label: String,
    loaded: Loaded,
}

pub fn trend(args: TrendArgs) -> ExitCode {
    let (options, metrics) = match settings(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let read = match &args.git {
        Some(file) => from_git(file),
        None => from_paths(&args.paths),
    };
    let (results, source, skipped) = match read {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    if let Err(e) = one_scenario(&results) {
        eprintln!("error: {e:#}");
        return ExitCode::from(exit::BAD_INPUT);
    }
    let points: Vec<Point> = results
        .into_iter()
        .map(|r| Point {
            label: r.label,
            time: Some(r.loaded.time),
            figures: Figures::median_of(&r.loaded.runs),
            machine: r.loaded.machine.map(|m| m.class),
            method_version: r.loaded.method_version,
        })
        .collect();
    let trend = analyse(&points, &metrics, &options);
    let context = TrendContext { source, skipped };
    let report = trend_report(&trend, &context);
    let written = write(&args.out, &report, &trend);
    if let Err(e) = written {
        eprintln!("error: {e:#}");
        return ExitCode::from(exit::WRITE);
    }
    print!("{}", report.split("## Charts").next().unwrap_or(&report));
    println!("Report: {}", args.out.join("trend.md").display());
    if args.fail_on_worse && trend.worse().next().is_some() {
        ExitCode::from(exit::FAILED_CHECK)
    } else {
        ExitCode::SUCCESS
    }
}

fn settings(args: &TrendArgs) -> anyhow::Result<(TrendOptions, Vec<Metric>)> {
    let metrics = args
        .metrics
        .iter()
        .map(|k| {
            Metric::of_key(k).with_context(|| {
                format!("--metrics: unknown metric {k:?} (throughput, p50, p95, p99, p999, error_rate, efficiency, memory)")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!("--alpha must be between 0 and 1, got {}", args.alpha);
    }
    if args.permutations < 19 {
        bail!(
            "--permutations must be at least 19 (fewer cannot reach p <= 0.05), got {}",
            args.permutations
        );
    }
    if args.min_size == 0 {
        bail!("--min-size must be at least 1");
    }
    if !(args.min_change >= 0.0 && args.min_change.is_finite()) {
        bail!(
            "--min-change must be a percentage of 0 or more, got {}",
            args.min_change
        );
    }
    let options = TrendOptions {
        search: edivisive::Options {
            min_size: args.min_size,
            permutations: args.permutations,
            alpha: args.alpha,
            ..edivisive::Options::default()
        },
        min_change: args.min_change,
    };
    Ok((options, metrics))
}

type Series = (Vec<Read>, String, Vec<String>);

/// Results from files and directories, each directory's ordered by measurement time.
fn from_paths(paths: &[PathBuf]) -> anyhow::Result<Series> {
    let mut results = Vec::new();
    let mut skipped = 0usize;
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            collect(path, path, &mut found, &mut skipped)?;
            found.sort_by(|a: &Read, b: &Read| {
                a.loaded
                    .time
                    .cmp(&b.loaded.time)
                    .then(a.label.cmp(&b.label))
            });
            results.extend(found);
        } else {
            let bytes = std::fs::read(path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            let loaded = parse_runs(&bytes, path).map_err(anyhow::Error::msg)?;
            results.push(Read {
                label: path.display().to_string(),
                loaded,
            });
        }
    }
    let source = paths
        .iter()
        .map(|p| format!("`{}`", p.display()))
        .collect::<Vec<_>>()
        .join(", ");
    let skipped = if skipped > 0 {
        vec![format!(
            "{skipped} other JSON file(s) in the directories (not a baseline or a record.json) left out"
        )]
    } else {
        Vec::new()
    };
    Ok((results, source, skipped))
}

/// Every `record.json` and baseline under `dir`, labelled by their path below `root`.
fn collect(
    root: &Path,
    dir: &Path,
    out: &mut Vec<Read>,
    skipped: &mut usize,
) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("failed to read directory {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("failed to read directory {}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, out, skipped)?;
            continue;
        }
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let bytes =
            std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
        if !is_result(&path, &bytes) {
            *skipped += 1;
            continue;
        }
        let loaded = parse_runs(&bytes, &path).map_err(anyhow::Error::msg)?;
        let relative = path.strip_prefix(root).unwrap_or(&path);
        // A run directory's record is named by its directory.
        let label = if relative.file_name().is_some_and(|n| n == "record.json") {
            relative.parent().unwrap_or(relative).display().to_string()
        } else {
            relative.display().to_string()
        };
        out.push(Read { label, loaded });
    }
    Ok(())
}

/// Whether a JSON file is a result: a `record.json`, or a baseline (a receipt and runs).
fn is_result(path: &Path, bytes: &[u8]) -> bool {
    if path.file_name().is_some_and(|n| n == "record.json") {
        return true;
    }
    serde_json::from_slice::<serde_json::Value>(bytes)
        .is_ok_and(|v| v.get("receipt").is_some() && v.get("runs").is_some())
}

/// One result per commit that changed `file`, oldest first, labelled by short commit.
fn from_git(file: &Path) -> anyhow::Result<Series> {
    let (dir, name) = match (file.parent(), file.file_name()) {
        (Some(d), Some(n)) if !d.as_os_str().is_empty() => (d.to_path_buf(), PathBuf::from(n)),
        (_, Some(n)) => (PathBuf::from("."), PathBuf::from(n)),
        _ => bail!("--git {}: not a file", file.display()),
    };
    let log = git(
        &dir,
        &[
            "log",
            "--reverse",
            "--format=%H",
            "--",
            &name.to_string_lossy(),
        ],
    )?;
    let commits: Vec<&str> = log.lines().filter(|l| !l.is_empty()).collect();
    if commits.is_empty() {
        bail!("--git {}: no commit in its history", file.display());
    }
    let mut results = Vec::new();
    let mut gone = 0usize;
    for commit in commits {
        // `./` makes the path relative to `dir`, where git runs.
        let spec = format!("{commit}:./{}", name.display());
        let Ok(bytes) = git_bytes(&dir, &["show", &spec]) else {
            gone += 1; // the commit deleted the file
            continue;
        };
        let short = &commit[..commit.len().min(10)];
        let at = PathBuf::from(format!("{} at {short}", file.display()));
        let loaded = parse_runs(&bytes, &at).map_err(anyhow::Error::msg)?;
        results.push(Read {
            label: short.to_string(),
            loaded,
        });
    }
    let skipped = if gone > 0 {
        vec![format!("{gone} commit(s) that deleted the file left out")]
    } else {
        Vec::new()
    };
    Ok((
        results,
        format!("git history of `{}`", file.display()),
        skipped,
    ))
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let bytes = git_bytes(dir, args)?;
    String::from_utf8(bytes).context("git printed text that is not UTF-8")
}

fn git_bytes(dir: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .with_context(|| format!("failed to run git in {}", dir.display()))?;
    if !out.status.success() {
        bail!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Refuses a series that mixes scenarios: their figures do not form one series.
fn one_scenario(results: &[Read]) -> anyhow::Result<()> {
    if results.len() < 2 {
        bail!(
            "{} result(s) found: a trend needs at least two (and twice --min-size for a change point)",
            results.len()
        );
    }
    let first = &results[0];
    if let Some(other) = results
        .iter()
        .find(|r| r.loaded.scenario != first.loaded.scenario)
    {
        bail!(
            "{} is of scenario {:?} and {} of scenario {:?}: a trend follows one scenario (pass its results only)",
            first.label,
            first.loaded.scenario,
            other.label,
            other.loaded.scenario
        );
    }
    Ok(())
}

/// Writes the report, the JSON and the charts atomically.
fn write(out: &Path, report: &str, trend: &harness::trend::Trend) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("failed to create {}", out.display()))?;
    let put = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        harness::fsio::write_atomic(&path, bytes)
            .with_context(|| format!("failed to write {}", path.display()))
    };
    put("trend.md", report.as_bytes())?;
    let json = serde_json::to_vec_pretty(trend).context("the trend serialises")?;
    put("trend.json", &json)?;
    for m in &trend.metrics {
        put(&trend_chart_file(m), trend_svg(trend, m).as_bytes())?;
    }
    Ok(())
}
