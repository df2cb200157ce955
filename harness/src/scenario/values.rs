//! Values as scenario files write them: durations (`120s`, `250ms`) and percentages
//! (`40%`), shared by every section's raw form.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A duration written `120s`, `1m 30s`, `250ms`, or a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DurationValue(pub Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `120s`, `2m` or `500ms`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<DurationValue, E> {
                humantime::parse_duration(s.trim())
                    .map(DurationValue)
                    .map_err(|e| E::custom(format!("invalid duration `{s}`: {e}")))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<DurationValue, E> {
                Ok(DurationValue(Duration::from_secs(n)))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<DurationValue, E> {
                u64::try_from(n)
                    .map(|n| DurationValue(Duration::from_secs(n)))
                    .map_err(|_| E::custom(format!("invalid duration `{n}`: negative")))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<DurationValue, E> {
                Duration::try_from_secs_f64(n)
                    .map(DurationValue)
                    .map_err(|_| E::custom(format!("invalid duration `{n}`")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A percentage written `40%` or as a bare number (`40`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Percent(pub f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage such as `40%`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Percent, E> {
                let digits = s.trim().strip_suffix('%').unwrap_or(s).trim();
                match digits.parse::<f64>() {
                    Ok(n) if n.is_finite() => Ok(Percent(n)),
                    _ => Err(E::custom(format!("invalid percentage `{s}`"))),
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Percent, E> {
                Ok(Percent(n as f64))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Percent, E> {
                Ok(Percent(n as f64))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Percent, E> {
                Ok(Percent(n))
            }
        }
        d.deserialize_any(V)
    }
}
