//! Profiling hooks of a SUT profile: commands run at the start and at the end of the
//! measured window (inside the container through `exec`, or beside a process on this
//! machine), their output kept in the run's directory and linked from its reports.
//!
//! A hook beside a process gets `ERLMCP_PERF_SUT_PID` (the server's process id, empty when
//! the harness has none, as for a stdio server's many processes), `ERLMCP_PERF_PROFILE_POINT`
//! (`start` or `end`) and `ERLMCP_PERF_PROFILE_DIR` (where its output goes; a hook may
//! write more files there). A hook that fails or runs out of time is noted in its output
//! file and does not fail the run.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bound on one hook: a profiler that hangs costs this much, not the run.
pub const HOOK_BOUND: Duration = Duration::from_secs(60);

/// What a profile runs at the edges of the measured window: its `profiling` commands (as
/// argument vectors) and its `metrics` endpoint, scraped at both edges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowHooks {
    pub start: Option<Vec<String>>,
    pub end: Option<Vec<String>>,
    /// The server's metrics: a path on its address (`/metrics`) or an `http://` URL.
    pub metrics: Option<String>,
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfilePoint {
    /// As the measured window begins (after the warm-up).
    Start,
    /// As the measured window ends.
    End,
}

impl ProfilePoint {
    pub fn name(self) -> &'static str {
        match self {
            ProfilePoint::Start => "start",
            ProfilePoint::End => "end",
        }
    }

    /// The file its output goes to, in the run's directory.
    pub fn file_name(self) -> String {
        format!("profile-{}.txt", self.name())
    }
}

impl WindowHooks {
    /// The command for `point`, if any.
    pub fn at(&self, point: ProfilePoint) -> Option<&[String]> {
        match point {
            ProfilePoint::Start => self.start.as_deref(),
            ProfilePoint::End => self.end.as_deref(),
        }
    }
}

/// What a hook printed, or why it printed nothing.
pub(super) struct HookOutput {
    pub status: String,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `argv` on this machine with the hook's environment, bounded by [`HOOK_BOUND`].
pub(super) async fn run_beside(
    argv: &[String],
    pid: Option<u32>,
    point: ProfilePoint,
    dir: &Path,
) -> HookOutput {
    let Some((program, args)) = argv.split_first() else {
        return failed("empty command");
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env(
            "ERLMCP_PERF_SUT_PID",
            pid.map(|p| p.to_string()).unwrap_or_default(),
        )
        .env("ERLMCP_PERF_PROFILE_POINT", point.name())
        .env("ERLMCP_PERF_PROFILE_DIR", dir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(HOOK_BOUND, command.output()).await {
        Ok(Ok(out)) => HookOutput {
            status: out.status.to_string(),
            stdout: out.stdout,
            stderr: out.stderr,
        },
        Ok(Err(e)) => failed(&format!("cannot run {program}: {e}")),
        Err(_) => failed(&format!("killed after {} s", HOOK_BOUND.as_secs())),
    }
}

pub(super) fn failed(why: &str) -> HookOutput {
    HookOutput {
        status: format!("failed: {why}"),
        stdout: Vec::new(),
        stderr: Vec::new(),
    }
}

/// Writes a hook's output to `dir/profile-<point>.txt`; its path, or `None` (after a
/// warning) when it cannot be written.
pub(super) fn write_output(
    argv: &[String],
    point: ProfilePoint,
    where_: &str,
    out: HookOutput,
    dir: &Path,
) -> Option<PathBuf> {
    let path = dir.join(point.file_name());
    let mut text = format!(
        "# {} of the measured window, {where_}: {}\n# {}\n",
        point.name(),
        shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" ")),
        out.status
    )
    .into_bytes();
    text.extend_from_slice(&out.stdout);
    if !out.stderr.is_empty() {
        text.extend_from_slice(b"\n# stderr\n");
        text.extend_from_slice(&out.stderr);
    }
    if !out.status.starts_with("exit status: 0") {
        tracing::warn!(
            "profiling hook at the {} of the measured window: {}",
            point.name(),
            out.status
        );
    }
    let written =
        std::fs::create_dir_all(dir).and_then(|()| crate::fsio::write_atomic(&path, &text));
    match written {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!("cannot write {}: {e}", path.display());
            None
        }
    }
}
