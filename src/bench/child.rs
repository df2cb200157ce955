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
    /// Where it listens: one address for each prefix it was started with, in their order.
    pub urls: Vec<String>,
}

impl Server {
    /// Starts `command` and waits (at most 15 s) for a line `prefix<url>` on its stdout for
    /// each of `prefixes`.
    pub fn start(mut command: Command, prefixes: &[&str], log: &Path) -> anyhow::Result<Self> {
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
        let prefixes: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
        // Read the addresses on a thread so a silent server cannot hang the benchmark.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut found: Vec<Option<String>> = vec![None; prefixes.len()];
            for line in lines.by_ref().map_while(Result::ok) {
                for (prefix, slot) in prefixes.iter().zip(&mut found) {
                    if let Some(url) = line.trim().strip_prefix(prefix.as_str()) {
                        slot.get_or_insert_with(|| url.to_string());
                    }
                }
                if found.iter().all(Option::is_some) {
                    break;
                }
            }
            let _ = tx.send(found.into_iter().collect::<Option<Vec<_>>>());
            // Keep draining so the server never blocks on a full pipe.
            lines.for_each(drop);
        });
        let mut server = Self {
            child,
            urls: Vec::new(),
        };
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(Some(urls)) => {
                server.urls = urls;
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
#[derive(Debug, Clone, Default)]
pub struct Finished {
    /// Exit code (`None` if a signal ended it).
    pub code: Option<i32>,
    /// User plus system CPU time of the process and the threads it ran.
    pub cpu: Duration,
    /// Peak resident memory, bytes (`ru_maxrss`).
    pub max_rss: u64,
    /// Resident memory while it ran, bytes, by seconds since its start (when sampled).
    pub rss: Vec<(f64, u64)>,
}

/// Resident memory of process `pid`, bytes (`/proc/PID/statm`).
fn resident_bytes(pid: libc::pid_t) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// Runs `command` to completion (killing it after `limit`), its stdout and stderr into
/// `out` and `err`, and measures its CPU time, its peak memory and, every `sample_rss`,
/// its resident memory.
pub fn run_measured(
    mut command: Command,
    out: &Path,
    err: &Path,
    limit: Duration,
    sample_rss: Option<Duration>,
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
    let mut rss = Vec::new();
    let mut next_sample = started;
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
                max_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
                rss,
            });
        }
        if let Some(every) = sample_rss
            && Instant::now() >= next_sample
        {
            rss.extend(resident_bytes(pid).map(|b| (started.elapsed().as_secs_f64(), b)));
            next_sample += every;
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
