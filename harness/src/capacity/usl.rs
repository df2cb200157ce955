//! Universal Scalability Law fit: throughput X against concurrency N,
//! `X(N) = λN / (1 + σ(N − 1) + κN(N − 1))`.
//!
//! Under an open model N is not set but measured: the mean requests in flight of a step,
//! by Little's law (achieved rate times mean latency). The fit is linear least squares on
//! `N / X = a + b(N − 1) + cN(N − 1)` with `λ = 1/a`, `σ = b/a`, `κ = c/a`, over the
//! steps the SUT answered (not those the generator limited, nor those mostly failing).

use serde::{Deserialize, Serialize};

use super::step::{StepResult, StepVerdict};

/// Fewest steps a fit needs (three parameters and at least one degree of freedom).
pub const MIN_POINTS: usize = 4;

/// The fit, or why there is none worth reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UslFit {
    /// Whether the parameters mean something (enough spread in N, all of them valid, a
    /// good fit); when false, `note` says why and the parameters are for reference only.
    pub meaningful: bool,
    pub note: String,
    /// Steps used.
    pub points: usize,
    /// Throughput of one request in flight, requests per second.
    pub lambda: Option<f64>,
    /// Contention.
    pub sigma: Option<f64>,
    /// Coherency (crosstalk).
    pub kappa: Option<f64>,
    /// Coefficient of determination of the fitted throughput.
    pub r_squared: Option<f64>,
    /// Concurrency of peak throughput, `sqrt((1 − σ) / κ)`, when κ > 0.
    pub peak_concurrency: Option<f64>,
    /// Throughput the fit predicts at that concurrency.
    pub peak_rps: Option<f64>,
}

impl UslFit {
    fn none(points: usize, note: impl Into<String>) -> Self {
        Self {
            meaningful: false,
            note: note.into(),
            points,
            lambda: None,
            sigma: None,
            kappa: None,
            r_squared: None,
            peak_concurrency: None,
            peak_rps: None,
        }
    }

    /// Throughput the fit predicts at concurrency `n`.
    pub fn predict(&self, n: f64) -> Option<f64> {
        let (l, s, k) = (self.lambda?, self.sigma?, self.kappa?);
        Some(l * n / (1.0 + s * (n - 1.0) + k * n * (n - 1.0)))
    }
}

/// Fits the USL to the steps the SUT answered.
pub fn fit(steps: &[StepResult]) -> UslFit {
    let points: Vec<(f64, f64)> = steps
        .iter()
        .filter(|s| s.verdict != StepVerdict::GeneratorLimit && s.error_rate_percent < 50.0)
        .filter(|s| s.concurrency > 0.0 && s.achieved_rps > 0.0)
        .map(|s| (s.concurrency, s.achieved_rps))
        .collect();
    let n = points.len();
    if n < MIN_POINTS {
        return UslFit::none(n, format!("{n} usable steps, {MIN_POINTS} needed"));
    }
    let (lo, hi) = points
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    // Normal equations of y = a + b u + c v with u = N − 1, v = N(N − 1), y = N / X.
    let rows: Vec<[f64; 4]> = points
        .iter()
        .map(|&(c, x)| [1.0, c - 1.0, c * (c - 1.0), c / x])
        .collect();
    let mut m = [[0.0; 4]; 3];
    for r in &rows {
        for (mi, ri) in m.iter_mut().zip(r) {
            for (mij, rj) in mi.iter_mut().zip(r) {
                *mij += ri * rj;
            }
        }
    }
    let Some([a, b, c]) = solve3(m) else {
        return UslFit::none(n, "the steps' concurrencies do not determine a fit");
    };
    if a <= 0.0 {
        return UslFit::none(n, "the fit gives no positive single-request throughput");
    }
    let (lambda, sigma, kappa) = (1.0 / a, b / a, c / a);
    let mut f = UslFit::none(n, String::new());
    f.lambda = Some(lambda);
    f.sigma = Some(sigma);
    f.kappa = Some(kappa);
    let mean = points.iter().map(|p| p.1).sum::<f64>() / n as f64;
    let (ss_res, ss_tot) = points.iter().fold((0.0, 0.0), |(r, t), &(c, x)| {
        let e = x - f.predict(c).unwrap_or(0.0);
        (r + e * e, t + (x - mean) * (x - mean))
    });
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        0.0
    };
    f.r_squared = Some(r2);
    if kappa > 0.0 && sigma < 1.0 {
        let peak = ((1.0 - sigma) / kappa).sqrt();
        f.peak_concurrency = Some(peak);
        f.peak_rps = f.predict(peak);
    }
    // Small negative σ or κ are noise around zero; clearly negative ones are no USL curve.
    let tolerance = 1e-3;
    f.note = if hi < 2.0 * lo {
        format!("concurrency spans {lo:.2} to {hi:.2}: too narrow to fit contention")
    } else if sigma < -tolerance || kappa < -tolerance {
        format!(
            "negative coefficients (σ {sigma:.4}, κ {kappa:.6}): the steps do not follow the law"
        )
    } else if r2 < 0.8 {
        format!("poor fit (R² {r2:.2})")
    } else {
        f.meaningful = true;
        format!("fitted over {n} steps, R² {r2:.3}")
    };
    f
}

/// Solves a 3x3 linear system given as an augmented matrix, by Gaussian elimination with
/// partial pivoting; `None` when it is singular.
fn solve3(mut m: [[f64; 4]; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let pivot = (col..3).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 * m.iter().flatten().fold(1.0f64, |a, v| a.max(v.abs())) {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col];
        for (i, row) in m.iter_mut().enumerate() {
            if i != col {
                let k = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(pivot_row).skip(col) {
                    *x -= k * p;
                }
            }
        }
    }
    Some([m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::step::tests::step;

    fn usl_steps(lambda: f64, sigma: f64, kappa: f64, ns: &[f64]) -> Vec<StepResult> {
        ns.iter()
            .map(|&n| {
                let x = lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0));
                let mut s = step(x, x, 1, 0.0);
                s.concurrency = n;
                s
            })
            .collect()
    }

    #[test]
    fn recovers_known_parameters() {
        let steps = usl_steps(1000.0, 0.05, 0.002, &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]);
        let f = fit(&steps);
        assert!(f.meaningful, "{}", f.note);
        assert!((f.lambda.unwrap() - 1000.0).abs() < 1e-6);
        assert!((f.sigma.unwrap() - 0.05).abs() < 1e-9);
        assert!((f.kappa.unwrap() - 0.002).abs() < 1e-9);
        let peak = f.peak_concurrency.unwrap();
        assert!((peak - (0.95f64 / 0.002).sqrt()).abs() < 1e-6);
        assert!(f.r_squared.unwrap() > 0.999);
    }

    #[test]
    fn says_when_a_fit_is_not_meaningful() {
        let few = usl_steps(1000.0, 0.05, 0.002, &[1.0, 2.0, 4.0]);
        let f = fit(&few);
        assert!(!f.meaningful);
        assert!(f.note.contains("3 usable steps"), "{}", f.note);
        let narrow = usl_steps(1000.0, 0.05, 0.002, &[10.0, 11.0, 12.0, 13.0, 14.0]);
        let f = fit(&narrow);
        assert!(!f.meaningful);
        assert!(f.note.contains("too narrow"), "{}", f.note);
        let mut broken = usl_steps(1000.0, 0.05, 0.002, &[1.0, 2.0, 4.0, 8.0, 16.0]);
        for s in &mut broken {
            s.verdict = StepVerdict::GeneratorLimit;
        }
        assert_eq!(
            fit(&broken).points,
            0,
            "generator-limited steps are left out"
        );
    }
}
