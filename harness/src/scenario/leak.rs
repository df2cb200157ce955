//! The `leak` section: a soak's memory check. Over the measured phases the SUT's memory is
//! fitted by least squares; growth faster than `max_growth_per_minute`, with a fit good
//! enough to mean it (`min_r2`), that does not come back in the `cool_down` after the load
//! is a leak.
//!
//! ```yaml
//! leak:
//!   max_growth_per_minute: 8MiB   # bytes (`B`, `KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB`)
//!   min_r2: 0.8                   # default 0.8
//!   cool_down: 30s                # idle after the load; default 30s, 0s skips the check
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values::DurationValue;

/// Fit quality below which growth is not called a leak, when a scenario does not say.
pub const DEFAULT_MIN_R2: f64 = 0.8;
/// Idle time after the load, when a scenario does not say.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(30);

/// A validated `leak` section.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LeakSpec {
    /// Memory growth over the measured phases above which (with a good fit) it is a leak,
    /// bytes per minute.
    pub max_growth_per_minute: u64,
    /// Least R² of the linear fit for growth to count.
    pub min_r2: f64,
    /// Idle time after the load, sampled, for memory to come back.
    #[serde(with = "crate::serde_duration")]
    pub cool_down: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLeak {
    pub max_growth_per_minute: RawBytes,
    #[serde(default)]
    pub min_r2: Option<f64>,
    #[serde(default)]
    pub cool_down: Option<DurationValue>,
}

/// A byte count as a scenario file writes it: a number, or text with a unit (`8MiB`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum RawBytes {
    Number(f64),
    Text(String),
}

/// Parses `8MiB`, `512 KB`, `1048576`: bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = crate::units::number_and_unit(text)
        .ok_or_else(|| format!("`{text}` is not a size such as 8MiB"))?;
    let factor: f64 = match unit {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    Ok((number * factor).round() as u64)
}

impl RawLeak {
    /// The section, or the problems with it (`field`, reason).
    pub(super) fn validate(self, problem: &mut impl FnMut(String, String)) -> Option<LeakSpec> {
        let at = |f: &str| format!("scenario.leak.{f}");
        let mut ok = true;
        let growth = match self.max_growth_per_minute {
            RawBytes::Number(n) if n.is_finite() && n > 0.0 => Some(n as u64),
            RawBytes::Number(n) => {
                problem(
                    at("max_growth_per_minute"),
                    format!("must be above 0, got {n}"),
                );
                None
            }
            RawBytes::Text(t) => match parse_bytes(&t) {
                Ok(0) => {
                    problem(at("max_growth_per_minute"), "must be above 0".into());
                    None
                }
                Ok(n) => Some(n),
                Err(e) => {
                    problem(at("max_growth_per_minute"), e);
                    None
                }
            },
        };
        ok &= growth.is_some();
        let min_r2 = self.min_r2.unwrap_or(DEFAULT_MIN_R2);
        if !(0.0..=1.0).contains(&min_r2) {
            problem(at("min_r2"), format!("must be in 0..=1, got {min_r2}"));
            ok = false;
        }
        let cool_down = self.cool_down.map_or(DEFAULT_COOL_DOWN, |d| d.0);
        ok.then(|| LeakSpec {
            max_growth_per_minute: growth.unwrap_or_default(),
            min_r2,
            cool_down,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_their_units() {
        assert_eq!(parse_bytes("8MiB"), Ok(8 << 20));
        assert_eq!(parse_bytes("512 KB"), Ok(512_000));
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("1.5GiB"), Ok(3 << 29));
        assert!(
            parse_bytes("8 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_bytes("MiB").is_err());
    }
}
