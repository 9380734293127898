//! The `difflab` command line (clap derive). One thin file per subcommand; the work is done
//! by the library.

pub mod bench;
pub mod classifier;
pub mod eval;
pub mod forward;
pub mod inpaint;
pub mod lab;
pub mod pretrained;
pub mod sample;
pub mod serve;
pub mod train;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Options shared by every subcommand.
#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// Folder holding the four MNIST IDX files (raw or .gz). Overrides DIFFLAB_MNIST_DIR and the cache.
    #[arg(long, global = true, value_name = "DIR")]
    pub mnist_dir: Option<PathBuf>,
    /// Worker threads for the compute core (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
}

/// difflab: see how diffusion models work by doing it.
#[derive(Parser, Debug)]
#[command(name = "difflab", version, about, long_about = None)]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: Global,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands, one per lab module plus tools.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Measure the compute core on this machine: sgemm ceiling and conv2d GFLOP/s.
    Bench(bench::BenchArgs),
    /// Module 1: watch a digit dissolve into noise (figures, animation, summary).
    Forward(forward::ForwardArgs),
    /// Module 2: train a denoiser on MNIST digits (checkpoint, loss, denoising, filters, preview).
    Train(train::TrainArgs),
    /// Module 3: generate digits from pure noise with any sampler (trajectory, samples, steps, animation).
    Sample(sample::SampleArgs),
    /// Hide part of a real test digit and let the trained model regenerate it (inpainting).
    Inpaint(inpaint::InpaintArgs),
    /// Train the MNIST classifier that judges generated digits and report its test accuracy.
    Classifier(classifier::ClassifierArgs),
    /// Judge a trained denoiser's digits: recognised share, classes, FID against MNIST (eval.json).
    Eval(eval::EvalArgs),
    /// Module 4: run a pretrained diffusers model (google/ddpm-cifar10-32) and compare it with the toy.
    Pretrained(pretrained::PretrainedArgs),
    /// The whole lab in one command: every module, then the report and the answer sheet.
    Lab(lab::LabArgs),
    /// The lab in the browser: Module 1 live, training and sampling jobs, the answer sheet.
    Serve(serve::ServeArgs),
}

/// The value of a `--steps` option: a whole number; a negative one is refused here with a
/// message saying so (0 and counts above the model's T are refused by the command, which knows
/// T).
pub fn steps_value(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n < 0 => Err(format!(
            "{n} is negative: a step count must be at least 1 (the sampler needs at least one denoising step)"
        )),
        Ok(n) => Ok(n as usize),
        Err(_) => Err(format!(
            "'{s}' is not a whole number: a step count is 1 or more"
        )),
    }
}

/// Parse the command line, run it, print any error, and return the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    if let Some(n) = cli.global.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
        {
            eprintln!("error: could not start {n} threads: {e}");
            return 2;
        }
    }
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Run one parsed command line.
pub fn run(cli: Cli) -> crate::Result<()> {
    match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Forward(args) => forward::run(args, &cli.global),
        Command::Train(args) => train::run(args, &cli.global),
        Command::Sample(args) => sample::run(args, &cli.global),
        Command::Inpaint(args) => inpaint::run(args, &cli.global),
        Command::Classifier(args) => classifier::run(args, &cli.global),
        Command::Eval(args) => eval::run(args, &cli.global),
        Command::Pretrained(args) => pretrained::run(args, &cli.global),
        Command::Lab(args) => lab::run(args, &cli.global),
        Command::Serve(args) => serve::run(args, &cli.global),
    }
}
