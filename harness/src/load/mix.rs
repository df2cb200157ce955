//! The request mix: which operation each slot sends, in exact proportion to the weights.

/// A deterministic interleaving of operations by weight (smooth weighted round-robin), so
/// every stretch of the schedule carries the mix, not just the whole run on average.
#[derive(Debug, Clone)]
pub struct Mix {
    cycle: Vec<u16>,
}

impl Mix {
    /// Builds the cycle from weights in percent (two decimals kept).
    ///
    /// # Panics
    /// If `weights` is empty or longer than `u16::MAX`; a validated scenario is neither.
    pub fn new(weights: &[f64]) -> Self {
        assert!(!weights.is_empty() && weights.len() < u16::MAX as usize);
        let units: Vec<u64> = weights
            .iter()
            .map(|w| (w * 100.0).round().max(1.0) as u64)
            .collect();
        let g = units.iter().copied().fold(0, gcd);
        let units: Vec<i64> = units.iter().map(|u| (u / g) as i64).collect();
        let total: i64 = units.iter().sum();
        let mut current = vec![0i64; units.len()];
        let mut cycle = Vec::with_capacity(total as usize);
        for _ in 0..total {
            for (c, u) in current.iter_mut().zip(&units) {
                *c += u;
            }
            let (best, _) = current
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
                .expect("non-empty");
            current[best] -= total;
            cycle.push(best as u16);
        }
        Self { cycle }
    }

    /// The operation index for slot `s`.
    pub fn op(&self, s: u64) -> usize {
        self.cycle[(s % self.cycle.len() as u64) as usize] as usize
    }

    /// Length of one full cycle of the mix.
    pub fn cycle_len(&self) -> usize {
        self.cycle.len()
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Spreads slots over sessions without tying a session to one operation.
pub fn session_of(slot: u64, sessions: usize) -> usize {
    // splitmix64 finaliser: cheap and well mixed.
    let mut z = slot.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % sessions as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(mix: &Mix, from: u64, n: u64, ops: usize) -> Vec<u64> {
        let mut c = vec![0; ops];
        for s in from..from + n {
            c[mix.op(s)] += 1;
        }
        c
    }

    #[test]
    fn every_cycle_carries_the_exact_mix() {
        let mix = Mix::new(&[40.0, 30.0, 20.0, 10.0]);
        assert_eq!(mix.cycle_len(), 10);
        for start in [0, 3, 1234] {
            assert_eq!(counts(&mix, start, 10, 4), vec![4, 3, 2, 1]);
        }
        assert_eq!(
            counts(&mix, 0, 100_000, 4),
            vec![40_000, 30_000, 20_000, 10_000]
        );
    }

    #[test]
    fn interleaves_rather_than_bunches() {
        let mix = Mix::new(&[50.0, 50.0]);
        let seq: Vec<usize> = (0..6).map(|s| mix.op(s)).collect();
        assert_eq!(seq, vec![0, 1, 0, 1, 0, 1]);
    }

    #[test]
    fn fractional_weights() {
        let mix = Mix::new(&[33.33, 33.33, 33.34]);
        assert_eq!(mix.cycle_len(), 10_000);
        assert_eq!(counts(&mix, 0, 10_000, 3), vec![3333, 3333, 3334]);
    }

    #[test]
    fn sessions_share_the_load_and_every_operation() {
        let mix = Mix::new(&[40.0, 30.0, 20.0, 10.0]);
        let sessions = 10;
        let mut per_session = vec![[0u64; 4]; sessions];
        for s in 0..100_000 {
            per_session[session_of(s, sessions)][mix.op(s)] += 1;
        }
        for ops in &per_session {
            let total: u64 = ops.iter().sum();
            assert!((9_000..11_000).contains(&total), "{per_session:?}");
            assert!(
                ops.iter().all(|&n| n > 500),
                "each session sends every operation: {ops:?}"
            );
        }
    }
}
