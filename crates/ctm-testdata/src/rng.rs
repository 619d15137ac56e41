//! Small deterministic PRNG (xoshiro256** seeded by splitmix64).
//!
//! Only basic IEEE operations are used for the float helpers (no libm calls),
//! so the same seed gives the same tree on every platform.

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let s = [
            splitmix(&mut x),
            splitmix(&mut x),
            splitmix(&mut x),
            splitmix(&mut x),
        ];
        Rng { s }
    }

    /// An independent stream for (seed, a, b), so parts of the tree do not
    /// shift when an unrelated part draws more numbers.
    pub fn stream(seed: u64, a: u64, b: u64) -> Rng {
        let mut x = seed
            ^ a.wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ b.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7).rotate_left(17);
        let s = splitmix(&mut x);
        Rng::new(s ^ splitmix(&mut x).rotate_left(29))
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, n) (n > 0); the multiply-shift bias is negligible here.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in [lo, hi] inclusive.
    #[inline]
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Approximately standard normal (Irwin-Hall of 12 uniforms); tails end at 6.
    pub fn normal(&mut self) -> f64 {
        let mut s = 0.0;
        for _ in 0..12 {
            s += self.f64();
        }
        s - 6.0
    }

    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * exp_det(sigma * self.normal())
    }

    /// Number of failures before the first success with success chance `p`.
    pub fn geometric(&mut self, p: f64, cap: u64) -> u64 {
        let mut n = 0;
        while n < cap && !self.chance(p) {
            n += 1;
        }
        n
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| w as u64).sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < w as u64 {
                return i;
            }
            r -= w as u64;
        }
        weights.len() - 1
    }

    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

/// exp(x) with basic operations only, for cross-platform determinism.
pub(crate) fn exp_det(x: f64) -> f64 {
    const LN2: f64 = std::f64::consts::LN_2;
    let x = x.clamp(-700.0, 700.0);
    let k = (x / LN2).round();
    let r = x - k * LN2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..=16 {
        term = term * r / i as f64;
        sum += term;
    }
    let k = k as i64;
    let pow2 = f64::from_bits(((k + 1023) as u64) << 52);
    sum * pow2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std() {
        for i in -200..200 {
            let x = i as f64 * 0.073;
            let a = exp_det(x);
            let b = x.exp();
            assert!(((a - b) / b).abs() < 1e-12, "{x}: {a} vs {b}");
        }
    }

    #[test]
    fn streams_differ() {
        let mut a = Rng::stream(1, 2, 3);
        let mut b = Rng::stream(1, 2, 4);
        assert_ne!(a.next_u64(), b.next_u64());
        let mut c = Rng::new(5);
        for _ in 0..1000 {
            assert!(c.below(7) < 7);
            let r = c.range(3, 5);
            assert!((3..=5).contains(&r));
        }
    }
}
