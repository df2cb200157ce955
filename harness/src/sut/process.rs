//! Any local command as an MCP server (`kind: process`). Over stdio nothing runs before
//! the load: every session starts its own process, whose standard error is appended to the
//! run's `sut.log`. A server listening on a port is started once, its output appended to
//! `sut.log`, and loaded once its `readiness` holds. Either way the resources are read from
//! `/proc` over the whole process trees.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::embedded::{ServerProcess, file_sha256, log_tail};
use super::readiness::Readiness;
use super::{RunningSut, SutError, SutInfo, readiness};
use crate::mcp::{Endpoint, LivePids, StdioCommand, Transport};

/// How to start a stdio server.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    /// The profile's name, for descriptions.
    pub name: String,
    /// A path (absolute, or relative to the harness's working directory), or a bare name
    /// found on `PATH`.
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Added to the harness's environment.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory of every session's process.
    pub dir: Option<PathBuf>,
    /// Bound on one session's start (process up, `initialize` answered).
    pub startup_timeout: Duration,
    /// The server's version, where the profile names it.
    pub version: Option<String>,
    /// The port it listens on, for a server that is not a stdio server.
    pub listen: Option<Listen>,
    /// What runs at the edges of the measured window: profiling commands beside it, a scrape
    /// of its metrics.
    pub hooks: Option<super::WindowHooks>,
}

/// Where a server that listens on a port of this machine is reached, and when it is ready.
#[derive(Debug, Clone, PartialEq)]
pub struct Listen {
    /// `http`, `websocket` or `tcp`.
    pub transport: Transport,
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The MCP endpoint's path (HTTP and WebSocket).
    pub path: String,
    pub readiness: Readiness,
}

impl Listen {
    /// The MCP endpoint on 127.0.0.1.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        let url = format!("http://127.0.0.1:{}{}", self.port, self.path)
            .parse::<url::Url>()
            .map_err(|e| format!("bad endpoint path {:?}: {e}", self.path))?;
        super::endpoint_over(self.transport, url)
    }
}

impl ProcessSpec {
    /// Starts the server (one listening on a port), or checks a program given by path
    /// exists and hands each session the command to start (a stdio server; a bare name is
    /// looked up on `PATH` by each spawn).
    pub(super) async fn start(&self, log: Option<PathBuf>) -> Result<RunningSut, SutError> {
        let program = self.program.clone();
        let spawn_error = |source| SutError::Spawn {
            program: program.clone(),
            source,
        };
        if program.components().count() > 1 {
            std::fs::metadata(&program).map_err(spawn_error)?;
        }
        if let Some(listen) = &self.listen {
            return self.start_listening(listen, log).await;
        }
        if let Some(path) = &log {
            super::create_log(path).map_err(spawn_error)?;
        }
        let live = LivePids::default();
        let command = StdioCommand {
            program: program.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            dir: self.dir.clone(),
            stderr: log,
            start_timeout: self.startup_timeout,
            live: live.clone(),
        };
        let endpoint = Endpoint::Stdio(command);
        let binary_sha256 = self.program_sha256().await;
        let info = SutInfo {
            kind: "process".into(),
            description: format!(
                "{} `{}` (stdio: one process per session)",
                self.name,
                endpoint.to_string().trim_start_matches("stdio:")
            ),
            endpoint: endpoint.to_string(),
            transport: endpoint.transport().to_string(),
            version: self.version.clone(),
            binary_sha256,
            faults: None,
        };
        let mut running = RunningSut::single(endpoint, info, None);
        running.sessions = Some(live);
        Ok(running)
    }

    /// SHA-256 of the program's file, where it can be read.
    async fn program_sha256(&self) -> Option<String> {
        let program = self.program.clone();
        tokio::task::spawn_blocking(move || file_sha256(&program))
            .await
            .ok()
            .flatten()
    }

    /// `program args...` as written.
    fn command_line(&self) -> String {
        let mut line = self.program.display().to_string();
        for arg in &self.args {
            line.push(' ');
            line.push_str(&arg.to_string_lossy());
        }
        line
    }

    /// Starts a server that listens on `listen.port` and waits until it is ready: killed,
    /// with its log's last lines in the error, if it exits first or is not ready within
    /// the start-up bound.
    async fn start_listening(
        &self,
        listen: &Listen,
        log: Option<PathBuf>,
    ) -> Result<RunningSut, SutError> {
        let endpoint = listen.endpoint().map_err(|reason| SutError::NotReady {
            what: self.name.clone(),
            timeout: self.startup_timeout,
            reason,
            log_tail: Vec::new(),
        })?;
        // Whatever answers there before the start would be measured instead.
        std::net::TcpListener::bind(("127.0.0.1", listen.port)).map_err(|source| {
            SutError::PortInUse {
                port: listen.port,
                source,
            }
        })?;
        let spawn_error = |source| SutError::Spawn {
            program: self.program.clone(),
            source,
        };
        let (stdout, stderr) = match &log {
            Some(path) => {
                let file = super::create_log(path).map_err(spawn_error)?;
                let copy = file.try_clone().map_err(spawn_error)?;
                (Stdio::from(copy), Stdio::from(file))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Its own group, signalled whole at the end: a wrapper's children go with it.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
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
        let exited = || {
            let status = child.try_wait();
            async move {
                match status {
                    Ok(Some(status)) => Some(format!("it exited before it was ready ({status})")),
                    _ => None,
                }
            }
        };
        let seen = || match (&listen.readiness, &log) {
            (Readiness::Log(needle), Some(path)) => log_contains(path, needle),
            _ => false,
        };
        let timeout = self.startup_timeout;
        let ready = readiness::wait(&listen.readiness, &endpoint, timeout, exited, seen).await;
        let server = ServerProcess::group_leader(child);
        if let Err(reason) = ready {
            drop(server);
            return Err(SutError::NotReady {
                what: format!("{} `{}`", self.name, self.command_line()),
                timeout: self.startup_timeout,
                reason,
                log_tail: log.as_deref().map(log_tail).unwrap_or_default(),
            });
        }
        let live = LivePids::default();
        if let Some(pid) = server.pid() {
            live.add(pid);
        }
        let binary_sha256 = self.program_sha256().await;
        let info = SutInfo {
            kind: "process".into(),
            description: format!(
                "{} `{}` (listening on {endpoint})",
                self.name,
                self.command_line()
            ),
            endpoint: endpoint.to_string(),
            transport: endpoint.transport().to_string(),
            version: self.version.clone(),
            binary_sha256,
            faults: None,
        };
        let mut running = RunningSut::single(endpoint, info, Some(server));
        // Sampled as a process tree: a wrapper script's children are the server.
        running.sessions = Some(live);
        Ok(running)
    }
}

/// Whether the log at `path` holds `needle`.
fn log_contains(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text.contains(needle))
}
