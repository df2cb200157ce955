//! `erlmcp-perf calibrate`: the gate accuracy study (false alarms, detection, measurement
//! accuracy) against the reference server, written as `gate-accuracy.md` and `study.json`.

use std::path::PathBuf;
use std::process::ExitCode;

use harness::calibrate::{self, StudyOptions};
use harness::fsio::write_atomic;
use harness::outcome::{self, Outcome};
use harness::report::console::ProgressMode;
use harness::{env, scenario};

use crate::exit;

#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// The scenario gated in the study; its `gate:` thresholds apply.
    #[arg(long, default_value = "scenarios/studies/gate-accuracy.yml")]
    scenario: PathBuf,
    /// A short study for CI: 3 unchanged reruns, P99 +50% and the error cases twice, no
    /// accuracy runs. Explicit options below still apply.
    #[arg(long)]
    quick: bool,
    /// Unchanged reruns (false alarms) [default: 30, quick 3].
    #[arg(long)]
    reruns: Option<usize>,
    /// Reruns of each P99 slowdown below +50% [default: 20, quick 2].
    #[arg(long)]
    detection_reruns: Option<usize>,
    /// Reruns of each gross case: P99 +50% or more, the throughput cut, the error rate
    /// [default: 10, quick 2].
    #[arg(long)]
    gross_reruns: Option<usize>,
    /// Injected P99 slowdowns, percent of the baseline's P99 [default: 10,15,50; quick 50].
    #[arg(long, value_delimiter = ',')]
    slowdowns: Option<Vec<f64>>,
    /// Injected cut of successful throughput, percent (0 skips it).
    #[arg(long, default_value_t = 20.0)]
    throughput_cut: f64,
    /// Injected error rate, percent (0 skips it).
    #[arg(long, default_value_t = 0.5)]
    error_rate: f64,
    /// Gate each rerun against the fresh baseline file (as the perf suite gates a file of
    /// this host) instead of a same-run A/B, where the unchanged server's trials are
    /// interleaved with the rerun's.
    #[arg(long)]
    against_file: bool,
    /// Trials per side of each gate.
    #[arg(long, env = env::TRIALS, default_value_t = harness::check::DEFAULT_TRIALS)]
    trials: usize,
    /// Scale of the scenario's durations for every gated trial (0.01 of the 300 s baseline
    /// scenario is 3 s, 3,000 requests).
    #[arg(long, value_parser = env::parse_scale, default_value_t = 0.01)]
    duration_scale: f64,
    /// Rate of the measurement-accuracy runs, requests per second (0 skips them) [default:
    /// 500, quick 0].
    #[arg(long)]
    accuracy_rate: Option<f64>,
    /// Directory for every run's results and `study.json`.
    #[arg(long, default_value = "target/perf/calibrate")]
    out: PathBuf,
    /// Send no load: gate again the runs of an earlier study in --out (same options), e.g.
    /// after a change to the gate's statistics.
    #[arg(long)]
    replay: bool,
    /// Where the Markdown goes [default: <out>/gate-accuracy.md]; the full study's home is
    /// docs/gate-accuracy.md.
    #[arg(long)]
    output: Option<PathBuf>,
}

/// Runs the study; exits 1 when a goal is missed.
pub fn calibrate(args: CalibrateArgs, command_line: String) -> ExitCode {
    let scenario = match scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    if args.trials < 2 {
        eprintln!(
            "error: --trials must be at least 2 (the gate's noise checks need runs to compare), got {}",
            args.trials
        );
        return ExitCode::from(exit::BAD_INPUT);
    }
    let server = match crate::reference_server() {
        Ok(server) => server,
        Err(code) => return code,
    };
    let (reruns, detection, gross, slowdowns, accuracy) = if args.quick {
        (3, 2, 2, vec![50.0], 0.0)
    } else {
        (30, 20, 10, vec![10.0, 15.0, 50.0], 500.0)
    };
    let accuracy_rate = args.accuracy_rate.unwrap_or(accuracy);
    let run = match crate::run_options(args.duration_scale, ProgressMode::Quiet) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let options = StudyOptions {
        scenario,
        server,
        run,
        trials: args.trials,
        same_run: !args.against_file,
        reruns: args.reruns.unwrap_or(reruns),
        detection_reruns: args.detection_reruns.unwrap_or(detection),
        gross_reruns: args.gross_reruns.unwrap_or(gross),
        slowdowns: args.slowdowns.unwrap_or(slowdowns),
        throughput_cut: args.throughput_cut,
        error_rate: args.error_rate,
        accuracy_rate: (accuracy_rate > 0.0).then_some(accuracy_rate),
        overhead_rates: if accuracy_rate > 0.0 {
            vec![500.0, 2_000.0, 4_000.0]
        } else {
            Vec::new()
        },
        out: args.out.clone(),
        replay: args.replay,
    };
    let runtime = match crate::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = crate::until_stopped(
        &runtime,
        &options.run.stop,
        calibrate::run_study(&options, |line| eprintln!("calibrate: {line}")),
    );
    let study = match result {
        None => {
            eprintln!("interrupted: the study was abandoned, nothing written");
            return ExitCode::from(exit::INTERRUPTED);
        }
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(outcome::study_error_code(&e));
        }
        Some(Ok(study)) => study,
    };
    let goals = calibrate::goals(&study.cases);
    let when = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let markdown = calibrate::render(&study, &goals, &command_line, &when);
    let output = args
        .output
        .unwrap_or_else(|| args.out.join("gate-accuracy.md"));
    // A hand-written reading of an earlier study in the same file is kept.
    let markdown = match std::fs::read_to_string(&output) {
        Ok(old) => calibrate::keep_reading(&markdown, &old),
        Err(_) => markdown,
    };
    let json = match serde_json::to_vec_pretty(&serde_json::json!({"study": study, "goals": goals}))
    {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: the study does not serialise: {e}");
            return ExitCode::from(exit::WRITE);
        }
    };
    for (path, bytes) in [
        (args.out.join("study.json"), json.as_slice()),
        (output.clone(), markdown.as_bytes()),
    ] {
        if let Err(e) = write_atomic(&path, bytes) {
            eprintln!("error: failed to write {}: {e}", path.display());
            return ExitCode::from(exit::WRITE);
        }
    }
    for g in &goals {
        println!("{} {}", if g.met { "met:   " } else { "MISSED:" }, g.text);
    }
    println!("  report: {}", output.display());
    if let Some(round) = study.interrupted_in_round {
        eprintln!("interrupted in round {round}: the reruns finished before it are reported");
        return ExitCode::from(exit::INTERRUPTED);
    }
    ExitCode::from(Outcome::of_goals(&goals).exit_code())
}
