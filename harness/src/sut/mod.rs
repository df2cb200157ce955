//! The system under test: started before the load, stopped (always) after it.

mod container;
pub mod docker;
mod embedded;
pub mod profile;
pub mod refimage;
mod target;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::mcp::Transport;
pub use container::{ContainerSpec, FileMount, ImageSource, Limits, Readiness};
pub use docker::DockerError;
pub use embedded::EmbeddedSpec;
pub use profile::{ProfileError, SpecContext, SutProfile};
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
    /// A server in a Docker container started from a local image.
    Container(Box<ContainerSpec>),
}

/// Identity of the SUT, as recorded with the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SutInfo {
    /// `embedded`, `container` or `url`.
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
    /// No Docker engine answered, or it refused a request.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// A container image is not present locally (images are never pulled).
    #[error(
        "image {image} is not present locally: build it first (e.g. `docker build -t {image} .` \
         in the server's repository, or set ERLMCP_PERF_IMAGE); erlmcp-perf never pulls images"
    )]
    ImageMissing { image: String },
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
    container: Option<container::RunningContainer>,
}

impl RunningSut {
    /// The server's process id, when the harness started one long-running server, for
    /// resource sampling (not over stdio, where every session starts its own).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(|p| p.pid())
    }

    /// The container's id, when the SUT runs in one.
    pub fn container_id(&self) -> Option<&str> {
        self.container.as_ref().map(|c| c.id())
    }

    /// What the resource sampler should watch: the process, or the container.
    pub fn resource_probe(&self) -> Option<crate::observe::ResourceProbe> {
        if let Some(c) = &self.container {
            return Some(crate::observe::ResourceProbe::Container(c.probe()));
        }
        self.pid().map(crate::observe::ResourceProbe::Process)
    }

    /// Whether the server is still running (always true for a URL target).
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_none_or(|p| p.is_running())
            && self.container.as_ref().is_none_or(|c| c.is_running())
    }

    /// Stops the server and waits for it to exit (a container is removed).
    pub async fn stop(mut self) {
        if let Some(p) = self.process.take() {
            p.stop().await;
        }
        if let Some(c) = self.container.take() {
            c.stop().await;
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
                    container: None,
                })
            }
            SutSpec::Container(spec) => spec.start(log).await,
        }
    }
}
