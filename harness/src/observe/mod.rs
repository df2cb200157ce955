//! Resource usage of the SUT while the load runs.

mod procfs;

pub use procfs::{ProcSample, ResourceSampler, ResourceUsage, read_sample, summarize};
