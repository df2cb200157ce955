//! The statistics that decide whether a change stands out of run-to-run noise.

/// One-sided exact Mann-Whitney U test: the probability, under "both samples come from one
/// distribution", of a rank sum for `worse` at least as large as observed. Small p means
/// `worse` is stochastically larger than `base`. Ties count one half.
///
/// Exact by enumeration of rank arrangements (dynamic programming), fine for the handful
/// of runs a gate compares (`base.len() + worse.len() <= 40`); `None` for empty samples.
pub fn mann_whitney_greater(base: &[f64], worse: &[f64]) -> Option<f64> {
    let (n, m) = (base.len(), worse.len());
    if n == 0 || m == 0 || n + m > 40 {
        return None;
    }
    // U counts pairs (b, w) with w > b, ties as 1/2; doubled to stay in integers.
    let mut u2 = 0u64;
    for &w in worse {
        for &b in base {
            u2 += match w.partial_cmp(&b) {
                Some(std::cmp::Ordering::Greater) => 2,
                Some(std::cmp::Ordering::Equal) => 1,
                _ => 0,
            };
        }
    }
    // Distribution of U (no ties) over all C(n+m, m) arrangements: counts[u] for u in 0..=n*m.
    // f(i, j) = arrangements of i base and j worse values; adding a worse value above all i
    // base values contributes i to U.
    let max_u = n * m;
    let mut table = vec![vec![vec![0f64; max_u + 1]; m + 1]; n + 1];
    for row in table.iter_mut() {
        row[0][0] = 1.0;
    }
    for cell in table[0].iter_mut() {
        cell[0] = 1.0;
    }
    for i in 1..=n {
        for j in 1..=m {
            for u in 0..=i * j {
                // Largest value is a worse one (adds i) or a base one (adds 0).
                let from_worse = if u >= i { table[i][j - 1][u - i] } else { 0.0 };
                let from_base = table[i - 1][j][u];
                table[i][j][u] = from_worse + from_base;
            }
        }
    }
    let counts = &table[n][m];
    let total: f64 = counts.iter().sum();
    // P(U >= observed); with ties, observed U may be fractional: round up conservatively.
    let threshold = u2.div_ceil(2) as usize;
    let tail: f64 = counts[threshold.min(max_u + 1).min(counts.len())..]
        .iter()
        .sum();
    Some(tail / total)
}

/// One-sided test that a current error count is higher than the baseline's, conditional
/// on the total: under equal rates, `k_cur ~ Binomial(k_base + k_cur, n_cur / (n_base + n_cur))`.
/// Returns P(K >= k_cur).
pub fn error_counts_greater(k_base: u64, n_base: u64, k_cur: u64, n_cur: u64) -> f64 {
    if k_cur == 0 || n_base + n_cur == 0 {
        return 1.0;
    }
    let k = k_base + k_cur;
    let p = n_cur as f64 / (n_base + n_cur) as f64;
    // Sum the upper tail in log space for stability.
    let ln_choose = |n: u64, r: u64| {
        ln_gamma(n as f64 + 1.0) - ln_gamma(r as f64 + 1.0) - ln_gamma((n - r) as f64 + 1.0)
    };
    (k_cur..=k)
        .map(|r| (ln_choose(k, r) + r as f64 * p.ln() + (k - r) as f64 * (1.0 - p).ln()).exp())
        .sum::<f64>()
        .min(1.0)
}

/// Lanczos approximation of ln Γ(x), x > 0.
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn mann_whitney_exact_tails() {
        // Complete separation of 3 vs 3: 1 arrangement of C(6,3) = 20.
        assert!(close(
            mann_whitney_greater(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap(),
            0.05
        ));
        // 5 vs 3: 1 / C(8,3) = 1/56.
        let p = mann_whitney_greater(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0]).unwrap();
        assert!(close(p, 1.0 / 56.0));
        // The other direction is certain.
        assert!(close(
            mann_whitney_greater(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]).unwrap(),
            1.0
        ));
        // One overlap: U = 8 of 9; P(U >= 8) = 2/20.
        assert!(close(
            mann_whitney_greater(&[1.0, 2.0, 4.5], &[4.0, 5.0, 6.0]).unwrap(),
            0.1
        ));
        // Identical samples are far from significant.
        assert!(mann_whitney_greater(&[1.0, 1.0, 1.0], &[1.0, 1.0, 1.0]).unwrap() >= 0.5);
        assert_eq!(mann_whitney_greater(&[], &[1.0]), None);
    }

    #[test]
    fn error_count_test() {
        // Equal exposure, 2 vs 5 errors: P(Bin(7, 1/2) >= 5) = 29/128.
        assert!(close(
            error_counts_greater(2, 10_000, 5, 10_000),
            29.0 / 128.0
        ));
        // The same rates over 100x the requests are clearly different.
        assert!(error_counts_greater(200, 1_000_000, 500, 1_000_000) < 1e-6);
        assert_eq!(error_counts_greater(3, 1000, 0, 1000), 1.0);
        // New errors where there were none: 3 is not enough, 30 is.
        assert!(error_counts_greater(0, 30_000, 3, 30_000) > 0.1);
        assert!(error_counts_greater(0, 30_000, 30, 30_000) < 1e-6);
    }
}
