//! Child processes of the benchmark: servers pinned to their CPUs and killed on drop, and
//! generators run to completion with their CPU time taken from `wait4`'s rusage.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness::load::{CpuSet, set_affinity};

/// Makes `command`'s process start pinned to `cpus` and die with the benchmark.
pub fn confine(command: &mut Command, cpus: &CpuSet) {
    use std::os::unix::process::CommandExt;
    let mask = cpus.mask();
    // SAFETY: sched_setaffinity and prctl are async-signal-safe; they only change the
    // child's own affinity and parent-death signal.
    unsafe {
        command.pre_exec(move || {
            set_affinity(0, &mask)?;
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
}

/// A server started for the benchmark; dropping it kills it.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub url: String,
}

impl Server {
    /// Starts `command` and waits (at most 15 s) for the line `prefix<url>` on its stdout.
    pub fn start(mut command: Command, prefix: &str, log: &Path) -> anyhow::Result<Self> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("failed to create {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut child = command
            .spawn()
            .with_context(|| format!("failed to start {:?}", command.get_program()))?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let prefix = prefix.to_string();
        // Read the address on a thread so a silent server cannot hang the benchmark.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let found = lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|line| line.trim().strip_prefix(&prefix).map(str::to_string));
            let _ = tx.send(found);
            // Keep draining so the server never blocks on a full pipe.
            lines.for_each(drop);
        });
        let mut server = Self {
            child,
            url: String::new(),
        };
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(Some(url)) => {
                server.url = url;
                Ok(server)
            }
            Ok(None) => bail!(
                "{:?} exited before it was ready; see {}",
                command.get_program(),
                log.display()
            ),
            Err(_) => bail!(
                "{:?} was not ready within 15 s; see {}",
                command.get_program(),
                log.display()
            ),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a generator's process ended.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// Exit code (`None` if a signal ended it).
    pub code: Option<i32>,
    /// User plus system CPU time of the process and the threads it ran.
    pub cpu: Duration,
}

/// Runs `command` to completion (killing it after `limit`), its stdout and stderr into
/// `out` and `err`, and measures its CPU time.
pub fn run_measured(
    mut command: Command,
    out: &Path,
    err: &Path,
    limit: Duration,
) -> anyhow::Result<Finished> {
    let create = |p: &Path| {
        std::fs::File::create(p).with_context(|| format!("failed to create {}", p.display()))
    };
    command
        .stdin(Stdio::null())
        .stdout(create(out)?)
        .stderr(create(err)?);
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("failed to start {:?}", command.get_program()))?;
    let pid = child.id() as libc::pid_t;
    // The child is reaped here with wait4, not through `Child`, to get its rusage.
    let mut killed = false;
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our unreaped child; status and usage are valid out-pointers.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
            };
            let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            if killed {
                bail!(
                    "{:?} did not finish within {limit:?} and was killed",
                    command.get_program()
                );
            }
            return Ok(Finished {
                code,
                cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
            });
        }
        if reaped < 0 {
            bail!(
                "failed to wait for {:?}: {}",
                command.get_program(),
                std::io::Error::last_os_error()
            );
        }
        if !killed && started.elapsed() > limit {
            // SAFETY: signalling our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first executable named `name` on `PATH` or in `~/.cargo/bin`.
pub fn find_program(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let cargo_bin = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin"));
    std::env::split_paths(&path)
        .chain(cargo_bin)
        .map(|dir| dir.join(name))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
