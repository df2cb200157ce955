//! The load engine: schedule, request mix, workers and what they measure.

mod cpu_time;
mod engine;
mod flow;
mod live;

/// Version of the measurement method: bumped whenever the generator's pacing, timing or
/// connection behaviour changes what a figure means, so figures of two versions are never
/// compared. 1: everything recorded before the version was (sends on tokio's timer or the
/// first `timerfd` pacer, latency ended when the answer was read). 2: reads on the worker's
/// ticks, latency ended at the kernel's receive stamp, the 1 ms wake-up quantum, per-session
/// connection cap. 3: sends at least [`SEND_GAP`] apart instead of a quantum, reads ticked a
/// quantum after the last wake-up, slots past the in-flight limit sent when a request
/// finishes (see docs/performance.md).
pub const METHOD_VERSION: u32 = 3;

/// The method version of records and baselines written before it was recorded.
pub fn first_method_version() -> u32 {
    1
}

mod mix;
mod outages;
mod pacer;
mod placement;
mod progress;
mod schedule;
mod seat;
mod start;
mod stats;
mod stop;

pub use cpu_time::process_cpu;
pub use engine::{LoadError, LoadOutcome, LoadPlan, STREAM_IN_FLIGHT, raise_open_files_limit, run};
pub use flow::{FlowPlan, StepDone};
pub use live::{CONTENT_TYPE, LiveMetrics, LiveRun};
pub use mix::{Mix, session_of};
pub use outages::{MIN_OUTAGE_FAILURES, Outage, outages};
pub use pacer::{Pacing, PreciseTimer, QUANTUM, SEND_GAP, UnknownPacing};
pub use placement::{CpuSet, CpuSetError, set_affinity};
pub use progress::{Progress, ProgressEvent, ProgressListener, Silent, watch};
pub use schedule::{Schedule, Segment, Slot};
pub use start::{ClockStatus, Shard, ShardError, parse_start_at};
pub use stats::{
    BEAT, Beat, Completion, LATE_THRESHOLD, LATENCY_SIGFIG, NodeStats, OpStats, Sample, Stats,
    WINDOW_SIGFIG, WindowStats, histogram, micros,
};
pub use stop::Stop;
