//! The benchmark's Markdown: the machine, the method, one table per target (medians of the
//! repetitions, ratios against erlmcp-perf) and every run.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use harness::load::CpuSet;
use harness::units::median;

use super::BenchArgs;
use super::tools::{LATE_AFTER, Measurement, Tool};

/// Everything measured for one tool against one target.
#[derive(Debug)]
pub struct ToolResult {
    pub tool: Tool,
    /// Highest rate held, per repetition (0 when even the first rung failed).
    pub max_rate: Vec<f64>,
    /// Every run of the search for the highest rate held.
    pub ladder: Vec<Measurement>,
    /// Index of the highest rung held in any repetition.
    pub best_rung: Option<i32>,
    /// Runs at the fixed rate.
    pub fixed: Vec<Measurement>,
    /// Runs at `--rates` (open model).
    pub rates: Vec<Measurement>,
    /// Runs past the highest rate held: the multiple of it, the rate held in that
    /// repetition, the run.
    pub overload: Vec<(f64, f64, Measurement)>,
    /// wrk: one connection, closed loop.
    pub low: Vec<Measurement>,
    /// wrk: closed-loop runs flat out.
    pub flat_out: Vec<Measurement>,
}

impl ToolResult {
    pub fn new(tool: Tool) -> Self {
        Self {
            tool,
            max_rate: Vec::new(),
            ladder: Vec::new(),
            best_rung: None,
            fixed: Vec::new(),
            rates: Vec::new(),
            overload: Vec::new(),
            low: Vec::new(),
            flat_out: Vec::new(),
        }
    }

    fn max_rate(&self) -> Option<f64> {
        median(&self.max_rate)
    }

    /// CPU-seconds per 10k requests: at the fixed rate, or flat out for a closed loop.
    fn cpu_per_10k(&self) -> Option<f64> {
        let runs = if self.tool.open_model() {
            &self.fixed
        } else {
            &self.flat_out
        };
        median(
            &runs
                .iter()
                .filter_map(Measurement::cpu_per_10k)
                .collect::<Vec<_>>(),
        )
    }

    /// The median of `pick` over the runs at the low rate (wrk: over one connection).
    fn low(&self, low_rate: f64, pick: fn(&Measurement) -> Option<u64>) -> Option<f64> {
        if self.tool.open_model() {
            self.at_rate(low_rate, pick)
        } else {
            median(
                &self
                    .low
                    .iter()
                    .filter_map(pick)
                    .map(|v| v as f64)
                    .collect::<Vec<_>>(),
            )
        }
    }

    /// The median of `pick` over the runs at `rate` (the fixed rate's included).
    fn at_rate(&self, rate: f64, pick: fn(&Measurement) -> Option<u64>) -> Option<f64> {
        let runs = self.rates.iter().chain(&self.fixed);
        median(
            &runs
                .filter(|m| m.load.rate == Some(rate))
                .filter_map(pick)
                .map(|v| v as f64)
                .collect::<Vec<_>>(),
        )
    }

    /// The median of `pick` over each repetition's run at its highest rate held.
    fn at_max(&self, pick: fn(&Measurement) -> Option<u64>) -> Option<f64> {
        let runs = self.max_rate.iter().filter_map(|&held| {
            self.ladder
                .iter()
                .filter(|m| m.load.rate == Some(held) && m.held())
                .find_map(pick)
        });
        median(&runs.map(|v| v as f64).collect::<Vec<_>>())
    }

    /// Medians at `factor` times the highest rate held: the share of it achieved, the
    /// rate achieved, P50 and requests never sent.
    fn overload(&self, factor: f64) -> Option<[Option<f64>; 4]> {
        let runs: Vec<_> = self
            .overload
            .iter()
            .filter(|(f, _, _)| *f == factor)
            .map(|(_, held, m)| (held, m))
            .collect();
        if runs.is_empty() {
            return None;
        }
        let of = |f: &dyn Fn(f64, &Measurement) -> Option<f64>| {
            median(
                &runs
                    .iter()
                    .filter_map(|(h, m)| f(**h, m))
                    .collect::<Vec<_>>(),
            )
        };
        Some([
            of(&|h, m| Some(m.throughput() / h)),
            of(&|_, m| Some(m.throughput())),
            of(&|_, m| Some(m.p50_us as f64)),
            of(&|_, m| m.never_sent.map(|n| n as f64)),
        ])
    }

    fn flat_out(&self) -> Option<f64> {
        median(
            &self
                .flat_out
                .iter()
                .map(Measurement::throughput)
                .collect::<Vec<_>>(),
        )
    }
}

/// One target's results.
#[derive(Debug)]
pub struct Summary {
    pub target: &'static str,
    pub results: Vec<ToolResult>,
}

/// What the document is made from.
pub struct Context<'a> {
    pub args: &'a BenchArgs,
    pub summaries: &'a [Summary],
    pub server_cpus: &'a CpuSet,
    pub generator_cpus: &'a CpuSet,
    pub tools: &'a [(Tool, PathBuf)],
    /// erlmcp-perf's own studies (transports, sessions, a long run), as Markdown.
    pub studies: &'a str,
    pub elapsed: Duration,
}

/// The whole document.
pub fn markdown(cx: &Context) -> String {
    let args = cx.args;
    let env = harness::store::Environment::here(
        harness::BUILD_OPT_LEVEL.to_string(),
        1.0,
        Some(harness::machine::Machine::unprobed(&Default::default())),
    );
    let mut out = String::from("# Generator benchmark\n\n");
    let _ = writeln!(
        out,
        "Machine: {} ({} CPUs), servers on CPUs {}, generators on CPUs {}; erlmcp-perf {} (opt-level {}, commit {}); {}.\n",
        env.cpu_model.as_deref().unwrap_or("unknown CPU"),
        env.cpu_count,
        cx.server_cpus,
        cx.generator_cpus,
        env.harness_version,
        env.opt_level,
        env.git_commit
            .as_deref()
            .map_or("unknown", |c| &c[..c.len().min(12)]),
        versions(cx.tools).join(", "),
    );
    let _ = writeln!(
        out,
        "{} repetitions of {:?} runs ({:?} at the fixed rate), medians; {} connections each (erlmcp-perf: {} MCP sessions of one connection); took {:.0} s.\n",
        args.repetitions,
        args.duration,
        args.fixed_duration,
        args.connections,
        args.connections,
        cx.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "A rate is *held* when at least 99% of the offered requests succeed and 99% are answered within {} ms of their intended send time (latency corrected for coordinated omission: erlmcp-perf measures from the intended time, oha with `--latency-correction`). The search starts at {} req/s and multiplies by {} until a rate is not held, then halves the gap (geometrically) between the highest rate held and the lowest not held until they are within {}% (a rate that fails is run once more: one hiccup of a shared machine is not the tool's limit). oha starts its latency clock when its pacing timer fires (tokio's, 1 ms resolution), so its figures leave out its own pacing lag; erlmcp-perf's include it. erlmcp-perf ends a latency at the kernel's arrival stamp of the answer (`SO_TIMESTAMPNS`), oha and wrk when they have read it. Ratios are the tool's figure divided by erlmcp-perf's. wrk (Debian 4.1) has no rate option: its row shows its closed-loop maximum throughput with {} connections, its CPU per request at that maximum, and its latency over one connection sending back to back.\n",
        LATE_AFTER.as_millis(),
        args.start_rate,
        args.step,
        args.resolution * 100.0,
        args.connections,
    );
    let low_rate = args.rates[0];
    for summary in cx.summaries {
        let ours = summary.results.iter().find(|r| r.tool == Tool::Ours);
        let ratio = |value: Option<f64>, base: Option<f64>| match (value, base) {
            (Some(v), Some(b)) if b > 0.0 => format!("{:.2}×", v / b),
            _ => "–".to_string(),
        };
        let _ = writeln!(out, "## Target: {}\n", target_title(summary.target));
        let _ = writeln!(
            out,
            "| Generator | Max rate held (req/s) | × | CPU-s / 10k req at {:.0} req/s | × | P50 at {:.0} req/s (µs) | × | P99 at {:.0} req/s (µs) | Send lag P50 (µs) |",
            args.fixed_rate, low_rate, low_rate
        );
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in &summary.results {
            let base = |f: fn(&ToolResult) -> Option<f64>| ours.and_then(f);
            let max = if r.tool.open_model() {
                (
                    fmt0(r.max_rate()),
                    ratio(r.max_rate(), base(ToolResult::max_rate)),
                )
            } else {
                (
                    format!("n/a (closed loop: {} max)", fmt0(r.flat_out())),
                    "–".into(),
                )
            };
            let p50 = r.low(low_rate, |m| Some(m.p50_us));
            let cpu_note = if r.tool.open_model() { "" } else { " (at max)" };
            let low_note = if r.tool.open_model() {
                ""
            } else {
                " (1 conn.)"
            };
            let lag = r.low(low_rate, |m| m.send_lag_p50_us);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{} | {} | {}{} | {} | {} | {} |",
                r.tool.name(),
                max.0,
                max.1,
                r.cpu_per_10k().map_or("–".into(), |c| format!("{c:.3}")),
                cpu_note,
                ratio(r.cpu_per_10k(), base(ToolResult::cpu_per_10k)),
                fmt0(p50),
                low_note,
                ratio(p50, ours.and_then(|o| o.low(low_rate, |m| Some(m.p50_us)))),
                fmt0(r.low(low_rate, |m| Some(m.p99_us))),
                fmt0(lag),
            );
        }
        out.push('\n');
        accuracy(&mut out, args, &summary.results);
        overload(&mut out, args, &summary.results);
    }
    out.push_str(cx.studies);
    out.push_str("## Every run\n\n| Target | Generator | Load | OK / offered | Failed | P50 (µs) | P99 (µs) | CPU (s) | Held |\n|---|---|---|---:|---:|---:|---:|---:|---|\n");
    for summary in cx.summaries {
        for r in &summary.results {
            for m in r
                .ladder
                .iter()
                .chain(&r.fixed)
                .chain(&r.rates)
                .chain(r.overload.iter().map(|(_, _, m)| m))
                .chain(&r.low)
                .chain(&r.flat_out)
            {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} / {} | {} | {} | {} | {:.2} | {} |",
                    summary.target,
                    r.tool.name(),
                    m.load,
                    m.ok,
                    m.offered.map_or("–".into(), |o| o.to_string()),
                    m.failed,
                    m.p50_us,
                    m.p99_us,
                    m.cpu.as_secs_f64(),
                    if m.held() { "yes" } else { "no" }
                );
            }
        }
    }
    out
}

/// A figure of a tool's runs (at one rate), picked from each run by the function.
type Pick<'a> = dyn Fn(&ToolResult, fn(&Measurement) -> Option<u64>) -> Option<f64> + 'a;

/// By rate, for the open-model tools: erlmcp-perf's send lag, and the P50 each reports.
fn accuracy(out: &mut String, args: &BenchArgs, results: &[ToolResult]) {
    let open: Vec<&ToolResult> = results.iter().filter(|r| r.tool.open_model()).collect();
    let Some(ours) = open.iter().find(|r| r.tool == Tool::Ours) else {
        return;
    };
    let mut rates: Vec<f64> = args.rates.clone();
    rates.push(args.fixed_rate);
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    out.push_str("Send lag and reported latency by rate (medians; \"max\": each repetition's highest rate held):\n\n| Rate (req/s) | erlmcp-perf send lag P50 / P99 (µs) |");
    for r in &open {
        let _ = write!(out, " {} P50 / P99 (µs) |", r.tool.name());
    }
    out.push_str("\n|---:|---:|");
    out.push_str(&"---:|".repeat(open.len()));
    out.push('\n');
    let row = |out: &mut String, label: String, at: &Pick| {
        let _ = write!(
            out,
            "| {label} | {} / {} |",
            fmt0(at(ours, |m| m.send_lag_p50_us)),
            fmt0(at(ours, |m| m.send_lag_p99_us))
        );
        for r in &open {
            let _ = write!(
                out,
                " {} / {} |",
                fmt0(at(r, |m| Some(m.p50_us))),
                fmt0(at(r, |m| Some(m.p99_us)))
            );
        }
        out.push('\n');
    };
    for rate in rates {
        row(out, format!("{rate:.0}"), &|r, pick| r.at_rate(rate, pick));
    }
    row(out, "max".into(), &|r, pick| r.at_max(pick));
    out.push('\n');
}

/// Past each open-model tool's highest rate held: what it achieves there.
fn overload(out: &mut String, args: &BenchArgs, results: &[ToolResult]) {
    if args.overloads.is_empty() {
        return;
    }
    out.push_str("Past the highest rate held (medians; achieved = successes per second of the planned duration, or of the time from the first send to the last answer when that was longer):\n\n| Generator | Load | Achieved / highest held | Achieved (req/s) | P50 (µs) | Never sent |\n|---|---|---:|---:|---:|---:|\n");
    for r in results.iter().filter(|r| r.tool.open_model()) {
        for &factor in &args.overloads {
            let Some([share, achieved, p50, never]) = r.overload(factor) else {
                continue;
            };
            let _ = writeln!(
                out,
                "| {} | {factor}× | {} | {} | {} | {} |",
                r.tool.name(),
                share.map_or("–".into(), |s| format!("{:.0}%", s * 100.0)),
                fmt0(achieved),
                fmt0(p50),
                fmt0(never),
            );
        }
    }
    out.push('\n');
}

fn target_title(name: &str) -> &'static str {
    match name {
        "echo" => "minimal HTTP endpoint (`erlmcp-perf bench-echo`)",
        _ => "reference server `tools/call calculator` (stateless, JSON responses)",
    }
}

fn fmt0(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.0}"))
}

/// Each tool's `--version`, first line.
fn versions(tools: &[(Tool, PathBuf)]) -> Vec<String> {
    tools
        .iter()
        .filter(|(t, _)| *t != Tool::Ours)
        .map(|(t, program)| {
            let flag = if *t == Tool::Wrk { "-v" } else { "--version" };
            let text = std::process::Command::new(program)
                .arg(flag)
                .output()
                .map(|o| {
                    let mut all = o.stdout;
                    all.extend(o.stderr);
                    String::from_utf8_lossy(&all)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                })
                .unwrap_or_default();
            if text.is_empty() {
                t.name().to_string()
            } else {
                text
            }
        })
        .collect()
}
