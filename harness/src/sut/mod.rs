//! The system under test: started before the load, stopped (always) after it.

mod embedded;
mod target;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::mcp::Transport;
pub use embedded::EmbeddedSpec;
pub use target::{TargetError, check_loopback};

/// What to run the load against.
#[derive(Debug, Clone)]
pub enum SutSpec {
    /// The project's reference MCP server, started as a child process.
    Embedded(EmbeddedSpec),
    /// A server someone else started, reached at a Streamable HTTP URL.
    Url {
        url: url::Url,
        /// Allow a target that is not loopback.
        allow_remote: bool,
    },
}

/// Identity of the SUT, as recorded with the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SutInfo {
    /// `embedded` or `url`.
    pub kind: String,
    /// Human-readable description (command line or URL).
    pub description: String,
    /// The MCP endpoint the load was sent to.
    pub endpoint: String,
    /// The MCP transport: `http`, `websocket`, `tcp` or `stdio` (records written before
    /// there was a choice read as `http`).
    #[serde(default = "http_transport")]
    pub transport: String,
    /// Version, where known.
    pub version: Option<String>,
    /// SHA-256 of the server binary, where there is one.
    pub binary_sha256: Option<String>,
    /// Fault injection in force, if any.
    pub faults: Option<String>,
}

fn http_transport() -> String {
    Transport::Http.to_string()
}

/// Why the SUT could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SutError {
    /// The process could not be spawned.
    #[error("failed to start {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// It did not become ready in time, or exited first.
    #[error(
        "{what} did not become ready within {timeout:?}: {reason}{}",
        format_log_tail(log_tail)
    )]
    NotReady {
        what: String,
        timeout: std::time::Duration,
        reason: String,
        log_tail: Vec<String>,
    },
    /// The target is not allowed.
    #[error(transparent)]
    Target(#[from] TargetError),
}

fn format_log_tail(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nlast log lines:");
    for line in lines {
        out.push_str("\n  | ");
        out.push_str(line);
    }
    out
}

/// A started SUT. Dropping it stops it.
#[derive(Debug)]
pub struct RunningSut {
    /// Where the load goes.
    pub endpoint: crate::mcp::Endpoint,
    pub info: SutInfo,
    process: Option<embedded::ServerProcess>,
}

impl RunningSut {
    /// The server's process id, when the harness started one long-running server, for
    /// resource sampling (not over stdio, where every session starts its own).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(|p| p.pid())
    }

    /// Whether the server is still running (always true for a URL target).
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_none_or(|p| p.is_running())
    }

    /// Stops the server and waits for it to exit.
    pub async fn stop(mut self) {
        if let Some(p) = self.process.take() {
            p.stop().await;
        }
    }
}

impl SutSpec {
    /// Starts the SUT (or checks the URL target). `log` receives a started server's output.
    pub async fn start(&self, log: Option<PathBuf>) -> Result<RunningSut, SutError> {
        match self {
            SutSpec::Embedded(spec) => spec.start(log).await,
            SutSpec::Url { url, allow_remote } => {
                if !allow_remote {
                    check_loopback(url)?;
                }
                Ok(RunningSut {
                    endpoint: crate::mcp::Endpoint::Http(url.clone()),
                    info: SutInfo {
                        kind: "url".into(),
                        description: url.to_string(),
                        endpoint: url.to_string(),
                        transport: Transport::Http.to_string(),
                        version: None,
                        binary_sha256: None,
                        faults: None,
                    },
                    process: None,
                })
            }
        }
    }
}
