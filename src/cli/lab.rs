//! `difflab lab`: the whole lab in one command (logic in `crate::lab`).

use crate::cli::Global;
use crate::lab::{run_lab, LabConfig};
use clap::Args;
use std::path::PathBuf;

/// Options of `difflab lab`.
#[derive(Args, Debug, Clone)]
pub struct LabArgs {
    /// The lab folder: one sub-folder per module, the report and the answer sheet.
    #[arg(long, value_name = "DIR", default_value = "lab8-report")]
    pub out: PathBuf,
    /// A quick look (under a minute): fewer training images and epochs, fewer samples and steps.
    #[arg(long)]
    pub fast: bool,
    /// Rerun every module even when an earlier run's outputs are finished.
    #[arg(long)]
    pub fresh: bool,
    /// Do not run Module 4 (the pretrained CIFAR-10 model).
    #[arg(long)]
    pub skip_pretrained: bool,
    /// Module 4's model: a Hugging Face repo id or a local diffusers folder.
    #[arg(long, value_name = "MODEL", default_value = crate::hub::DEFAULT_MODEL)]
    pub pretrained_model: String,
    /// The sampler of Modules 3 and 4, the evaluation and the control stage [default: each
    /// module's own, DDPM].
    #[arg(long, value_enum)]
    pub sampler: Option<crate::schedulers::SamplerKind>,
}

/// Run `difflab lab` and print where the report is.
pub fn run(args: LabArgs, global: &Global) -> crate::Result<()> {
    let cfg = LabConfig {
        fast: args.fast,
        fresh: args.fresh,
        skip_pretrained: args.skip_pretrained,
        pretrained_model: args.pretrained_model,
        mnist_dir: global.mnist_dir.clone(),
        sampler: args.sampler,
        ..LabConfig::new(args.out)
    };
    let outcome = run_lab(&cfg)?;
    eprintln!("\nThe lab took {:.1} s.", outcome.seconds);
    println!("Report:       {}", outcome.files.index.display());
    println!(
        "Answer sheet: {} (and {})",
        outcome.files.sheet_html.display(),
        outcome.files.sheet_md.display()
    );
    Ok(())
}
