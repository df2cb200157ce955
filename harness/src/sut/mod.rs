//! The system under test: started before the load, stopped (always) after it.

mod container;
pub mod docker;
mod embedded;
mod process;
pub mod profile;
mod profiling;
mod readiness;
pub mod refimage;
mod target;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::mcp::Transport;
pub use container::{ContainerSpec, FileMount, ImageSource, Limits};
pub use docker::DockerError;
pub use embedded::EmbeddedSpec;
pub use process::{Listen, ProcessSpec};
pub use profile::{ProfileError, SpecContext, SutProfile};
pub use profiling::{HOOK_BOUND, ProfilePoint, WindowHooks};
pub use readiness::Readiness;
pub use target::{TargetError, check_loopback, endpoint_of};

/// What to run the load against.
#[derive(Debug, Clone)]
pub enum SutSpec {
    /// The project's reference MCP server, started as a child process.
    Embedded(EmbeddedSpec),
    /// A server someone else started, reached at a URL: Streamable HTTP (`http://`),
    /// WebSocket (`ws://`) or TCP (`tcp://host:port`).
    Url {
        url: url::Url,
        /// Allow a target that is not loopback.
        allow_remote: bool,
        /// The server's process on this machine, sampled for CPU and memory (`--pid`).
        pid: Option<u32>,
    },
    /// A server in a Docker container started from a local image.
    Container(Box<ContainerSpec>),
    /// A local command speaking MCP on stdin/stdout, one process per session.
    Process(ProcessSpec),
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
    /// A server that is to listen on a port finds it taken before it starts: the load
    /// would go to whatever holds it.
    #[error(
        "port {port} on 127.0.0.1 is in use before the server started: the load would go to whatever holds it ({source})"
    )]
    PortInUse {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// `--pid` names no process this user can sample.
    #[error("cannot sample process {pid} (--pid): {reason}")]
    Pid { pid: u32, reason: String },
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

/// The MCP endpoint over `transport` of a server whose HTTP endpoint is `url`
/// (`http://host:port/path`): the URL itself, its `ws://` twin, or its address for TCP.
fn endpoint_over(transport: Transport, url: url::Url) -> Result<crate::mcp::Endpoint, String> {
    use crate::mcp::Endpoint;
    match transport {
        Transport::Http => Ok(Endpoint::Http(url)),
        Transport::WebSocket => {
            let mut url = url;
            url.set_scheme("ws")
                .map_err(|()| format!("cannot make a WebSocket URL of {url}"))?;
            Ok(Endpoint::WebSocket(url))
        }
        Transport::Tcp => url
            .socket_addrs(|| None)
            .ok()
            .and_then(|addrs| addrs.first().copied())
            .map(Endpoint::Tcp)
            .ok_or_else(|| format!("{url} names no address")),
        Transport::Stdio => Err("a stdio server listens on no port".into()),
    }
}

/// Creates (empty) the SUT's log file at `path`, and the directories above it.
fn create_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(path)
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
    /// Where the load goes: one endpoint per node (one for anything but a cluster).
    endpoints: Vec<crate::mcp::Endpoint>,
    /// The nodes' container names, for a cluster; empty otherwise.
    node_names: Vec<String>,
    pub info: SutInfo,
    process: Option<embedded::ServerProcess>,
    /// The processes a stdio server's sessions started, for resource sampling.
    sessions: Option<crate::mcp::LivePids>,
    /// Declared before `network`: dropped (removed) first.
    containers: Vec<container::RunningContainer>,
    network: Option<container::ClusterNetwork>,
    /// A process the harness did not start whose resources it samples (`--pid`).
    watched: Option<u32>,
}

/// One node of a cluster, as the record names it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// The node's container name.
    pub name: String,
    /// Its MCP endpoint.
    pub endpoint: String,
}

impl RunningSut {
    /// A SUT with one endpoint and nothing to stop but `process`, if any.
    fn single(
        endpoint: crate::mcp::Endpoint,
        info: SutInfo,
        process: Option<embedded::ServerProcess>,
    ) -> Self {
        Self {
            endpoints: vec![endpoint],
            node_names: Vec::new(),
            info,
            process,
            sessions: None,
            containers: Vec::new(),
            network: None,
            watched: None,
        }
    }

    /// The same SUT with the resources of process `pid` sampled, if given.
    fn watching(mut self, pid: Option<u32>) -> Self {
        self.watched = pid;
        self
    }

    /// Where the load goes (the first node's endpoint for a cluster).
    pub fn endpoint(&self) -> &crate::mcp::Endpoint {
        &self.endpoints[0]
    }

    /// Every node's endpoint, in node order (a single one unless the SUT is a cluster).
    pub fn endpoints(&self) -> &[crate::mcp::Endpoint] {
        &self.endpoints
    }

    /// The nodes of a cluster, in node order; empty for a single server.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.node_names
            .iter()
            .zip(&self.endpoints)
            .map(|(name, endpoint)| NodeInfo {
                name: name.clone(),
                endpoint: endpoint.to_string(),
            })
            .collect()
    }

    /// The server's process id, when the harness started one long-running server, for
    /// resource sampling (not over stdio, where every session starts its own).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(|p| p.pid())
    }

    /// The container's id, when the SUT runs in one (the first node's for a cluster).
    pub fn container_id(&self) -> Option<&str> {
        self.containers.first().map(|c| c.id())
    }

    /// Every container's id, in node order.
    pub fn container_ids(&self) -> Vec<&str> {
        self.containers.iter().map(|c| c.id()).collect()
    }

    /// What the resource sampler should watch: the container (the first node's for a
    /// cluster), the stdio sessions' processes, or the process.
    pub fn resource_probe(&self) -> Option<crate::observe::ResourceProbe> {
        if let Some(c) = self.containers.first() {
            return Some(crate::observe::ResourceProbe::Container(c.probe()));
        }
        if let Some(live) = &self.sessions {
            return Some(crate::observe::ResourceProbe::Processes(live.clone()));
        }
        self.pid()
            .or(self.watched)
            .map(crate::observe::ResourceProbe::Process)
    }

    /// Where the profile's `metrics` are scraped: its URL, or its path on the first node's
    /// address (`None` for a server with no HTTP address, such as a stdio server).
    pub fn metrics_url(&self, hooks: &WindowHooks) -> Option<String> {
        let metrics = hooks.metrics.as_deref()?;
        if metrics.starts_with("http://") {
            return Some(metrics.to_string());
        }
        let mut url: url::Url = self.endpoints.first()?.to_string().parse().ok()?;
        match url.scheme() {
            "http" => {}
            "ws" => url.set_scheme("http").ok()?,
            _ => return None,
        }
        url.set_path(metrics);
        url.set_query(None);
        Some(url.to_string())
    }

    /// Scrapes the profile's `metrics`, if it names them and the server has an address;
    /// a scrape that fails is a warning, not a failed run.
    pub async fn scrape_metrics(
        &self,
        hooks: &WindowHooks,
    ) -> Option<(String, crate::observe::MetricsScrape)> {
        let url = self.metrics_url(hooks)?;
        match crate::observe::scrape(&url).await {
            Ok(scrape) => Some((url, scrape)),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        }
    }

    /// Runs `hooks`' command for `point` (inside the first container, or beside the
    /// process) and writes its output to `dir/profile-<point>.txt`: the path, or `None` when
    /// there is no such hook or the file could not be written.
    pub async fn profile(
        &self,
        hooks: &WindowHooks,
        point: ProfilePoint,
        dir: &std::path::Path,
    ) -> Option<PathBuf> {
        let argv = hooks.at(point)?;
        let (output, place) = match self.containers.first() {
            Some(c) => (c.exec(argv).await, format!("in container {}", c.id())),
            None => {
                let pid = self.pid().or(self.watched);
                let output = profiling::run_beside(argv, pid, point, dir).await;
                (output, "beside the server".to_string())
            }
        };
        profiling::write_output(argv, point, &place, output, dir)
    }

    /// Whether the server is still running (always true for a URL target); for a cluster,
    /// whether every node is.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_none_or(|p| p.is_running())
            && self.containers.iter().all(|c| c.is_running())
    }

    /// Stops the server and waits for it to exit (containers, then a cluster's network,
    /// are removed).
    pub async fn stop(mut self) {
        if let Some(p) = self.process.take() {
            p.stop().await;
        }
        for c in std::mem::take(&mut self.containers) {
            c.stop().await;
        }
        if let Some(n) = self.network.take() {
            n.remove().await;
        }
    }
}

impl SutSpec {
    /// What the profile runs at the edges of the measured window, if anything.
    pub fn window_hooks(&self) -> Option<&WindowHooks> {
        match self {
            SutSpec::Embedded(spec) => spec.hooks.as_ref(),
            SutSpec::Process(spec) => spec.hooks.as_ref(),
            SutSpec::Container(spec) => spec.hooks.as_ref(),
            SutSpec::Url { .. } => None,
        }
    }

    /// The CPUs the SUT is pinned to (a container profile's `pin`), if it is.
    pub fn cpuset(&self) -> Option<&str> {
        match self {
            SutSpec::Container(spec) => spec.limits.cpuset.as_deref(),
            SutSpec::Embedded(_) | SutSpec::Url { .. } | SutSpec::Process(_) => None,
        }
    }

    /// Starts the SUT (or checks the URL target). `log` receives a started server's output.
    pub async fn start(&self, log: Option<PathBuf>) -> Result<RunningSut, SutError> {
        match self {
            SutSpec::Embedded(spec) => spec.start(log).await,
            SutSpec::Url {
                url,
                allow_remote,
                pid,
            } => {
                if !allow_remote {
                    check_loopback(url)?;
                }
                if let Some(pid) = pid
                    && let Err(e) = crate::observe::read_sample(*pid)
                {
                    return Err(SutError::Pid {
                        pid: *pid,
                        reason: e.to_string(),
                    });
                }
                let endpoint = endpoint_of(url)?;
                let transport = endpoint.transport().to_string();
                Ok(RunningSut::single(
                    endpoint,
                    SutInfo {
                        kind: "url".into(),
                        description: url.to_string(),
                        endpoint: url.to_string(),
                        transport,
                        version: None,
                        binary_sha256: None,
                        faults: None,
                    },
                    None,
                )
                .watching(*pid))
            }
            SutSpec::Container(spec) => spec.start(log).await,
            SutSpec::Process(spec) => spec.start(log).await,
        }
    }
}
