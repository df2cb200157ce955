//! `erlmcp-perf capacity`: a capacity sweep from the command line, optionally gated
//! against a capacity baseline.

use std::path::PathBuf;
use std::process::ExitCode;

use harness::capacity::{Limit, Strategy, gate::gate_against_file};
use harness::gate::Status;
use harness::outcome::{self, Outcome};
use harness::report::console::ProgressMode;
use harness::run::results_dir;
use harness::sweep::{SweepOptions, run_sweep, write_files};
use harness::{report, scenario};

use crate::{MeasureArgs, SutArgs, exit, runtime, until_stopped};

#[derive(clap::Args)]
pub struct CapacityArgs {
    /// The capacity scenario (a scenario file with a `capacity` section).
    scenario: PathBuf,
    #[command(flatten)]
    sut: SutArgs,
    /// Search strategy, replacing the file's: bisect or linear.
    #[arg(long)]
    search: Option<Strategy>,
    /// Increment of the linear search, requests per second, replacing the file's `step`.
    #[arg(long)]
    step: Option<f64>,
    /// Gate the result against this capacity baseline (exits 1 on a REGRESSION).
    #[arg(long)]
    baseline: Option<PathBuf>,
    #[command(flatten)]
    measure: MeasureArgs,
}

pub fn capacity(args: CapacityArgs) -> ExitCode {
    let scenario = match scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    if let Some(step) = args.step
        && !(step.is_finite() && step > 0.0 && step <= scenario::MAX_RATE)
    {
        eprintln!(
            "error: --step must be above 0 and at most {}, got {step}",
            scenario::MAX_RATE
        );
        return ExitCode::from(exit::BAD_INPUT);
    }
    let mut run = match crate::run_options(args.measure.duration_scale, ProgressMode::Quiet) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let _metrics = match args.measure.serve_metrics(&mut run) {
        Ok(server) => server,
        Err(code) => return code,
    };
    let options = SweepOptions {
        run,
        strategy: args.search,
        step_rps: args.step,
        profile: args.sut.profile_name(),
    };
    if let Err(e) = harness::sweep::effective_spec(&scenario, &options) {
        eprintln!("error: {e}");
        return ExitCode::from(exit::BAD_INPUT);
    }
    let sut = match args.sut.spec() {
        Ok(sut) => sut,
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let dir = results_dir(&args.measure.out, &scenario);
    let quiet = args.measure.quiet;
    let sweep = run_sweep(&scenario, &sut, &options, &dir, |step| {
        if !quiet {
            println!("{}", report::step_line(step));
        }
    });
    let result = until_stopped(&runtime, &options.run.stop, sweep);
    let result = match result {
        None => {
            eprintln!(
                "interrupted twice: the sweep was abandoned; the steps it finished are in {}",
                dir.display()
            );
            return ExitCode::from(exit::INTERRUPTED);
        }
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(outcome::sweep_error_code(&e));
        }
        Some(Ok(r)) => r,
    };
    let verdict = match &args.baseline {
        // An interrupted sweep's bracket is not its SUT's capacity: nothing to gate.
        _ if result.interrupted => None,
        None => None,
        Some(path) => match gate_against_file(path, &result, &scenario.gate) {
            Ok(v) => Some((v, path.display().to_string())),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(exit::BAD_INPUT);
            }
        },
    };
    let files = match write_files(
        &dir,
        &result,
        verdict.as_ref().map(|(v, p)| (v, p.as_str())),
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::WRITE);
        }
    };
    print!("{}", report::capacity_summary(&result));
    if let Some((v, _)) = &verdict {
        print!("{}", report::capacity_verdict_text(v));
    }
    println!("  capacity: {}", files.result.display());
    println!("  chart:    {}", files.chart.display());
    println!("  report:   {}", files.report.display());
    if result.limited_by == Limit::Generator {
        println!("warning: the load generator, not the SUT, limited the sweep");
    }
    if result.interrupted {
        println!("interrupted: the result holds the steps that finished");
        return ExitCode::from(exit::INTERRUPTED);
    }
    let status = verdict.map_or(Status::Ok, |(v, _)| v.status);
    ExitCode::from(
        Outcome::default()
            .gated(status, || "capacity regression".into())
            .exit_code(),
    )
}
