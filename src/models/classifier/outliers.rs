//! Synthetic non-digits for "outlier exposure": trained to give them a uniform class
//! distribution, the classifier learns to be unsure of what is not a digit, so that the share of
//! generated digits it *recognises* means something. Without them a CNN trained only on digits
//! calls pure noise an "8" with 100% confidence — exactly what an untrained or early denoiser
//! produces.
//!
//! Two kinds, chosen at random, both in [0, 1]:
//! - noise: `clamp(μ + σ·z, 0, 1)` per pixel, `μ ∈ [0, 0.5)`, `σ ∈ [0.3, 1)` (a sampler's output
//!   from a model that has learned nothing looks like this);
//! - blobs: the same noise smoothed by 1-3 passes of a 3×3 box filter, standardised, then
//!   `clamp(0.5 + g·z − b, 0, 1)` with gain `g ∈ [0.5, 2.5)` and offset `b ∈ [0, 0.8)`: smooth
//!   stains like a half-trained denoiser's.
//!
//! Nothing stroke-like is generated, so the classifier is not taught to doubt odd real digits.

use crate::util::rng::Rng;

/// Fill `out` (`s × s`) with one synthetic non-digit drawn from `rng`.
pub fn synth_outlier(rng: &mut Rng, s: usize, out: &mut [f32]) {
    assert_eq!(out.len(), s * s, "synth_outlier: output must be {s}×{s}");
    rng.fill_normal(out);
    if rng.below(2) == 0 {
        let (mu, sigma) = (rng.uniform(0.0, 0.5), rng.uniform(0.3, 1.0));
        for v in out.iter_mut() {
            *v = (mu + sigma * *v).clamp(0.0, 1.0);
        }
        return;
    }
    let passes = 1 + rng.below(3);
    let mut tmp = vec![0.0f32; s * s];
    for _ in 0..passes {
        box_blur3(out, s, &mut tmp);
        out.copy_from_slice(&tmp);
    }
    let n = out.len() as f32;
    let mean = out.iter().sum::<f32>() / n;
    let std = (out.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n)
        .sqrt()
        .max(1e-6);
    let (gain, offset) = (rng.uniform(0.5, 2.5), rng.uniform(0.0, 0.8));
    for v in out.iter_mut() {
        *v = (0.5 + gain * (*v - mean) / std - offset).clamp(0.0, 1.0);
    }
}

/// `dst[y][x]` = mean of `src` over the 3×3 neighbourhood of `(y, x)` inside the image.
fn box_blur3(src: &[f32], s: usize, dst: &mut [f32]) {
    for y in 0..s {
        for x in 0..s {
            let (mut sum, mut cnt) = (0.0, 0.0);
            for yy in y.saturating_sub(1)..(y + 2).min(s) {
                for xx in x.saturating_sub(1)..(x + 2).min(s) {
                    sum += src[yy * s + xx];
                    cnt += 1.0;
                }
            }
            dst[y * s + x] = sum / cnt;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outliers_are_images_in_unit_range_and_vary() {
        let mut rng = Rng::seeded(3);
        let mut a = vec![0.0; 256];
        let mut b = vec![0.0; 256];
        synth_outlier(&mut rng, 16, &mut a);
        synth_outlier(&mut rng, 16, &mut b);
        assert!(a.iter().chain(&b).all(|v| (0.0..=1.0).contains(v)));
        assert_ne!(a, b);
    }

    #[test]
    fn box_blur_keeps_constants_and_averages_neighbours() {
        let mut out = vec![0.0; 9];
        box_blur3(&[2.0; 9], 3, &mut out);
        assert_eq!(out, vec![2.0; 9]);
        let mut spike = vec![0.0; 9];
        spike[4] = 9.0;
        box_blur3(&spike, 3, &mut out);
        assert_eq!(out[4], 1.0);
        assert_eq!(out[0], 9.0 / 4.0);
    }
}
