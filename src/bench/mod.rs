//! `erlmcp-perf bench`: the generator benchmark. On one machine, in one invocation, it runs
//! erlmcp-perf, `oha` and `wrk` against the same targets (a minimal HTTP endpoint and the
//! reference server's `tools/call`), servers pinned to their CPUs and generators to the
//! others, and writes a Markdown table of medians with ratios against erlmcp-perf.

mod child;
pub mod echo;
mod table;
mod tools;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::Context;
use harness::load::CpuSet;

use crate::exit;
use child::{Server, confine};
use table::{Summary, ToolResult};
use tools::{Load, Measurement, Runner, Target, Tool};

/// The JSON-RPC request every tool sends.
const TOOL_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calculator","arguments":{"a":6,"b":7,"op":"mul"}}}"#;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Targets: `echo` (a minimal HTTP endpoint), `refserver` (the reference server's
    /// `tools/call`, stateless JSON mode).
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
    for name in targets {
        let mut command = Command::new(&me);
        let prefix = if name == "echo" {
            command.args(["bench-echo", "--bind", "127.0.0.1:0"]);
            echo::READY_PREFIX
        } else {
            command.args(["refserver", "--bind", "127.0.0.1:0"]);
            command.args(["--stateless", "--json-response"]);
            "erlmcp-refserver listening on "
        };
        confine(&mut command, &server_cpus);
        let server = Server::start(command, prefix, &args.out.join(format!("{name}.log")))?;
        let target = Target {
            name,
            url: server.url.clone(),
            body: TOOL_CALL.to_string(),
        };
        eprintln!("target {name} at {}", target.url);
        let results = measure(&args, &mut runner, &tools, &target);
        summaries.push(Summary {
            target: name,
            results,
        });
    }
    let text = table::markdown(&table::Context {
        args: &args,
        summaries: &summaries,
        server_cpus: &server_cpus,
        generator_cpus: &generator_cpus,
        tools: &tools,
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

fn parse_list<'a>(given: &[String], known: &[&'a str], flag: &str) -> anyhow::Result<Vec<&'a str>> {
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

/// Every measurement of every tool against one target, repetitions interleaved across
/// tools so a drift of the machine touches them alike.
fn measure(
    args: &BenchArgs,
    runner: &mut Runner,
    tools: &[(Tool, PathBuf)],
    target: &Target,
) -> Vec<ToolResult> {
    let mut results: Vec<ToolResult> = tools.iter().map(|(t, _)| ToolResult::new(*t)).collect();
    let open = |rate| Load {
        rate: Some(rate),
        connections: args.connections,
        duration: args.duration,
    };
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
                let rung = |k: i32| args.start_rate * args.step.powi(k);
                // One hiccup of a shared machine fails a rate (a single late P99), so a rate
                // that fails is tried once more before it counts as not held.
                let mut holds = |rate: f64, ladder: &mut Vec<Measurement>| {
                    for _ in 0..2 {
                        let m = run(open(rate));
                        let held = m.as_ref().is_some_and(Measurement::held);
                        ladder.extend(m);
                        if held {
                            return true;
                        }
                    }
                    false
                };
                // Later repetitions start two rungs below the best so far.
                let mut k = result.best_rung.map_or(0, |b: i32| (b - 2).max(0));
                let (mut best, mut failed) = (None, None);
                while rung(k) <= args.max_rate && best.is_none_or(|b| failed != Some(b + 1)) {
                    if holds(rung(k), &mut result.ladder) {
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
                result.best_rung = result.best_rung.max(best);
                // Between the highest rung held and the next one, which was not: bisect.
                let mut held = best.map_or(0.0, rung);
                if let Some(b) = best
                    && failed == Some(b + 1)
                {
                    let mut not_held = rung(b + 1);
                    while not_held / held > 1.0 + args.resolution {
                        let mid = (held * not_held).sqrt().round();
                        if holds(mid, &mut result.ladder) {
                            held = mid;
                        } else {
                            not_held = mid;
                        }
                    }
                }
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
                    connections: args.connections,
                    duration: args.duration,
                }));
                result.low.extend(run(Load {
                    rate: None,
                    connections: 1,
                    duration: args.duration,
                }));
            }
        }
    }
    results
}
