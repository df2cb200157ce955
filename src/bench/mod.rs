//! `erlmcp-perf bench`: the generator benchmark. On one machine, in one invocation, it runs
//! erlmcp-perf, `oha` and `wrk` against the same targets (a minimal HTTP endpoint and the
//! reference server's `tools/call`), servers pinned to their CPUs and generators to the
//! others, and writes a Markdown table of medians with ratios against erlmcp-perf. Then
//! erlmcp-perf alone: over every transport, with many sessions, and in one long run.

mod child;
pub mod echo;
mod sessions;
mod soak;
mod table;
mod tools;
mod transports;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::Context;
use harness::load::CpuSet;

use crate::exit;
use child::{Server, confine};
use table::{Summary, ToolResult};
use tools::{Load, Measurement, Runner, Target, Tool};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Targets: `echo` (a minimal HTTP endpoint), `refserver` (the reference server's
    /// `tools/call`, stateless JSON mode), or `none`.
    #[arg(long, value_delimiter = ',', default_value = "echo,refserver")]
    targets: Vec<String>,
    /// Generators: `erlmcp-perf`, `oha`, `wrk` (one not installed is skipped).
    #[arg(long, value_delimiter = ',', default_value = "erlmcp-perf,oha,wrk")]
    tools: Vec<String>,
    /// Repetitions of every measurement; the table shows medians.
    #[arg(long, default_value_t = 3)]
    repetitions: usize,
    /// Length of every run.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    duration: Duration,
    /// First rate of the search for the highest rate held, requests per second.
    #[arg(long, default_value_t = 1000.0)]
    start_rate: f64,
    /// Factor between successive rates of the search.
    #[arg(long, default_value_t = 1.25)]
    step: f64,
    /// The search stops here.
    #[arg(long, default_value_t = 200_000.0)]
    max_rate: f64,
    /// Once a rate is not held, the search halves the gap between it and the highest rate
    /// held until they are this close (0.02 = 2%).
    #[arg(long, default_value_t = 0.02)]
    resolution: f64,
    /// Rate at which generator CPU per request is compared.
    #[arg(long, default_value_t = 2000.0)]
    fixed_rate: f64,
    /// Length of the runs at the fixed rate (longer than `--duration`: CPU time of a
    /// short run on a shared virtual machine is noisy).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    fixed_duration: Duration,
    /// Rates (besides `--fixed-rate` and the highest held) at which the generators' own
    /// send lag and the latency they report are compared; the first is the low rate of
    /// the summary.
    #[arg(long, value_delimiter = ',', default_values_t = [100.0, 500.0, 10_000.0])]
    rates: Vec<f64>,
    /// Overloads: multiples of each tool's highest rate held at which what it achieves
    /// past its limit is measured.
    #[arg(long, value_delimiter = ',', default_values_t = [1.2, 1.5])]
    overloads: Vec<f64>,
    /// Connections (oha, wrk) and MCP sessions (erlmcp-perf).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Transports over which erlmcp-perf alone is measured against the stateful reference
    /// server (highest rate held, CPU per request at the fixed rate): `http`,
    /// `websocket`, `tcp`, `stdio`, or `none`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "http,websocket,tcp,stdio"
    )]
    transports: Vec<String>,
    /// Concurrent MCP sessions of the many-sessions study, over HTTP and WebSocket (0
    /// skips it).
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Total rate of the many-sessions study, requests per second.
    #[arg(long, default_value_t = 1000.0)]
    sessions_rate: f64,
    /// Length of each run of the many-sessions study.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    sessions_duration: Duration,
    /// Length of the long run, its memory sampled every second (0s skips it).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    soak: Duration,
    /// Rate of the long run, requests per second.
    #[arg(long, default_value_t = 2000.0)]
    soak_rate: f64,
    /// CPUs the servers run on (default: the last one).
    #[arg(long)]
    server_cpus: Option<CpuSet>,
    /// CPUs the generators run on (default: all the others).
    #[arg(long)]
    generator_cpus: Option<CpuSet>,
    /// Where the table (`generator.md`) and every run's files go.
    #[arg(long, default_value = "target/perf/bench")]
    out: PathBuf,
}

pub fn bench(args: BenchArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::SETUP)
        }
    }
}

fn run(args: BenchArgs) -> anyhow::Result<()> {
    let me = std::env::current_exe().context("cannot find the erlmcp-perf executable")?;
    let (server_cpus, generator_cpus) = placement(&args)?;
    let targets = parse_list(&args.targets, &["echo", "refserver"], "--targets")?;
    let transports = parse_list(&args.transports, &transports::ALL, "--transports")?;
    let wanted = parse_list(&args.tools, &Tool::ALL.map(Tool::name), "--tools")?;
    anyhow::ensure!(args.repetitions > 0, "--repetitions must be at least 1");
    anyhow::ensure!(
        !args.rates.is_empty() && args.rates.iter().all(|r| *r > 0.0),
        "--rates must list rates above 0"
    );
    anyhow::ensure!(
        args.overloads.iter().all(|o| *o > 1.0),
        "--overloads must be multiples above 1"
    );
    anyhow::ensure!(args.step > 1.0, "--step must be above 1");
    anyhow::ensure!(
        args.resolution > 0.0 && args.resolution < args.step - 1.0,
        "--resolution must be above 0 and below --step minus 1"
    );
    let mut tools = Vec::new();
    for tool in Tool::ALL.into_iter().filter(|t| wanted.contains(&t.name())) {
        match tool.locate(&me) {
            Ok(program) => tools.push((tool, program)),
            Err(why) => eprintln!("skipping {}: {why}", tool.name()),
        }
    }
    let work = args.out.join("runs");
    std::fs::create_dir_all(&work)
        .with_context(|| format!("failed to create {}", work.display()))?;
    let mut runner = Runner {
        work,
        cpus: generator_cpus.clone(),
        runs: 0,
    };
    eprintln!("servers on CPUs {server_cpus}, generators on CPUs {generator_cpus}");
    let started = std::time::Instant::now();
    let mut summaries = Vec::new();
    let mut soak_run = None;
    for name in targets
        .iter()
        .copied()
        .chain((!args.soak.is_zero()).then_some("soak"))
    {
        let mut command = Command::new(&me);
        let prefix = if name != "refserver" {
            command.args(["bench-echo", "--bind", "127.0.0.1:0"]);
            echo::READY_PREFIX
        } else {
            command.args(["refserver", "--bind", "127.0.0.1:0"]);
            command.args(["--stateless", "--json-response"]);
            "erlmcp-refserver listening on "
        };
        confine(&mut command, &server_cpus);
        let server = Server::start(command, &[prefix], &args.out.join(format!("{name}.log")))?;
        let target = Target::at(name, server.urls[0].clone());
        eprintln!("target {name} at {}", target.url);
        if name == "soak" {
            let load = Load {
                sample_rss: Some(Duration::from_secs(1)),
                ..Load::open(args.soak_rate, args.connections, args.soak)
            };
            soak_run = run_ours(&mut runner, &me, &target, load, "long run");
            continue;
        }
        let results = measure(&args, &mut runner, &tools, &target);
        summaries.push(Summary {
            target: name,
            results,
        });
    }
    let mut studies = String::new();
    if !transports.is_empty() || args.sessions > 0 {
        // One stateful reference server for every transport it listens on.
        let mut command = Command::new(&me);
        command.args([
            "refserver",
            "--bind",
            "127.0.0.1:0",
            "--tcp-bind",
            "127.0.0.1:0",
        ]);
        confine(&mut command, &server_cpus);
        let prefixes = [
            "erlmcp-refserver listening on ",
            "erlmcp-refserver tcp listening on ",
        ];
        let server = Server::start(command, &prefixes, &args.out.join("stateful.log"))?;
        let (http, tcp) = (server.urls[0].clone(), server.urls[1].clone());
        eprintln!("stateful reference server at {http} and {tcp}");
        let stdio = stdio_command(&me, &server_cpus);
        let target = |t| transports::target(t, &http, &tcp, &stdio);
        let results = measure_transports(&args, &mut runner, &me, &transports, &target);
        transports::markdown(&mut studies, args.fixed_rate, args.connections, &results);
        if args.sessions > 0 {
            let mut results = Vec::new();
            for transport in ["http", "websocket"] {
                let mut pair = |sessions| {
                    let load = Load::open(args.sessions_rate, sessions, args.sessions_duration);
                    run_ours(&mut runner, &me, &target(transport), load, "sessions")
                };
                let few = pair(args.connections);
                let many = pair(args.sessions);
                results.push(sessions::SessionsResult {
                    transport,
                    few,
                    many,
                });
            }
            sessions::markdown(&mut studies, &results);
        }
    }
    soak::markdown(&mut studies, soak_run.as_ref());
    let text = table::markdown(&table::Context {
        args: &args,
        summaries: &summaries,
        server_cpus: &server_cpus,
        generator_cpus: &generator_cpus,
        tools: &tools,
        studies: &studies,
        elapsed: started.elapsed(),
    });
    let file = args.out.join("generator.md");
    harness::fsio::write_atomic(&file, text.as_bytes())
        .with_context(|| format!("failed to write {}", file.display()))?;
    println!("{text}");
    eprintln!("table written to {}", file.display());
    Ok(())
}

/// Servers on `--server-cpus` (default the last CPU), generators on the rest.
fn placement(args: &BenchArgs) -> anyhow::Result<(CpuSet, CpuSet)> {
    let allowed = CpuSet::allowed().context("cannot read this process's CPUs")?;
    let last: CpuSet = allowed
        .to_string()
        .rsplit([',', '-'])
        .next()
        .unwrap_or("0")
        .parse()?;
    let servers = args.server_cpus.clone().unwrap_or(last);
    let generators = match &args.generator_cpus {
        Some(set) => set.clone(),
        None if allowed.without(&servers).is_empty() => {
            eprintln!("warning: one CPU only: servers and generators share it");
            allowed.clone()
        }
        None => allowed.without(&servers),
    };
    Ok((servers, generators))
}

/// The names `given` (a lone `none` is none), each one of `known`.
fn parse_list<'a>(given: &[String], known: &[&'a str], flag: &str) -> anyhow::Result<Vec<&'a str>> {
    if let [only] = given
        && only.trim().eq_ignore_ascii_case("none")
    {
        return Ok(Vec::new());
    }
    given
        .iter()
        .map(|g| {
            known
                .iter()
                .find(|k| k.eq_ignore_ascii_case(g.trim()))
                .copied()
                .with_context(|| {
                    format!(
                        "{flag}: unknown {g:?}; expected one of {}",
                        known.join(", ")
                    )
                })
        })
        .collect()
}

/// The command a stdio session of the reference server runs: this executable's
/// `refserver --stdio` on one thread, pinned to the server CPUs with `taskset` (util-linux)
/// where it is installed.
fn stdio_command(me: &std::path::Path, server_cpus: &CpuSet) -> String {
    let server = format!("{} refserver --stdio --threads 1", me.display());
    match child::find_program("taskset") {
        Some(taskset) => format!("{} -c {server_cpus} {server}", taskset.display()),
        None => {
            eprintln!(
                "warning: taskset is not installed: stdio servers share the generator's CPUs"
            );
            server
        }
    }
}

/// One erlmcp-perf run, reported on stderr like the comparison's; `None` if it failed.
fn run_ours(
    runner: &mut Runner,
    me: &std::path::Path,
    target: &Target,
    load: Load,
    what: &str,
) -> Option<Measurement> {
    match runner.run(Tool::Ours, me, target, load) {
        Ok(m) => {
            eprintln!(
                "  {what} {} {load}, {} sessions: {} ok {}/{} p50 {} us p99 {} us cpu {:.2} s rss {:.1} MiB",
                target.name,
                load.connections,
                if m.held() { "held" } else { "-" },
                m.ok,
                m.offered.unwrap_or(0),
                m.p50_us,
                m.p99_us,
                m.cpu.as_secs_f64(),
                m.max_rss as f64 / (1024.0 * 1024.0),
            );
            Some(m)
        }
        Err(e) => {
            eprintln!("  {what} {} {load}: failed: {e:#}", target.name);
            None
        }
    }
}

/// erlmcp-perf alone over each transport: the highest rate held, then the fixed-rate
/// runs, repetitions interleaved across transports.
fn measure_transports(
    args: &BenchArgs,
    runner: &mut Runner,
    me: &std::path::Path,
    names: &[&'static str],
    target: &dyn Fn(&'static str) -> Target,
) -> Vec<transports::TransportResult> {
    let mut results: Vec<_> = names
        .iter()
        .map(|t| transports::TransportResult::new(t))
        .collect();
    for result in &mut results {
        let target = target(result.transport);
        let ladder = &mut result.ladder;
        let (held, _) = highest_held(args, 0, |rate| {
            let m = run_ours(
                runner,
                me,
                &target,
                Load::open(rate, args.connections, args.duration),
                "transport",
            );
            let held = m.as_ref().is_some_and(Measurement::held);
            ladder.extend(m);
            held
        });
        result.max_rate = held;
    }
    for _ in 0..args.repetitions {
        for result in &mut results {
            let load = Load::open(args.fixed_rate, args.connections, args.fixed_duration);
            let target = target(result.transport);
            result
                .fixed
                .extend(run_ours(runner, me, &target, load, "transport"));
        }
    }
    results
}

/// Every measurement of every tool against one target, repetitions interleaved across
/// tools so a drift of the machine touches them alike.
fn measure(
    args: &BenchArgs,
    runner: &mut Runner,
    tools: &[(Tool, PathBuf)],
    target: &Target,
) -> Vec<ToolResult> {
    let mut results: Vec<ToolResult> = tools.iter().map(|(t, _)| ToolResult::new(*t)).collect();
    let open = |rate| Load::open(rate, args.connections, args.duration);
    for rep in 0..args.repetitions {
        for ((tool, program), result) in tools.iter().zip(&mut results) {
            // A run that fails (a server flooded past recovery, a tool that crashed) is
            // reported and counted as not held; the benchmark goes on.
            let mut run = |load: Load| -> Option<Measurement> {
                match runner.run(*tool, program, target, load) {
                    Ok(m) => {
                        eprintln!(
                            "  {} {} rep {}: {} ok {}/{} p50 {} us p99 {} us cpu {:.2} s",
                            tool.name(),
                            load,
                            rep + 1,
                            if m.held() { "held" } else { "-" },
                            m.ok,
                            m.offered.map_or("-".into(), |o| o.to_string()),
                            m.p50_us,
                            m.p99_us,
                            m.cpu.as_secs_f64()
                        );
                        Some(m)
                    }
                    Err(e) => {
                        eprintln!("  {} {} rep {}: failed: {e:#}", tool.name(), load, rep + 1);
                        None
                    }
                }
            };
            if tool.open_model() {
                // Later repetitions start two rungs below the best so far.
                let from = result.best_rung.map_or(0, |b: i32| (b - 2).max(0));
                let ladder = &mut result.ladder;
                let (held, best) = highest_held(args, from, |rate| {
                    let m = run(open(rate));
                    let held = m.as_ref().is_some_and(Measurement::held);
                    ladder.extend(m);
                    held
                });
                result.best_rung = result.best_rung.max(best);
                result.max_rate.push(held);
                result.fixed.extend(run(Load {
                    duration: args.fixed_duration,
                    ..open(args.fixed_rate)
                }));
                for &rate in &args.rates {
                    result.rates.extend(run(open(rate)));
                }
                if held > 0.0 {
                    for &factor in &args.overloads {
                        let load = open((held * factor).round());
                        result.overload.extend(run(load).map(|m| (factor, held, m)));
                    }
                }
            } else {
                result.flat_out.extend(run(Load {
                    rate: None,
                    ..open(0.0)
                }));
                result.low.extend(run(Load {
                    rate: None,
                    connections: 1,
                    ..open(0.0)
                }));
            }
        }
    }
    results
}

/// The highest rate `try_rate` holds: rungs `start_rate * step^k` from `from` up while held
/// (down while not, until one is), then the gap between the highest rung held and the next
/// halved geometrically to `resolution`. One hiccup of a shared machine fails a rate (a
/// single late P99), so a rate that fails is tried once more before it counts as not held.
/// Returns the rate (0 if none held) and the highest rung held.
fn highest_held(
    args: &BenchArgs,
    from: i32,
    mut try_rate: impl FnMut(f64) -> bool,
) -> (f64, Option<i32>) {
    let rung = |k: i32| args.start_rate * args.step.powi(k);
    let mut holds = |rate: f64| try_rate(rate) || try_rate(rate);
    let mut k = from;
    let (mut best, mut failed) = (None, None);
    while rung(k) <= args.max_rate && best.is_none_or(|b| failed != Some(b + 1)) {
        if holds(rung(k)) {
            best = Some(k);
            k += 1;
        } else if best.is_none() && k > 0 {
            failed = Some(k);
            k -= 1;
        } else {
            failed = Some(k);
            break;
        }
    }
    let mut held = best.map_or(0.0, rung);
    if let Some(b) = best
        && failed == Some(b + 1)
    {
        let mut not_held = rung(b + 1);
        while not_held / held > 1.0 + args.resolution {
            let mid = (held * not_held).sqrt().round();
            if holds(mid) {
                held = mid;
            } else {
                not_held = mid;
            }
        }
    }
    (held, best)
}
