//! `difflab sample`: Module 3, generate digits from pure noise (logic in
//! `crate::demos::generate`).

use crate::cli::Global;
use crate::demos::generate::{run_generate, GenerateConfig, DEFAULT_COUNT};
use crate::schedulers::SamplerKind;
use clap::Args;
use std::path::PathBuf;

/// Options of `difflab sample`.
#[derive(Args, Debug, Clone)]
pub struct SampleArgs {
    /// The checkpoint folder written by `difflab train`.
    #[arg(long, value_name = "DIR", default_value = "lab8-out/module2")]
    pub model: PathBuf,
    /// Sampler: ddpm (stochastic), ddim (deterministic with --eta 0), dpm++ (DPM-Solver++, good
    /// in 10-20 steps), dpm++-sde, unipc, euler, euler-a (Euler ancestral) or pndm.
    #[arg(long, value_enum, value_name = "NAME", default_value = "ddpm")]
    pub sampler: SamplerKind,
    /// Sampling steps, 1 to T, respaced as diffusers does [default: all T].
    #[arg(long, value_name = "N", value_parser = crate::cli::steps_value, allow_hyphen_values = true)]
    pub steps: Option<usize>,
    /// Samples to generate, each saved as samples/NNNN.png.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_COUNT)]
    pub count: usize,
    /// Seed of the noise (sample i uses stream i of it).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// DDIM's η: 0 is deterministic, 1 adds DDPM-like noise (DDIM only).
    #[arg(
        long,
        value_name = "ETA",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    pub eta: f32,
    /// Conditional models: the digit(s) to draw, e.g. 7 or 0,1,2,3 (sample i asks for the
    /// i-th in turn). Without it a conditional model draws unconditionally.
    #[arg(long, value_name = "D", value_delimiter = ',')]
    pub digit: Option<Vec<u8>>,
    /// Classifier-free guidance scale w with --digit: 0 ignores the digit, 1 is the plain
    /// conditional model, more pushes harder [default: 2].
    #[arg(long, value_name = "W", allow_hyphen_values = true)]
    pub guidance: Option<f32>,
    /// Conditional models: also sweep w = 0, 1, 2, 4, 7 for one digit, score each with the
    /// evaluator and draw guidance.png (trains the evaluator's classifier on first use).
    #[arg(long)]
    pub guidance_sweep: bool,
    /// Start from pure noise N(0, I), as the Python lab does, instead of noise matched to the
    /// model's training data (difflab's default: with T = 200 pure noise starves thin digits
    /// such as 1; see the README).
    #[arg(long)]
    pub pure_start: bool,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "lab8-out/module3")]
    pub out: PathBuf,
}

/// Run `difflab sample` and print what was made and how long each part took.
pub fn run(args: SampleArgs, global: &Global) -> crate::Result<()> {
    let cfg = GenerateConfig {
        model_dir: args.model,
        sampler: args.sampler,
        steps: args.steps,
        count: args.count,
        seed: args.seed,
        eta: args.eta,
        out_dir: args.out,
        progress: true,
        digits: args.digit,
        guidance: args.guidance,
        guidance_sweep: args.guidance_sweep,
        sweep_count: crate::demos::generate::guidance::SWEEP_COUNT,
        classifier: None,
        mnist_dir: global.mnist_dir.clone(),
        pure_start: args.pure_start,
    };
    let report = run_generate(&cfg)?;
    print!("{}", report.text());
    Ok(())
}
