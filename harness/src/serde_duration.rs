//! Serde helpers: durations written as human-readable text (`120s`, `1m 30s`, `250ms`).

use std::time::Duration;

use serde::Serializer;

/// Serialises as `humantime` text.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

/// The same for `Option<Duration>`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }
}
