//! CPU, memory and network of a container, sampled from the Docker engine's stats API
//! (one-shot reads of the container's cgroup counters).

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;

use super::procfs::{ProcSample, ResourceUsage, summarize};

/// A container to sample: the engine and the container's id.
#[derive(Debug, Clone)]
pub struct ContainerProbe {
    pub docker: Docker,
    pub id: String,
}

/// One reading of a container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DockerSample {
    pub at: Instant,
    /// CPU time used by the container so far, seconds.
    pub cpu_seconds: f64,
    /// Memory in use less the reclaimable page cache, bytes (as `docker stats` shows it).
    pub memory_bytes: u64,
    /// Bytes received over all the container's interfaces so far.
    pub rx_bytes: u64,
    /// Bytes sent over all the container's interfaces so far.
    pub tx_bytes: u64,
}

/// Reads the container's counters once.
pub async fn read_sample(probe: &ContainerProbe) -> Option<DockerSample> {
    let options = StatsOptions {
        stream: false,
        one_shot: true,
    };
    let mut stream = probe.docker.stats(&probe.id, Some(options));
    let at = Instant::now();
    let stats = stream.next().await?.ok()?;
    from_stats(&stats, at)
}

fn from_stats(stats: &ContainerStatsResponse, at: Instant) -> Option<DockerSample> {
    let cpu_ns = stats.cpu_stats.as_ref()?.cpu_usage.as_ref()?.total_usage?;
    let memory = stats.memory_stats.as_ref();
    let usage = memory.and_then(|m| m.usage).unwrap_or(0);
    // cgroup v1 reports the inactive page cache as total_inactive_file, v2 as inactive_file.
    let cache = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| {
            s.get("total_inactive_file")
                .or_else(|| s.get("inactive_file"))
                .copied()
        })
        .unwrap_or(0);
    let (rx, tx) = stats
        .networks
        .as_ref()
        .map(|n| {
            n.values().fold((0, 0), |(rx, tx), i| {
                (rx + i.rx_bytes.unwrap_or(0), tx + i.tx_bytes.unwrap_or(0))
            })
        })
        .unwrap_or((0, 0));
    Some(DockerSample {
        at,
        cpu_seconds: cpu_ns as f64 / 1e9,
        memory_bytes: usage.saturating_sub(cache),
        rx_bytes: rx,
        tx_bytes: tx,
    })
}

/// Samples a container at a fixed interval until finished.
#[derive(Debug)]
pub struct DockerSampler(super::Periodic<DockerSample>);

impl DockerSampler {
    /// Starts sampling every `interval`; stops by itself when the container is gone.
    pub fn start(probe: ContainerProbe, interval: Duration) -> Self {
        Self(super::Periodic::start(interval, move || {
            let probe = probe.clone();
            async move { read_sample(&probe).await }
        }))
    }

    /// Stops sampling and returns every sample taken.
    pub async fn finish(self) -> Vec<DockerSample> {
        self.0.finish().await
    }
}

/// Usage between `from` and `to`: CPU and memory as for a process, plus network bytes.
pub fn summarize_docker(
    samples: &[DockerSample],
    from: Instant,
    to: Instant,
) -> Option<ResourceUsage> {
    let as_proc: Vec<ProcSample> = samples
        .iter()
        .map(|s| ProcSample {
            at: s.at,
            cpu_seconds: s.cpu_seconds,
            rss_bytes: s.memory_bytes,
        })
        .collect();
    let mut usage = summarize(&as_proc, from, to)?;
    // The same bracketing samples as `summarize` uses.
    let first = samples.iter().rposition(|s| s.at <= from).unwrap_or(0);
    let last = samples
        .iter()
        .position(|s| s.at >= to)
        .unwrap_or(samples.len().checked_sub(1)?);
    let (a, b) = (samples.get(first)?, samples.get(last)?);
    usage.source = "docker".into();
    usage.network_rx_bytes = Some(b.rx_bytes.saturating_sub(a.rx_bytes));
    usage.network_tx_bytes = Some(b.tx_bytes.saturating_sub(a.tx_bytes));
    Some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cgroup_v1_stats() {
        let json = r#"{
            "cpu_stats": {"cpu_usage": {"total_usage": 2500000000}},
            "memory_stats": {"usage": 10000000, "stats": {"total_inactive_file": 1000000}},
            "networks": {"eth0": {"rx_bytes": 100, "tx_bytes": 200},
                         "eth1": {"rx_bytes": 1, "tx_bytes": 2}}
        }"#;
        let stats: ContainerStatsResponse = serde_json::from_str(json).unwrap();
        let s = from_stats(&stats, Instant::now()).unwrap();
        assert_eq!(s.cpu_seconds, 2.5);
        assert_eq!(s.memory_bytes, 9_000_000);
        assert_eq!((s.rx_bytes, s.tx_bytes), (101, 202));
    }

    #[test]
    fn summarizes_with_network_bytes() {
        let t0 = Instant::now();
        let sample = |ms: u64, cpu: f64, mem: u64, net: u64| DockerSample {
            at: t0 + Duration::from_millis(ms),
            cpu_seconds: cpu,
            memory_bytes: mem,
            rx_bytes: net,
            tx_bytes: net * 2,
        };
        let samples = [
            sample(0, 1.0, 10, 100),
            sample(1000, 2.0, 30, 1100),
            sample(2000, 2.5, 20, 2100),
        ];
        let u = summarize_docker(&samples, t0, t0 + Duration::from_millis(2000)).unwrap();
        assert_eq!(u.source, "docker");
        assert_eq!(u.cpu_cores_mean, 0.75);
        assert_eq!(u.memory_bytes_peak, 30);
        assert_eq!(u.network_rx_bytes, Some(2000));
        assert_eq!(u.network_tx_bytes, Some(4000));
    }
}
