//! `erlmcp-refserver`: the reference MCP server and default system under test
//! of erlmcp-perf, built on the official Rust MCP SDK (rmcp).
//!
//! It serves MCP over Streamable HTTP at `/mcp` (SSE or JSON responses, with
//! or without sessions), over WebSocket at `/mcp/ws`, optionally as
//! newline-delimited JSON-RPC over TCP (`--tcp-bind`), or over stdio, with two tools (`calculator`,
//! `file_read`), two resources (`ref://status`, `ref://readme`) and one prompt
//! (`greeting`). Every request but `initialize` can be delayed, stalled or
//! failed on purpose ([`Faults`]); `/metrics` counts what was served.
//!
//! Embed it with [`start`] (HTTP, returns at once) or [`serve_stdio`], or run
//! it as a program with [`run`] and [`Args`].

use std::{io::Write, net::SocketAddr, path::PathBuf, time::Duration};

mod cli;
mod config;
mod delay;
mod faults;
mod handler;
mod http;
mod idle_close;
mod json_bridge;
mod metrics;
mod root;
mod stdio;
mod tcp;
mod tools;
mod ws;

pub use cli::{Args, Cli};
pub use config::{
    DEFAULT_ALLOWED_HOSTS, DEFAULT_RESUME_CACHE_TTL, DEFAULT_SESSION_IDLE_TIMEOUT, ServerConfig,
};
pub use faults::{FaultSpecError, Faults, Stall};
pub use handler::{
    GREETING_PROMPT, INJECTED_FAULT, README_URI, RefServer, SERVER_NAME, STATUS_URI,
};
pub use http::{MCP_PATH, RunningServer, start};
pub use metrics::{Metrics, Outcome};
pub use root::{NUMBERS_FILE, SAMPLE_FILE};
pub use stdio::serve_stdio;
pub use tools::{CalcError, FileReadError, Op, ServedDir};
pub use ws::WS_PATH;

/// The log filter used when `RUST_LOG` is unset. rmcp logs every JSON-RPC
/// error response at warn, which injected faults would turn into a flood.
pub const DEFAULT_LOG_FILTER: &str = "warn,rmcp::service=error";

/// The first words of the line [`run`] prints once the socket is bound.
pub const LISTENING_PREFIX: &str = "erlmcp-refserver listening on ";

/// The first words of the line [`run`] prints, before the HTTP line, when it also
/// listens on TCP (`--tcp-bind`): `erlmcp-refserver tcp listening on tcp://ADDR`.
pub const TCP_LISTENING_PREFIX: &str = "erlmcp-refserver tcp listening on ";

/// How long [`run`] lets runtime tasks finish after the server stopped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// Why the server cannot start or serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listener cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The `--root` directory cannot be served.
    #[error("cannot serve directory {}: {source}", path.display())]
    Root {
        /// The directory asked for.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The temporary served directory cannot be made.
    #[error("cannot create the temporary served directory: {0}")]
    TempRoot(#[source] std::io::Error),
    /// The stdio transport failed.
    #[error("stdio transport: {0}")]
    Stdio(String),
}

/// Run the server as a program: build a runtime with `--threads` workers,
/// log to stderr, and serve until SIGINT/SIGTERM (HTTP) or end of stdin
/// (`--stdio`).
///
/// Over HTTP, prints exactly one line to stdout once the socket accepts:
/// `erlmcp-refserver listening on http://ADDR/mcp`. With `--tcp-bind`, the line
/// `erlmcp-refserver tcp listening on tcp://ADDR` comes first; the HTTP line is always
/// the last and means ready.
pub fn run(args: Args) -> anyhow::Result<()> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.worker_threads())
        .thread_name("refserver-worker")
        .enable_all()
        .build()?;
    let config = args.config();
    let result = if args.stdio {
        runtime.block_on(async {
            let shutdown = shutdown_signal()?;
            tokio::select! {
                result = serve_stdio(config) => result.map_err(anyhow::Error::from),
                () = shutdown => Ok(()),
            }
        })
    } else {
        runtime.block_on(serve_http(config))
    };
    // A pending stdin read cannot be cancelled; do not wait on it forever.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    result
}

async fn serve_http(config: ServerConfig) -> anyhow::Result<()> {
    let server = start(config).await?;
    let shutdown = shutdown_signal()?;
    {
        let mut stdout = std::io::stdout().lock();
        if let Some(tcp) = server.tcp_addr() {
            writeln!(stdout, "{TCP_LISTENING_PREFIX}tcp://{tcp}")?;
        }
        writeln!(stdout, "{LISTENING_PREFIX}{}", server.mcp_url())?;
        stdout.flush()?;
    }
    shutdown.await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // The embedding program may have installed a subscriber already.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Listens for SIGINT (Ctrl-C) and SIGTERM from the moment it is created, so a signal
/// that arrives right after the ready line is never missed.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
