//! Numbers for records and people: a share in percent as records keep it, a median, and
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

/// A size as written, `512M`, `8 MiB`, `1.5`: its number and the unit after it (trimmed,
/// possibly empty); `None` when it does not start with a number.
pub fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit.trim()))
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

/// The median of `values` (mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
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

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
