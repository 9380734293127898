//! Weight initialisation from difflab's seeded [`Rng`], following the Keras and PyTorch defaults.
//!
//! Fan-in and fan-out for a `k×k` convolution are `k²·cin` and `k²·cout`; for a linear layer
//! `in_f` and `out_f`.

use crate::util::rng::Rng;

/// Fill `out` with independent draws from U(−limit, limit).
pub fn uniform(out: &mut [f32], limit: f32, rng: &mut Rng) {
    for v in out.iter_mut() {
        *v = if limit > 0.0 {
            rng.uniform(-limit, limit)
        } else {
            0.0
        };
    }
}

/// Glorot (Xavier) uniform, Keras' default kernel initialiser:
/// U(−√(6/(fan_in + fan_out)), +√(6/(fan_in + fan_out))).
pub fn glorot_uniform(out: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Rng) {
    let limit = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt() as f32;
    uniform(out, limit, rng)
}

/// Kaiming (He) uniform with negative slope `a`: U(−b, b) with `b = √(6 / ((1 + a²)·fan_in))`.
/// PyTorch's default for `Linear` and `Conv2d` weights is `a = √5`, i.e. `b = 1/√fan_in`.
pub fn kaiming_uniform(out: &mut [f32], fan_in: usize, a: f32, rng: &mut Rng) {
    let bound = (6.0 / ((1.0 + (a as f64).powi(2)) * fan_in.max(1) as f64)).sqrt() as f32;
    uniform(out, bound, rng)
}

/// PyTorch's default bias initialiser for `Linear` and `Conv2d`: U(−1/√fan_in, 1/√fan_in).
pub fn pytorch_bias(out: &mut [f32], fan_in: usize, rng: &mut Rng) {
    uniform(out, 1.0 / (fan_in.max(1) as f32).sqrt(), rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_respects_its_limit_and_fills_it() {
        let mut rng = Rng::seeded(1);
        let mut w = vec![0.0; 20_000];
        glorot_uniform(&mut w, 9 * 65, 9 * 32, &mut rng);
        let limit = (6.0f32 / (9.0 * 97.0)).sqrt();
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            max <= limit && max > 0.99 * limit,
            "max {max} vs limit {limit}"
        );
        let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        assert!(
            (var - limit * limit / 3.0).abs() < 0.03 * limit * limit / 3.0,
            "variance {var}"
        );
    }

    #[test]
    fn kaiming_sqrt5_is_one_over_sqrt_fan_in() {
        let mut rng = Rng::seeded(2);
        let mut w = vec![0.0; 10_000];
        kaiming_uniform(&mut w, 100, 5f32.sqrt(), &mut rng);
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max <= 0.1 && max > 0.099, "max {max}");
    }
}
