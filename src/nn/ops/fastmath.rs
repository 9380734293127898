//! Vectorisable `exp`, sigmoid and SiLU for f32, and the SiLU kernels built on them.
//!
//! libm's `expf` is a function call per element, which keeps every loop around it scalar. The
//! polynomial here is plain arithmetic on the value and its bits, so loops over it compile to
//! SIMD code; [`simd_dispatch!`](super) then runs them with AVX-512 or AVX2 where the CPU has it.

use super::CHUNK;
use rayon::prelude::*;

/// `e^x` for f32, accurate to about 2e-7 relative (a few ulp) over the whole range.
///
/// Range reduction `x = k·ln2 + r` with `k = round(x·log₂e)` and `|r| ≤ ln2/2` (ln2 split in a
/// high and a low part so that `r` is exact), then `e^r ≈ 1 + r + r²·P(r)` with Cephes' degree-5
/// `P`, and `2^k` built in the exponent bits. `k` comes from the "add 1.5·2²³" rounding trick, so
/// both rounding and the integer conversion are float and integer adds (no `as` conversion,
/// which vectorises poorly). Arguments are clamped to [−87, 88]: results stay finite and normal
/// (`e^−87 ≈ 1.6e−38`); NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2^23: for |v| < 2^22, v + ROUND is ROUND + round(v), with round(v) in its low bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let k = t - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let er = p * (r * r) + r + 1.0;
    // Integer k = bits(t) − bits(ROUND); 2^k has the biased exponent k + 127.
    let e = t
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127)
        .wrapping_shl(23);
    er * f32::from_bits(e)
}

/// `σ(x) = 1 / (1 + e^(−x))` with [`exp_f32`] (vectorisable).
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// `x · σ(x)` with [`exp_f32`] (vectorisable).
#[inline(always)]
pub fn silu_f32(x: f32) -> f32 {
    x * sigmoid_f32(x)
}

simd_dispatch! {
/// `y[i] = x[i] · σ(x[i])` for one block (the SIMD body of [`silu_forward`]).
fn silu_block(x: &[f32], y: &mut [f32]) {
    let n = y.len();
    let x = &x[..n];
    for i in 0..n {
        y[i] = silu_f32(x[i]);
    }
}
}

simd_dispatch! {
/// `x[i] ← x[i] · σ(x[i])` for one block.
fn silu_block_inplace(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = silu_f32(*v);
    }
}
}

/// `y = x · σ(x)` (SiLU, a.k.a. swish). `x` and `y` have the same length.
pub fn silu_forward(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "silu_forward: length mismatch");
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| silu_block(x, y));
}

/// `x ← x · σ(x)` in place (the same values as [`silu_forward`]).
pub fn silu_forward_inplace(x: &mut [f32]) {
    x.par_chunks_mut(CHUNK).for_each(silu_block_inplace);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::Rng;

    #[test]
    fn exp_matches_f64_to_a_few_ulp_over_the_range() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let want = (x as f64).exp();
            let rel = ((exp_f32(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
            x += 0.001_37;
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f32(-1000.0) > 0.0 && exp_f32(-1000.0) < 1e-37);
        assert!(exp_f32(1000.0).is_finite());
    }

    #[test]
    fn silu_kernels_match_f64_reference_on_odd_lengths() {
        let mut rng = Rng::seeded(11);
        for len in [1usize, 7, 15, 16, 17, 33, 1000, CHUNK + 5] {
            let x: Vec<f32> = rng.normal_vec(len).iter().map(|v| 6.0 * v).collect();
            let mut y = vec![0.0; len];
            silu_forward(&x, &mut y);
            let mut z = x.clone();
            silu_forward_inplace(&mut z);
            assert_eq!(y, z, "in place vs out of place, len {len}");
            for (&xi, &yi) in x.iter().zip(&y) {
                let want = xi as f64 / (1.0 + (-(xi as f64)).exp());
                let err = (yi as f64 - want).abs();
                assert!(
                    err <= 5e-7 * want.abs().max(1e-3),
                    "silu({xi}) = {yi}, want {want} (len {len})"
                );
            }
        }
        // Saturation: large negative inputs give (signed) zero-ish, large positive give x.
        let x = [-200.0f32, -90.0, 90.0, 200.0];
        let mut y = [0.0; 4];
        silu_forward(&x, &mut y);
        assert!(y[0].abs() < 1e-30 && y[1].abs() < 1e-30);
        assert_eq!((y[2], y[3]), (90.0, 200.0));
    }
}
