//! The perf suite: one test per `scenarios/*.yml` (`capacity::<stem>` for a capacity
//! sweep, `scenario::<stem>` otherwise), run against the embedded reference
//! server (or the SUT `ERLMCP_PERF_SUT` names) and gated against
//! `baselines/<sut>/<class>/<scenario>.json`. Run it with
//! `cargo nextest run --profile perf`; `ERLMCP_PERF_UPDATE_BASELINES=1` rewrites the
//! baselines of the scenarios it runs instead of gating.
//!
//! A test fails when its scenario or baseline is invalid, the server or the load cannot
//! start, the gate finds a REGRESSION, a limit in the scenario's `slo` is breached, or the
//! load generator fell behind its schedule (the figures would then describe the generator).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use harness::capacity::gate::gate_against_file;
use harness::capacity::{CapacityResult, Limit};
use harness::check::{
    CheckError, CheckOptions, check_against_file, check_same_run, update_baseline,
};
use harness::exposition::MetricsServer;
use harness::machine::{Machine, Naming};
use harness::outcome::Outcome;
use harness::report::console::{self, ProgressMode};
use harness::run::RunOptions;
use harness::store::{Document, Located, locate};
use harness::sut::SutSpec;
use harness::sweep::{SweepOptions, run_sweep, write_files};
use harness::{env, report, scenario};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    // The library's warnings (a container it could not remove) go to stderr, as the CLI's do.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    // Paths in records and reports read relative to the workspace (`scenarios/x.yml`,
    // `target/perf`), whatever directory the suite was started from.
    if let Err(e) = std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")) {
        eprintln!("warning: cannot enter the workspace directory: {e}");
    }
    let trials = match scenario_files() {
        Ok(files) => files
            .into_iter()
            .map(|file| {
                let stem = stem(&file);
                // A capacity scenario is a sweep (`capacity::<stem>`), one with a `leak`
                // section a soak (`soak::<stem>`); one that does not parse is a
                // `scenario::` test, which fails with the file's problems.
                let parsed = scenario::load(&file).ok();
                let is_capacity = parsed.as_ref().is_some_and(|s| s.capacity.is_some());
                let is_soak = parsed.as_ref().is_some_and(|s| s.leak.is_some());
                if is_capacity {
                    Trial::test(format!("capacity::{stem}"), move || run_capacity(&file))
                } else if is_soak {
                    Trial::test(format!("soak::{stem}"), move || run_soak(&file))
                } else {
                    Trial::test(format!("scenario::{stem}"), move || run(&file))
                }
            })
            .collect(),
        Err(e) => vec![Trial::test("scenario::discover", move || Err(e.into()))],
    };
    libtest_mimic::run(&args, trials).exit();
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// The scenario files of the SUT's profile (its `scenarios` directory).
fn scenario_files() -> Result<Vec<PathBuf>, String> {
    let dir = harness::sut::profile::scenarios_for(&env::sut()).map_err(|e| e.to_string())?;
    let dir = dir.as_path();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("failed to read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The SUT named by `ERLMCP_PERF_SUT` (a profile name, `suts/<name>.yml`, or a path);
/// the default, `reference`, is the embedded reference server with
/// `ERLMCP_PERF_REFSERVER_FAULTS` applied.
fn sut_spec() -> Result<SutSpec, Failed> {
    let ctx = env::spec_context(env!("CARGO_BIN_EXE_erlmcp-perf"), ["refserver"]);
    env::sut_spec(&ctx).map_err(|e| e.to_string().into())
}

/// The same profile with `ERLMCP_PERF_BASELINE_IMAGE` as its image: the baseline side of a
/// same-run A/B gate.
fn baseline_image_spec(image: String) -> Result<SutSpec, Failed> {
    let mut ctx = env::spec_context(env!("CARGO_BIN_EXE_erlmcp-perf"), ["refserver"]);
    ctx.image_override = Some(image);
    env::sut_spec(&ctx).map_err(|e| e.to_string().into())
}

/// The suite's run options: `ERLMCP_PERF_DURATION_SCALE` and the settings every measuring
/// command reads, progress shown in `progress` mode; with `ERLMCP_PERF_METRICS_ADDR`, the
/// live-metrics endpoint every run counts into (keep it while the test measures).
fn run_options(progress: ProgressMode) -> Result<(RunOptions, Option<MetricsServer>), Failed> {
    let scale = env::duration_scale().map_err(|e| e.to_string())?;
    let mut options =
        env::run_options(scale, console::listener(progress)).map_err(|e| e.to_string())?;
    let addr = env::metrics_addr().map_err(|e| e.to_string())?;
    let server = env::serve_metrics(&mut options, addr).map_err(|e| e.to_string())?;
    Ok((options, server))
}

/// What every perf-suite test needs besides its options.
struct Setup {
    /// `ERLMCP_PERF_UPDATE_BASELINES`: rewrite the baseline instead of gating against it.
    update: bool,
    sut: SutSpec,
    /// The baseline to gate against (`baselines/<profile>/<class>/<stem>.json`, or another
    /// class's), and where an update records this machine's.
    baseline: Located,
    /// Results: `<out>/<stem>`.
    dir: PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl Setup {
    fn new(profile: &str, stem: &str, naming: &Naming) -> Result<Self, Failed> {
        let class = Machine::unprobed(naming).class;
        Ok(Self {
            update: env::update_baselines().map_err(|e| e.to_string())?,
            sut: sut_spec()?,
            baseline: locate(&Path::new("baselines").join(profile), &class, stem),
            dir: env::out_dir().join(stem),
            runtime: tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("failed to start the async runtime: {e}"))?,
        })
    }
}

fn profile_name() -> String {
    harness::sut::profile::name_of(&env::sut())
}

fn require_optimised_build() -> Result<(), Failed> {
    if harness::BUILD_OPT_LEVEL == "0" {
        return Err(
            "the perf suite needs an optimised build of the load generator; \
                    this one has opt-level 0 (see [profile.dev] in Cargo.toml)"
                .into(),
        );
    }
    Ok(())
}

/// A capacity sweep gated against `baselines/<sut>/<class>/<stem>.json` (a capacity file), or
/// recorded there with `ERLMCP_PERF_UPDATE_BASELINES=1`. Fails on a REGRESSION of the
/// maximum sustainable rate. A sweep the load generator limited is reported (its maximum
/// is then a lower bound) but does not fail: a slower SUT breaks below the generator's
/// limit, where the gate still sees it.
fn run_capacity(file: &Path) -> Result<(), Failed> {
    require_optimised_build()?;
    let stem = stem(file);
    let scenario = scenario::load(file).map_err(|e| e.to_string())?;
    let (run, _metrics) = run_options(ProgressMode::Quiet)?;
    let options = SweepOptions {
        run,
        strategy: None,
        step_rps: None,
        profile: profile_name(),
    };
    let Setup {
        update,
        sut,
        baseline,
        dir,
        runtime,
    } = Setup::new(&options.profile, &stem, &options.run.machine)?;
    let baseline_path = match (&baseline.read, update) {
        (_, true) => baseline.record.clone(),
        (Some(path), false) => path.clone(),
        (None, false) => {
            return Err(format!(
                "no capacity baseline at {}; record it with:\n  {}=1 cargo nextest run --profile perf -E 'test(=capacity::{stem})'",
                baseline.record.display(),
                env::UPDATE_BASELINES
            )
            .into());
        }
    };
    let result = runtime
        .block_on(run_sweep(&scenario, &sut, &options, &dir, |step| {
            println!("{}", report::step_line(step));
        }))
        .map_err(|e| e.to_string())?;
    if update {
        result.write(&baseline_path).map_err(|e| e.to_string())?;
        let files = write_files(&dir, &result, None).map_err(|e| e.to_string())?;
        print!("{}", report::capacity_summary(&result));
        println!(
            "updated {} (receipt {})\n  chart: {}",
            baseline_path.display(),
            result.receipt.sha256,
            files.chart.display()
        );
        warn_generator_limit(&result);
        return Ok(());
    }
    let verdict =
        gate_against_file(&baseline_path, &result, &scenario.gate).map_err(|e| e.to_string())?;
    let shown = baseline_path.display().to_string();
    let files = write_files(&dir, &result, Some((&verdict, &shown))).map_err(|e| e.to_string())?;
    print!("{}", report::capacity_summary(&result));
    let text = report::capacity_verdict_text(&verdict);
    println!(
        "{text}  report: {}\n  chart: {}",
        files.report.display(),
        files.chart.display()
    );
    append_step_summary(&scenario.name, &text);
    let outcome = Outcome::default().gated(verdict.status, || {
        format!("{text}  report: {}", files.report.display())
    });
    if !outcome.passed() {
        return Err(outcome.failures.join("\n").into());
    }
    warn_generator_limit(&result);
    Ok(())
}

/// Says so when the load generator, not the SUT, bounded the sweep.
fn warn_generator_limit(result: &CapacityResult) {
    if result.limited_by == Limit::Generator {
        println!(
            "warning: the load generator, not the SUT, limited the sweep: {}",
            report::capacity_headline(result)
        );
    }
}

/// A soak: one long run judged on its SLOs and its leak check (memory growth over the
/// measured phases that does not come back in the cool-down); no baseline, no gate.
fn run_soak(file: &Path) -> Result<(), Failed> {
    require_optimised_build()?;
    let stem = stem(file);
    let scenario = scenario::load(file).map_err(|e| e.to_string())?;
    let (options, _metrics) = run_options(ProgressMode::Lines)?;
    let Setup {
        sut, dir, runtime, ..
    } = Setup::new(&profile_name(), &stem, &options.machine)?;
    let result = runtime
        .block_on(harness::run::run_scenario(&scenario, &sut, &options, &dir))
        .map_err(|e| e.to_string())?;
    println!("{}", report::summary(&result.record));
    println!("  report: {}", result.files.report.display());
    if result.record.leak.is_none() {
        return Err(format!(
            "{}: the SUT's memory could not be sampled, so the leak check has nothing to judge",
            file.display()
        )
        .into());
    }
    let outcome = Outcome::of_trials(std::slice::from_ref(&result.record));
    if outcome.passed() {
        Ok(())
    } else {
        Err(outcome.failures.join("\n").into())
    }
}

fn run(file: &Path) -> Result<(), Failed> {
    require_optimised_build()?;
    let stem = stem(file);
    let scenario = scenario::load(file).map_err(|e| e.to_string())?;
    let (run, _metrics) = run_options(ProgressMode::Lines)?;
    let options = CheckOptions {
        run,
        trials: env::trials().map_err(|e| e.to_string())?,
        profile: profile_name(),
    };
    let Setup {
        update,
        sut,
        baseline,
        dir,
        runtime,
    } = Setup::new(&options.profile, &stem, &options.run.machine)?;
    if update {
        let baseline_path = baseline.record;
        let baseline = runtime
            .block_on(update_baseline(
                &scenario,
                &sut,
                &options,
                &baseline_path,
                &dir,
            ))
            .map_err(|e| e.to_string())?;
        println!(
            "updated {} from {} runs (receipt {})",
            baseline_path.display(),
            baseline.runs.len(),
            baseline.receipt.sha256
        );
        return Ok(());
    }
    let checked = match env::baseline_image() {
        Some(image) => {
            let baseline_sut = baseline_image_spec(image)?;
            runtime.block_on(check_same_run(
                &scenario,
                &baseline_sut,
                &sut,
                &options,
                &dir,
            ))
        }
        None => {
            // A missing baseline is reported with the path this machine records to.
            let path = baseline.read.as_ref().unwrap_or(&baseline.record);
            runtime.block_on(check_against_file(&scenario, &sut, &options, path, &dir))
        }
    };
    let result = checked.map_err(|e| match e {
        CheckError::MissingBaseline(path) => format!(
            "no baseline at {}; record it with:\n  {}=1 cargo nextest run --profile perf -E 'test(=scenario::{stem})'",
            path.display(),
            env::UPDATE_BASELINES
        ),
        other => other.to_string(),
    })?;
    for record in &result.records {
        println!("{}", report::summary(record));
    }
    println!("{}\n  report: {}", result.tables, result.report.display());
    append_step_summary(&scenario.name, &result.tables);
    let outcome = Outcome::of_trials(&result.records).gated(result.verdict.status, || {
        format!("{}\n  report: {}", result.tables, result.report.display())
    });
    if outcome.passed() {
        Ok(())
    } else {
        Err(outcome.failures.join("\n").into())
    }
}

/// Adds the verdict to the GitHub Actions job summary when running there.
fn append_step_summary(name: &str, tables: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let result = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "## {name}\n\n{tables}\n"));
    if let Err(e) = result {
        eprintln!("warning: cannot append to GITHUB_STEP_SUMMARY: {e}");
    }
}
