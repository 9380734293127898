//! Noise schedules and add_noise against diffusers' own numbers.

mod common;
use difflab::diffusion::{BetaSchedule, NoiseSchedule};

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) / y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn schedules_match_diffusers_to_1e6_relative() {
    let fx = common::read_fixture("schedules.safetensors");
    let manifest = common::manifest();
    let entries = manifest["files"]["schedules.safetensors"]["entries"]
        .as_array()
        .unwrap();
    assert!(!entries.is_empty(), "no schedule entries in the manifest");
    for e in entries {
        let key = e["key"].as_str().unwrap();
        let kind = BetaSchedule::parse(e["beta_schedule"].as_str().unwrap()).unwrap();
        let s = NoiseSchedule::new(
            e["num_train_timesteps"].as_u64().unwrap() as usize,
            kind,
            e["beta_start"].as_f64().unwrap(),
            e["beta_end"].as_f64().unwrap(),
        )
        .unwrap();
        let betas = &fx[&format!("{key}.betas")].data;
        let ac = &fx[&format!("{key}.alphas_cumprod")].data;
        let rb = max_rel(s.betas_f64(), betas);
        let ra = max_rel(s.alphas_cumprod_f64(), ac);
        assert!(rb <= 1e-6, "{key} betas: max relative error {rb}");
        assert!(ra <= 1e-6, "{key} alphas_cumprod: max relative error {ra}");
    }
}

#[test]
fn add_noise_matches_diffusers() {
    let fx = common::read_fixture("add_noise.safetensors");
    let s = NoiseSchedule::linear(1000, 1e-4, 0.02).unwrap();
    let t: Vec<usize> = fx["timesteps"].data.iter().map(|&v| v as usize).collect();
    let x0 = fx["x0"].f32s();
    let noise = fx["noise"].f32s();
    let mut out = vec![0.0; x0.len()];
    s.add_noise(&x0, &noise, &t, &mut out).unwrap();
    let worst = out
        .iter()
        .zip(&fx["noisy"].data)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 1e-6, "add_noise max abs error {worst}");
}

#[test]
fn snr_is_alpha_bar_over_one_minus_alpha_bar_and_decreasing() {
    let s = NoiseSchedule::linear(200, 1e-4, 0.02).unwrap();
    // Independent computation: product of (1 - beta) with beta linear.
    let mut prod = 1.0f64;
    for t in 0..200 {
        let beta = 1e-4 + (0.02 - 1e-4) * t as f64 / 199.0;
        prod *= 1.0 - beta;
        let snr = prod / (1.0 - prod);
        // f32 betas (as diffusers) put ~1e-7 of absolute uncertainty on 1 - ᾱ.
        let tol = 1e-7 / (1.0 - prod) + 1e-6;
        assert!((s.alpha_bar(t) - prod).abs() / prod < 1e-6, "ᾱ at t={t}");
        assert!(
            (s.snr_at(t) - snr).abs() / snr < tol,
            "SNR at t={t}: {} vs {snr}",
            s.snr_at(t)
        );
    }
    let snr = s.snr();
    assert!(snr.windows(2).all(|w| w[1] < w[0]), "SNR must fall with t");
    let cross = s.first_t_with_snr_below(1.0).unwrap();
    assert!(s.snr_at(cross) < 1.0 && s.snr_at(cross - 1) >= 1.0);
}

#[test]
fn bad_schedules_are_errors() {
    assert!(NoiseSchedule::linear(0, 1e-4, 0.02).is_err());
    assert!(NoiseSchedule::linear(10, 0.0, 0.02).is_err());
    assert!(NoiseSchedule::from_betas(vec![0.1, 1.0]).is_err());
    assert!(BetaSchedule::parse("quadratic")
        .unwrap_err()
        .to_string()
        .contains("quadratic"));
    let s = NoiseSchedule::linear(10, 1e-4, 0.02).unwrap();
    let mut out = vec![0.0; 4];
    assert!(s.add_noise(&[0.0; 4], &[0.0; 4], &[10], &mut out).is_err());
    assert!(s.add_noise(&[0.0; 4], &[0.0; 3], &[1], &mut out).is_err());
}
