//! A SUT in a Docker container: started from a local image (never pulled), its MCP port
//! published on an ephemeral 127.0.0.1 port, CPU and memory limited, its log kept with the
//! results, and removed when the run ends however it ends (see [`super::docker`]).
//!
//! `testcontainers` creates and starts every container (labels, limits and the loopback
//! port binding through its host-config hook, a cluster's network, a stdio container's
//! `none` network and open stdin), follows its output (a log consumer), reports whether it
//! runs and where its port is published, and stops and removes it. Its readiness waits are
//! not used: readiness (`initialize`, `http`, `log`) is checked here as before. bollard (its
//! client) is used only where it has nothing: whether an image exists locally (its start
//! pulls an image the engine does not have), an image's entrypoint and command, a stopped
//! container's exit code with the OOM flag, and the stats (`observe::docker`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{HostConfig, PortBinding};
use futures_util::future::BoxFuture;
use testcontainers::core::logs::LogFrame;
use testcontainers::core::logs::consumer::LogConsumer;
use testcontainers::core::{AccessMode, IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};

use super::docker::{self, DockerError};
use super::readiness::{self, Readiness};
use super::{RunningSut, SutError, SutInfo, endpoint_over, refimage};
use crate::mcp::{Endpoint, StdioCommand, Transport};

/// Lines of the container's log kept in memory for error messages.
const TAIL_LINES: usize = 20;

/// Where a container's image comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// An image that must already exist locally (`erlmcp:latest`).
    Local(String),
    /// The reference server's image, built by the harness from `binary` (run with
    /// `prefix_args`, e.g. `refserver`, before the command) if not built already.
    Refserver {
        binary: PathBuf,
        prefix_args: Vec<String>,
    },
}

/// CPU and memory limits, and optional CPU pinning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// CPUs (fractions allowed), enforced as a CFS quota.
    pub cpus: Option<f64>,
    /// Memory limit, bytes.
    pub memory_bytes: Option<u64>,
    /// CPUs the container may run on (`1`, `2-3`), kept apart from the load generator.
    pub cpuset: Option<String>,
}

/// A file from the host mounted read-only into the container.
#[derive(Debug, Clone, PartialEq)]
pub struct FileMount {
    /// Absolute path on the host.
    pub host: PathBuf,
    /// Path in the container.
    pub container: String,
}

/// How to start a containerised SUT.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// The profile's name, for descriptions.
    pub name: String,
    pub image: ImageSource,
    /// Arguments (the image's `CMD`); empty keeps the image's own.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub files: Vec<FileMount>,
    /// Container port of the MCP endpoint.
    pub port: u16,
    /// Path of the MCP endpoint (`/mcp`).
    pub endpoint_path: String,
    pub readiness: Readiness,
    pub startup_timeout: Duration,
    pub limits: Limits,
    /// Reference-server fault injection, appended to the command as `--faults`.
    pub faults: Option<String>,
    /// Containers to start (a cluster when above 1: same spec, one user-defined network,
    /// each with its own published port).
    pub nodes: u32,
    /// `http`, or `stdio`: one container kept up by `keepalive`, with no network, and one
    /// `docker exec -i` of the image's entrypoint and command (`command` replacing the
    /// image's) per session.
    pub transport: Transport,
    /// A stdio container's main process.
    pub keepalive: Vec<String>,
    /// What runs at the edges of the measured window: profiling commands inside the
    /// container, a scrape of its metrics.
    pub hooks: Option<super::WindowHooks>,
}

/// What every node of one start shares.
struct NodePlan<'a> {
    docker: &'a Docker,
    image: &'a str,
    entrypoint: Option<Vec<String>>,
    command: &'a [String],
    network: Option<&'a ClusterNetwork>,
}

/// The log file of node `node`: node 1 writes `log` itself, node N `sut-nodeN.log` beside it.
fn node_log(log: &Path, node: u32) -> PathBuf {
    if node == 1 {
        log.to_owned()
    } else {
        log.with_file_name(format!("sut-node{node}.log"))
    }
}

/// Names of networks created by this process are unique with this counter.
static NETWORKS: AtomicU32 = AtomicU32::new(0);

/// The user-defined bridge network of a cluster; removed by [`ClusterNetwork::remove`] or,
/// failing that, on drop (after the containers on it).
#[derive(Debug)]
pub(super) struct ClusterNetwork {
    docker: Docker,
    id: String,
    /// `erlmcp-perf-<pid>-<n>`; also the prefix of its containers' names.
    pub(super) name: String,
    removed: bool,
}

impl ClusterNetwork {
    async fn create(docker: &Docker) -> Result<Self, DockerError> {
        let n = NETWORKS.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("erlmcp-perf-{}-{n}", std::process::id());
        let id = docker::create_network(docker, &name).await?;
        Ok(Self {
            docker: docker.clone(),
            id,
            name,
            removed: false,
        })
    }

    /// Removes the network; its containers must be removed first.
    pub(super) async fn remove(mut self) {
        match docker::remove_network(&self.docker, &self.id).await {
            Ok(()) => {
                self.removed = true;
                docker::unwatch_network(&self.id);
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

impl Drop for ClusterNetwork {
    fn drop(&mut self) {
        if !self.removed {
            docker::remove_blocking(Vec::new(), vec![self.id.clone()]);
            docker::unwatch_network(&self.id);
        }
    }
}

impl ContainerSpec {
    pub(super) async fn start(&self, log: Option<PathBuf>) -> Result<RunningSut, SutError> {
        let docker = docker::connect().await?;
        docker::remove_orphans(&docker).await;
        if self.transport == Transport::Stdio {
            return self.start_stdio(&docker, log).await;
        }
        let (image, entrypoint, binary_sha256) = match &self.image {
            ImageSource::Local(image) => {
                check_local_image(&docker, image).await?;
                (image.clone(), None, None)
            }
            ImageSource::Refserver {
                binary,
                prefix_args,
            } => {
                let built = refimage::ensure(&docker, binary, prefix_args).await?;
                (
                    built.reference,
                    Some(built.entrypoint),
                    Some(built.binary_sha256),
                )
            }
        };
        let mut command = self.command.clone();
        if let Some(faults) = &self.faults {
            command.extend(["--faults".to_string(), faults.clone()]);
        }
        let network = if self.nodes > 1 {
            Some(ClusterNetwork::create(&docker).await?)
        } else {
            None
        };
        let plan = NodePlan {
            docker: &docker,
            image: &image,
            entrypoint,
            command: &command,
            network: network.as_ref(),
        };
        let mut containers: Vec<RunningContainer> = Vec::new();
        let mut endpoints = Vec::new();
        let mut urls = Vec::new();
        let mut names = Vec::new();
        for node in 1..=self.nodes {
            let log = log.as_deref().map(|p| node_log(p, node));
            match self.start_node(&plan, node, log).await {
                Ok((running, endpoint)) => {
                    names.push(running.name.clone().unwrap_or_else(|| running.id.clone()));
                    containers.push(running);
                    urls.push(endpoint.to_string());
                    endpoints.push(endpoint);
                }
                Err(e) => {
                    for c in containers {
                        c.stop().await;
                    }
                    if let Some(n) = network {
                        n.remove().await;
                    }
                    return Err(e);
                }
            }
        }
        let version = match &self.image {
            ImageSource::Refserver { .. } => Some(env!("CARGO_PKG_VERSION").to_string()),
            ImageSource::Local(image) => image.rsplit_once(':').map(|(_, tag)| tag.to_string()),
        };
        let mut description = self.describe(&image, &command);
        if let Some(n) = &network {
            description.push_str(&format!(" × {} nodes on network {}", self.nodes, n.name));
        }
        Ok(RunningSut {
            endpoints,
            node_names: if self.nodes > 1 { names } else { Vec::new() },
            info: SutInfo {
                kind: "container".into(),
                description,
                endpoint: urls.join(", "),
                transport: self.transport.to_string(),
                version,
                binary_sha256,
                faults: self.faults.clone(),
            },
            process: None,
            sessions: None,
            containers,
            network,
            watched: None,
        })
    }

    /// Creates, starts and waits for node `node` (1-based); returns it with its endpoint.
    async fn start_node(
        &self,
        plan: &NodePlan<'_>,
        node: u32,
        log: Option<PathBuf>,
    ) -> Result<(RunningContainer, Endpoint), SutError> {
        let image = plan.image;
        let what = if self.nodes > 1 {
            format!("container {} node {node} ({image})", self.name)
        } else {
            format!("container {} ({image})", self.name)
        };
        let mut entrypoint = plan.entrypoint.clone().unwrap_or_default();
        entrypoint.extend(plan.command.iter().cloned());
        let argv = Argv {
            override_entrypoint: plan.entrypoint.is_some(),
            args: entrypoint,
        };
        let (logs, sink) = LogFollower::new(log.as_deref(), &self.readiness);
        let start = docker::start_token();
        let mut request = self.request(image, &argv, Some(self.port), &start, sink);
        let mut name = None;
        if let Some(network) = plan.network {
            let node_name = format!("{}-node{node}", network.name);
            // Reachable on the network as `node<i>`: `testcontainers` cannot give a
            // container network aliases, but the engine's DNS answers for its hostname.
            request = request
                .with_network(network.name.clone())
                .with_hostname(format!("node{node}"))
                .with_container_name(node_name.clone());
            name = Some(node_name);
        }
        let running = RunningContainer::start(plan.docker, request, &start, logs, name)
            .await
            .map_err(|e| e.into_sut_error(what.clone(), self.startup_timeout))?;
        let endpoint = match running.host_url(self.port, &self.endpoint_path).await {
            Ok(url) => endpoint_over(self.transport, url),
            Err(reason) => Err(reason),
        };
        let endpoint = match endpoint {
            Ok(endpoint) => endpoint,
            Err(reason) => return Err(running.fail(what, self.startup_timeout, reason).await),
        };
        if let Err(reason) = self.wait_ready(&running, &endpoint).await {
            return Err(running.fail(what, self.startup_timeout, reason).await);
        }
        Ok((running, endpoint))
    }

    /// What `testcontainers` should start: `image` running `argv`, with the profile's
    /// environment, files, labels and limits, `port` (if any) published on an ephemeral
    /// loopback port, and its output going to `logs`. Nothing is pulled: the image has been
    /// checked or built locally before.
    fn request(
        &self,
        image: &str,
        argv: &Argv,
        port: Option<u16>,
        start: &str,
        logs: LogSink,
    ) -> ContainerRequest<GenericImage> {
        let (name, tag) = split_reference(image);
        let mut image = GenericImage::new(name, tag);
        if let Some(port) = port {
            image = image.with_exposed_port(port.tcp());
        }
        // `testcontainers` takes one entrypoint word; Docker runs entrypoint + cmd, and an
        // entrypoint set drops the image's CMD, so the rest of the words go in `cmd`.
        let mut cmd: &[String] = &argv.args;
        if argv.override_entrypoint
            && let Some((first, rest)) = argv.args.split_first()
        {
            image = image.with_entrypoint(first);
            cmd = rest;
        }
        let mut request = image
            .with_labels(docker::labels_with_start(start))
            .with_startup_timeout(self.startup_timeout)
            .with_log_consumer(logs)
            .with_host_config_modifier(self.host_config_modifier(port));
        if !cmd.is_empty() {
            request = request.with_cmd(cmd.to_vec());
        }
        for (k, v) in &self.env {
            request = request.with_env_var(k.clone(), v.clone());
        }
        for f in &self.files {
            request = request.with_mount(
                Mount::bind_mount(f.host.display().to_string(), f.container.clone())
                    .with_access_mode(AccessMode::ReadOnly),
            );
        }
        request
    }

    /// A stdio server: one container, its main process `keepalive` (its standard input
    /// held open), no network; every session runs `docker exec -i` of the image's
    /// entrypoint and command in it, its standard error appended to `log`. The container's
    /// stats cover every session's server.
    async fn start_stdio(
        &self,
        docker: &Docker,
        log: Option<PathBuf>,
    ) -> Result<RunningSut, SutError> {
        let ImageSource::Local(image) = &self.image else {
            return Err(SutError::NotReady {
                what: format!("container {}", self.name),
                timeout: self.startup_timeout,
                reason: "the reference server's image has no shell to keep a stdio container up; run it with `kind: embedded` and `--transport stdio`".into(),
                log_tail: Vec::new(),
            });
        };
        check_local_image(docker, image).await?;
        let config = docker
            .inspect_image(image)
            .await
            .map_err(|e| DockerError::new(format!("inspecting image {image}"), e))?
            .config
            .unwrap_or_default();
        let mut session_command = config.entrypoint.unwrap_or_default();
        if self.command.is_empty() {
            session_command.extend(config.cmd.unwrap_or_default());
        } else {
            session_command.extend(self.command.iter().cloned());
        }
        if session_command.is_empty() {
            return Err(SutError::NotReady {
                what: format!("container {} ({image})", self.name),
                timeout: self.startup_timeout,
                reason: "the image has no entrypoint or command to run per session; give the profile a `command`".into(),
                log_tail: Vec::new(),
            });
        }
        if self.keepalive.is_empty() {
            return Err(SutError::NotReady {
                what: format!("container {} ({image})", self.name),
                timeout: self.startup_timeout,
                reason: "the profile's `keepalive` is empty; give it a command the image can run"
                    .into(),
                log_tail: Vec::new(),
            });
        }
        let what = format!("container {} ({image})", self.name);
        let argv = Argv {
            override_entrypoint: true,
            args: self.keepalive.clone(),
        };
        let (logs, sink) = LogFollower::new(None, &self.readiness);
        let start = docker::start_token();
        let request = self
            .request(image, &argv, None, &start, sink)
            .with_network("none")
            .with_open_stdin(true);
        let running = RunningContainer::start(docker, request, &start, logs, None)
            .await
            .map_err(|e| e.into_sut_error(what.clone(), self.startup_timeout))?;
        let id = running.id.clone();
        if let Some(path) = &log
            && let Err(e) = super::create_log(path)
        {
            let reason = format!("cannot write its log {}: {e}", path.display());
            return Err(running.fail(what, self.startup_timeout, reason).await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !running.container_running().await {
            let status = exit_status(docker, &id).await;
            let reason = format!(
                "its keepalive {:?} exited at once ({status}); give the profile a `keepalive` the image can run",
                self.keepalive
            );
            return Err(running.fail(what, self.startup_timeout, reason).await);
        }
        // Each session is `docker exec -i` through the CLI: `testcontainers`' exec attaches
        // the command's stdout and stderr only, never its stdin, so it cannot carry a stdio
        // session.
        let mut args: Vec<std::ffi::OsString> = vec!["exec".into(), "-i".into(), id.clone().into()];
        args.extend(session_command.iter().map(Into::into));
        let command = StdioCommand {
            stderr: log,
            start_timeout: self.startup_timeout,
            ..StdioCommand::new("docker", args)
        };
        let endpoint = Endpoint::Stdio(command);
        let mut description = self.describe(image, &session_command);
        description.push_str(" (stdio: one `docker exec -i` per session)");
        Ok(RunningSut {
            endpoints: vec![endpoint.clone()],
            node_names: Vec::new(),
            info: SutInfo {
                kind: "container".into(),
                description,
                endpoint: endpoint.to_string(),
                transport: endpoint.transport().to_string(),
                version: image.rsplit_once(':').map(|(_, tag)| tag.to_string()),
                binary_sha256: None,
                faults: None,
            },
            process: None,
            sessions: None,
            containers: vec![running],
            network: None,
            watched: None,
        })
    }

    /// Limits and port publishing, set through `testcontainers`' host-config hook (it has
    /// no setting of its own for them): CPU quota, memory, cpuset, and `port` bound to an
    /// ephemeral port on 127.0.0.1 only (`testcontainers` would publish every exposed port
    /// on all addresses).
    fn host_config_modifier(
        &self,
        port: Option<u16>,
    ) -> impl Fn(&mut HostConfig) + Send + Sync + 'static {
        let nano_cpus = self.limits.cpus.map(|c| (c * 1e9).round() as i64);
        let memory = self
            .limits
            .memory_bytes
            .map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        let cpuset = self.limits.cpuset.clone();
        move |host_config: &mut HostConfig| {
            host_config.nano_cpus = nano_cpus;
            host_config.memory = memory;
            host_config.cpuset_cpus = cpuset.clone();
            host_config.publish_all_ports = Some(false);
            host_config.port_bindings = port.map(|port| {
                let binding = PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                };
                HashMap::from([(format!("{port}/tcp"), Some(vec![binding]))])
            });
        }
    }

    fn describe(&self, image: &str, command: &[String]) -> String {
        let mut out = format!("{}: {image}", self.name);
        for arg in command {
            out.push(' ');
            out.push_str(arg);
        }
        let mut limits = Vec::new();
        if let Some(c) = self.limits.cpus {
            limits.push(format!("{c} CPU"));
        }
        if let Some(m) = self.limits.memory_bytes {
            limits.push(format!("{} MiB", m / (1024 * 1024)));
        }
        if let Some(set) = &self.limits.cpuset {
            limits.push(format!("cpuset {set}"));
        }
        if !limits.is_empty() {
            out.push_str(&format!(" (limits: {})", limits.join(", ")));
        }
        out
    }

    async fn wait_ready(
        &self,
        running: &RunningContainer,
        endpoint: &Endpoint,
    ) -> Result<(), String> {
        let exited = || async {
            if running.exited() && !running.container_running().await {
                let status = exit_status(&running.docker, &running.id).await;
                Some(format!(
                    "the container exited before it was ready ({status})"
                ))
            } else {
                None
            }
        };
        let seen = || running.logs.as_ref().is_some_and(|l| l.seen());
        readiness::wait(
            &self.readiness,
            endpoint,
            self.startup_timeout,
            exited,
            seen,
        )
        .await
    }
}

/// Fails unless `image` exists locally. Never pulls: asked here, with bollard, because
/// `testcontainers` pulls an image when creating a container from it finds none.
async fn check_local_image(docker: &Docker, image: &str) -> Result<(), SutError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Err(SutError::ImageMissing {
            image: image.to_string(),
        }),
        Err(e) => Err(DockerError::new(format!("inspecting image {image}"), e).into()),
    }
}

/// `name` and tag of an image reference (`erlmcp:0.5`, `localhost:5000/x` is `latest`),
/// for `testcontainers`, which joins them again with a colon.
fn split_reference(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// A container's arguments: its entrypoint and command as one list, or (without
/// `override_entrypoint`) only the command, after the image's entrypoint.
struct Argv {
    override_entrypoint: bool,
    args: Vec<String>,
}

/// How a stopped container ended, from the engine (bollard: `testcontainers` reports the
/// exit code, not whether the memory limit killed it).
async fn exit_status(docker: &Docker, id: &str) -> String {
    match docker.inspect_container(id, None).await {
        Ok(info) => {
            let state = info.state.unwrap_or_default();
            let mut s = format!("exit code {}", state.exit_code.unwrap_or(-1));
            if state.oom_killed == Some(true) {
                s.push_str(", killed for exceeding its memory limit");
            }
            s
        }
        Err(e) => format!("state unknown: {e}"),
    }
}

/// A start that `testcontainers` could not complete.
enum StartError {
    /// The engine would not create the container (nothing to remove).
    Create(DockerError),
    /// Created but not started, or not within the startup timeout (removed again).
    Start {
        reason: String,
        log_tail: Vec<String>,
    },
}

impl StartError {
    fn into_sut_error(self, what: String, timeout: Duration) -> SutError {
        match self {
            Self::Create(e) => e.into(),
            Self::Start { reason, log_tail } => SutError::NotReady {
                what,
                timeout,
                reason,
                log_tail,
            },
        }
    }
}

/// A started container; removed by [`RunningContainer::stop`] or, failing that, on drop.
#[derive(Debug)]
pub(super) struct RunningContainer {
    /// `testcontainers`' bollard client, for what it does not do (stats, the exit status).
    docker: Docker,
    /// `None` once removed.
    container: Option<ContainerAsync<GenericImage>>,
    id: String,
    /// The container's name, when the harness chose one (cluster nodes).
    name: Option<String>,
    logs: Option<LogFollower>,
}

impl RunningContainer {
    /// Runs `argv` inside the container (a Docker exec), bounded by [`super::HOOK_BOUND`]:
    /// what it printed. Through bollard: `testcontainers`' exec result is not `Sync`, and
    /// a run's future must be `Send`.
    pub(super) async fn exec(&self, argv: &[String]) -> super::profiling::HookOutput {
        use bollard::container::LogOutput;
        use bollard::exec::{CreateExecOptions, StartExecResults};
        use futures_util::StreamExt;

        use super::profiling::{HookOutput, failed};
        let docker = self.docker.clone();
        let id = self.id.clone();
        let argv = argv.to_vec();
        let run = async move {
            let options = CreateExecOptions {
                cmd: Some(argv),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            };
            let exec = docker
                .create_exec(&id, options)
                .await
                .map_err(|e| e.to_string())?;
            let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
            if let StartExecResults::Attached { mut output, .. } = docker
                .start_exec(&exec.id, None)
                .await
                .map_err(|e| e.to_string())?
            {
                while let Some(chunk) = output.next().await {
                    match chunk.map_err(|e| e.to_string())? {
                        LogOutput::StdOut { message } => stdout.extend_from_slice(&message),
                        LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                        _ => {}
                    }
                }
            }
            let code = docker
                .inspect_exec(&exec.id)
                .await
                .map_err(|e| e.to_string())?
                .exit_code;
            Ok::<_, String>(HookOutput {
                status: code.map_or("exit status: unknown".into(), |c| {
                    format!("exit status: {c}")
                }),
                stdout,
                stderr,
            })
        };
        match tokio::time::timeout(super::HOOK_BOUND, run).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => failed(&format!("exec failed: {e}")),
            Err(_) => failed(&format!("gave up after {} s", super::HOOK_BOUND.as_secs())),
        }
    }

    /// Creates and starts a container through `testcontainers` and puts it under the
    /// watchdog. On failure nothing is left: what it created is found by its `start`
    /// label and removed.
    async fn start(
        docker: &Docker,
        request: ContainerRequest<GenericImage>,
        start: &str,
        logs: LogFollower,
        name: Option<String>,
    ) -> Result<Self, StartError> {
        let image = request.descriptor();
        docker::arm_watchdog();
        match request.start().await {
            Ok(container) => {
                let id = container.id().to_string();
                docker::watch(&id);
                Ok(Self {
                    docker: docker.clone(),
                    container: Some(container),
                    id,
                    name,
                    logs: Some(logs),
                })
            }
            Err(e) => {
                docker::remove_start(docker, start).await;
                use testcontainers::TestcontainersError::{Client, WaitContainer};
                use testcontainers::core::client::ClientError;
                match e {
                    Client(ClientError::CreateContainer(e)) => Err(StartError::Create(
                        DockerError::new(format!("creating a container from {image}"), e),
                    )),
                    Client(ClientError::StartContainer(e)) => Err(StartError::Start {
                        reason: format!("the engine refused to start it: {e}"),
                        log_tail: logs.finish().await,
                    }),
                    WaitContainer(e) => Err(StartError::Start {
                        reason: format!("starting it: {e}"),
                        log_tail: logs.finish().await,
                    }),
                    e => Err(StartError::Create(DockerError::new(
                        format!("starting a container from {image}"),
                        e,
                    ))),
                }
            }
        }
    }

    /// The engine and container id, for resource sampling.
    pub(super) fn probe(&self) -> crate::observe::ContainerProbe {
        crate::observe::ContainerProbe {
            docker: self.docker.clone(),
            id: self.id.clone(),
        }
    }

    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// Whether the container's output is still open (it ends when the container exits).
    pub(super) fn is_running(&self) -> bool {
        !self.exited()
    }

    fn exited(&self) -> bool {
        self.logs.as_ref().is_some_and(|l| l.ended())
    }

    /// Whether the engine says the container runs.
    async fn container_running(&self) -> bool {
        match &self.container {
            Some(c) => c.is_running().await.unwrap_or(false),
            None => false,
        }
    }

    /// `http://127.0.0.1:<published port><path>` for the container's `port`.
    async fn host_url(&self, port: u16, path: &str) -> Result<url::Url, String> {
        let Some(container) = &self.container else {
            return Err("it is gone".into());
        };
        let host_port = container
            .get_host_port_ipv4(port.tcp())
            .await
            .map_err(|e| format!("port {port}/tcp was not published: {e}"))?;
        format!("http://127.0.0.1:{host_port}{path}")
            .parse()
            .map_err(|e| format!("bad endpoint URL: {e}"))
    }

    /// Stops (2 s grace), removes the container and finishes its log.
    pub(super) async fn stop(mut self) {
        self.remove().await;
        if let Some(logs) = self.logs.take() {
            logs.finish().await;
        }
    }

    async fn remove(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        let _ = container.stop_with_timeout(Some(2)).await;
        match container.rm().await {
            Ok(()) => docker::unwatch(&self.id),
            Err(e) => {
                // Gone already, or the engine failed: make sure, the way leftovers go.
                tracing::debug!("removing container {}: {e}", self.id);
                match docker::remove(&self.docker, &self.id).await {
                    Ok(()) => docker::unwatch(&self.id),
                    Err(e) => tracing::warn!("{e}"),
                }
            }
        }
    }

    /// Removes the container after a failed start and builds the error with its last
    /// log lines.
    async fn fail(mut self, what: String, timeout: Duration, reason: String) -> SutError {
        self.remove().await;
        let log_tail = match self.logs.take() {
            Some(logs) => logs.finish().await,
            None => Vec::new(),
        };
        SutError::NotReady {
            what,
            timeout,
            reason,
            log_tail,
        }
    }
}

impl Drop for RunningContainer {
    fn drop(&mut self) {
        if let Some(container) = self.container.take() {
            // Not `testcontainers`' drop: it blocks this thread on the runtime that opened
            // its client's connections, which may be this very thread (a current-thread
            // runtime) or gone, and panics outside a runtime. The container is removed
            // with a fresh client on a thread of its own instead, and the handle, whose
            // container is gone, is forgotten (a few hundred bytes, after an error or a
            // panic only).
            docker::remove_blocking(vec![self.id.clone()], Vec::new());
            docker::unwatch(&self.id);
            std::mem::forget(container);
        }
    }
}

/// Copies the container's output to the log file and remembers its last lines, as the
/// `testcontainers` log consumer of the container ([`LogSink`]).
#[derive(Debug)]
struct LogFollower {
    state: Arc<Mutex<LogState>>,
    ended: Arc<AtomicBool>,
    /// Closed when the sink is dropped: the output has ended.
    done: Option<tokio::sync::oneshot::Receiver<()>>,
}

#[derive(Debug, Default)]
struct LogState {
    tail: VecDeque<String>,
    partial: String,
    needle: Option<String>,
    seen: bool,
}

impl LogState {
    fn push(&mut self, bytes: &[u8]) {
        self.partial.push_str(&String::from_utf8_lossy(bytes));
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.add_line(line.trim_end().to_string());
        }
    }

    fn add_line(&mut self, line: String) {
        if let Some(needle) = &self.needle
            && line.contains(needle.as_str())
        {
            self.seen = true;
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// What `testcontainers` feeds a container's output to (stdout and stderr in the order the
/// engine sends them, from the start on, following until the container is gone). It drops
/// the consumer when the output ends, which is how the end is noticed.
#[derive(Debug)]
struct LogSink {
    state: Arc<Mutex<LogState>>,
    ended: Arc<AtomicBool>,
    file: Mutex<Option<std::fs::File>>,
    _done: tokio::sync::oneshot::Sender<()>,
}

impl LogConsumer for LogSink {
    fn accept<'a>(&'a self, record: &'a LogFrame) -> BoxFuture<'a, ()> {
        let bytes: &[u8] = match record {
            LogFrame::StdOut(b) | LogFrame::StdErr(b) => b,
        };
        if let Ok(mut file) = self.file.lock()
            && let Some(f) = file.as_mut()
        {
            use std::io::Write;
            let _ = f.write_all(bytes);
        }
        if let Ok(mut s) = self.state.lock() {
            s.push(bytes);
        }
        Box::pin(std::future::ready(()))
    }
}

impl Drop for LogSink {
    fn drop(&mut self) {
        if let Ok(mut s) = self.state.lock()
            && !s.partial.is_empty()
        {
            let rest = std::mem::take(&mut s.partial);
            s.add_line(rest);
        }
        self.ended.store(true, Ordering::SeqCst);
    }
}

impl LogFollower {
    /// A follower and the sink to give `testcontainers` as the container's log consumer.
    fn new(file: Option<&Path>, readiness: &Readiness) -> (Self, LogSink) {
        let state = Arc::new(Mutex::new(LogState {
            needle: match readiness {
                Readiness::Log(n) => Some(n.clone()),
                _ => None,
            },
            ..Default::default()
        }));
        let ended = Arc::new(AtomicBool::new(false));
        let out = file.and_then(|path| {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            std::fs::File::create(path).ok()
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sink = LogSink {
            state: state.clone(),
            ended: ended.clone(),
            file: Mutex::new(out),
            _done: tx,
        };
        let follower = Self {
            state,
            ended,
            done: Some(rx),
        };
        (follower, sink)
    }

    fn seen(&self) -> bool {
        self.state.lock().is_ok_and(|s| s.seen)
    }

    fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Waits (briefly) for the output to end, which it does once the container is gone,
    /// and returns its last lines.
    async fn finish(mut self) -> Vec<String> {
        if let Some(done) = self.done.take() {
            let _ = tokio::time::timeout(Duration::from_secs(3), done).await;
        }
        self.state
            .lock()
            .map(|s| s.tail.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_split_into_name_and_tag() {
        let split = |r: &str| {
            let (name, tag) = split_reference(r);
            (format!("{name}:{tag}"), tag)
        };
        assert_eq!(
            split("erlmcp-erlsci:0.5"),
            ("erlmcp-erlsci:0.5".into(), "0.5".into())
        );
        assert_eq!(split("erlmcp"), ("erlmcp:latest".into(), "latest".into()));
        assert_eq!(
            split("localhost:5000/erlmcp"),
            ("localhost:5000/erlmcp:latest".into(), "latest".into())
        );
        assert_eq!(
            split("localhost:5000/erlmcp:1").0,
            "localhost:5000/erlmcp:1".to_string()
        );
    }

    #[test]
    fn log_state_keeps_the_tail_and_spots_the_needle() {
        let mut s = LogState {
            needle: Some("listening on".into()),
            ..Default::default()
        };
        s.push(b"starting\nerlmcp-refserver list");
        assert!(!s.seen);
        s.push(b"ening on http://0.0.0.0:8080/mcp\n");
        assert!(s.seen);
        for i in 0..30 {
            s.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(s.tail.len(), TAIL_LINES);
        assert_eq!(s.tail.back().map(String::as_str), Some("line 29"));
    }
}
