//! Inpainting: hide part of a real image and let a diffusion model regenerate it, by the
//! replacement trick of RePaint (Lugmayr et al. 2022). The model is never trained for it: at
//! every reverse step the known region of x_{t_prev} is overwritten by the original noised to
//! the same level, so the model only ever sees consistent noisy images and fills the hidden
//! region to match.
//!
//! ```text
//! x ← x_T ~ N(0, I)
//! for k, t in scheduler.timesteps():                      (t_prev: the step's target)
//!     repeat r times (r = jumps):
//!         x_prev, x̂0 ← scheduler.step(model(x, t), t, x, z)
//!         x_prev[known] ← √ᾱ_prev·x0 + √(1−ᾱ_prev)·ε       (x0 exactly after the last step)
//!         if not the last repeat:                          (RePaint's resampling)
//!             x ← √(ᾱ_t/ᾱ_prev)·x_prev + √(1−ᾱ_t/ᾱ_prev)·z   (q(x_t | x_prev), any stride)
//!     x ← x_prev
//! ```
//!
//! Resampling (`jumps` r > 1) lets the generated region "hear" the known one r times per step
//! instead of once, which harmonises the seam; it costs r model calls per step. `jumps` = 1 is
//! plain replacement. Works with DDPM and DDIM (the re-noising uses ᾱ_t/ᾱ_prev, so DDIM's
//! strided steps are re-noised by the right amount) and with any [`SampleHooks::predict`], e.g.
//! [`ClassifierFreeGuidance`](crate::pipelines::guidance::ClassifierFreeGuidance) to steer the
//! completion towards a class. The step after the last lands on the clean image (ᾱ = 1); for
//! DDIM without `set_alpha_to_one` the true level is ᾱ_0 (within 1e-4 of 1), and the known
//! region is still set to the original exactly.
//!
//! **Reproducibility.** Completion `i` (counting from `first_index`) draws from
//! `Rng::stream(seed, i)`, in this order: x_T (h·w·c standard normals, NHWC), then for every
//! loop index k and every repeat: the step's noise if it needs any
//! ([`Scheduler::noise_needed`]), h·w·c; the known region's ε if the step lands on a noisy
//! level and the mask keeps any pixel, h·w·c (drawn for every pixel, hidden ones unused, so the
//! stream does not depend on the mask's shape); the re-noising z if another repeat follows,
//! h·w·c. With `jumps` = 1 and a mask that hides everything this is exactly
//! [`sample`](crate::pipelines::sample::sample)'s order, and the result is the same.

mod mask;

pub use mask::{Mask, MaskPreset, MaskSource};

use crate::models::NoisePredictor;
use crate::nn::Tensor;
use crate::pipelines::sample::{
    batch_len, empty_snapshots, reverse_step, shape_start, NoiseSource, SampleHooks, SampleOptions,
    Samples, SeededNoise, Snapshot, StepBuffers, StepInfo,
};
use crate::schedulers::Scheduler;
use crate::util::progress::{check_cancelled, Progress, Silent};
use crate::{Error, Result};
use std::time::Instant;

/// The outcome of [`inpaint`].
#[derive(Clone, Debug)]
pub struct Inpainted {
    /// The completions `[count, h, w, c]` (model range), their timesteps and snapshots
    /// (x_t entering step k before its first repeat, and that repeat's x̂0), the wall time.
    pub samples: Samples,
    /// r, the passes per step.
    pub jumps: usize,
    /// Model calls per completion: steps × r.
    pub model_calls: usize,
}

/// Known elements of every image of `x` (images of `original.len()` values) ←
/// √ᾱ·x0 + √(1−ᾱ)·ε, with ε per image from `eps`; with `eps` `None`, ← x0 exactly.
fn merge_known(
    x: &mut [f32],
    original: &[f32],
    hidden: &[bool],
    alpha_bar: f64,
    eps: Option<&[f32]>,
) {
    let per = original.len();
    let (a, s) = (alpha_bar.sqrt() as f32, (1.0 - alpha_bar).sqrt() as f32);
    for (i, v) in x.iter_mut().enumerate() {
        let j = i % per;
        if !hidden[j] {
            *v = match eps {
                Some(e) => a * original[j] + s * e[i],
                None => original[j],
            };
        }
    }
}

/// `x ← √ratio·prev + √(1 − ratio)·z` with ratio = ᾱ_t/ᾱ_prev: a draw from q(x_t | x_prev).
fn renoise(prev: &[f32], ratio: f64, z: &[f32], x: &mut [f32]) {
    let (a, s) = (ratio.sqrt() as f32, (1.0 - ratio).max(0.0).sqrt() as f32);
    for ((o, &p), &n) in x.iter_mut().zip(prev).zip(z) {
        *o = a * p + s * n;
    }
}

/// Complete the hidden region of `original` (`[h, w, c]` or `[1, h, w, c]`, model range)
/// `opts.count` times, completion `i` from stream `i` of `opts.seed` (see the module doc), with
/// `jumps` ≥ 1 passes per step. Every model call goes through `hooks.predict` (only `predict`
/// is used: the replacement is this function's own after-step). Calls
/// `scheduler.set_timesteps(opts.num_inference_steps)`.
///
/// Errors: `count` 0, `jumps` 0, a mask or original whose size is not `opts.image_shape`, a
/// snapshot index past the last step, and whatever the model or scheduler report.
pub fn inpaint(
    model: &mut dyn NoisePredictor,
    scheduler: &mut dyn Scheduler,
    opts: &SampleOptions,
    original: &Tensor,
    mask: &Mask,
    jumps: usize,
    hooks: &mut dyn SampleHooks,
) -> Result<Inpainted> {
    let task = InpaintTask {
        original,
        mask,
        jumps,
    };
    inpaint_with_progress(model, scheduler, opts, &task, hooks, &mut Silent)
}

/// What [`inpaint_with_progress`] completes: the original, the mask of its hidden region and
/// RePaint's passes per step (see [`inpaint`]).
#[derive(Clone, Copy, Debug)]
pub struct InpaintTask<'a> {
    /// The image (`[h, w, c]` or `[1, h, w, c]`, model range).
    pub original: &'a Tensor,
    /// Which pixels are hidden.
    pub mask: &'a Mask,
    /// Passes per step (1 = plain replacement).
    pub jumps: usize,
}

/// [`inpaint`] reporting to `progress`: one job labelled `opts.label` whose units are the model
/// calls (batches × steps × jumps); between steps it returns [`Error::Cancelled`] when
/// `progress` asks it to stop.
pub fn inpaint_with_progress(
    model: &mut dyn NoisePredictor,
    scheduler: &mut dyn Scheduler,
    opts: &SampleOptions,
    task: &InpaintTask<'_>,
    hooks: &mut dyn SampleHooks,
    progress: &mut dyn Progress,
) -> Result<Inpainted> {
    let started = Instant::now();
    let known = Known::new(opts, task)?;
    let jumps = task.jumps;
    scheduler.set_timesteps(opts.num_inference_steps)?;
    let sched: &dyn Scheduler = scheduler;
    let timesteps = sched.timesteps().to_vec();
    let n = timesteps.len();
    let [h, w, c] = opts.image_shape;
    let per = h * w * c;
    let full = [opts.count, h, w, c];
    let mut snapshots = empty_snapshots(opts, &timesteps, full)?;
    let mut images = Tensor::zeros(full);
    let batch = batch_len(opts);
    progress.start(&opts.label, (opts.count.div_ceil(batch) * n * jumps) as u64);
    let mut run = Run {
        model,
        sched,
        hooks,
        progress,
        known: &known,
        opts,
        timesteps: &timesteps,
        done: 0,
    };
    for start in (0..opts.count).step_by(batch) {
        let len = batch.min(opts.count - start);
        let x = run.batch(start, len, &mut snapshots)?;
        images.data_mut()[start * per..(start + len) * per].copy_from_slice(x.data());
    }
    run.progress.finish();
    Ok(Inpainted {
        samples: Samples {
            images,
            timesteps,
            snapshots,
            elapsed: started.elapsed(),
        },
        jumps,
        model_calls: n * jumps,
    })
}

/// The checked inputs of a run: the original's values, which elements are hidden (per value,
/// channels included), whether any is known, and the passes per step.
struct Known<'a> {
    original: &'a [f32],
    hidden: Vec<bool>,
    any_known: bool,
    jumps: usize,
}

impl<'a> Known<'a> {
    fn new(opts: &SampleOptions, task: &InpaintTask<'a>) -> Result<Self> {
        let [h, w, c] = opts.image_shape;
        let per = h * w * c;
        let (original, mask) = (task.original, task.mask);
        if opts.count == 0 || per == 0 {
            return Err(Error::invalid(format!(
                "nothing to inpaint: count {} of shape {:?}",
                opts.count, opts.image_shape
            )));
        }
        if task.jumps == 0 {
            return Err(Error::invalid(
                "--jumps must be at least 1 (1 = no resampling, r = r passes per step)",
            ));
        }
        if (mask.height(), mask.width()) != (h, w) {
            return Err(Error::invalid(format!(
                "the mask is {}×{}, the images {h}×{w}",
                mask.height(),
                mask.width()
            )));
        }
        let shape = original.shape();
        if original.len() != per || !(shape == [h, w, c] || shape == [1, h, w, c]) {
            return Err(Error::invalid(format!(
                "the original has shape {shape:?}, expected [{h}, {w}, {c}]"
            )));
        }
        let hidden: Vec<bool> = mask
            .hidden()
            .iter()
            .flat_map(|&m| std::iter::repeat_n(m, c))
            .collect();
        Ok(Known {
            original: original.data(),
            any_known: hidden.iter().any(|&m| !m),
            hidden,
            jumps: task.jumps,
        })
    }
}

/// One inpainting run's loop state, shared by its batches.
struct Run<'r, 'a> {
    model: &'r mut dyn NoisePredictor,
    sched: &'r dyn Scheduler,
    hooks: &'r mut dyn SampleHooks,
    progress: &'r mut dyn Progress,
    known: &'r Known<'a>,
    opts: &'r SampleOptions,
    timesteps: &'r [usize],
    done: u64,
}

impl Run<'_, '_> {
    /// Complete `len` images from completion `start` on; returns them, records snapshots.
    fn batch(&mut self, start: usize, len: usize, snapshots: &mut [Snapshot]) -> Result<Tensor> {
        let opts = self.opts;
        let [h, w, c] = opts.image_shape;
        let per = h * w * c;
        let first = opts.first_index + start as u64;
        let samples = first..first + len as u64;
        let bshape = [len, h, w, c];
        let mut noise = SeededNoise::new(opts.seed);
        let mut x = Tensor::zeros(bshape);
        noise.initial(samples.clone(), x.data_mut())?;
        shape_start(opts.start, self.sched, x.data_mut());
        let mut prev = Tensor::zeros(bshape);
        let mut x0 = Tensor::zeros(bshape);
        let mut buf = vec![0.0f32; len * per];
        let mut snap = snapshots.iter_mut().peekable();
        for (k, &t) in self.timesteps.iter().enumerate() {
            check_cancelled(self.progress, &opts.label)?;
            let step = StepInfo {
                index: k,
                num_steps: self.timesteps.len(),
                t,
                prev_t: self.sched.prev_timestep(t)?,
                samples: samples.clone(),
            };
            let mut record = snap.next_if(|s| s.index == k);
            for pass in 0..self.known.jumps {
                let bufs = StepBuffers {
                    z: &mut buf,
                    prev: &mut prev,
                    x0: &mut x0,
                };
                reverse_step(
                    self.model, self.sched, self.hooks, &mut noise, &step, &x, bufs,
                )?;
                if let (0, Some(s)) = (pass, record.as_deref_mut()) {
                    let r = start * per..(start + len) * per;
                    s.x_t.data_mut()[r.clone()].copy_from_slice(x.data());
                    s.pred_x0.data_mut()[r].copy_from_slice(x0.data());
                }
                self.replace(&step, pass, &mut noise, &mut buf, &mut prev, &mut x)?;
                self.done += 1;
                self.progress.update(self.done, "");
            }
            std::mem::swap(&mut x, &mut prev);
        }
        Ok(x)
    }

    /// After pass `pass` of a step: the known region of `prev` (x_{t_prev}) ← the original at
    /// that noise level, and, when another pass follows, `x` ← `prev` re-noised to x_t.
    fn replace(
        &mut self,
        step: &StepInfo,
        pass: usize,
        noise: &mut SeededNoise,
        buf: &mut [f32],
        prev: &mut Tensor,
        x: &mut Tensor,
    ) -> Result<()> {
        let schedule = self.sched.schedule();
        let a_t = schedule.alpha_bar(step.t);
        let a_prev = step.prev_t.map_or(1.0, |p| schedule.alpha_bar(p));
        let known = self.known;
        if known.any_known {
            let eps = match step.prev_t {
                Some(_) => {
                    noise.step_noise(step, buf)?;
                    Some(&buf[..])
                }
                None => None,
            };
            merge_known(prev.data_mut(), known.original, &known.hidden, a_prev, eps);
        }
        if pass + 1 < known.jumps {
            noise.step_noise(step, buf)?;
            renoise(prev.data(), a_t / a_prev, buf, x.data_mut());
        }
        Ok(())
    }
}
