//! Inpainting: the loop on an exact model of a two-image dataset (the known region decides which
//! image the hidden region becomes), the noise level of the known region at every model call,
//! the known region kept exactly, the seed streams, guidance routed through the hooks, every
//! sampler, and mask files (`difflab inpaint` end to end: `inpaint_cli.rs`).

use difflab::models::{ClassLabel, NoisePredictor};
use difflab::nn::Tensor;
use difflab::pipelines::guidance::ClassifierFreeGuidance;
use difflab::pipelines::inpaint::{inpaint, Inpainted, Mask, MaskPreset};
use difflab::pipelines::sample::{sample, NoHooks, SampleHooks, SampleOptions, StepInfo};
use difflab::schedulers::{AnySampler, DdpmConfig, Sampler, SamplerKind};
use difflab::Result;
use std::path::Path;

/// Image side of the library tests.
const S: usize = 8;
/// T of the library tests: β linear 1e-4 … 0.04, so ᾱ_T ≈ 0.02.
const T: usize = 200;

fn config() -> DdpmConfig {
    DdpmConfig {
        num_train_timesteps: T,
        beta_start: 1e-4,
        beta_end: 0.04,
        ..DdpmConfig::default()
    }
}

fn scheduler(kind: SamplerKind) -> AnySampler {
    AnySampler::from_ddpm_config(kind, &config()).unwrap()
}

/// Two 8×8 images in [−1, 1] that differ everywhere: a smooth pattern and its negative.
fn pair() -> [Vec<f32>; 2] {
    let a: Vec<f32> = (0..S * S)
        .map(|i| {
            let (y, x) = ((i / S) as f32, (i % S) as f32);
            (0.8 * (0.7 * x + 0.4 * y).sin() + 0.1).clamp(-1.0, 1.0)
        })
        .collect();
    let b = a.iter().map(|v| -v).collect();
    [a, b]
}

/// The exact noise predictor of a dataset of two equally likely images (a class-conditional
/// model with one class per image, `None` = both): ε̂ = (x − √ᾱ·E[x0 | x])/√(1−ᾱ), where
/// E[x0 | x] weighs each image by N(x; √ᾱ·image, (1−ᾱ)I). Records the inputs of every call.
struct TwoImages {
    images: [Vec<f32>; 2],
    alphas_cumprod: Vec<f64>,
    calls: Vec<(Tensor, Vec<f32>)>,
}

impl TwoImages {
    fn new() -> Self {
        TwoImages {
            images: pair(),
            alphas_cumprod: scheduler(SamplerKind::Ddpm).alphas_cumprod().to_vec(),
            calls: Vec::new(),
        }
    }
    /// ᾱ at a timestep; between training timesteps (the Euler schedulers' fractional ones)
    /// from σ = √((1−ᾱ)/ᾱ) interpolated linearly in t, as diffusers does.
    fn alpha_at(&self, t: f32) -> f64 {
        let (i, f) = (t.floor() as usize, (t - t.floor()) as f64);
        if f == 0.0 {
            return self.alphas_cumprod[i];
        }
        let sigma = |a: f64| ((1.0 - a) / a).sqrt();
        let (s0, s1) = (
            sigma(self.alphas_cumprod[i]),
            sigma(self.alphas_cumprod[i + 1]),
        );
        let s = s0 + f * (s1 - s0);
        1.0 / (1.0 + s * s)
    }
    fn eps(&self, x: &[f32], t: f32, label: ClassLabel) -> Vec<f32> {
        let a = self.alpha_at(t);
        let (sa, sb) = (a.sqrt(), (1.0 - a).sqrt());
        let log_w: Vec<f64> = self
            .images
            .iter()
            .enumerate()
            .map(|(k, img)| match label {
                Some(c) if c != k => f64::NEG_INFINITY,
                _ => {
                    -x.iter()
                        .zip(img)
                        .map(|(&v, &m)| (v as f64 - sa * m as f64).powi(2))
                        .sum::<f64>()
                        / (2.0 * (1.0 - a))
                }
            })
            .collect();
        let top = log_w[0].max(log_w[1]);
        let w: Vec<f64> = log_w.iter().map(|l| (l - top).exp()).collect();
        let total = w[0] + w[1];
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let mean =
                    (w[0] * self.images[0][i] as f64 + w[1] * self.images[1][i] as f64) / total;
                ((v as f64 - sa * mean) / sb) as f32
            })
            .collect()
    }
}

impl NoisePredictor for TwoImages {
    fn predict(&mut self, x: &Tensor, timesteps: &[f32]) -> Result<Tensor> {
        self.predict_labeled(x, timesteps, &vec![None; timesteps.len()])
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn predict_labeled(
        &mut self,
        x: &Tensor,
        timesteps: &[f32],
        labels: &[ClassLabel],
    ) -> Result<Tensor> {
        self.calls.push((x.clone(), timesteps.to_vec()));
        let per = x.len() / timesteps.len();
        let data = x
            .data()
            .chunks(per)
            .zip(timesteps.iter().zip(labels))
            .flat_map(|(img, (&t, &l))| self.eps(img, t, l))
            .collect();
        Tensor::new(x.shape().to_vec(), data)
    }
}

fn opts(count: usize, steps: usize, seed: u64) -> SampleOptions {
    SampleOptions {
        count,
        seed,
        ..SampleOptions::new([S, S, 1], steps)
    }
}

fn original(k: usize) -> Tensor {
    Tensor::new(vec![S, S, 1], pair()[k].clone()).unwrap()
}

fn run(
    model: &mut TwoImages,
    kind: SamplerKind,
    o: &SampleOptions,
    k: usize,
    mask: &Mask,
    jumps: usize,
) -> Inpainted {
    let mut s = scheduler(kind);
    inpaint(model, &mut s, o, &original(k), mask, jumps, &mut NoHooks).unwrap()
}

/// Largest |a − b| over the pixels where `hidden` is `want`.
fn max_diff(a: &[f32], b: &[f32], mask: &Mask, want: bool) -> f32 {
    a.iter()
        .zip(b)
        .zip(mask.hidden())
        .filter(|(_, &h)| h == want)
        .map(|((x, y), _)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_known_region_decides_the_completion_and_is_kept_exactly() {
    let mask = Mask::preset(MaskPreset::Left, S, S).unwrap();
    for (kind, steps) in [(SamplerKind::Ddpm, T), (SamplerKind::Ddim, 20)] {
        for jumps in [1, 3] {
            for k in 0..2 {
                let mut model = TwoImages::new();
                let out = run(&mut model, kind, &opts(4, steps, 7), k, &mask, jumps);
                assert_eq!(
                    model.calls.len(),
                    steps * jumps,
                    "one call per step and pass"
                );
                assert_eq!(out.model_calls, steps * jumps);
                let images = out.samples.images.data();
                for img in images.chunks(S * S) {
                    let why = format!("{kind:?}, jumps {jumps}, image {k}");
                    assert!(
                        max_diff(img, &pair()[k], &mask, false) <= 1e-6,
                        "known region changed ({why})"
                    );
                    // The hidden half becomes the hidden half of the same image, not the other.
                    let err = max_diff(img, &pair()[k], &mask, true);
                    assert!(err < 0.05, "hidden region off by {err} ({why})");
                    assert!(max_diff(img, &pair()[1 - k], &mask, true) > 0.5, "{why}");
                }
            }
        }
    }
}

#[test]
fn every_sampler_inpaints_and_resamples_where_it_can() {
    // The exact model and 20 steps: with every sampler the known half decides the hidden half
    // and is kept exactly; RePaint's jumps work with every sampler that can resample, and PNDM
    // refuses them with a clear error.
    let mask = Mask::preset(MaskPreset::Left, S, S).unwrap();
    for kind in SamplerKind::ALL {
        let jumps_list: &[usize] = if kind == SamplerKind::Pndm {
            &[1]
        } else {
            &[1, 2]
        };
        for &jumps in jumps_list {
            for k in 0..2 {
                let mut model = TwoImages::new();
                let out = run(&mut model, kind, &opts(3, 20, 5), k, &mask, jumps);
                let steps = scheduler_steps(kind, 20);
                assert_eq!(model.calls.len(), steps * jumps, "{kind:?}");
                for img in out.samples.images.data().chunks(S * S) {
                    let why = format!("{kind:?}, jumps {jumps}, image {k}");
                    assert!(max_diff(img, &pair()[k], &mask, false) <= 1e-6, "{why}");
                    let err = max_diff(img, &pair()[k], &mask, true);
                    assert!(err < 0.1, "hidden region off by {err} ({why})");
                    assert!(max_diff(img, &pair()[1 - k], &mask, true) > 0.5, "{why}");
                }
            }
        }
    }
    let mut m = TwoImages::new();
    let mut s = scheduler(SamplerKind::Pndm);
    let e = inpaint(
        &mut m,
        &mut s,
        &opts(1, 20, 5),
        &original(0),
        &mask,
        2,
        &mut NoHooks,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--jumps 2") && e.contains("the pndm sampler cannot resample"),
        "{e}"
    );
}

/// The loop steps of `kind` for n inference steps (PNDM adds one, or more with its warm-up).
fn scheduler_steps(kind: SamplerKind, n: usize) -> usize {
    let mut s = scheduler(kind);
    s.set_timesteps(n).unwrap();
    s.num_steps()
}

#[test]
fn the_model_sees_the_known_region_noised_to_its_step() {
    // Entering every call at t (after the first step), the known pixels must be
    // √ᾱ_t·x0 + √(1−ᾱ_t)·ε with ε ~ N(0, 1), also on DDIM's strided steps and after re-noising.
    let mask = Mask::preset(MaskPreset::Top, S, S).unwrap();
    let abar = scheduler(SamplerKind::Ddpm).alphas_cumprod().to_vec();
    for (kind, steps, jumps) in [
        (SamplerKind::Ddpm, 50, 1),
        (SamplerKind::Ddim, 10, 1),
        (SamplerKind::Ddim, 10, 3),
    ] {
        let mut model = TwoImages::new();
        run(&mut model, kind, &opts(32, steps, 3), 0, &mask, jumps);
        let x0 = &pair()[0];
        for (x, ts) in model.calls.iter().skip(1) {
            let a: f64 = abar[ts[0] as usize];
            let z: Vec<f64> = x
                .data()
                .chunks(S * S)
                .flat_map(|img| {
                    img.iter()
                        .zip(x0)
                        .zip(mask.hidden())
                        .filter(|(_, &h)| !h)
                        .map(move |((&v, &o), _)| {
                            (v as f64 - a.sqrt() * o as f64) / (1.0 - a).sqrt()
                        })
                })
                .collect();
            let n = z.len() as f64;
            let mean = z.iter().sum::<f64>() / n;
            let sd = (z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            let why = format!("{kind:?} jumps {jumps} at t = {}", ts[0]);
            assert!(mean.abs() < 0.12, "noise mean {mean} ({why})");
            assert!((sd - 1.0).abs() < 0.1, "noise sd {sd} ({why})");
        }
    }
}

#[test]
fn seeds_streams_and_batches() {
    let mask = Mask::preset(MaskPreset::Right, S, S).unwrap();
    let go = |o: &SampleOptions| {
        let mut m = TwoImages::new();
        run(&mut m, SamplerKind::Ddpm, o, 0, &mask, 2)
            .samples
            .images
    };
    let a = go(&opts(4, 20, 11));
    assert_eq!(a, go(&opts(4, 20, 11)), "same seed, same completions");
    // Completion i comes from stream i whatever the batch split.
    let split = SampleOptions {
        batch_size: 3,
        ..opts(4, 20, 11)
    };
    assert_eq!(a, go(&split));
    let b = go(&opts(4, 20, 12));
    let (a, b) = (a.data(), b.data());
    assert_eq!(
        max_diff(a, b, &mask, false),
        0.0,
        "known region: the original"
    );
    // A half-trained-looking run: stop early so the hidden region still shows the noise.
    let early = |seed| {
        let mut m = TwoImages::new();
        let mut s = scheduler(SamplerKind::Ddpm);
        let o = SampleOptions {
            snapshot_at: vec![5],
            ..opts(2, 20, seed)
        };
        let r = inpaint(&mut m, &mut s, &o, &original(0), &mask, 1, &mut NoHooks).unwrap();
        r.samples.snapshots[0].x_t.clone()
    };
    assert!(
        max_diff(early(11).data(), early(12).data(), &mask, true) > 0.1,
        "different seeds, different noise in the hidden region"
    );
    // Different completions of one run differ in the hidden region on the way.
    let x = early(11);
    let (c0, c1) = x.data().split_at(S * S);
    assert!(max_diff(c0, c1, &mask, true) > 0.1);
}

#[test]
fn a_mask_hiding_everything_is_plain_sampling() {
    let all = Mask::from_hidden(S, S, vec![true; S * S]).unwrap();
    for kind in [SamplerKind::Ddpm, SamplerKind::Ddim] {
        let mut m = TwoImages::new();
        let inp = run(&mut m, kind, &opts(3, 25, 5), 0, &all, 1);
        let mut m = TwoImages::new();
        let mut s = scheduler(kind);
        let plain = sample(&mut m, &mut s, &opts(3, 25, 5)).unwrap();
        assert_eq!(
            inp.samples.images, plain.images,
            "{kind:?}: the draw order matches"
        );
    }
}

/// Counts the hook calls and delegates to guidance.
struct Counting(ClassifierFreeGuidance, usize);
impl SampleHooks for Counting {
    fn predict(
        &mut self,
        model: &mut dyn NoisePredictor,
        x: &Tensor,
        timesteps: &[f32],
        step: &StepInfo,
    ) -> Result<Tensor> {
        self.1 += 1;
        self.0.predict(model, x, timesteps, step)
    }
}

#[test]
fn guidance_steers_through_the_hooks() {
    // Nothing known: the class alone decides, and every model call goes through the hooks.
    let all = Mask::from_hidden(S, S, vec![true; S * S]).unwrap();
    for class in 0..2 {
        let cfg = ClassifierFreeGuidance::new(vec![Some(class); 3], 1.0).unwrap();
        let mut hooks = Counting(cfg, 0);
        let mut m = TwoImages::new();
        let mut s = scheduler(SamplerKind::Ddim);
        let out = inpaint(
            &mut m,
            &mut s,
            &opts(3, 20, 9),
            &original(0),
            &all,
            2,
            &mut hooks,
        )
        .unwrap();
        assert_eq!(hooks.1, 40);
        for img in out.samples.images.data().chunks(S * S) {
            assert!(max_diff(img, &pair()[class], &all, true) < 0.05);
        }
    }
}

#[test]
fn bad_arguments_are_errors() {
    let mut m = TwoImages::new();
    let mut s = scheduler(SamplerKind::Ddpm);
    let left = Mask::preset(MaskPreset::Left, S, S).unwrap();
    let o = opts(2, 10, 1);
    let mut e = |o: &SampleOptions, x: &Tensor, mask: &Mask, jumps| {
        inpaint(&mut m, &mut s, o, x, mask, jumps, &mut NoHooks)
            .unwrap_err()
            .to_string()
    };
    assert!(e(&o, &original(0), &left, 0).contains("--jumps"));
    let small = Mask::preset(MaskPreset::Left, 4, 4).unwrap();
    assert!(e(&o, &original(0), &small, 1).contains("mask is 4×4"));
    let wrong = Tensor::zeros([S, S, 3]);
    assert!(e(&o, &wrong, &left, 1).contains("original has shape"));
    let late = SampleOptions {
        snapshot_at: vec![10],
        ..o.clone()
    };
    assert!(e(&late, &original(0), &left, 1).contains("only 10 steps"));
}

// ---- mask files ----

fn save_gray(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> u8) {
    image::GrayImage::from_fn(w, h, |x, y| image::Luma([f(x, y)]))
        .save(path)
        .unwrap();
}

#[test]
fn presets_have_the_right_areas() {
    for (p, area) in [
        (MaskPreset::Left, 128),
        (MaskPreset::Right, 128),
        (MaskPreset::Top, 128),
        (MaskPreset::Bottom, 128),
        (MaskPreset::Center, 64),
    ] {
        let m = Mask::preset(p, 16, 16).unwrap();
        assert_eq!(m.hidden_count(), area, "{p:?}");
    }
    let c = Mask::preset(MaskPreset::Center, 16, 16).unwrap();
    assert!(c.is_hidden(4, 4) && c.is_hidden(11, 11) && !c.is_hidden(3, 8) && !c.is_hidden(12, 8));
    let l = Mask::preset(MaskPreset::Left, 16, 16).unwrap();
    assert!(l.is_hidden(0, 7) && !l.is_hidden(15, 8));
}

#[test]
fn mask_pictures_of_any_size_are_fitted() {
    let dir = tempfile::tempdir().unwrap();
    // 28×28 with the left 14 columns white: exactly the left half at 16×16.
    let p = dir.path().join("left28.png");
    save_gray(&p, 28, 28, |x, _| if x < 14 { 255 } else { 0 });
    let m = Mask::from_file(&p, 16, 16).unwrap();
    assert_eq!(
        m.hidden(),
        Mask::preset(MaskPreset::Left, 16, 16).unwrap().hidden()
    );
    // 100 wide, 50 tall, a white bottom quarter: the bottom 4 rows of 16.
    let p = dir.path().join("wide.png");
    save_gray(&p, 100, 50, |_, y| if y >= 37 { 250 } else { 10 });
    let m = Mask::from_file(&p, 16, 16).unwrap();
    assert_eq!(m.hidden_count(), 4 * 16);
    assert!(m.is_hidden(15, 0) && m.is_hidden(12, 9) && !m.is_hidden(11, 9));
    // --mask takes a preset name or a path.
    let by_path = Mask::parse(p.to_str().unwrap(), 16, 16).unwrap();
    assert_eq!(by_path.hidden(), m.hidden());
    assert!(by_path.describe().contains("wide.png"));
}

#[test]
fn bad_mask_files_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.png");
    std::fs::write(&junk, b"not a picture").unwrap();
    let e = Mask::from_file(&junk, 16, 16).unwrap_err().to_string();
    assert!(
        e.contains("junk.png") && e.contains("could not be read"),
        "{e}"
    );
    let black = dir.path().join("black.png");
    save_gray(&black, 20, 20, |_, _| 0);
    let e = Mask::from_file(&black, 16, 16).unwrap_err().to_string();
    assert!(
        e.contains("black.png") && e.contains("hides no pixel"),
        "{e}"
    );
    let white = dir.path().join("white.png");
    save_gray(&white, 20, 20, |_, _| 255);
    let e = Mask::from_file(&white, 16, 16).unwrap_err().to_string();
    assert!(e.contains("white.png") && e.contains("every pixel"), "{e}");
    let e = Mask::parse("nowhere/mask.png", 16, 16)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nowhere/mask.png") && e.contains("left, right"),
        "{e}"
    );
}
