//! `difflab inpaint`: hide part of a real test digit and let the trained model regenerate it
//! (logic in `crate::pipelines::inpaint`).

use crate::cli::Global;
use crate::demos::inpaint::{run_inpaint, InpaintConfig, DEFAULT_COUNT, DEFAULT_GUIDANCE};
use crate::schedulers::SamplerKind;
use clap::Args;
use std::path::PathBuf;

/// Options of `difflab inpaint`.
#[derive(Args, Debug, Clone)]
pub struct InpaintArgs {
    /// The checkpoint folder written by `difflab train`.
    #[arg(long, value_name = "DIR", default_value = "lab8-out/module2")]
    pub model: PathBuf,
    /// MNIST test image to complete [default: the first test image of a digit the model knows].
    #[arg(long, value_name = "N")]
    pub index: Option<usize>,
    /// What to hide: left, right, top, bottom, center, or a mask picture (PNG/JPEG of any
    /// size; white = hidden and regenerated, black = kept).
    #[arg(long, value_name = "MASK", default_value = "left")]
    pub mask: String,
    /// Completions, each from its own noise.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_COUNT)]
    pub count: usize,
    /// Sampler: ddpm, ddim (η = 0), dpm++ (DPM-Solver++), dpm++-sde, unipc, euler, euler-a
    /// (Euler ancestral) or pndm (pndm cannot resample: --jumps 1 only).
    #[arg(long, value_enum, value_name = "NAME", default_value = "ddpm")]
    pub sampler: SamplerKind,
    /// Sampling steps, 1 to T [default: all T].
    #[arg(long, value_name = "N", value_parser = crate::cli::steps_value, allow_hyphen_values = true)]
    pub steps: Option<usize>,
    /// RePaint resampling: passes per step (1 = none). Each extra pass re-noises the step and
    /// denoises it again, so the hidden region is revised with the known one in view; R times
    /// the model calls.
    #[arg(long, value_name = "R", default_value_t = 1)]
    pub jumps: usize,
    /// Seed of the noise (completion i uses stream i of it).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Steer the completions towards this digit (a model trained with --conditional).
    #[arg(long, value_name = "D")]
    pub digit: Option<u8>,
    /// Guidance scale w with --digit (0 = unconditional, 1 = conditional, more = stronger).
    #[arg(long, value_name = "W", allow_hyphen_values = true, help = format!("Guidance scale w with --digit (0 = unconditional, 1 = conditional, more = stronger) [default: {DEFAULT_GUIDANCE}]"))]
    pub guidance: Option<f32>,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "lab8-out/inpaint")]
    pub out: PathBuf,
}

/// Run `difflab inpaint` and print what was made and how long it took.
pub fn run(args: InpaintArgs, global: &Global) -> crate::Result<()> {
    let cfg = InpaintConfig {
        model_dir: args.model,
        index: args.index,
        mask: args.mask,
        count: args.count,
        sampler: args.sampler,
        steps: args.steps,
        jumps: args.jumps,
        seed: args.seed,
        digit: args.digit,
        guidance: args.guidance,
        mnist_dir: global.mnist_dir.clone(),
        out_dir: args.out,
        progress: true,
    };
    let report = run_inpaint(&cfg)?;
    print!("{}", report.text());
    Ok(())
}
