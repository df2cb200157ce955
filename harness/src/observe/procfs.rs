//! CPU and memory of a local process (or of a set of process trees), sampled from
//! `/proc/<pid>/stat` and `/proc/<pid>/status`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    pub at: Instant,
    /// User plus system CPU time so far, seconds.
    pub cpu_seconds: f64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
}

/// Resource usage over the measured phases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceUsage {
    /// Where the figures come from (`procfs` or `docker`).
    pub source: String,
    /// CPU time used in the window, seconds.
    pub cpu_seconds: f64,
    /// Length of the window, seconds.
    pub wall_seconds: f64,
    /// Mean cores in use (`cpu_seconds / wall_seconds`).
    pub cpu_cores_mean: f64,
    /// Highest cores in use between two samples.
    pub cpu_cores_peak: f64,
    /// Resident memory at the last sample, bytes.
    pub memory_bytes_last: u64,
    /// Highest resident memory sampled, bytes.
    pub memory_bytes_peak: u64,
    /// Samples taken in the window.
    pub samples: usize,
    /// Bytes the SUT received over the network in the window (containers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_rx_bytes: Option<u64>,
    /// Bytes the SUT sent over the network in the window (containers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_tx_bytes: Option<u64>,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`.
pub fn read_sample(pid: u32) -> std::io::Result<ProcSample> {
    let at = Instant::now();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = after_name(&stat).collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15: indexes 11 and 12 after the name.
    let total_ticks = ticks(11) + ticks(12);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    Ok(ProcSample {
        at,
        cpu_seconds: total_ticks as f64 / hz,
        rss_bytes: rss_kib * 1024,
    })
}

/// The fields of a `/proc/<pid>/stat` line after the command name (which may hold spaces):
/// state (field 3) first, then ppid, ...
fn after_name(stat: &str) -> impl Iterator<Item = &str> {
    stat.rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
}

/// The parent of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    after_name(&stat).nth(1)?.parse().ok()
}

/// `roots` and every process descending from them now.
fn trees(roots: &[u32]) -> BTreeSet<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(parent) = parent_of(pid) {
            children.entry(parent).or_default().push(pid);
        }
    }
    let mut found = BTreeSet::new();
    let mut todo: Vec<u32> = roots.to_vec();
    while let Some(pid) = todo.pop() {
        if found.insert(pid) {
            todo.extend(children.get(&pid).into_iter().flatten());
        }
    }
    found
}

/// Readings of the process trees under a changing set of roots (the processes a stdio
/// server's sessions started), summed: CPU time counts every process ever seen at its last
/// reading, so it never falls when one exits; memory is what the live ones hold now.
#[derive(Debug, Default)]
struct TreeReader {
    cpu_seen: BTreeMap<u32, f64>,
}

impl TreeReader {
    fn read(&mut self, live: &crate::mcp::LivePids) -> ProcSample {
        let at = Instant::now();
        let mut rss_bytes = 0;
        for pid in trees(&live.snapshot()) {
            match read_sample(pid) {
                Ok(s) => {
                    self.cpu_seen.insert(pid, s.cpu_seconds);
                    rss_bytes += s.rss_bytes;
                }
                Err(_) => live.remove(pid),
            }
        }
        ProcSample {
            at,
            cpu_seconds: self.cpu_seen.values().sum(),
            rss_bytes,
        }
    }
}

/// Samples a process at a fixed interval until finished.
#[derive(Debug)]
pub struct ResourceSampler(super::Periodic<ProcSample>);

impl ResourceSampler {
    /// Starts sampling `pid` every `interval`; stops by itself when the process is gone.
    pub fn start(pid: u32, interval: Duration) -> Self {
        Self(super::Periodic::start(interval, move || {
            std::future::ready(read_sample(pid).ok())
        }))
    }

    /// Starts sampling the trees of the processes in `live` every `interval`, until
    /// finished (an empty set reads as nothing in use).
    pub fn start_trees(live: crate::mcp::LivePids, interval: Duration) -> Self {
        let mut reader = TreeReader::default();
        Self(super::Periodic::start(interval, move || {
            std::future::ready(Some(reader.read(&live)))
        }))
    }

    /// Stops sampling and returns every sample taken.
    pub async fn finish(self) -> Vec<ProcSample> {
        self.0.finish().await
    }
}

/// Usage between `from` and `to`, from the samples that bracket that window.
pub fn summarize(samples: &[ProcSample], from: Instant, to: Instant) -> Option<ResourceUsage> {
    // The last sample at or before `from` (or the first after it) opens the window.
    let first = samples.iter().rposition(|s| s.at <= from).unwrap_or(0);
    let last = samples
        .iter()
        .position(|s| s.at >= to)
        .unwrap_or(samples.len().checked_sub(1)?);
    let window = samples.get(first..=last)?;
    let (a, b) = (window.first()?, window.last()?);
    let wall = b.at.duration_since(a.at).as_secs_f64();
    if wall <= 0.0 {
        return None;
    }
    let cpu = (b.cpu_seconds - a.cpu_seconds).max(0.0);
    let peak = window
        .windows(2)
        .filter_map(|p| {
            let dt = p[1].at.duration_since(p[0].at).as_secs_f64();
            (dt > 0.0).then(|| (p[1].cpu_seconds - p[0].cpu_seconds).max(0.0) / dt)
        })
        .fold(0.0, f64::max);
    Some(ResourceUsage {
        source: "procfs".into(),
        cpu_seconds: cpu,
        wall_seconds: wall,
        cpu_cores_mean: cpu / wall,
        cpu_cores_peak: peak,
        memory_bytes_last: b.rss_bytes,
        memory_bytes_peak: window.iter().map(|s| s.rss_bytes).max().unwrap_or(0),
        samples: window.len(),
        network_rx_bytes: None,
        network_tx_bytes: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let s = read_sample(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0);
        assert!(s.cpu_seconds >= 0.0);
    }

    #[test]
    fn trees_sum_a_process_and_its_children_and_keep_the_cpu_of_the_dead() {
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 3 & sleep 3 & wait"])
            .spawn()
            .unwrap();
        let live = crate::mcp::LivePids::default();
        live.add(child.id());
        let mut found = BTreeSet::new();
        for _ in 0..100 {
            found = trees(&[child.id()]);
            if found.len() >= 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(found.len() >= 3, "the shell and its two sleeps: {found:?}");
        let mut reader = TreeReader::default();
        let before = reader.read(&live);
        assert!(before.rss_bytes > 0);
        child.kill().unwrap();
        child.wait().unwrap();
        let after = reader.read(&live);
        assert!(
            after.cpu_seconds >= before.cpu_seconds,
            "{before:?} {after:?}"
        );
        assert!(live.snapshot().is_empty(), "the dead root is dropped");
    }

    #[test]
    fn summarizes_the_window() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let samples = vec![
            ProcSample {
                at: at(0),
                cpu_seconds: 1.0,
                rss_bytes: 10,
            },
            ProcSample {
                at: at(1000),
                cpu_seconds: 1.5,
                rss_bytes: 30,
            },
            ProcSample {
                at: at(2000),
                cpu_seconds: 2.5,
                rss_bytes: 20,
            },
            ProcSample {
                at: at(3000),
                cpu_seconds: 9.0,
                rss_bytes: 99,
            },
        ];
        let u = summarize(&samples, at(0), at(2000)).unwrap();
        assert_eq!(u.cpu_seconds, 1.5);
        assert_eq!(u.wall_seconds, 2.0);
        assert_eq!(u.cpu_cores_mean, 0.75);
        assert_eq!(u.cpu_cores_peak, 1.0);
        assert_eq!(u.memory_bytes_peak, 30);
        assert_eq!(u.memory_bytes_last, 20);
        assert_eq!(u.samples, 3);
        assert!(summarize(&[], at(0), at(1)).is_none());
    }
}
