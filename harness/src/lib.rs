//! erlmcp-perf's harness: scenarios, the open-model load engine, the system under test,
//! resource sampling, run records and reports. It knows nothing of test frameworks; the
//! `erlmcp-perf` CLI and the perf suite are thin layers over [`run::run_scenario`].

pub mod calibrate;
pub mod capacity;
pub mod check;
pub mod env;
pub mod exposition;
pub mod fsio;
pub mod gate;
pub mod leak;
pub mod load;
pub mod machine;
pub mod mcp;
pub mod observe;
pub mod outcome;
pub mod record;
pub mod report;
pub mod run;
pub mod scenario;
pub(crate) mod serde_duration;
pub mod slo;
pub mod store;
pub mod sut;
pub mod sweep;
pub mod trend;
pub mod units;

/// Rust optimisation level the harness was built with (`0` is a debug build, whose
/// generator would measure itself rather than the server).
pub const BUILD_OPT_LEVEL: &str = env!("ERLMCP_PERF_BUILD_OPT_LEVEL");
