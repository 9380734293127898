//! The sampling loop: start from Gaussian noise x_T and let a [`Sampler`] walk it back to an
//! image, asking a [`NoisePredictor`] at every step. The same loop runs every sampler (DDPM,
//! DDIM, DPM-Solver++, UniPC, Euler, Euler ancestral, PNDM), with any model.
//!
//! ```text
//! sampler.set_timesteps(n)                 (n = num_inference_steps)
//! x ← x_T = randn · init_noise_sigma       (per sample, from its own RNG stream; with a matched
//!                                          start shifted and scaled, see [`start_sample`])
//! for k in 0 … sampler.num_steps() − 1:    (loop index k; t_k = timesteps()[k], descending)
//!     out   ← model(scale_model_input(x), t_k)   (the whole batch in one call)
//!     x, x̂0 ← sampler.step(k, out, x, z_k)       (z_k: fresh noise where the step needs it)
//! return x                                  (in the model's range, [-1, 1] for difflab's models)
//! ```
//!
//! `scale_model_input` divides by √(σ_k² + 1) for the Euler schedulers (their samples are
//! x0 + σ·ε) and does nothing for the others; `init_noise_sigma` is 1 except for Euler.
//!
//! **Reproducibility.** Sample number `i` (counting from [`SampleOptions::first_index`]) draws
//! all its randomness from its own stream `Rng::stream(seed, i)`: first its initial noise x_T
//! (h·w·c standard normals, in NHWC order), then, for every loop index whose step adds noise
//! (see [`Sampler::noise_needed`]), h·w·c more. Sample `i` is therefore the same image
//! whatever the batch size, whatever split of the run into several calls, and whichever other
//! samples are generated beside it; and the same seed gives the same x_T (up to the start's
//! scale) for every sampler and step count, so runs can be compared side by side.
//!
//! **Range.** difflab's models (and diffusers' UNets) work on images scaled to [-1, 1];
//! [`to_unit_range`] / [`Samples::images_unit`] clamp to that range and map to [0, 1] for
//! display.
//!
//! **Extension points.** [`SampleHooks`] is called at three places: after x_T is drawn
//! (`start`), for the model call (`predict`: classifier-free guidance replaces it with two
//! predictions, conditional and unconditional, combined; see [`crate::pipelines::guidance`]),
//! and after each step (`after_step`, e.g. to clamp or project the sample). Inpainting
//! ([`crate::pipelines::inpaint`]) runs its own loop, since RePaint's resampling repeats steps,
//! but calls the same `predict` hook.
//! [`NoiseSource`] supplies x_T and the step noise (seeded by default; tests pass recorded noise).

pub use super::noise::{NoiseSource, SeededNoise};
pub use super::step::StepInfo;
use crate::diffusion::StartNoise;
use crate::models::NoisePredictor;
use crate::nn::Tensor;
use crate::schedulers::{NoiseLevel, Sampler, SamplerKind, StepIo};
use crate::util::progress::{check_cancelled, Progress, Silent};
use crate::{Error, Result};
use std::ops::Range;
use std::time::{Duration, Instant};

/// The few-step sampler Module 3's figures show beside DDPM and DDIM: SDE-DPM-Solver++, the
/// best of difflab's samplers in ≤ 20 steps on the toy (the README's table: within 12% of
/// DDPM's FID with all 200 steps at 10 steps, where the deterministic solvers stay 3× worse).
pub const FEW_STEP_SAMPLER: SamplerKind = SamplerKind::DpmSolverSde;
/// The few-step sampler of a pretrained T = 1000 model (Module 4): DPM-Solver++, diffusers'
/// recommendation ("20 steps high quality, quite good in 10").
pub const PRETRAINED_FEW_STEP_SAMPLER: SamplerKind = SamplerKind::DpmSolver;
/// The step counts the figures run the few-step sampler at.
pub const FEW_STEPS: [usize; 2] = [10, 20];

/// What to generate and how.
#[derive(Clone, Debug)]
pub struct SampleOptions {
    /// Number of samples to generate (at least 1).
    pub count: usize,
    /// Most samples sent through the model at once; 0 means all `count` in one batch.
    pub batch_size: usize,
    /// Shape of one sample, `[height, width, channels]` (NHWC without the batch).
    pub image_shape: [usize; 3],
    /// Seed of every draw (see the module doc for the draw order).
    pub seed: u64,
    /// Index of the first sample: samples are `first_index .. first_index + count`, each from
    /// its own RNG stream, so a run split into parts reproduces the whole.
    pub first_index: u64,
    /// Number of sampling steps n (1 ..= T), passed to `set_timesteps`.
    pub num_inference_steps: usize,
    /// The distribution of x_T: pure noise, or matched to the noised training data (see
    /// [`StartNoise`]; a difflab checkpoint's is `CheckpointConfig::start_noise`).
    pub start: StartNoise,
    /// Loop indices (0 = the first step, at t = `timesteps()[0]`) at which to record x_t and x̂0.
    pub snapshot_at: Vec<usize>,
    /// The job's name, as [`Progress::start`] receives it (a progress bar's label).
    pub label: String,
}

impl SampleOptions {
    /// One sample of `image_shape` per default: seed 42, 1 step (set `num_inference_steps`),
    /// no snapshots, labelled `sampling`.
    pub fn new(image_shape: [usize; 3], num_inference_steps: usize) -> Self {
        SampleOptions {
            count: 1,
            batch_size: 0,
            image_shape,
            seed: 42,
            first_index: 0,
            num_inference_steps,
            start: StartNoise::Pure,
            snapshot_at: Vec::new(),
            label: "sampling".into(),
        }
    }
}

/// The state of the sampled batch at one loop index.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The loop index k.
    pub index: usize,
    /// Its timestep t_k (a float: the Euler schedulers' are fractional).
    pub t: f64,
    /// The noise level of the samples entering step k ([`Sampler::level_before`]).
    pub level: NoiseLevel,
    /// x_t, the samples entering step k, `[count, h, w, c]`, in variance-preserving form
    /// √ᾱ·x0 + √(1−ᾱ)·ε (the Euler schedulers' x0 + σ·ε divided by `level.scale`).
    pub x_t: Tensor,
    /// x̂0, the clean samples the model's output at step k implies, `[count, h, w, c]`.
    pub pred_x0: Tensor,
}

/// The outcome of [`sample`].
#[derive(Clone, Debug)]
pub struct Samples {
    /// The generated samples, `[count, h, w, c]`, in the model's range (not clamped).
    pub images: Tensor,
    /// The timesteps the loop visited, one per loop index.
    pub timesteps: Vec<f64>,
    /// The requested snapshots, by increasing loop index.
    pub snapshots: Vec<Snapshot>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl Samples {
    /// The samples mapped from [-1, 1] to [0, 1] for display (see [`to_unit_range`]).
    pub fn images_unit(&self) -> Tensor {
        to_unit_range(&self.images)
    }
}

/// Map values from the models' range [-1, 1] to [0, 1] for display: (clamp(x, −1, 1) + 1)/2.
pub fn to_unit_range(x: &Tensor) -> Tensor {
    let data = x
        .data()
        .iter()
        .map(|&v| (v.clamp(-1.0, 1.0) + 1.0) * 0.5)
        .collect();
    Tensor::new(x.shape().to_vec(), data).expect("same shape")
}

/// Per-run customisation of the loop; every method has a do-nothing default.
pub trait SampleHooks {
    /// Called once per batch after x_T is drawn (and scaled by the sampler's start); may
    /// change it.
    fn start(
        &mut self,
        _samples: Range<u64>,
        _sampler: &dyn Sampler,
        _x: &mut Tensor,
    ) -> Result<()> {
        Ok(())
    }
    /// The model call at one step (`timesteps` holds t_k once per sample, `x` is the scaled
    /// model input). The default calls `model.predict(x, timesteps)`; classifier-free guidance
    /// overrides it.
    fn predict(
        &mut self,
        model: &mut dyn NoisePredictor,
        x: &Tensor,
        timesteps: &[f32],
        _step: &StepInfo,
    ) -> Result<Tensor> {
        model.predict(x, timesteps)
    }
    /// Called after each step with the sample it produced (mutable, at `step.next`) and the
    /// step's x̂0.
    fn after_step(
        &mut self,
        _step: &StepInfo,
        _sampler: &dyn Sampler,
        _x: &mut Tensor,
        _pred_x0: &Tensor,
    ) -> Result<()> {
        Ok(())
    }
}

/// No customisation: the plain loop.
pub struct NoHooks;
impl SampleHooks for NoHooks {}

/// Generate `opts.count` samples with `model` and `sampler` (already configured, e.g. DDIM's
/// eta), randomness from [`SeededNoise`]`(opts.seed)`. Calls `sampler.set_timesteps`.
pub fn sample(
    model: &mut dyn NoisePredictor,
    sampler: &mut dyn Sampler,
    opts: &SampleOptions,
) -> Result<Samples> {
    sample_with(
        model,
        sampler,
        opts,
        &mut SeededNoise::new(opts.seed),
        &mut NoHooks,
    )
}

/// [`sample`] reporting to `progress` (see [`sample_with_progress`]).
pub fn sample_observed(
    model: &mut dyn NoisePredictor,
    sampler: &mut dyn Sampler,
    opts: &SampleOptions,
    progress: &mut dyn Progress,
) -> Result<Samples> {
    let mut noise = SeededNoise::new(opts.seed);
    sample_with_progress(model, sampler, opts, &mut noise, &mut NoHooks, progress)
}

/// [`sample`] with an explicit noise source and hooks.
pub fn sample_with(
    model: &mut dyn NoisePredictor,
    sampler: &mut dyn Sampler,
    opts: &SampleOptions,
    noise: &mut dyn NoiseSource,
    hooks: &mut dyn SampleHooks,
) -> Result<Samples> {
    sample_with_progress(model, sampler, opts, noise, hooks, &mut Silent)
}

/// [`sample_with`] reporting to `progress`: one job labelled `opts.label` whose units are the
/// model calls (batches × steps); between steps it returns [`Error::Cancelled`] when
/// `progress` asks it to stop.
pub fn sample_with_progress(
    model: &mut dyn NoisePredictor,
    sampler: &mut dyn Sampler,
    opts: &SampleOptions,
    noise: &mut dyn NoiseSource,
    hooks: &mut dyn SampleHooks,
    progress: &mut dyn Progress,
) -> Result<Samples> {
    let started = Instant::now();
    let per = prepare(sampler, opts)?;
    let [h, w, c] = opts.image_shape;
    let timesteps = sampler.timesteps().to_vec();
    let n = timesteps.len();
    let full = [opts.count, h, w, c];
    let mut snapshots = empty_snapshots(opts, &*sampler, full)?;
    let mut images = Tensor::zeros(full);
    let batch = batch_len(opts);
    progress.start(&opts.label, (opts.count.div_ceil(batch) * n) as u64);
    let mut done = 0;

    for start in (0..opts.count).step_by(batch) {
        let len = batch.min(opts.count - start);
        let first = opts.first_index + start as u64;
        let samples = first..first + len as u64;
        let shape = [len, h, w, c];
        let mut x = Tensor::zeros(shape);
        noise.initial(samples.clone(), x.data_mut())?;
        start_sample(opts.start, &*sampler, x.data_mut())?;
        hooks.start(samples.clone(), &*sampler, &mut x)?;
        let mut bufs = StepBuffers::new(shape);
        let mut snap = snapshots.iter_mut().peekable();

        for k in 0..n {
            check_cancelled(progress, &opts.label)?;
            let step = StepInfo::new(&*sampler, k, samples.clone())?;
            reverse_step(model, sampler, hooks, noise, &step, &x, &mut bufs)?;
            if let Some(s) = snap.next_if(|s| s.index == k) {
                s.record(start * per, &x, &bufs.x0);
            }
            std::mem::swap(&mut x, &mut bufs.prev);
            hooks.after_step(&step, &*sampler, &mut x, &bufs.x0)?;
            done += 1;
            progress.update(done, "");
        }
        images.data_mut()[start * per..(start + len) * per].copy_from_slice(x.data());
    }
    progress.finish();
    Ok(Samples {
        images,
        timesteps,
        snapshots,
        elapsed: started.elapsed(),
    })
}

/// Check `opts` and set up `sampler` for its run (`set_timesteps`, the item length for
/// per-image thresholding); returns the values per sample, h·w·c.
pub(crate) fn prepare(sampler: &mut dyn Sampler, opts: &SampleOptions) -> Result<usize> {
    let [h, w, c] = opts.image_shape;
    let per = h * w * c;
    if opts.count == 0 || per == 0 {
        return Err(Error::invalid(format!(
            "nothing to sample: count {} of shape {:?}",
            opts.count, opts.image_shape
        )));
    }
    sampler.set_timesteps(opts.num_inference_steps)?;
    sampler.set_item_len(per);
    Ok(per)
}

/// Turn the standard normals of x_T into the sampler's start: for a matched start, draws of
/// `start` at the level of step 0 ([`StartNoise::shape`]) times that level's scale (√(1+σ²)
/// for the Euler schedulers, 1 for the others); for a pure start, times
/// [`Sampler::init_noise_sigma`], as diffusers does.
pub fn start_sample(start: StartNoise, sampler: &dyn Sampler, x: &mut [f32]) -> Result<()> {
    let level = sampler.level_before(0)?;
    let scale = match start {
        StartNoise::Pure => sampler.init_noise_sigma(),
        StartNoise::Matched { .. } => {
            start.shape(level.alpha_bar, x);
            level.scale
        }
    };
    if scale != 1.0 {
        let s = scale as f32;
        x.iter_mut().for_each(|v| *v *= s);
    }
    Ok(())
}

/// Where [`reverse_step`] writes: the step noise's scratch, the scaled model input (used only
/// where the sampler scales it), the step's result and x̂0 (each laid out like the batch).
pub(crate) struct StepBuffers {
    pub z: Vec<f32>,
    pub input: Tensor,
    pub prev: Tensor,
    pub x0: Tensor,
}

impl StepBuffers {
    /// Zeroed buffers for a batch of `shape`.
    pub fn new(shape: [usize; 4]) -> Self {
        StepBuffers {
            z: vec![0.0; shape.iter().product()],
            input: Tensor::zeros(shape),
            prev: Tensor::zeros(shape),
            x0: Tensor::zeros(shape),
        }
    }
}

/// Step `step.index` from `x` (at `step.level`): the model's output for the scaled input
/// through `hooks.predict` (an error unless it has the shape of `x`), the step's noise from
/// `noise` when the sampler adds some, then the sampler's step into `bufs.prev` and `bufs.x0`.
pub(crate) fn reverse_step(
    model: &mut dyn NoisePredictor,
    sampler: &mut dyn Sampler,
    hooks: &mut dyn SampleHooks,
    noise: &mut dyn NoiseSource,
    step: &StepInfo,
    x: &Tensor,
    bufs: &mut StepBuffers,
) -> Result<()> {
    let k = step.index;
    let ts = vec![step.t as f32; x.shape()[0]];
    let input = if sampler.input_scale(k)? == 1.0 {
        x
    } else {
        bufs.input.data_mut().copy_from_slice(x.data());
        sampler.scale_model_input(k, bufs.input.data_mut())?;
        &bufs.input
    };
    let out = hooks.predict(model, input, &ts, step)?;
    if out.shape() != x.shape() {
        return Err(Error::invalid(format!(
            "the model returned shape {:?} for input {:?} at t = {}",
            out.shape(),
            x.shape(),
            step.t
        )));
    }
    let z = if sampler.noise_needed(k)? {
        noise.step_noise(step, &mut bufs.z)?;
        Some(&bufs.z[..])
    } else {
        None
    };
    sampler.step_io(
        k,
        StepIo::new(
            out.data(),
            x.data(),
            z,
            bufs.prev.data_mut(),
            bufs.x0.data_mut(),
        ),
    )
}

impl Snapshot {
    /// Copy the batch entering the step (`x`, divided by the level's scale) and its x̂0 into
    /// the snapshot from value `offset` on.
    pub(crate) fn record(&mut self, offset: usize, x: &Tensor, x0: &Tensor) {
        let r = offset..offset + x.len();
        let dst = &mut self.x_t.data_mut()[r.clone()];
        dst.copy_from_slice(x.data());
        if self.level.scale != 1.0 {
            let s = self.level.scale as f32;
            dst.iter_mut().for_each(|v| *v /= s);
        }
        self.pred_x0.data_mut()[r].copy_from_slice(x0.data());
    }
}

/// The snapshots `opts.snapshot_at` asks for (sorted, without repeats), zeroed for `full`
/// (`[count, h, w, c]`); an error if one lies beyond the sampler's last step.
pub(crate) fn empty_snapshots(
    opts: &SampleOptions,
    sampler: &dyn Sampler,
    full: [usize; 4],
) -> Result<Vec<Snapshot>> {
    let n = sampler.num_steps();
    let mut at = opts.snapshot_at.clone();
    at.sort_unstable();
    at.dedup();
    if let Some(&bad) = at.iter().find(|&&k| k >= n) {
        return Err(Error::invalid(format!(
            "snapshot at loop index {bad}, but there are only {n} steps"
        )));
    }
    at.iter()
        .map(|&k| {
            Ok(Snapshot {
                index: k,
                t: sampler.timesteps()[k],
                level: sampler.level_before(k)?,
                x_t: Tensor::zeros(full),
                pred_x0: Tensor::zeros(full),
            })
        })
        .collect()
}

/// Serialise a pair of timesteps (first and last) as JSON numbers, integers where they are
/// whole (DDPM's `[199, 0]`; the Euler schedulers' may be fractional).
pub fn serialize_timesteps<S: serde::Serializer>(
    ts: &[f64; 2],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::Serialize;
    let v: Vec<serde_json::Value> = ts.iter().map(|&t| timestep_value(t)).collect();
    v.serialize(s)
}

/// A timestep as a JSON number: an integer where it is whole (DDPM's 199), else a float (the
/// Euler schedulers' fractional ones).
pub fn timestep_value(t: f64) -> serde_json::Value {
    if t.fract() == 0.0 && (0.0..9e15).contains(&t) {
        serde_json::Value::from(t as u64)
    } else {
        serde_json::Value::from(t)
    }
}

/// The first and last of a run's timesteps.
pub fn first_last(timesteps: &[f64]) -> [f64; 2] {
    [
        timesteps.first().copied().unwrap_or(0.0),
        timesteps.last().copied().unwrap_or(0.0),
    ]
}

/// The sampling steps of a run: `steps` (`None`: all `t_max`), an error unless 1 ≤ steps ≤
/// `t_max`, naming `--steps` and the model.
pub fn check_steps(steps: Option<usize>, t_max: usize, model: &str) -> Result<usize> {
    match steps.unwrap_or(t_max) {
        0 => Err(Error::invalid(format!(
            "--steps must be at least 1 (the sampler needs at least one denoising step): --steps 0 is out of range for the model in {model} (T = {t_max}), use 1 to {t_max}"
        ))),
        n if n > t_max => Err(Error::invalid(format!(
            "--steps {n} is more than the {t_max} timesteps the model in {model} was trained with (T = {t_max}): use 1 to {t_max}"
        ))),
        n => Ok(n),
    }
}

/// `k` loop indices spread evenly over `0 ..= n − 1`, both ends included (fewer if n < k): where
/// to take [`SampleOptions::snapshot_at`] for a figure or an animation of `k` frames.
pub fn spread(n: usize, k: usize) -> Vec<usize> {
    if n <= k || k < 2 {
        return (0..n.min(k.max(1))).collect();
    }
    let mut v: Vec<usize> = (0..k)
        .map(|j| ((j * (n - 1)) as f64 / (k - 1) as f64).round() as usize)
        .collect();
    v.dedup();
    v
}

/// Images per model call: `opts.batch_size`, at most `opts.count`, 0 meaning all of them.
pub(crate) fn batch_len(opts: &SampleOptions) -> usize {
    match opts.batch_size {
        0 => opts.count,
        b => b.min(opts.count),
    }
}
