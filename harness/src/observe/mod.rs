//! Resource usage of the SUT while the load runs: from `/proc` for a local process, from
//! the Docker engine for a container.

mod docker;
mod procfs;

use std::time::{Duration, Instant};

pub use docker::{ContainerProbe, DockerSample, DockerSampler, summarize_docker};
pub use procfs::{ProcSample, ResourceSampler, ResourceUsage, read_sample, summarize};

/// What to sample.
#[derive(Debug, Clone)]
pub enum ResourceProbe {
    /// A local process, by pid (`/proc`).
    Process(u32),
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
    /// Usage between `from` and `to`, if the samples cover it.
    pub fn summarize(&self, from: Instant, to: Instant) -> Option<ResourceUsage> {
        match self {
            Samples::None => None,
            Samples::Process(s) => summarize(s, from, to),
            Samples::Container(s) => summarize_docker(s, from, to),
        }
    }
}
