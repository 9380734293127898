//! `difflab pretrained`: Module 4, run a real pretrained diffusers model and compare it with
//! the toy (logic in `crate::demos::pretrained`).

use crate::cli::Global;
use crate::demos::pretrained::{run_pretrained, PretrainedConfig, DEFAULT_STEP_COUNTS};
use crate::schedulers::SamplerKind;
use clap::Args;
use std::path::PathBuf;

/// Options of `difflab pretrained`.
#[derive(Args, Debug, Clone)]
pub struct PretrainedArgs {
    /// A Hugging Face repo id (fetched once into the HF cache) or a local model folder.
    #[arg(long, value_name = "ID|DIR", default_value = crate::hub::DEFAULT_MODEL)]
    pub model: String,
    /// Images to generate.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub count: usize,
    /// Sampling steps.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = crate::cli::steps_value, allow_hyphen_values = true)]
    pub steps: usize,
    /// Sampler [default: the model's scheduler_config.json, DDPM without one]: ddpm, ddim,
    /// dpm++ (DPM-Solver++), dpm++-sde, unipc, euler, euler-a (Euler ancestral) or pndm.
    #[arg(long, value_enum, value_name = "KIND")]
    pub sampler: Option<SamplerKind>,
    /// Seed of the starting noise and every step's noise.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "lab8-out/module4")]
    pub out: PathBuf,
    /// Toy checkpoint to compare with [default: lab8-out/module3, else lab8-out/module2].
    #[arg(long, value_name = "DIR")]
    pub toy: Option<PathBuf>,
    /// Step counts of steps.png, each run with DDPM and with DDIM.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_values_t = DEFAULT_STEP_COUNTS)]
    pub compare_steps: Vec<usize>,
    /// Skip steps.png (and its extra sampling runs).
    #[arg(long)]
    pub no_steps_figure: bool,
}

/// Run `difflab pretrained` and print its summary.
pub fn run(args: PretrainedArgs, _global: &Global) -> crate::Result<()> {
    let defaults = PretrainedConfig::default();
    let cfg = PretrainedConfig {
        model: args.model,
        count: args.count,
        steps: args.steps,
        sampler: args.sampler,
        seed: args.seed,
        out_dir: args.out,
        toy_dirs: args.toy.map_or(defaults.toy_dirs, |d| vec![d]),
        step_counts: if args.no_steps_figure {
            Vec::new()
        } else {
            args.compare_steps
        },
        ..PretrainedConfig::default()
    };
    let report = run_pretrained(&cfg)?;
    print!("{}", report.text());
    Ok(())
}
