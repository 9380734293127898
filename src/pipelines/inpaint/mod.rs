//! Inpainting: hide part of a real image and let a diffusion model regenerate it, by the
//! replacement trick of RePaint (Lugmayr et al. 2022). The model is never trained for it: at
//! every reverse step the known region of the step's result is overwritten by the original
//! noised to the level the step lands on, so the model only ever sees consistent noisy images
//! and fills the hidden region to match.
//!
//! ```text
//! x ← x_T (the sampler's start, see sample::start_sample)
//! for k in 0 … sampler.num_steps() − 1:          (level_before(k) → level_after(k))
//!     repeat r times (r = jumps):
//!         x_next, x̂0 ← sampler.step(k, model(x, t_k), x, z)     (a repeat redoes step k)
//!         x_next[known] ← level_after(k).add_noise(x0, ε)        (x0 exactly after the last step)
//!         if not the last repeat:                                 (RePaint's resampling)
//!             x ← level_before(k).renoise(from level_after(k), x_next, z)   (q(x_t | x_next))
//!     x ← x_next
//! ```
//!
//! Resampling (`jumps` r > 1) lets the generated region "hear" the known one r times per step
//! instead of once, which harmonises the seam; it costs r model calls per step. `jumps` = 1 is
//! plain replacement. The same loop runs every [`Sampler`]: the levels carry the Euler
//! schedulers' scale (their samples are x0 + σ·ε), and a repeated step k restores the
//! multistep state to what it was before step k (see [`crate::schedulers::sampler`]), so the
//! solver's history is not polluted by the repeats. Two caveats, both documented in
//! [`can_resample`]: PNDM cannot resample (its Runge-Kutta blocks and its second PLMS step
//! start from a sample it stored earlier, so a re-noised sample would be ignored; `jumps` > 1
//! is an error), and UniPC's corrector re-derives the sample entering step k from the previous
//! step's, so there a re-noised sample reaches the step only through the model's output.
//! Any [`SampleHooks::predict`] works, e.g.
//! [`ClassifierFreeGuidance`](crate::pipelines::guidance::ClassifierFreeGuidance) to steer the
//! completion towards a class. After the last step the known region is set to the original
//! exactly (for DDIM without `set_alpha_to_one` the last level is ᾱ_0, within 1e-4 of 1).
//!
//! **Reproducibility.** Completion `i` (counting from `first_index`) draws from
//! `Rng::stream(seed, i)`, in this order: x_T (h·w·c standard normals, NHWC), then for every
//! loop index k and every repeat: the step's noise if it needs any
//! ([`Sampler::noise_needed`]), h·w·c; the known region's ε if the step is not the last and
//! the mask keeps any pixel, h·w·c (drawn for every pixel, hidden ones unused, so the stream
//! does not depend on the mask's shape); the re-noising z if another repeat follows, h·w·c.
//! With `jumps` = 1 and a mask that hides everything this is exactly
//! [`sample`](crate::pipelines::sample::sample)'s order, and the result is the same.

mod mask;

pub use mask::{Mask, MaskPreset, MaskSource};

use crate::models::NoisePredictor;
use crate::nn::Tensor;
use crate::pipelines::sample::{
    batch_len, empty_snapshots, prepare, reverse_step, start_sample, NoiseSource, SampleHooks,
    SampleOptions, Samples, SeededNoise, Snapshot, StepBuffers, StepInfo,
};
use crate::schedulers::{NoiseLevel, Sampler, SamplerKind};
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

/// Known elements of every image of `x` (images of `original.len()` values) ← the original
/// noised to `level` (s·(√ᾱ·x0 + √(1−ᾱ)·ε), as [`NoiseLevel::add_noise`]), with ε per image
/// from `eps`; with `eps` `None`, ← x0 exactly.
fn merge_known(
    x: &mut [f32],
    original: &[f32],
    hidden: &[bool],
    level: NoiseLevel,
    eps: Option<&[f32]>,
) {
    let per = original.len();
    let a = (level.scale * level.alpha_bar.sqrt()) as f32;
    let s = (level.scale * (1.0 - level.alpha_bar).max(0.0).sqrt()) as f32;
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

/// Whether `kind` supports RePaint's resampling (`jumps` > 1): every sampler but PNDM, whose
/// Runge-Kutta blocks and second PLMS step start from a sample stored at an earlier step, so
/// the re-noised sample would be ignored. (UniPC resamples, but its corrector re-derives the
/// sample entering a step from the previous step's, so the re-noised sample reaches it through
/// the model's output only.)
pub fn can_resample(kind: SamplerKind) -> bool {
    kind != SamplerKind::Pndm
}

/// Complete the hidden region of `original` (`[h, w, c]` or `[1, h, w, c]`, model range)
/// `opts.count` times, completion `i` from stream `i` of `opts.seed` (see the module doc), with
/// `jumps` ≥ 1 passes per step. Every model call goes through `hooks.predict` (only `predict`
/// is used: the replacement is this function's own after-step). Calls
/// `sampler.set_timesteps(opts.num_inference_steps)`.
///
/// Errors: `count` 0, `jumps` 0, a mask or original whose size is not `opts.image_shape`, a
/// snapshot index past the last step, `jumps` > 1 with a sampler that cannot resample
/// ([`can_resample`]), and whatever the model or sampler report.
pub fn inpaint(
    model: &mut dyn NoisePredictor,
    sampler: &mut dyn Sampler,
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
    inpaint_with_progress(model, sampler, opts, &task, hooks, &mut Silent)
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
    sampler: &mut dyn Sampler,
    opts: &SampleOptions,
    task: &InpaintTask<'_>,
    hooks: &mut dyn SampleHooks,
    progress: &mut dyn Progress,
) -> Result<Inpainted> {
    let started = Instant::now();
    let known = Known::new(opts, task)?;
    let jumps = task.jumps;
    if jumps > 1 && !can_resample(sampler.kind()) {
        return Err(Error::invalid(format!(
            "--jumps {jumps}: the {} sampler cannot resample (its steps start from samples it \
             stored earlier, so RePaint's re-noised sample would be ignored); use --jumps 1 or \
             another sampler",
            sampler.kind().name()
        )));
    }
    let per = prepare(sampler, opts)?;
    let timesteps = sampler.timesteps().to_vec();
    let n = timesteps.len();
    let [h, w, c] = opts.image_shape;
    let full = [opts.count, h, w, c];
    let mut snapshots = empty_snapshots(opts, &*sampler, full)?;
    let mut images = Tensor::zeros(full);
    let batch = batch_len(opts);
    progress.start(&opts.label, (opts.count.div_ceil(batch) * n * jumps) as u64);
    let mut run = Run {
        model,
        sampler,
        hooks,
        progress,
        known: &known,
        opts,
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
    sampler: &'r mut dyn Sampler,
    hooks: &'r mut dyn SampleHooks,
    progress: &'r mut dyn Progress,
    known: &'r Known<'a>,
    opts: &'r SampleOptions,
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
        start_sample(opts.start, &*self.sampler, x.data_mut())?;
        let mut bufs = StepBuffers::new(bshape);
        let mut snap = snapshots.iter_mut().peekable();
        for k in 0..self.sampler.num_steps() {
            check_cancelled(self.progress, &opts.label)?;
            let step = StepInfo::new(&*self.sampler, k, samples.clone())?;
            let mut record = snap.next_if(|s| s.index == k);
            for pass in 0..self.known.jumps {
                reverse_step(
                    self.model,
                    self.sampler,
                    self.hooks,
                    &mut noise,
                    &step,
                    &x,
                    &mut bufs,
                )?;
                if let (0, Some(s)) = (pass, record.as_deref_mut()) {
                    s.record(start * per, &x, &bufs.x0);
                }
                self.replace(&step, pass, &mut noise, &mut bufs, &mut x)?;
                self.done += 1;
                self.progress.update(self.done, "");
            }
            std::mem::swap(&mut x, &mut bufs.prev);
        }
        Ok(x)
    }

    /// After pass `pass` of a step: the known region of `bufs.prev` (the step's result) ← the
    /// original at the level the step lands on, and, when another pass follows, `x` ← that
    /// result re-noised to the level the step started from.
    fn replace(
        &mut self,
        step: &StepInfo,
        pass: usize,
        noise: &mut SeededNoise,
        bufs: &mut StepBuffers,
        x: &mut Tensor,
    ) -> Result<()> {
        let known = self.known;
        let buf = &mut bufs.z;
        if known.any_known {
            let eps = if step.is_last() {
                None
            } else {
                noise.step_noise(step, buf)?;
                Some(&buf[..])
            };
            let prev = bufs.prev.data_mut();
            merge_known(prev, known.original, &known.hidden, step.next, eps);
        }
        if pass + 1 < known.jumps {
            noise.step_noise(step, buf)?;
            let to = if step.is_last() {
                NoiseLevel::vp(1.0)
            } else {
                step.next
            };
            step.level
                .renoise(to, bufs.prev.data(), buf, x.data_mut())?;
        }
        Ok(())
    }
}
