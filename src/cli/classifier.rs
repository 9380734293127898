//! `difflab classifier`: train the MNIST classifier that judges generated digits, report its
//! test accuracy, and keep it in the cache (logic in `crate::models::classifier`).

use crate::cli::Global;
use crate::models::classifier::{
    default_cache_path, save_classifier, train_and_test, TrainOptions, CONFIDENCE,
};
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Options of `difflab classifier`.
#[derive(Args, Debug, Clone)]
pub struct ClassifierArgs {
    /// Side of the digits it judges: 16 (the lab's size) or 28 (full MNIST).
    #[arg(long, default_value_t = 16, value_name = "PX")]
    pub size: usize,
    /// Passes over the 60,000 training digits (default: the recipe's 3).
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Images per Adam step (default 64).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Peak learning rate, decayed along a cosine (default 3e-3).
    #[arg(long, value_name = "LR")]
    pub lr: Option<f32>,
    /// Random shift of the training digits, ±PX pixels (default 1 at 16×16, 2 at 28×28).
    #[arg(long, value_name = "PX")]
    pub max_shift: Option<usize>,
    /// Synthetic non-digits per batch, as a fraction of the batch size, taught to get a uniform
    /// class distribution so that noise is not "recognised" (default 0.125; 0 = none).
    #[arg(long, value_name = "F")]
    pub outliers: Option<f32>,
    /// Train on only the first N training digits.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Seed of the initial weights, data order and shifts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write it (default: the cache, $XDG_CACHE_HOME/difflab/classifier-{size}.safetensors,
    /// which `difflab eval` reads).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Do not write the trained classifier anywhere.
    #[arg(long, conflicts_with = "out")]
    pub no_save: bool,
}

/// Train, print the test accuracy and where the classifier went.
pub fn run(args: ClassifierArgs, global: &Global) -> Result<()> {
    let d = TrainOptions::for_size(args.size);
    let opts = TrainOptions {
        epochs: args.epochs.unwrap_or(d.epochs),
        batch_size: args.batch_size.unwrap_or(d.batch_size),
        lr: args.lr.unwrap_or(d.lr),
        max_shift: args.max_shift.unwrap_or(d.max_shift),
        outlier_fraction: args.outliers.unwrap_or(d.outlier_fraction),
        limit: args.limit,
        seed: args.seed,
        progress: true,
    };
    let started = Instant::now();
    println!(
        "Training the {0}×{0} MNIST classifier: {1} epoch(s), batch {2}, Adam lr {3} (cosine), shifts ±{4} px, seed {5}",
        args.size, opts.epochs, opts.batch_size, opts.lr, opts.max_shift, opts.seed
    );
    let mut bars = crate::console::StepBars::new(opts.progress);
    let (model, info) = train_and_test(args.size, &opts, global.mnist_dir.as_deref(), &mut bars)?;
    let r = &info.report;
    println!(
        "Trained {} parameters on {} digits × {} epoch(s) ({} steps) in {:.1} s; final loss {:.4}",
        model.num_params(),
        r.images,
        r.epochs,
        r.steps,
        r.train_seconds,
        r.final_loss
    );
    println!(
        "Test accuracy: {:.2}% ({} of 10,000 MNIST test digits right)",
        100.0 * info.test_accuracy,
        (info.test_accuracy * 10_000.0).round()
    );
    println!(
        "Recognised (top probability ≥ {CONFIDENCE}): {:.2}% of the test digits, {:.2}% of 1,000 pure-noise images",
        100.0 * info.test_recognised,
        100.0 * info.noise_recognised
    );
    if !args.no_save {
        let path = args.out.clone().or_else(|| default_cache_path(args.size)).ok_or_else(|| {
            Error::invalid("no cache folder (neither XDG_CACHE_HOME nor HOME is set): pass --out FILE or --no-save")
        })?;
        save_classifier(&path, &model, &info)?;
        println!("Saved to {}", path.display());
    }
    println!("Done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
