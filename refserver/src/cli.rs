//! Command-line arguments ([`Args`]), reusable as `erlmcp-perf refserver ...`.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::{
    config::ServerConfig,
    faults::{self, FaultSpecError, Faults, Stall},
};

/// The `erlmcp-refserver` command line: [`Args`] at the top level.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "erlmcp-refserver",
    version,
    about = "Reference MCP server with fault injection"
)]
pub struct Cli {
    /// The server's arguments.
    #[command(flatten)]
    pub args: Args,
}

/// Arguments of the reference MCP server.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub bind: SocketAddr,

    /// Also serve newline-delimited JSON-RPC over TCP here (one MCP session per
    /// connection); port 0 picks a free port.
    #[arg(long, value_name = "ADDR", conflicts_with = "stdio")]
    pub tcp_bind: Option<SocketAddr>,

    /// Directory served by the file_read tool [default: a temporary
    /// directory with sample.txt and data/numbers.json, removed at exit].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Serve MCP on stdin/stdout instead of HTTP; exit at end of input.
    #[arg(long)]
    pub stdio: bool,

    /// Hand out no Mcp-Session-Id: every request stands alone.
    #[arg(long)]
    pub stateless: bool,

    /// Answer POSTs with application/json instead of an SSE stream.
    #[arg(long)]
    pub json_response: bool,

    /// Also accept this Host header (besides localhost, 127.0.0.1, ::1); repeatable.
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,

    /// Accept any Host header (disables the DNS-rebinding guard).
    #[arg(long)]
    pub allow_any_host: bool,

    /// Tokio worker threads [default: available cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Latency added to every request (except initialize), e.g. 2ms.
    #[arg(long, value_name = "DUR", value_parser = parse_latency)]
    pub latency: Option<Duration>,

    /// Plus a uniform random latency in [0, DUR].
    #[arg(long, value_name = "DUR", value_parser = parse_jitter)]
    pub jitter: Option<Duration>,

    /// Extra latency for tools/call of TOOL, as TOOL=DUR; repeatable.
    #[arg(long, value_name = "TOOL=DUR", value_parser = faults::parse_tool_latency)]
    pub tool_latency: Vec<(String, Duration)>,

    /// Fraction (0..=1) of requests answered with JSON-RPC error -32603 "injected fault".
    #[arg(long, value_name = "P", value_parser = faults::parse_error_rate)]
    pub error_rate: Option<f64>,

    /// Periodic stall D/P, e.g. 1s/10s: during [k*P, k*P+D) from start, requests wait for the window to end.
    #[arg(long, value_name = "D/P", value_parser = parse_stall)]
    pub stall: Option<Stall>,

    /// Combined fault spec, e.g. latency=2ms,jitter=500us,error_rate=0.01,stall=1s/10s,tool_latency=calculator:5ms,work=200us;
    /// the individual flags override its keys.
    #[arg(long, value_name = "SPEC", value_parser = parse_faults)]
    pub faults: Option<Faults>,

    /// Close a session after this long without traffic.
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration, default_value = "5m")]
    pub session_idle_timeout: Duration,

    /// Keep each finished request's SSE messages this long for Last-Event-ID resumption.
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration, default_value = "1m")]
    pub resume_cache_ttl: Duration,

    /// Also offer the `sleep` tool (`ms`: how long; it stops when the client cancels it,
    /// counted as `outcome="cancelled"` on `/metrics`).
    #[arg(long)]
    pub agent_tools: bool,

    /// Refuse Streamable HTTP requests without `Authorization: Bearer TOKEN` (401).
    #[arg(long, value_name = "TOKEN")]
    pub bearer_token: Option<String>,
}

fn parse_latency(value: &str) -> Result<Duration, FaultSpecError> {
    faults::parse_duration("latency", value)
}

fn parse_jitter(value: &str) -> Result<Duration, FaultSpecError> {
    faults::parse_duration("jitter", value)
}

fn parse_stall(value: &str) -> Result<Stall, FaultSpecError> {
    value.parse()
}

fn parse_faults(value: &str) -> Result<Faults, FaultSpecError> {
    value.parse()
}

impl Args {
    /// The faults of `--faults`, overridden by the individual fault flags.
    pub fn faults(&self) -> Faults {
        let mut faults = self.faults.clone().unwrap_or_default();
        if let Some(latency) = self.latency {
            faults.latency = latency;
        }
        if let Some(jitter) = self.jitter {
            faults.jitter = jitter;
        }
        if let Some(error_rate) = self.error_rate {
            faults.error_rate = error_rate;
        }
        if let Some(stall) = self.stall {
            faults.stall = Some(stall);
        }
        faults
            .tool_latency
            .extend(self.tool_latency.iter().cloned());
        faults
    }

    /// The server configuration these arguments describe.
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            bind: self.bind,
            tcp_bind: self.tcp_bind,
            root: self.root.clone(),
            stateless: self.stateless,
            json_response: self.json_response,
            allowed_hosts: self.allowed_hosts.clone(),
            allow_any_host: self.allow_any_host,
            faults: self.faults(),
            session_idle_timeout: self.session_idle_timeout,
            resume_cache_ttl: self.resume_cache_ttl,
            bearer_token: self.bearer_token.clone(),
            agent_tools: self.agent_tools,
        }
    }

    /// Worker threads for the runtime: `--threads`, else the available cores.
    pub fn worker_threads(&self) -> usize {
        self.threads.map(usize::from).unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("refserver").chain(argv.iter().copied()))
            .map(|cli| cli.args)
    }

    #[test]
    fn defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.config(), ServerConfig::default());
        assert!(args.worker_threads() >= 1);
    }

    #[test]
    fn individual_flags_override_the_spec() {
        let args = parse(&[
            "--faults",
            "latency=2ms,error_rate=0.5,tool_latency=calculator:5ms",
            "--latency",
            "3ms",
            "--tool-latency",
            "file_read=7ms",
            "--stall",
            "200ms/1s",
            "--stateless",
            "--json-response",
            "--allowed-host",
            "refserver",
            "--allowed-host",
            "refserver:8080",
            "--threads",
            "2",
        ])
        .unwrap();
        assert_eq!(
            args.faults().to_string(),
            "latency=3ms,error_rate=0.5,stall=200ms/1s,tool_latency=calculator:5ms,tool_latency=file_read:7ms"
        );
        let config = args.config();
        assert!(config.stateless && config.json_response);
        assert_eq!(config.allowed_hosts, ["refserver", "refserver:8080"]);
        assert_eq!(args.worker_threads(), 2);
    }

    #[test]
    fn bad_values_are_rejected_with_the_reason() {
        for (argv, expected) in [
            (&["--error-rate", "2"][..], "out of range"),
            (
                &["--stall", "10s/1s"][..],
                "must be shorter than the period",
            ),
            (&["--stall", "1s/0s"][..], "period must not be zero"),
            (&["--latency", "soon"][..], "key `latency`: bad duration"),
            (&["--faults", "speed=1"][..], "unknown key `speed`"),
            (&["--tool-latency", "calculator"][..], "TOOL:DURATION"),
            (&["--threads", "0"][..], "0"),
        ] {
            let error = parse(argv).unwrap_err().to_string();
            assert!(error.contains(expected), "{argv:?}: {error}");
        }
    }
}
