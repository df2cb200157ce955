//! Latency percentiles judged on per-second windows instead of on three runs.
//!
//! Each side's percentile is taken over all its requests: the pooled histogram of every
//! window of every run. Its uncertainty comes from a two-level bootstrap: runs drawn with
//! replacement (as many as the side has), then each drawn run's windows drawn with
//! replacement, pooled, and the percentile taken again, [`RESAMPLES`] times a side. Runs
//! are drawn because on a shared machine a whole run can be slow (the host was busy for
//! those seconds): that is noise, and it must widen the interval. Windows are drawn, not
//! requests, because requests of one second are not independent (a stall delays all of
//! them). A noisy run widens the interval instead of vetoing the change outright, as it
//! does when three runs' P99s must all be apart; a borderline verdict then takes more runs
//! (see [`super::Verdict::borderline`]).
//!
//! The generator is seeded with a constant: the same records always give the same verdict.

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::record::{WindowRecord, decode_histogram};

/// Bootstrap resamples of each side.
pub const RESAMPLES: usize = 2000;
/// Confidence of the reported interval (two-sided): its lower bound is a one-sided 95% bound.
pub const CONFIDENCE: f64 = 0.90;
const SEED: u64 = 0x6572_6c6d_6370;

/// One side's windows, run by run, as counts on a value grid shared with the other side.
#[derive(Debug, Clone)]
pub struct Windows {
    /// Per run, per window (empty windows left out): `(grid index, count)` pairs.
    runs: Vec<Vec<Vec<(u32, u64)>>>,
}

/// Both sides on one grid of latency values (each a histogram bucket's highest equivalent
/// value, microseconds), ready to be compared at any percentile.
#[derive(Debug, Clone)]
pub struct Paired {
    grid: Vec<u64>,
    base: Windows,
    current: Windows,
}

/// The comparison of one percentile.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The percentile over all the baseline's requests, microseconds.
    pub base: f64,
    /// The percentile over all the current side's requests, microseconds.
    pub current: f64,
    /// `current` against `base`, percent.
    pub change_percent: f64,
    /// [`CONFIDENCE`] interval of the change, percent.
    pub ci_percent: [f64; 2],
    /// One-sided bootstrap p-value of "the change is not beyond `margin`".
    pub p_beyond: f64,
    /// Windows behind each side.
    pub windows: [usize; 2],
}

impl Paired {
    /// Pairs the window histograms of both sides' runs; `None` when a run of either side
    /// has no window with a histogram (a record from before they were kept), or one does
    /// not read back.
    pub fn of(base: &[Vec<WindowRecord>], current: &[Vec<WindowRecord>]) -> Option<Self> {
        let decode = |runs: &[Vec<WindowRecord>]| -> Option<Vec<Vec<Histogram<u64>>>> {
            if runs.is_empty() {
                return None;
            }
            runs.iter()
                .map(|run| {
                    let hs: Option<Vec<Histogram<u64>>> = run
                        .iter()
                        .filter(|w| w.ok > 0)
                        .map(|w| decode_histogram(w.histogram.as_deref()?).ok())
                        .collect();
                    hs.filter(|hs| !hs.is_empty())
                })
                .collect()
        };
        let (b, c) = (decode(base)?, decode(current)?);
        let mut grid: Vec<u64> = b
            .iter()
            .chain(&c)
            .flatten()
            .flat_map(|h| h.iter_recorded().map(|v| v.value_iterated_to()))
            .collect();
        grid.sort_unstable();
        grid.dedup();
        let place = |runs: Vec<Vec<Histogram<u64>>>| Windows {
            runs: runs
                .into_iter()
                .map(|run| {
                    run.into_iter()
                        .map(|h| {
                            h.iter_recorded()
                                .map(|v| {
                                    let i = grid
                                        .binary_search(&v.value_iterated_to())
                                        .expect("every value is on the grid");
                                    (i as u32, v.count_at_value())
                                })
                                .collect()
                        })
                        .collect()
                })
                .collect(),
        };
        Some(Self {
            base: place(b),
            current: place(c),
            grid,
        })
    }

    /// Compares each quantile of `quantiles` (0.5, 0.99, ...): the pooled percentiles, and
    /// the bootstrap of their change. `margin_percent[i]` is the change the p-value of
    /// quantile `i` is against (0 for "any worsening", T for "beyond the threshold").
    pub fn compare(&self, quantiles: &[f64], margin_percent: &[f64]) -> Vec<Estimate> {
        let mut counts = vec![0u64; self.grid.len()];
        fn all(w: &Windows) -> Vec<&Vec<(u32, u64)>> {
            w.runs.iter().flatten().collect()
        }
        let base = self.quantiles(&mut counts, &all(&self.base), quantiles);
        let current = self.quantiles(&mut counts, &all(&self.current), quantiles);
        let mut rng = StdRng::seed_from_u64(SEED);
        let mut changes: Vec<Vec<f64>> = vec![Vec::with_capacity(RESAMPLES); quantiles.len()];
        let mut drawn = Vec::new();
        for _ in 0..RESAMPLES {
            let b = self.resample(&mut rng, &mut drawn, &mut counts, &self.base, quantiles);
            let c = self.resample(&mut rng, &mut drawn, &mut counts, &self.current, quantiles);
            for (i, (b, c)) in b.iter().zip(&c).enumerate() {
                changes[i].push(percent_change(*b, *c));
            }
        }
        let tail = (1.0 - CONFIDENCE) / 2.0;
        quantiles
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let ch = &mut changes[i];
                ch.sort_by(f64::total_cmp);
                let at = |q: f64| ch[((q * (ch.len() - 1) as f64).round()) as usize];
                let margin = margin_percent.get(i).copied().unwrap_or(0.0);
                let not_beyond = ch.iter().filter(|x| **x <= margin).count();
                Estimate {
                    base: base[i],
                    current: current[i],
                    change_percent: percent_change(base[i], current[i]),
                    ci_percent: [at(tail), at(1.0 - tail)],
                    p_beyond: (1 + not_beyond) as f64 / (RESAMPLES + 1) as f64,
                    windows: [self.base.len(), self.current.len()],
                }
            })
            .collect()
    }

    /// One bootstrap draw of `side`: as many runs as it has, drawn with replacement, and
    /// each drawn run's windows drawn with replacement, pooled.
    fn resample<'w>(
        &self,
        rng: &mut StdRng,
        drawn: &mut Vec<&'w Vec<(u32, u64)>>,
        counts: &mut [u64],
        side: &'w Windows,
        quantiles: &[f64],
    ) -> Vec<f64> {
        drawn.clear();
        for _ in 0..side.runs.len() {
            let run = &side.runs[rng.random_range(0..side.runs.len())];
            for _ in 0..run.len() {
                drawn.push(&run[rng.random_range(0..run.len())]);
            }
        }
        self.quantiles(counts, drawn, quantiles)
    }

    /// The quantiles of the pooled `windows`, using `counts` as scratch.
    fn quantiles(&self, counts: &mut [u64], windows: &[&Vec<(u32, u64)>], qs: &[f64]) -> Vec<f64> {
        counts.fill(0);
        let mut total = 0u64;
        for w in windows {
            for &(i, n) in *w {
                counts[i as usize] += n;
                total += n;
            }
        }
        let mut out = Vec::with_capacity(qs.len());
        for &q in qs {
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total.max(1));
            let mut seen = 0u64;
            let mut value = 0u64;
            for (i, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    value = self.grid[i];
                    break;
                }
            }
            out.push(value as f64);
        }
        out
    }
}

impl Windows {
    /// Windows of every run.
    pub fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    /// Whether there is no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn percent_change(base: f64, current: f64) -> f64 {
    if base > 0.0 {
        100.0 * (current - base) / base
    } else {
        0.0
    }
}

/// Holm's step-down adjustment: which of `p_values` are significant at family-wise level
/// `alpha` (the smallest compared with alpha/m, the next with alpha/(m-1), ..., stopping at
/// the first that is not).
pub fn holm(p_values: &[f64], alpha: f64) -> Vec<bool> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p_values[*a].total_cmp(&p_values[*b]));
    let mut significant = vec![false; m];
    for (rank, &i) in order.iter().enumerate() {
        if p_values[i] <= alpha / (m - rank) as f64 {
            significant[i] = true;
        } else {
            break;
        }
    }
    significant
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{WINDOW_SIGFIG, histogram};
    use crate::record::encode_histogram;

    /// A run of `seconds` windows of 1,000 requests: `base_us` plus a spread, with `tail`
    /// of each window's requests `tail_us` slower and `noisy` seconds twice as slow.
    fn run(
        seconds: usize,
        base_us: u64,
        tail: f64,
        tail_us: u64,
        noisy: usize,
    ) -> Vec<WindowRecord> {
        (0..seconds)
            .map(|second| {
                let mut h = histogram(WINDOW_SIGFIG);
                let slow = second < noisy;
                for i in 0..1000u64 {
                    let mut v = base_us + (i * 7919 % 1000) * base_us / 1000;
                    if (i as f64) < tail * 1000.0 {
                        v += tail_us;
                    }
                    if slow {
                        v *= 2;
                    }
                    h.record(v).unwrap();
                }
                WindowRecord {
                    second,
                    ok: 1000,
                    failed: 0,
                    p50_us: 0,
                    p99_us: 0,
                    max_us: 0,
                    histogram: Some(encode_histogram(&h)),
                }
            })
            .collect()
    }

    #[test]
    fn pooled_percentiles_and_an_interval_around_a_real_change() {
        let base = vec![run(10, 200, 0.0, 0, 0); 3];
        // 2% of requests 60% slower at the top: P99 moves, P50 does not.
        let current = vec![run(10, 200, 0.02, 300, 0); 3];
        let p = Paired::of(&base, &current).unwrap();
        let e = p.compare(&[0.5, 0.99], &[10.0, 10.0]);
        assert!(e[0].change_percent.abs() < 2.0, "{:?}", e[0]);
        assert!(e[1].change_percent > 30.0, "{:?}", e[1]);
        assert!(
            e[1].ci_percent[0] > 10.0 && e[1].p_beyond < 0.01,
            "{:?}",
            e[1]
        );
        assert!(e[0].p_beyond > 0.5, "{:?}", e[0]);
        assert_eq!(e[1].windows, [30, 30]);
    }

    #[test]
    fn a_run_without_the_change_counts_as_one_run() {
        // Two current runs 30% slower, one as the baseline. Three runs' P99s must all be
        // apart for a rank test, so one run vetoes; here the quiet run weighs as one run of
        // three: only the draws of it alone (1 in 27) put the change within T.
        let base = vec![run(10, 200, 0.0, 0, 0); 3];
        let current = vec![
            run(10, 260, 0.0, 0, 0),
            run(10, 260, 0.0, 0, 0),
            run(10, 201, 0.0, 0, 0),
        ];
        let e = &Paired::of(&base, &current)
            .unwrap()
            .compare(&[0.99], &[10.0])[0];
        assert!(e.change_percent > 20.0 && e.ci_percent[0] > 10.0, "{e:?}");
        assert!((e.p_beyond - 1.0 / 27.0).abs() < 0.015, "{e:?}");
    }

    #[test]
    fn an_unchanged_side_is_not_beyond_the_threshold() {
        let base = vec![run(10, 200, 0.01, 50, 1); 3];
        let current = vec![run(10, 200, 0.01, 50, 1); 3];
        let e = &Paired::of(&base, &current)
            .unwrap()
            .compare(&[0.5, 0.99], &[10.0, 10.0]);
        for e in e {
            assert!(e.change_percent.abs() < 1e-9 && e.p_beyond > 0.5, "{e:?}");
            assert!(e.ci_percent[0] <= 0.0 && e.ci_percent[1] >= 0.0, "{e:?}");
        }
    }

    #[test]
    fn records_without_window_histograms_are_not_paired() {
        let mut old = run(3, 200, 0.0, 0, 0);
        for w in &mut old {
            w.histogram = None;
        }
        assert!(Paired::of(&[old.clone()], &[run(3, 200, 0.0, 0, 0)]).is_none());
        assert!(Paired::of(&[], &[run(3, 200, 0.0, 0, 0)]).is_none());
    }

    #[test]
    fn the_same_records_give_the_same_interval() {
        let base = vec![run(5, 200, 0.01, 100, 1); 3];
        let current = vec![run(5, 210, 0.01, 100, 0); 3];
        let p = Paired::of(&base, &current).unwrap();
        assert_eq!(p.compare(&[0.99], &[10.0]), p.compare(&[0.99], &[10.0]));
    }

    #[test]
    fn holm_steps_down_and_stops_at_the_first_miss() {
        assert_eq!(holm(&[0.01, 0.04, 0.03], 0.05), vec![true, false, false]);
        assert_eq!(holm(&[0.01, 0.02, 0.012], 0.05), vec![true, true, true]);
        assert_eq!(holm(&[0.2, 0.001], 0.05), vec![false, true]);
        assert!(holm(&[], 0.05).is_empty());
    }
}
