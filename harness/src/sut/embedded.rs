//! The reference server as a child process of the harness: started on an ephemeral
//! loopback port, its output kept in a log, killed when the run ends (or the harness dies).
//! Over stdio nothing is started here: every session starts its own server.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{RunningSut, SutError, SutInfo};
use crate::mcp::{Endpoint, StdioCommand, Transport};

/// The line prefix the reference server prints once it accepts connections.
const READY_PREFIX: &str = "erlmcp-refserver listening on ";
/// The line prefix of the TCP listener's address, printed before the ready line.
const TCP_PREFIX: &str = "erlmcp-refserver tcp listening on tcp://";
/// The reference server's WebSocket endpoint, beside `/mcp`.
const WS_PATH: &str = "/mcp/ws";

/// How to start the reference server.
#[derive(Debug, Clone)]
pub struct EmbeddedSpec {
    /// The executable: `erlmcp-refserver`, or `erlmcp-perf` with `args = ["refserver"]`.
    pub program: PathBuf,
    /// Arguments before the harness's own (`--bind`, `--faults`).
    pub args: Vec<OsString>,
    /// Fault spec passed as `--faults`.
    pub faults: Option<String>,
    /// Bound on start-up.
    pub startup_timeout: Duration,
    /// The MCP transport the load uses.
    pub transport: Transport,
    /// What runs at the edges of the measured window: profiling commands beside it, a scrape
    /// of its metrics.
    pub hooks: Option<super::WindowHooks>,
}

impl EmbeddedSpec {
    /// A spec running `program args...`.
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            faults: None,
            startup_timeout: Duration::from_secs(15),
            transport: Transport::Http,
            hooks: None,
        }
    }

    /// Sends the load over `transport` (default Streamable HTTP).
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Applies the reference server's fault injection (`latency=2ms,stall=1s/10s`).
    pub fn with_faults(mut self, faults: Option<String>) -> Self {
        self.faults = faults;
        self
    }

    pub(super) async fn start(&self, log: Option<PathBuf>) -> Result<RunningSut, SutError> {
        if self.transport == Transport::Stdio {
            return Ok(self.stdio().await);
        }
        let spawn_error = |source| SutError::Spawn {
            program: self.program.clone(),
            source,
        };
        let stderr = match &log {
            Some(path) => Stdio::from(super::create_log(path).map_err(spawn_error)?),
            None => Stdio::null(),
        };
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .args(["--bind", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        if let Some(faults) = &self.faults {
            command.args(["--faults", faults]);
        }
        if self.transport == Transport::Tcp {
            command.args(["--tcp-bind", "127.0.0.1:0"]);
        }
        // SAFETY: prctl is async-signal-safe; it only sets the child's parent-death signal
        // so the server dies with the harness even if the harness is killed outright.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(spawn_error)?;
        let what = format!("reference server {}", self.program.display());
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(self.startup_timeout, async {
            let mut tcp = None;
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) => {
                        let line = line.trim();
                        if let Some(addr) = line.strip_prefix(TCP_PREFIX) {
                            let addr = addr
                                .parse::<SocketAddr>()
                                .map_err(|e| format!("bad TCP address line {line:?}: {e}"))?;
                            tcp = Some(addr);
                        } else if let Some(url) = line.strip_prefix(READY_PREFIX) {
                            let url = url
                                .parse::<url::Url>()
                                .map_err(|e| format!("bad address line {line:?}: {e}"))?;
                            return self.endpoint(url, tcp);
                        }
                    }
                    Ok(None) => return Err("its output ended before it was ready".to_string()),
                    Err(e) => return Err(format!("failed to read its output: {e}")),
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err("timed out waiting for its address line".to_string()));
        let endpoint = match ready {
            Ok(endpoint) => endpoint,
            Err(reason) => {
                let _ = child.start_kill();
                let status = child.wait().await.ok();
                let reason = match status {
                    Some(s) if s.code().is_some() => format!("{reason} (exited with {s})"),
                    _ => reason,
                };
                return Err(SutError::NotReady {
                    what,
                    timeout: self.startup_timeout,
                    reason,
                    log_tail: log.as_deref().map(log_tail).unwrap_or_default(),
                });
            }
        };
        // Keep reading stdout so the server never writes into a closed pipe.
        let drain = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let info = self.info(&endpoint, self.description()).await;
        Ok(RunningSut::single(
            endpoint,
            info,
            Some(ServerProcess::new(child, Some(drain))),
        ))
    }

    /// The endpoint of a started server whose HTTP endpoint is `url` and TCP listener
    /// (if it printed one) `tcp`.
    fn endpoint(&self, mut url: url::Url, tcp: Option<SocketAddr>) -> Result<Endpoint, String> {
        match self.transport {
            Transport::Http => Ok(Endpoint::Http(url)),
            Transport::WebSocket => {
                url.set_scheme("ws")
                    .map_err(|()| format!("cannot make a WebSocket URL of {url}"))?;
                url.set_path(WS_PATH);
                Ok(Endpoint::WebSocket(url))
            }
            Transport::Tcp => tcp
                .map(Endpoint::Tcp)
                .ok_or_else(|| "it printed no TCP address before its ready line".to_string()),
            Transport::Stdio => Err("a stdio server is not started in advance".to_string()),
        }
    }

    /// Over stdio: no server now; each session starts `program args --stdio [--faults]`,
    /// and the resources are read over all their processes.
    async fn stdio(&self) -> RunningSut {
        let mut args = self.args.clone();
        args.push("--stdio".into());
        if let Some(faults) = &self.faults {
            args.extend(["--faults".into(), faults.into()]);
        }
        let command = StdioCommand {
            start_timeout: self.startup_timeout,
            ..StdioCommand::new(self.program.clone(), args)
        };
        let live = command.live.clone();
        let endpoint = Endpoint::Stdio(command);
        let description = format!(
            "{} (stdio: one server process per session)",
            self.description()
        );
        let info = self.info(&endpoint, description).await;
        let mut running = RunningSut::single(endpoint, info, None);
        running.sessions = Some(live);
        running
    }

    /// `program args...`.
    fn description(&self) -> String {
        let mut description = self.program.display().to_string();
        for arg in &self.args {
            description.push(' ');
            description.push_str(&arg.to_string_lossy());
        }
        description
    }

    async fn info(&self, endpoint: &Endpoint, description: String) -> SutInfo {
        let program = self.program.clone();
        let binary_sha256 = tokio::task::spawn_blocking(move || file_sha256(&program))
            .await
            .ok()
            .flatten();
        SutInfo {
            kind: "embedded".into(),
            description,
            endpoint: endpoint.to_string(),
            transport: endpoint.transport().to_string(),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            binary_sha256,
            faults: self.faults.clone(),
        }
    }
}

/// A running server process.
#[derive(Debug)]
pub(super) struct ServerProcess {
    child: Child,
    /// Reads what it prints to a pipe, if anything does.
    drain: Option<tokio::task::JoinHandle<()>>,
    /// Whether it leads its own process group, which is signalled whole (a wrapper
    /// script's children with it).
    group: bool,
}

impl ServerProcess {
    /// A single server process.
    pub(super) fn new(child: Child, drain: Option<tokio::task::JoinHandle<()>>) -> Self {
        Self {
            child,
            drain,
            group: false,
        }
    }

    /// A server process spawned as the leader of its own process group.
    pub(super) fn group_leader(child: Child) -> Self {
        Self {
            child,
            drain: None,
            group: true,
        }
    }

    /// Sends `signal` to the process, or its group, while it has not been reaped (so its
    /// pid, and the group's id, still name it).
    fn signal(&mut self, signal: libc::c_int) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Some(pid) = self.child.id() {
            let target = if self.group {
                -(pid as libc::pid_t)
            } else {
                pid as libc::pid_t
            };
            // SAFETY: signalling our own unreaped child, or the group it leads.
            unsafe {
                libc::kill(target, signal);
            }
        }
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub(super) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then SIGKILL if it has not exited within 3 s (to its group, if it leads
    /// one).
    pub(super) async fn stop(mut self) {
        self.signal(libc::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(3), self.child.wait())
            .await
            .is_err()
        {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait().await;
        }
        if let Some(drain) = self.drain.take() {
            drain.abort();
        }
    }
}

impl Drop for ServerProcess {
    /// A server still running when the run is dropped (a panic) is killed, with its group.
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

/// The last lines of a log file.
pub(crate) fn log_tail(path: &Path) -> Vec<String> {
    const LINES: usize = 20;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LINES)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

pub(super) fn file_sha256(path: &Path) -> Option<String> {
    let resolved = if path.components().count() == 1 {
        which_in_path(path)?
    } else {
        path.to_owned()
    };
    let bytes = std::fs::read(resolved).ok()?;
    Some(hex::encode(Sha256::digest(&bytes)))
}

fn which_in_path(name: &Path) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}
