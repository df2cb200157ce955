//! Any local command as a stdio MCP server (`kind: process`): nothing runs before the load;
//! every session starts its own process, whose standard error is appended to the run's
//! `sut.log`, and the resources are read from `/proc` over all their process trees.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::embedded::file_sha256;
use super::{RunningSut, SutError, SutInfo};
use crate::mcp::{Endpoint, LivePids, StdioCommand};

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
}

impl ProcessSpec {
    /// Checks a program given by path exists (a bare name is looked up on `PATH` by each
    /// spawn), and hands each session the command to start.
    pub(super) async fn start(&self, log: Option<PathBuf>) -> Result<RunningSut, SutError> {
        let program = self.program.clone();
        let spawn_error = |source| SutError::Spawn {
            program: program.clone(),
            source,
        };
        if program.components().count() > 1 {
            std::fs::metadata(&program).map_err(spawn_error)?;
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
        let hashed = program.clone();
        let binary_sha256 = tokio::task::spawn_blocking(move || file_sha256(&hashed))
            .await
            .ok()
            .flatten();
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
}
