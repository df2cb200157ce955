//! `erlmcp-perf`: run MCP load scenarios, check scenario files, run the reference server.
//!
//! Exit codes: 0 success; 1 a service-level check failed or the generator fell behind;
//! 2 bad input (arguments, scenario file); 3 the SUT or the load could not start;
//! 4 results could not be written.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use harness::outcome::{self, Outcome};
use harness::report::console::{self, ProgressMode};
use harness::run::{RunOptions, results_dir, run_scenario};
use harness::sut::{EmbeddedSpec, SutSpec, Transport};
use harness::{env, report, scenario};

mod bench;
mod calibrate;
mod capacity;
mod compare;
mod dashboard;
mod merge;
mod trend;

pub(crate) use harness::outcome::exit;

#[derive(Parser)]
#[command(
    name = "erlmcp-perf",
    version,
    about = "Performance tests for MCP servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: against the embedded reference server unless --url names a server.
    Run(RunArgs),
    /// Validate scenario files without sending any load.
    Check {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Compare two results (baseline files or record.json) and say OK / WARNING / REGRESSION.
    /// Exits 1 on a regression.
    Compare(CompareArgs),
    /// Check the receipts of baseline files. Exits 1 if any fails.
    Verify {
        /// Baseline files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Measure the gate's accuracy against the reference server: false alarms on unchanged
    /// reruns, detection of injected slowdowns, measurement accuracy. Exits 1 when a goal
    /// is missed.
    Calibrate(calibrate::CalibrateArgs),
    /// Find a capacity scenario's breaking point and recommended capacity: writes
    /// capacity.json, capacity.svg and report.md. Exits 1 if the capacity gate (--baseline)
    /// finds a REGRESSION.
    Capacity(capacity::CapacityArgs),
    /// Find change points in a series of results (baselines, record.json files, or one
    /// baseline's git history): writes trend.md, trend.json and a chart per metric. Exits 1
    /// with --fail-on-worse when a metric changed for the worse.
    Trend(trend::TrendArgs),
    /// Merge the records of one run's shards (`run --shard I/N`) into one record and
    /// report: histograms added exactly, counts and errors summed, windows aligned by
    /// wall-clock second. Refuses records of different runs, and shards given twice or
    /// missing.
    Merge(merge::MergeArgs),
    /// Write erlmcp's Grafana dashboard (monitoring/grafana/dashboards/performance.json)
    /// with its baseline and threshold lines taken from a baseline file.
    Dashboard(dashboard::DashboardArgs),
    /// Run the reference MCP server (the default system under test).
    Refserver(refserver::Args),
    /// Benchmark the load generator against oha and wrk (see docs/performance.md).
    Bench(bench::BenchArgs),
    /// The benchmark's minimal HTTP endpoint: answers every POST with a fixed JSON-RPC
    /// result echoing the request's id.
    #[command(hide = true)]
    BenchEcho {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: std::net::SocketAddr,
    },
}

#[derive(clap::Args)]
struct CompareArgs {
    /// The baseline: a baseline file (receipt verified) or a record.json.
    #[arg(long)]
    baseline: PathBuf,
    /// The current result: a baseline file or a record.json.
    #[arg(long)]
    current: PathBuf,
    /// Degradation threshold, percent: above it WARNING, above 1.5 times it REGRESSION.
    #[arg(long, default_value_t = harness::gate::DEFAULT_THRESHOLD_PERCENT)]
    threshold: f64,
    /// Write the Markdown regression report here.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The scenario file (`scenarios/*.yml`).
    scenario: PathBuf,
    #[command(flatten)]
    sut: SutArgs,
    #[command(flatten)]
    measure: MeasureArgs,
    /// Send only shard I of N (indices from 0): every Nth slot of the schedule (moved on
    /// by one each turn of the mix's cycle, so every operation in its weight), over I's
    /// share of the clients. N processes, one per shard, send
    /// exactly the one-process schedule; `erlmcp-perf merge` joins their records.
    /// Results go to `<out>/<scenario>/shard-I-of-N/`.
    #[arg(long, value_name = "I/N")]
    shard: Option<harness::load::Shard>,
    /// Begin the schedule at this wall-clock instant (RFC 3339, e.g.
    /// 2026-12-08T10:00:00Z), so shards on different machines begin together; the
    /// sessions open first. The record keeps how late past it the schedule began and the
    /// clock's own error bound.
    #[arg(long, value_name = "TIME", value_parser = harness::load::parse_start_at)]
    start_at: Option<std::time::SystemTime>,
    /// Write every request (slot, intended send time, phase, operation, outcome, latency,
    /// service time) to `latencies.csv` beside the record.
    #[arg(long)]
    latencies: bool,
}

/// What the measuring subcommands (`run`, `capacity`) take besides a scenario and a SUT.
#[derive(clap::Args)]
pub(crate) struct MeasureArgs {
    /// Scale every phase's (a sweep's: every step's) duration and warm-up (0.1 for a quick
    /// run).
    #[arg(long, env = env::DURATION_SCALE, value_parser = env::parse_scale, default_value_t = 1.0)]
    pub duration_scale: f64,
    /// Directory for results; each scenario writes to `<out>/<scenario>/`.
    #[arg(long, env = env::OUT, default_value = "target/perf")]
    pub out: PathBuf,
    /// No live progress (a sweep: no line per step).
    #[arg(long, short)]
    pub quiet: bool,
    /// Serve live metrics of the load at `http://ADDR/metrics` (OpenMetrics, for
    /// Prometheus) while the command runs, e.g. 127.0.0.1:9464.
    #[arg(long, env = env::METRICS_ADDR, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl MeasureArgs {
    /// Starts the live-metrics endpoint if asked to, or exit code 2 with the reason; keep
    /// the server while the command measures.
    pub(crate) fn serve_metrics(
        &self,
        options: &mut RunOptions,
    ) -> Result<Option<harness::exposition::MetricsServer>, ExitCode> {
        let server = env::serve_metrics(options, self.metrics_addr).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(exit::BAD_INPUT)
        })?;
        if let Some(server) = &server {
            eprintln!("live metrics: {}", server.url());
        }
        Ok(server)
    }
}

/// Runs `work` on `runtime` to its end. The first Ctrl-C or SIGTERM requests `stop`: the
/// run ends its sends, waits for the answers in flight and keeps what it measured; a second
/// one abandons it (`None`). Containers are removed either way.
pub(crate) fn until_stopped<T>(
    runtime: &tokio::runtime::Runtime,
    stop: &harness::load::Stop,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    harness::sut::docker::hand_first_signal_to_program();
    runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::pin!(work);
        tokio::select! {
            r = &mut work => return Some(r),
            () = signalled(&mut terminate) => {}
        }
        eprintln!(
            "interrupted: stopping the load and waiting for the answers in flight (Ctrl-C again abandons the run)"
        );
        stop.request();
        tokio::select! {
            r = &mut work => Some(r),
            () = signalled(&mut terminate) => None,
        }
    })
}

/// Returns at the next Ctrl-C or SIGTERM.
async fn signalled(terminate: &mut Option<tokio::signal::unix::Signal>) {
    let term = async {
        match terminate {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Refserver(args) => match refserver::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Check { files } => check(&files),
        Command::Bench(args) => bench::bench(args),
        Command::BenchEcho { bind } => match bench::echo::serve(bind) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Compare(args) => compare::compare(args),
        Command::Verify { files } => compare::verify(&files),
        Command::Trend(args) => trend::trend(args),
        Command::Dashboard(args) => dashboard::dashboard(args),
        Command::Merge(args) => merge::merge_records(args),
        Command::Run(args) => {
            init_tracing();
            run(args)
        }
        Command::Calibrate(args) => {
            init_tracing();
            let command_line = std::iter::once("erlmcp-perf".to_string())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" ");
            calibrate::calibrate(args, command_line)
        }
        Command::Capacity(args) => {
            init_tracing();
            capacity::capacity(args)
        }
    }
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
}

/// Where the load goes: `--sut`, `--url`, or the embedded reference server with its options.
#[derive(clap::Args)]
pub(crate) struct SutArgs {
    /// The server to start: a profile's name (`suts/<NAME>.yml`) or path, or
    /// `stdio:COMMAND` for a stdio server (one process per session). Default: the
    /// reference server.
    #[arg(long, conflicts_with_all = ["url", "transport"])]
    sut: Option<String>,
    /// MCP endpoint of a server already running: `http://` (Streamable HTTP), `ws://`
    /// (WebSocket) or `tcp://host:port` (newline-delimited JSON-RPC). Default: start the
    /// reference server.
    #[arg(long)]
    url: Option<url::Url>,
    /// Allow --url to name a host that is not loopback.
    #[arg(long, requires = "url")]
    allow_remote: bool,
    /// The --url server's process on this machine: its CPU and memory are sampled from
    /// /proc, and the record gets resources and efficiency.
    #[arg(long, requires = "url", value_name = "PID")]
    pid: Option<u32>,
    /// MCP transport to the reference server: http, websocket (ws), tcp or stdio.
    #[arg(long, env = env::TRANSPORT, default_value_t = Transport::Http, conflicts_with = "url")]
    transport: Transport,
    /// Fault injection for the reference server, e.g. `latency=2ms,stall=1s/10s,work=200us`.
    #[arg(long, env = env::REFSERVER_FAULTS, conflicts_with = "url")]
    faults: Option<String>,
}

impl SutArgs {
    /// The name results are filed under: the `--sut` profile's, `url` or `reference`.
    pub(crate) fn profile_name(&self) -> String {
        match (&self.sut, &self.url) {
            (Some(sut), _) => harness::sut::profile::name_of(sut),
            (None, Some(_)) => "url".into(),
            (None, None) => harness::sut::profile::DEFAULT_PROFILE.into(),
        }
    }

    /// The SUT spec, or the exit code of a setup failure (already reported).
    pub(crate) fn spec(self) -> Result<SutSpec, ExitCode> {
        if let Some(sut) = &self.sut {
            let me = reference_server()?;
            let mut ctx = env::spec_context(me.program, ["refserver"]);
            ctx.faults = self.faults.clone();
            return harness::sut::profile::spec_for(sut, &ctx).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(exit::BAD_INPUT)
            });
        }
        match self.url {
            Some(url) => Ok(SutSpec::Url {
                url,
                allow_remote: self.allow_remote,
                pid: self.pid,
            }),
            None => Ok(SutSpec::Embedded(
                reference_server()?
                    .with_faults(self.faults)
                    .with_transport(self.transport),
            )),
        }
    }
}

/// The reference server as this executable's `refserver` subcommand, or the exit code of a
/// setup failure (already reported).
pub(crate) fn reference_server() -> Result<EmbeddedSpec, ExitCode> {
    let me = std::env::current_exe().map_err(|e| {
        eprintln!(
            "error: cannot find the erlmcp-perf executable to start the reference server: {e}"
        );
        ExitCode::from(exit::SETUP)
    })?;
    Ok(EmbeddedSpec::new(me, ["refserver"]))
}

/// The runtime, sized for the CPUs this process may use (or `TOKIO_WORKER_THREADS`): with
/// one, a single thread runs everything and nothing is handed between threads; otherwise a
/// multi-threaded one. Or the exit code of a setup failure (already reported).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    let threads = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .or_else(|| harness::load::CpuSet::allowed().ok().map(|set| set.len()));
    let mut builder = if threads == Some(1) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build().map_err(|e| {
        eprintln!("error: failed to start the async runtime: {e}");
        ExitCode::from(exit::SETUP)
    })
}

fn check(files: &[PathBuf]) -> ExitCode {
    let mut bad = false;
    for file in files {
        match scenario::load(file) {
            Ok(s) if s.capacity.is_some() => println!(
                "{}: ok (capacity sweep, {} operations)",
                file.display(),
                s.mix.len()
            ),
            Ok(s) => println!(
                "{}: ok ({} phases, {} requests planned over {:?}, {} operations)",
                file.display(),
                s.phases.len(),
                s.planned_requests(),
                s.measured_duration(),
                s.mix.len()
            ),
            Err(e) => {
                eprintln!("error: {e}");
                bad = true;
            }
        }
    }
    if bad {
        ExitCode::from(exit::BAD_INPUT)
    } else {
        ExitCode::SUCCESS
    }
}

/// [`env::run_options`] with progress shown in `progress` mode, or exit code 2 with the
/// reason.
pub(crate) fn run_options(
    duration_scale: f64,
    progress: ProgressMode,
) -> Result<RunOptions, ExitCode> {
    env::run_options(duration_scale, console::listener(progress)).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(exit::BAD_INPUT)
    })
}

fn run(args: RunArgs) -> ExitCode {
    let scenario = match scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    if scenario.capacity.is_some() {
        eprintln!(
            "error: {} is a capacity scenario: run it with `erlmcp-perf capacity {}`",
            args.scenario.display(),
            args.scenario.display()
        );
        return ExitCode::from(exit::BAD_INPUT);
    }
    let sut = match args.sut.spec() {
        Ok(sut) => sut,
        Err(code) => return code,
    };
    let progress = if args.measure.quiet {
        ProgressMode::Quiet
    } else {
        ProgressMode::detect()
    };
    let mut options = match run_options(args.measure.duration_scale, progress) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let _metrics = match args.measure.serve_metrics(&mut options) {
        Ok(server) => server,
        Err(code) => return code,
    };
    if let Some(at) = args.start_at
        && let Err(e) = at.duration_since(std::time::SystemTime::now())
    {
        eprintln!(
            "error: --start-at {} passed {:.1} s ago: give an instant still to come",
            humantime::format_rfc3339_millis(at),
            e.duration().as_secs_f64()
        );
        return ExitCode::from(exit::BAD_INPUT);
    }
    options.part = harness::run::Part {
        shard: args.shard.unwrap_or_default(),
        start_at: args.start_at,
        latencies: args.latencies,
    };
    if args.shard.is_some() && matches!(sut, SutSpec::Embedded(_)) {
        eprintln!(
            "note: --shard without --url or --sut: this shard starts a reference server of its own, not the one the other shards load"
        );
    }
    let mut dir = results_dir(&args.measure.out, &scenario);
    if let Some(shard) = args.shard {
        dir = dir.join(format!("shard-{}-of-{}", shard.index, shard.count));
    }
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = until_stopped(
        &runtime,
        &options.stop,
        run_scenario(&scenario, &sut, &options, &dir),
    );
    match result {
        None => {
            eprintln!("interrupted twice: the run was abandoned and no results written");
            ExitCode::from(exit::INTERRUPTED)
        }
        Some(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(outcome::run_error_code(&e))
        }
        Some(Ok(result)) => {
            print!("{}", report::summary(&result.record));
            println!("  record: {}", result.files.record.display());
            println!("  report: {}", result.files.report.display());
            if let Some(latencies) = &result.files.latencies {
                println!("  latencies: {}", latencies.display());
            }
            ExitCode::from(Outcome::of_trials(std::slice::from_ref(&result.record)).exit_code())
        }
    }
}
