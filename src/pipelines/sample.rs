//! The sampling loop: start from Gaussian noise x_T and let a scheduler walk it back to an image,
//! asking a [`NoisePredictor`] at every step. Works with any model and either scheduler.
//!
//! ```text
//! x ← x_T ~ N(0, I)                       (per sample, from its own RNG stream; with a matched
//!                                          start shifted and scaled, see [`StartNoise`])
//! for k, t in scheduler.timesteps():       (loop index k = 0 … n−1, t descending)
//!     out      ← model(x, t)               (the whole batch in one call)
//!     x, x̂0    ← scheduler.step(out, t, x, z_k)
//! return x                                  (in the model's range, [-1, 1] for difflab's models)
//! ```
//!
//! **Reproducibility.** Sample number `i` (counting from [`SampleOptions::first_index`]) draws
//! all its randomness from its own stream `Rng::stream(seed, i)`: first its initial noise x_T
//! (h·w·c standard normals, in NHWC order), then, for every loop index whose step adds noise
//! (see [`Scheduler::noise_needed`]), h·w·c more. Sample `i` is therefore the same image
//! whatever the batch size, whatever split of the run into several calls, and whichever other
//! samples are generated beside it; and the same seed gives the same x_T for every sampler
//! and step count, so runs can be compared side by side.
//!
//! **Range.** difflab's models (and diffusers' UNets) work on images scaled to [-1, 1];
//! [`to_unit_range`] / [`Samples::images_unit`] clamp to that range and map to [0, 1] for
//! display.
//!
//! **Extension points.** [`SampleHooks`] is called at three places: after x_T is drawn
//! (`start`), for the model call (`predict`: classifier-free guidance replaces it with two
//! predictions, conditional and unconditional, combined; see [`crate::pipelines::guidance`]),
//! and after each step (`after_step`, e.g. to clamp or project x_{t_prev}). Inpainting
//! ([`crate::pipelines::inpaint`]) runs its own loop, since RePaint's resampling repeats steps,
//! but calls the same `predict` hook.
//! [`NoiseSource`] supplies x_T and the step noise (seeded by default; tests pass recorded noise).

use crate::diffusion::StartNoise;
use crate::models::NoisePredictor;
use crate::nn::Tensor;
use crate::schedulers::Scheduler;
use crate::util::progress::{check_cancelled, Progress, Silent};
use crate::util::rng::Rng;
use crate::{Error, Result};
use std::ops::Range;
use std::time::{Duration, Instant};

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
    /// Its timestep t.
    pub t: usize,
    /// x_t, the samples entering step k, `[count, h, w, c]`.
    pub x_t: Tensor,
    /// x̂0, the clean samples the model's output at step k implies, `[count, h, w, c]`.
    pub pred_x0: Tensor,
}

/// The outcome of [`sample`].
#[derive(Clone, Debug)]
pub struct Samples {
    /// The generated samples, `[count, h, w, c]`, in the model's range (not clamped).
    pub images: Tensor,
    /// The timesteps the loop visited.
    pub timesteps: Vec<usize>,
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

/// Where one step is, for hooks and noise sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepInfo {
    /// Loop index k (0 = first step).
    pub index: usize,
    /// Number of steps n.
    pub num_steps: usize,
    /// The timestep t of this step.
    pub t: usize,
    /// The timestep the step lands on (`None` after the last).
    pub prev_t: Option<usize>,
    /// The absolute sample indices of the batch.
    pub samples: Range<u64>,
}

/// Supplies the randomness of a run: the initial noise and the noise of each noisy step, as
/// standard normals laid out like the batch (`samples.len()` items of h·w·c values, NHWC).
pub trait NoiseSource {
    /// Fill `out` with x_T for `samples`.
    fn initial(&mut self, samples: Range<u64>, out: &mut [f32]) -> Result<()>;
    /// Fill `out` with the noise of the step described by `step` (called only when the
    /// scheduler's step at `step.t` adds noise).
    fn step_noise(&mut self, step: &StepInfo, out: &mut [f32]) -> Result<()>;
}

/// The default [`NoiseSource`]: sample `i` draws from `Rng::stream(seed, i)`, x_T first, then
/// each step's noise in loop order.
pub struct SeededNoise {
    seed: u64,
    first: u64,
    streams: Vec<Rng>,
}

impl SeededNoise {
    /// Streams of `seed`.
    pub fn new(seed: u64) -> Self {
        SeededNoise {
            seed,
            first: 0,
            streams: Vec::new(),
        }
    }
    fn fill(&mut self, samples: &Range<u64>, out: &mut [f32]) -> Result<()> {
        let n = self.streams.len();
        if samples.start != self.first || (samples.end - samples.start) as usize != n || n == 0 {
            return Err(Error::invalid(format!(
                "step noise asked for samples {samples:?}, but initial noise was drawn for {}..{}",
                self.first,
                self.first + n as u64
            )));
        }
        if !out.len().is_multiple_of(n) {
            return Err(Error::invalid(format!(
                "noise buffer of {} values for {n} samples",
                out.len()
            )));
        }
        let per = out.len() / n;
        for (rng, chunk) in self.streams.iter_mut().zip(out.chunks_mut(per)) {
            rng.fill_normal(chunk);
        }
        Ok(())
    }
}

impl NoiseSource for SeededNoise {
    fn initial(&mut self, samples: Range<u64>, out: &mut [f32]) -> Result<()> {
        self.first = samples.start;
        self.streams = samples.clone().map(|i| Rng::stream(self.seed, i)).collect();
        self.fill(&samples, out)
    }
    fn step_noise(&mut self, step: &StepInfo, out: &mut [f32]) -> Result<()> {
        self.fill(&step.samples, out)
    }
}

/// Per-run customisation of the loop; every method has a do-nothing default.
pub trait SampleHooks {
    /// Called once per batch after x_T is drawn; may change it.
    fn start(
        &mut self,
        _samples: Range<u64>,
        _scheduler: &dyn Scheduler,
        _x: &mut Tensor,
    ) -> Result<()> {
        Ok(())
    }
    /// The model call at one step (`timesteps` holds t once per sample). The default calls
    /// `model.predict(x, timesteps)`; classifier-free guidance overrides it.
    fn predict(
        &mut self,
        model: &mut dyn NoisePredictor,
        x: &Tensor,
        timesteps: &[f32],
        _step: &StepInfo,
    ) -> Result<Tensor> {
        model.predict(x, timesteps)
    }
    /// Called after each step with x_{t_prev} (mutable) and the step's x̂0.
    fn after_step(
        &mut self,
        _step: &StepInfo,
        _scheduler: &dyn Scheduler,
        _x: &mut Tensor,
        _pred_x0: &Tensor,
    ) -> Result<()> {
        Ok(())
    }
}

/// No customisation: the plain loop.
pub struct NoHooks;
impl SampleHooks for NoHooks {}

/// Generate `opts.count` samples with `model` and `scheduler` (already configured, e.g. DDIM's
/// eta), randomness from [`SeededNoise`]`(opts.seed)`. Calls `scheduler.set_timesteps`.
pub fn sample(
    model: &mut dyn NoisePredictor,
    scheduler: &mut dyn Scheduler,
    opts: &SampleOptions,
) -> Result<Samples> {
    sample_with(
        model,
        scheduler,
        opts,
        &mut SeededNoise::new(opts.seed),
        &mut NoHooks,
    )
}

/// [`sample`] reporting to `progress` (see [`sample_with_progress`]).
pub fn sample_observed(
    model: &mut dyn NoisePredictor,
    scheduler: &mut dyn Scheduler,
    opts: &SampleOptions,
    progress: &mut dyn Progress,
) -> Result<Samples> {
    let mut noise = SeededNoise::new(opts.seed);
    sample_with_progress(model, scheduler, opts, &mut noise, &mut NoHooks, progress)
}

/// [`sample`] with an explicit noise source and hooks.
pub fn sample_with(
    model: &mut dyn NoisePredictor,
    scheduler: &mut dyn Scheduler,
    opts: &SampleOptions,
    noise: &mut dyn NoiseSource,
    hooks: &mut dyn SampleHooks,
) -> Result<Samples> {
    sample_with_progress(model, scheduler, opts, noise, hooks, &mut Silent)
}

/// [`sample_with`] reporting to `progress`: one job labelled `opts.label` whose units are the
/// model calls (batches × steps); between steps it returns [`Error::Cancelled`] when
/// `progress` asks it to stop.
pub fn sample_with_progress(
    model: &mut dyn NoisePredictor,
    scheduler: &mut dyn Scheduler,
    opts: &SampleOptions,
    noise: &mut dyn NoiseSource,
    hooks: &mut dyn SampleHooks,
    progress: &mut dyn Progress,
) -> Result<Samples> {
    let started = Instant::now();
    let [h, w, c] = opts.image_shape;
    let per = h * w * c;
    if opts.count == 0 || per == 0 {
        return Err(Error::invalid(format!(
            "nothing to sample: count {} of shape {:?}",
            opts.count, opts.image_shape
        )));
    }
    scheduler.set_timesteps(opts.num_inference_steps)?;
    let timesteps = scheduler.timesteps().to_vec();
    let n = timesteps.len();
    let full = [opts.count, h, w, c];
    let mut snapshots = empty_snapshots(opts, &timesteps, full)?;
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
        shape_start(opts.start, &*scheduler, x.data_mut());
        hooks.start(samples.clone(), &*scheduler, &mut x)?;
        let mut prev = Tensor::zeros(shape);
        let mut x0 = Tensor::zeros(shape);
        let mut z_buf = vec![0.0f32; len * per];
        let mut snap = snapshots.iter_mut().peekable();

        for (k, &t) in timesteps.iter().enumerate() {
            check_cancelled(progress, &opts.label)?;
            let step = StepInfo {
                index: k,
                num_steps: n,
                t,
                prev_t: scheduler.prev_timestep(t)?,
                samples: samples.clone(),
            };
            let bufs = StepBuffers {
                z: &mut z_buf,
                prev: &mut prev,
                x0: &mut x0,
            };
            reverse_step(model, &*scheduler, hooks, noise, &step, &x, bufs)?;
            if let Some(s) = snap.next_if(|s| s.index == k) {
                let r = start * per..(start + len) * per;
                s.x_t.data_mut()[r.clone()].copy_from_slice(x.data());
                s.pred_x0.data_mut()[r].copy_from_slice(x0.data());
            }
            std::mem::swap(&mut x, &mut prev);
            hooks.after_step(&step, &*scheduler, &mut x, &x0)?;
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

/// Turn the standard normals of x_T into draws of `start` at the scheduler's first timestep.
pub(crate) fn shape_start(start: StartNoise, scheduler: &dyn Scheduler, x: &mut [f32]) {
    if let Some(&t) = scheduler.timesteps().first() {
        start.shape(scheduler.schedule().alpha_bar(t), x);
    }
}

/// Where [`reverse_step`] writes: the step noise's scratch, x_{t_prev} and x̂0 (each laid out
/// like the batch).
pub(crate) struct StepBuffers<'a> {
    pub z: &'a mut [f32],
    pub prev: &'a mut Tensor,
    pub x0: &'a mut Tensor,
}

/// One reverse step from `x` = x_t at `step.t`: the model's output through `hooks.predict`
/// (an error unless it has the shape of `x`), the step's noise from `noise` when the scheduler
/// adds some, then the scheduler's step into `bufs.prev` (x_{t_prev}) and `bufs.x0` (x̂0).
pub(crate) fn reverse_step(
    model: &mut dyn NoisePredictor,
    scheduler: &dyn Scheduler,
    hooks: &mut dyn SampleHooks,
    noise: &mut dyn NoiseSource,
    step: &StepInfo,
    x: &Tensor,
    bufs: StepBuffers<'_>,
) -> Result<()> {
    let t = step.t;
    let ts = vec![t as f32; x.shape()[0]];
    let out = hooks.predict(model, x, &ts, step)?;
    if out.shape() != x.shape() {
        return Err(Error::invalid(format!(
            "the model returned shape {:?} for input {:?} at t = {t}",
            out.shape(),
            x.shape()
        )));
    }
    let z = if scheduler.noise_needed(t)? {
        noise.step_noise(step, bufs.z)?;
        Some(&bufs.z[..])
    } else {
        None
    };
    scheduler.step_into(
        out.data(),
        t,
        x.data(),
        z,
        bufs.prev.data_mut(),
        bufs.x0.data_mut(),
    )
}

/// The snapshots `opts.snapshot_at` asks for (sorted, without repeats), zeroed for `full`
/// (`[count, h, w, c]`); an error if one lies beyond the last of `timesteps`.
pub(crate) fn empty_snapshots(
    opts: &SampleOptions,
    timesteps: &[usize],
    full: [usize; 4],
) -> Result<Vec<Snapshot>> {
    let n = timesteps.len();
    let mut at = opts.snapshot_at.clone();
    at.sort_unstable();
    at.dedup();
    if let Some(&bad) = at.iter().find(|&&k| k >= n) {
        return Err(Error::invalid(format!(
            "snapshot at loop index {bad}, but there are only {n} steps"
        )));
    }
    Ok(at
        .iter()
        .map(|&k| Snapshot {
            index: k,
            t: timesteps[k],
            x_t: Tensor::zeros(full),
            pred_x0: Tensor::zeros(full),
        })
        .collect())
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
