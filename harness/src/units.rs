//! Numbers for records and people: a share in percent as records keep it, and
//! microseconds as reports write them.

use std::time::Duration;

/// `part / whole` in percent, 0 when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round4(100.0 * part as f64 / whole as f64)
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Formats microseconds for people: `850 µs`, `2.30 ms`, `1.25 s`.
pub fn format_us(us: u64) -> String {
    let d = Duration::from_micros(us);
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_microseconds() {
        assert_eq!(format_us(850), "850 µs");
        assert_eq!(format_us(2_300), "2.30 ms");
        assert_eq!(format_us(1_250_000), "1.25 s");
        assert_eq!(percent(2, 10_000), 0.02);
        assert_eq!(percent(1, 0), 0.0);
    }
}
