//! `difflab forward`: Module 1, watch a digit dissolve into noise.

use crate::cli::Global;
use crate::demos::forward::{run_forward, ForwardConfig, ImageChoice};
use crate::diffusion::BetaSchedule;
use clap::Args;
use std::path::PathBuf;

/// Options of `difflab forward`.
#[derive(Args, Debug, Clone)]
pub struct ForwardArgs {
    /// Noise the first training image of this digit (0-9).
    #[arg(long, value_name = "D", default_value_t = 3, conflicts_with_all = ["index", "image"])]
    pub digit: u8,
    /// Noise training image number N instead.
    #[arg(long, value_name = "N", conflicts_with = "image")]
    pub index: Option<usize>,
    /// Noise your own PNG or JPEG instead (converted to 28×28 grayscale).
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Beta schedule: linear, scaled_linear, cosine (squaredcos_cap_v2) or sigmoid.
    #[arg(long, value_name = "NAME", default_value = "linear")]
    pub schedule: String,
    /// Number of timesteps T.
    #[arg(long, value_name = "T", default_value_t = 200)]
    pub timesteps: usize,
    /// Seed of the noise.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "lab8-out/module1")]
    pub out: PathBuf,
}

/// Run `difflab forward` and print its summary.
pub fn run(args: ForwardArgs, global: &Global) -> crate::Result<()> {
    let image = match (&args.image, args.index) {
        (Some(p), _) => ImageChoice::File(p.clone()),
        (None, Some(i)) => ImageChoice::Index(i),
        (None, None) => ImageChoice::FirstOfDigit(args.digit),
    };
    let cfg = ForwardConfig {
        image,
        schedule: BetaSchedule::parse(&args.schedule)?,
        timesteps: args.timesteps,
        seed: args.seed,
        out_dir: args.out,
        mnist_dir: global.mnist_dir.clone(),
        ..ForwardConfig::default()
    };
    let report = run_forward(&cfg)?;
    print!("{}", report.text());
    Ok(())
}
