//! The generators compared: erlmcp-perf itself, `oha` and `wrk`, each run as its own child
//! process pinned to the generator's CPUs, and what each one's output says.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use harness::load::CpuSet;
use harness::record::RunRecord;

use super::child::{Finished, confine, find_program, run_measured};

/// A request is late when it is answered more than this long after its intended send time.
pub const LATE_AFTER: Duration = Duration::from_millis(10);
/// Share of requests that may be late (or never answered) at a held rate.
pub const LATE_SHARE: f64 = 0.01;

/// A load generator under comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// erlmcp-perf (`erlmcp-perf run --url`).
    Ours,
    /// `oha` from crates.io: open model with `-q` and `--latency-correction`.
    Oha,
    /// Debian's `wrk` 4.1: closed loop only (no rate option, unlike wrk2).
    Wrk,
}

impl Tool {
    pub const ALL: [Tool; 3] = [Tool::Ours, Tool::Oha, Tool::Wrk];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Ours => "erlmcp-perf",
            Tool::Oha => "oha",
            Tool::Wrk => "wrk",
        }
    }

    /// Whether it can hold a rate (an open model); `wrk` only runs flat out.
    pub fn open_model(self) -> bool {
        self != Tool::Wrk
    }

    /// Its executable, or why it cannot run.
    pub fn locate(self, me: &Path) -> Result<PathBuf, String> {
        match self {
            Tool::Ours => Ok(me.to_path_buf()),
            Tool::Oha => find_program("oha")
                .ok_or_else(|| "oha is not installed (cargo install oha --locked)".to_string()),
            Tool::Wrk => find_program("wrk")
                .ok_or_else(|| "wrk is not installed (apt-get install wrk)".to_string()),
        }
    }
}

/// What every tool sends: the same POST to the same URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// `echo` or `refserver`, or a transport of the reference server.
    pub name: &'static str,
    pub url: String,
    /// The JSON-RPC request (`tools/call calculator`, id 1).
    pub body: String,
    /// How erlmcp-perf is pointed at it: `--url URL`, or `--sut stdio:COMMAND`.
    pub ours: Vec<String>,
}

impl Target {
    /// A target at `url`, reached by every tool alike.
    pub fn at(name: &'static str, url: String) -> Self {
        Self {
            name,
            ours: vec!["--url".into(), url.clone()],
            url,
            body: TOOL_CALL.to_string(),
        }
    }
}

/// The JSON-RPC request every tool sends.
pub const TOOL_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calculator","arguments":{"a":6,"b":7,"op":"mul"}}}"#;

/// One load: open at `rate` requests a second, or closed over `connections` when `None`.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub rate: Option<f64>,
    /// Connections (oha, wrk) or MCP sessions of one connection (erlmcp-perf).
    pub connections: usize,
    pub duration: Duration,
    /// Sample the generator's resident memory this often while it runs.
    pub sample_rss: Option<Duration>,
}

impl Load {
    /// An open load at `rate` over `connections` for `duration`.
    pub fn open(rate: f64, connections: usize, duration: Duration) -> Self {
        Self {
            rate: Some(rate),
            connections,
            duration,
            sample_rss: None,
        }
    }
}

/// `2000 req/s`, or `closed, 16 conn.`.
impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rate {
            Some(rate) => write!(f, "{rate:.0} req/s"),
            None => write!(f, "closed, {} conn.", self.connections),
        }
    }
}

/// What one run of one tool measured.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Requests the schedule offered (open model only).
    pub offered: Option<u64>,
    /// Answered with success (HTTP 2xx; erlmcp-perf also checks the JSON-RPC result).
    pub ok: u64,
    pub failed: u64,
    /// Latency percentiles, microseconds: from the intended send time in an open model.
    pub p50_us: u64,
    pub p99_us: u64,
    /// erlmcp-perf only: lag of the actual send behind the intended one, P50 and P99.
    pub send_lag_p50_us: Option<u64>,
    pub send_lag_p99_us: Option<u64>,
    /// erlmcp-perf only: requests never sent (their timeout ran out while every request
    /// it may have in flight was taken).
    pub never_sent: Option<u64>,
    /// CPU time of the process, start-up and shutdown included (`wait4`).
    pub cpu: Duration,
    /// erlmcp-perf only: its own CPU time during the load, children (stdio servers) not
    /// counted (`generator.cpu_seconds` of its record).
    pub load_cpu: Option<Duration>,
    /// Wall time from the first send to the last answer, where the tool says (erlmcp-perf's
    /// `generator.load_seconds`, oha's `summary.total`).
    pub span: Option<Duration>,
    /// Peak resident memory, bytes, and the samples taken while it ran.
    pub max_rss: u64,
    pub rss: Vec<(f64, u64)>,
    /// The load that was run.
    pub load: Load,
}

impl Measurement {
    /// Whether the rate was held: fewer than 1% of the offered requests unanswered or
    /// failed, and 99% answered within [`LATE_AFTER`] of their intended send time.
    pub fn held(&self) -> bool {
        let Some(offered) = self.offered else {
            return false;
        };
        let answered = self.ok as f64 >= (1.0 - LATE_SHARE) * offered as f64;
        answered && Duration::from_micros(self.p99_us) <= LATE_AFTER
    }

    /// Generator CPU-seconds per 10,000 successful requests.
    pub fn cpu_per_10k(&self) -> Option<f64> {
        (self.ok > 0).then(|| self.cpu.as_secs_f64() * 1e4 / self.ok as f64)
    }

    /// The same, of the CPU used during the load alone (erlmcp-perf only).
    pub fn load_cpu_per_10k(&self) -> Option<f64> {
        let cpu = self.load_cpu?;
        (self.ok > 0).then(|| cpu.as_secs_f64() * 1e4 / self.ok as f64)
    }

    /// Successful requests per second of the load: over its planned duration, or over the
    /// time it really took when that was longer (a generator behind its schedule sends the
    /// rest late, after the planned end, and does not get to count them as on time).
    pub fn throughput(&self) -> f64 {
        let planned = self.load.duration;
        self.ok as f64 / self.span.map_or(planned, |s| s.max(planned)).as_secs_f64()
    }
}

/// Where and how the generators run.
#[derive(Debug)]
pub struct Runner {
    /// Scratch files: scenarios, outputs, records.
    pub work: PathBuf,
    /// CPUs every generator is pinned to.
    pub cpus: CpuSet,
    /// Runs so far, to name their files.
    pub runs: usize,
}

impl Runner {
    /// Runs `tool` (at `program`) against `target` with `load`.
    pub fn run(
        &mut self,
        tool: Tool,
        program: &Path,
        target: &Target,
        load: Load,
    ) -> anyhow::Result<Measurement> {
        self.runs += 1;
        let stem = format!(
            "{:03}-{}-{}-{}",
            self.runs,
            tool.name(),
            target.name,
            load.rate
                .map_or_else(|| format!("c{}", load.connections), |r| format!("{r:.0}"))
        );
        let dir = self.work.join(&stem);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let (out, err) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
        let threads = self.cpus.len().max(1).to_string();
        let secs = format!("{}s", load.duration.as_secs_f64());
        let mut command = Command::new(program);
        match tool {
            Tool::Ours => {
                let rate = load.rate.context("erlmcp-perf needs a rate")?;
                let scenario = dir.join("bench.yml");
                harness::fsio::write_atomic(
                    &scenario,
                    scenario_yaml(rate, load.connections, &secs).as_bytes(),
                )
                .with_context(|| format!("failed to write {}", scenario.display()))?;
                command
                    .arg("run")
                    .arg(&scenario)
                    .args(&target.ours)
                    .args(["--quiet", "--out"])
                    .arg(&dir)
                    .env("TOKIO_WORKER_THREADS", &threads);
            }
            Tool::Oha => {
                let rate = load.rate.context("oha is run at a rate")?;
                command
                    .arg(&target.url)
                    .args(["--no-tui", "--output-format", "json", "-m", "POST"])
                    .args(["-T", "application/json"])
                    .args(["-A", "application/json, text/event-stream"])
                    .args(["-d", &target.body])
                    .args(["-q", &format!("{rate}"), "--latency-correction"])
                    .args(["-z", &secs, "-c", &load.connections.to_string()])
                    .args(["--worker-threads", &threads]);
            }
            Tool::Wrk => {
                let script = dir.join("post.lua");
                harness::fsio::write_atomic(&script, wrk_script(&target.body).as_bytes())
                    .with_context(|| format!("failed to write {}", script.display()))?;
                command
                    .args(["-t", &threads, "-c", &load.connections.to_string()])
                    .args(["-d", &secs, "--latency", "-s"])
                    .arg(&script)
                    .arg(&target.url);
            }
        }
        confine(&mut command, &self.cpus);
        let limit = load.duration * 3 + Duration::from_secs(30);
        let finished = run_measured(command, &out, &err, limit, load.sample_rss)?;
        let read = |p: &Path| {
            std::fs::read_to_string(p).with_context(|| format!("failed to read {}", p.display()))
        };
        match tool {
            // Exit 1 is a generator that fell behind or a breached SLO: still a result.
            Tool::Ours if matches!(finished.code, Some(0 | 1)) => {
                let record = dir.join("bench").join("record.json");
                let record: RunRecord = serde_json::from_str(&read(&record)?)
                    .with_context(|| format!("bad record {}", record.display()))?;
                Ok(from_record(&record, finished, load))
            }
            Tool::Oha if finished.code == Some(0) => parse_oha(&read(&out)?, finished, load)
                .with_context(|| format!("{}", out.display())),
            Tool::Wrk if finished.code == Some(0) => parse_wrk(&read(&out)?, finished, load)
                .with_context(|| format!("{}", out.display())),
            _ => bail!(
                "{} exited with {:?}; see {}",
                tool.name(),
                finished.code,
                err.display()
            ),
        }
    }
}

/// A one-phase scenario of `tools/call calculator` at `rate`, over `clients` sessions of one
/// connection each: as many connections as oha and wrk get.
fn scenario_yaml(rate: f64, clients: usize, duration: &str) -> String {
    format!(
        "scenario:\n  name: \"generator benchmark\"\n  clients: {clients}\n  connections: 1\n  timeout: 5s\n  phases:\n    - name: steady\n      duration: {duration}\n      rps: {rate}\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n"
    )
}

/// A wrk script that POSTs `body` as JSON.
fn wrk_script(body: &str) -> String {
    format!(
        "wrk.method = \"POST\"\nwrk.body = [[{body}]]\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Accept\"] = \"application/json, text/event-stream\"\n"
    )
}

fn from_record(record: &RunRecord, finished: Finished, load: Load) -> Measurement {
    Measurement {
        offered: Some(record.throughput.planned),
        ok: record.throughput.ok,
        failed: record.throughput.failed,
        p50_us: record.latency.p50_us,
        p99_us: record.latency.p99_us,
        send_lag_p50_us: Some(record.generator.lag_p50_us),
        send_lag_p99_us: Some(record.generator.lag_p99_us),
        never_sent: Some(record.generator.never_sent),
        cpu: finished.cpu,
        load_cpu: Some(Duration::from_secs_f64(
            record.generator.cpu_seconds.max(0.0),
        )),
        span: (record.generator.load_seconds > 0.0)
            .then(|| Duration::from_secs_f64(record.generator.load_seconds)),
        max_rss: finished.max_rss,
        rss: finished.rss,
        load,
    }
}

/// Reads oha's `--output-format json`.
fn parse_oha(text: &str, finished: Finished, load: Load) -> anyhow::Result<Measurement> {
    let json: serde_json::Value = serde_json::from_str(text).context("oha's output is not JSON")?;
    let mut ok = 0;
    let mut failed = 0;
    if let Some(codes) = json["statusCodeDistribution"].as_object() {
        for (code, n) in codes {
            let n = n.as_u64().unwrap_or(0);
            if code.starts_with('2') {
                ok += n;
            } else {
                failed += n;
            }
        }
    }
    if let Some(errors) = json["errorDistribution"].as_object() {
        failed += errors.values().filter_map(|n| n.as_u64()).sum::<u64>();
    }
    let percentile = |key: &str| {
        // Seconds; null when nothing succeeded.
        json["latencyPercentiles"][key]
            .as_f64()
            .map_or(u64::MAX, |s| (s * 1e6).round() as u64)
    };
    let offered = load
        .rate
        .map(|r| (r * load.duration.as_secs_f64()).floor() as u64);
    Ok(Measurement {
        offered,
        ok,
        failed,
        p50_us: percentile("p50"),
        p99_us: percentile("p99"),
        send_lag_p50_us: None,
        send_lag_p99_us: None,
        never_sent: None,
        cpu: finished.cpu,
        load_cpu: None,
        span: json["summary"]["total"]
            .as_f64()
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(Duration::from_secs_f64),
        max_rss: finished.max_rss,
        rss: finished.rss,
        load,
    })
}

/// Reads wrk's text output (`--latency`).
fn parse_wrk(text: &str, finished: Finished, load: Load) -> anyhow::Result<Measurement> {
    let mut total = None;
    let mut failed = 0;
    let (mut p50, mut p99) = (None, None);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [n, "requests", "in", ..] => total = n.parse::<u64>().ok(),
            ["50%", v] => p50 = wrk_duration(v),
            ["99%", v] => p99 = wrk_duration(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => failed += n.parse::<u64>().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                failed += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    let total = total.context("no `N requests in` line")?;
    Ok(Measurement {
        offered: None,
        ok: total.saturating_sub(failed),
        failed,
        p50_us: p50.context("no 50% latency line")?,
        p99_us: p99.context("no 99% latency line")?,
        send_lag_p50_us: None,
        send_lag_p99_us: None,
        never_sent: None,
        cpu: finished.cpu,
        load_cpu: None,
        span: None,
        max_rss: finished.max_rss,
        rss: finished.rss,
        load,
    })
}

/// `123.45us`, `1.20ms`, `2.00s` in microseconds.
fn wrk_duration(text: &str) -> Option<u64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => return None,
    };
    Some((number * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished() -> Finished {
        Finished {
            code: Some(0),
            cpu: Duration::from_millis(500),
            ..Finished::default()
        }
    }

    const LOAD: Load = Load {
        rate: None,
        connections: 10,
        duration: Duration::from_secs(3),
        sample_rss: None,
    };

    #[test]
    fn wrk_output_is_read() {
        let text = "Running 3s test @ http://127.0.0.1:1/mcp\n  1 threads and 10 connections\n  Latency Distribution\n     50%  120.00us\n     75%  200.00us\n     90%  1.10ms\n     99%    2.50ms\n  30000 requests in 3.00s, 3.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 7\nRequests/sec:  10000.00\n";
        let m = parse_wrk(text, finished(), LOAD).unwrap();
        assert_eq!((m.ok, m.failed, m.p50_us, m.p99_us), (29990, 10, 120, 2500));
        assert!(!m.held(), "a closed loop holds no rate");
        assert!((m.cpu_per_10k().unwrap() - 0.5 * 1e4 / 29990.0).abs() < 1e-9);
        assert!(parse_wrk("garbage", finished(), LOAD).is_err());
    }

    /// A run that took longer than planned (sent late, past its end) is rated over the time
    /// it took; one that ended on time over its planned duration.
    #[test]
    fn throughput_is_over_the_time_the_load_really_took() {
        let text = r#"{"summary":{"total":4.0},"latencyPercentiles":{"p50":0.0002,"p99":0.004},"statusCodeDistribution":{"200":3000}}"#;
        let mut m = parse_oha(text, finished(), LOAD).unwrap();
        assert_eq!(m.span, Some(Duration::from_secs(4)));
        assert!((m.throughput() - 750.0).abs() < 1e-9);
        m.span = Some(Duration::from_secs(2));
        assert!((m.throughput() - 1000.0).abs() < 1e-9);
        m.span = None;
        assert!((m.throughput() - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn oha_output_is_read_and_judged() {
        let load = Load {
            rate: Some(1000.0),
            ..LOAD
        };
        let text = r#"{"summary":{"requestsPerSec":999.0},"latencyPercentiles":{"p50":0.0002,"p99":0.004},"statusCodeDistribution":{"200":2990,"500":3},"errorDistribution":{"aborted due to deadline":7}}"#;
        let m = parse_oha(text, finished(), load).unwrap();
        assert_eq!((m.offered, m.ok, m.failed), (Some(3000), 2990, 10));
        assert_eq!((m.p50_us, m.p99_us), (200, 4000));
        assert!(m.held());
        let late = r#"{"latencyPercentiles":{"p50":0.0002,"p99":0.011},"statusCodeDistribution":{"200":3000}}"#;
        assert!(!parse_oha(late, finished(), load).unwrap().held());
        let short = r#"{"latencyPercentiles":{"p50":0.0002,"p99":0.001},"statusCodeDistribution":{"200":2960}}"#;
        assert!(!parse_oha(short, finished(), load).unwrap().held());
        let none = r#"{"latencyPercentiles":{"p50":null,"p99":null},"statusCodeDistribution":{}}"#;
        assert!(!parse_oha(none, finished(), load).unwrap().held());
    }

    #[test]
    fn wrk_durations_convert() {
        assert_eq!(wrk_duration("120.00us"), Some(120));
        assert_eq!(wrk_duration("1.5ms"), Some(1500));
        assert_eq!(wrk_duration("2.00s"), Some(2_000_000));
        assert_eq!(wrk_duration("3parsecs"), None);
    }
}
