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
