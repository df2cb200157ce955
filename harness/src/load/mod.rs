//! The load engine: schedule, request mix, workers and what they measure.

mod engine;
mod mix;
mod pacer;
mod placement;
mod progress;
mod schedule;
mod stats;

pub use engine::{LoadError, LoadOutcome, LoadPlan, raise_open_files_limit, run};
pub use mix::{Mix, session_of};
pub use pacer::{Pacing, PreciseTimer, QUANTUM, UnknownPacing};
pub use placement::{CpuSet, CpuSetError, set_affinity};
pub use progress::{Progress, ProgressMode, report};
pub use schedule::{Schedule, Segment, Slot};
pub use stats::{
    Completion, LATE_THRESHOLD, LATENCY_SIGFIG, NodeStats, OpStats, Stats, WindowStats, histogram,
    micros,
};
