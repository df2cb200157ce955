//! Resource usage of the SUT while the load runs: from `/proc` for a local process, from
//! the Docker engine for a container.

mod docker;
mod procfs;
mod scrape;

use std::time::{Duration, Instant};

pub use docker::{ContainerProbe, DockerSample, DockerSampler, summarize_docker};
pub use procfs::{ProcSample, ResourceSampler, ResourceUsage, read_sample, summarize};
pub use scrape::{MetricsScrape, ScrapeError, ServerHistogram, ServerView, scrape, server_view};

/// Bound on one reading: a Docker engine that stops answering costs a skipped sample, not
/// a run that never ends.
const READING_BOUND: Duration = Duration::from_secs(5);

/// Takes a reading every `interval` until finished (plus one last reading then), or until a
/// reading fails because the target is gone. A reading that takes longer than its bound is
/// skipped.
#[derive(Debug)]
pub(crate) struct Periodic<T> {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<T>>,
}

impl<T: Send + 'static> Periodic<T> {
    pub(crate) fn start<F, Fut>(interval: Duration, read: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Option<T>> + Send,
    {
        Self::start_bounded(interval, READING_BOUND, read)
    }

    fn start_bounded<F, Fut>(interval: Duration, bound: Duration, mut read: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Option<T>> + Send,
    {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => match tokio::time::timeout(bound, read()).await {
                        Ok(Some(s)) => samples.push(s),
                        Ok(None) => return samples, // the target is gone
                        Err(_) => {}                // too slow: skipped
                    },
                }
            }
            if let Ok(Some(s)) = tokio::time::timeout(bound, read()).await {
                samples.push(s);
            }
            samples
        });
        Self { stop, task }
    }

    pub(crate) async fn finish(self) -> Vec<T> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// What to sample.
#[derive(Debug, Clone)]
pub enum ResourceProbe {
    /// A local process, by pid (`/proc`).
    Process(u32),
    /// The process trees a stdio server's sessions started (`/proc`), summed.
    Processes(crate::mcp::LivePids),
    /// A container (Docker stats).
    Container(ContainerProbe),
}

/// A running sampler of either kind.
#[derive(Debug)]
pub enum Sampler {
    Process(ResourceSampler),
    Container(DockerSampler),
}

/// Everything a [`Sampler`] took.
#[derive(Debug, Clone, Default)]
pub enum Samples {
    /// Nothing was sampled (a URL target).
    #[default]
    None,
    Process(Vec<ProcSample>),
    Container(Vec<DockerSample>),
}

impl Sampler {
    /// Starts sampling `probe` every `interval`.
    pub fn start(probe: ResourceProbe, interval: Duration) -> Self {
        match probe {
            ResourceProbe::Process(pid) => Sampler::Process(ResourceSampler::start(pid, interval)),
            ResourceProbe::Processes(live) => {
                Sampler::Process(ResourceSampler::start_trees(live, interval))
            }
            ResourceProbe::Container(c) => Sampler::Container(DockerSampler::start(c, interval)),
        }
    }

    /// Stops sampling and returns the samples.
    pub async fn finish(self) -> Samples {
        match self {
            Sampler::Process(s) => Samples::Process(s.finish().await),
            Sampler::Container(s) => Samples::Container(s.finish().await),
        }
    }
}

impl Samples {
    /// Memory over time: each sample's time and resident (procfs) or in-use (Docker) bytes.
    pub fn memory(&self) -> Vec<(Instant, u64)> {
        match self {
            Samples::None => Vec::new(),
            Samples::Process(s) => s.iter().map(|s| (s.at, s.rss_bytes)).collect(),
            Samples::Container(s) => s.iter().map(|s| (s.at, s.memory_bytes)).collect(),
        }
    }

    /// Usage between `from` and `to`, if the samples cover it.
    pub fn summarize(&self, from: Instant, to: Instant) -> Option<ResourceUsage> {
        match self {
            Samples::None => None,
            Samples::Process(s) => summarize(s, from, to),
            Samples::Container(s) => summarize_docker(s, from, to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reading_that_never_answers_is_skipped_and_finish_is_bounded() {
        let mut calls = 0u32;
        let sampler = Periodic::start_bounded(
            Duration::from_millis(10),
            Duration::from_millis(100),
            move || {
                calls += 1;
                let hang = calls.is_multiple_of(2);
                async move {
                    if hang {
                        std::future::pending::<()>().await;
                    }
                    Some(calls)
                }
            },
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let samples = tokio::time::timeout(Duration::from_secs(5), sampler.finish())
            .await
            .expect("finish is bounded");
        // Odd readings answered, even ones hung and were skipped.
        assert!(samples.len() >= 2, "{samples:?}");
        assert!(samples.iter().all(|c| !c.is_multiple_of(2)), "{samples:?}");
    }
}
