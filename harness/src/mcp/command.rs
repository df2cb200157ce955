//! [`StdioCommand`]: the command a stdio MCP server is started with, once per session, and
//! the processes it is running now.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What every session over stdio starts: `program args...` with `env` added, in `dir`, its
/// standard error appended to `stderr` (discarded when `None`, so a chatty server never
/// stalls on a full pipe either way).
#[derive(Debug, Clone)]
pub struct StdioCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub dir: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    /// Bound on a session's start: the process up and `initialize` answered (at least the
    /// request timeout).
    pub start_timeout: Duration,
    /// The session processes started from this command, for resource sampling.
    pub live: LivePids,
}

impl StdioCommand {
    /// `program args...`, environment and directory inherited, standard error discarded,
    /// started within the request timeout.
    pub fn new(program: impl Into<PathBuf>, args: Vec<OsString>) -> Self {
        Self {
            program: program.into(),
            args,
            env: Vec::new(),
            dir: None,
            stderr: None,
            start_timeout: Duration::ZERO,
            live: LivePids::default(),
        }
    }
}

/// Two commands are equal when they start the same thing (the live processes aside).
impl PartialEq for StdioCommand {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.program,
            &self.args,
            &self.env,
            &self.dir,
            &self.stderr,
        ) == (
            &other.program,
            &other.args,
            &other.env,
            &other.dir,
            &other.stderr,
        )
    }
}

/// `program args...`.
impl fmt::Display for StdioCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program.display())?;
        for arg in &self.args {
            write!(f, " {}", arg.to_string_lossy())?;
        }
        Ok(())
    }
}

/// Process ids of the servers a [`StdioCommand`] started, shared by every clone of it. A
/// pid is added when its process is spawned; readers drop the ones that have exited.
#[derive(Debug, Clone, Default)]
pub struct LivePids(Arc<Mutex<BTreeSet<u32>>>);

impl LivePids {
    /// Adds a spawned process.
    pub fn add(&self, pid: u32) {
        self.lock().insert(pid);
    }

    /// The pids recorded, oldest first.
    pub fn snapshot(&self) -> Vec<u32> {
        self.lock().iter().copied().collect()
    }

    /// Forgets a process that has exited.
    pub fn remove(&self, pid: u32) {
        self.lock().remove(&pid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
