//! Capacity sweeps: find the rate at which the SUT breaks, in fewer steps than a linear
//! sweep, and the capacity to recommend.
//!
//! A capacity scenario has a `capacity:` section ([`crate::scenario::capacity`]) instead
//! of phases. The sweep ([`crate::sweep`]) starts the SUT once and runs steps ([`step`]) at
//! the rates the search ([`search`]) picks; the result ([`result`]) adds the knee
//! ([`knee`]) and a Universal Scalability Law fit ([`usl`]); the capacity gate ([`gate`])
//! compares it with a committed one. This module holds the algorithms and the result; it
//! runs nothing and writes no report.

pub mod gate;
pub mod knee;
pub mod result;
pub mod search;
pub mod step;
pub mod usl;

pub use crate::scenario::capacity::{CapacitySpec, Strategy};
pub use gate::{CapacityVerdict, gate};
pub use result::{CapacityResult, Limit};
pub use step::{StepResult, StepVerdict};
