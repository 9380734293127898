//! `difflab eval`: judge a trained denoiser's digits with the MNIST classifier and FID
//! (logic in `crate::eval`).

use crate::cli::Global;
use crate::console::StepBars;
use crate::eval::{
    evaluate_model_with_progress, guidance_sweep_model, sweep_model, write_json, EvalOptions,
    EVAL_FILE,
};
use crate::pipelines::guidance::check_scale;
use crate::schedulers::SamplerKind;
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Options of `difflab eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The checkpoint folder written by `difflab train`.
    #[arg(long, value_name = "DIR", default_value = "lab8-out/module2")]
    pub model: PathBuf,
    /// Digits to generate (and real digits in the floor).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub count: usize,
    /// Sampler: ddpm, ddim, dpm++ (DPM-Solver++), dpm++-sde, unipc, euler, euler-a (Euler
    /// ancestral) or pndm.
    #[arg(long, value_enum, default_value = "ddpm")]
    pub sampler: SamplerKind,
    /// Sampling steps [default: all T of the model].
    #[arg(long, value_name = "N", value_parser = crate::cli::steps_value, allow_hyphen_values = true)]
    pub steps: Option<usize>,
    /// Seed of the generation and of the floor's choice of real digits.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also run every sampler (or those of --samplers) at 10, 20, 50 and all steps, and
    /// plot quality_vs_steps.png.
    #[arg(long)]
    pub sweep: bool,
    /// With --sweep: the samplers to compare [default: all eight].
    #[arg(
        long,
        value_enum,
        value_name = "LIST",
        value_delimiter = ',',
        requires = "sweep"
    )]
    pub samplers: Option<Vec<SamplerKind>>,
    /// Conditional models: ask for digits with classifier-free guidance at each of these
    /// scales (e.g. 0,1,2,4,7) and report how often the asked-for digit comes out;
    /// writes guidance.json.
    #[arg(
        long,
        value_name = "W",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub guidance: Option<Vec<f32>>,
    /// With --guidance: the digits to ask for [default: all trained digits].
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        requires = "guidance"
    )]
    pub digit: Option<Vec<u8>>,
    /// Most digits sent through the model at once.
    #[arg(long, default_value_t = 250, value_name = "N")]
    pub batch_size: usize,
    /// The classifier file [default: the cache, trained on first use].
    #[arg(long, value_name = "FILE")]
    pub classifier: Option<PathBuf>,
    /// Start sampling from pure noise N(0, I), as the Python lab does, instead of noise matched
    /// to the model's training data (difflab's default; see the README).
    #[arg(long)]
    pub pure_start: bool,
    /// DDIM as diffusers' default step does it: the clipped x̂0 with the model's raw ε̂ (with
    /// this toy schedule its digits get worse the more steps it takes), instead of difflab's
    /// consistent step, which re-derives ε̂ from the clipped x̂0 (see the README)
    #[arg(long)]
    pub diffusers_ddim: bool,
    /// Output folder (eval.json; with --sweep also quality_vs_steps.json and .png).
    #[arg(long, value_name = "DIR", default_value = "lab8-out/eval")]
    pub out: PathBuf,
}

/// Evaluate, print the table(s), write the files.
pub fn run(args: EvalArgs, global: &Global) -> Result<()> {
    if args.count < 2 {
        return Err(Error::invalid(format!(
            "--count {} is too small: FID needs at least 2 digits",
            args.count
        )));
    }
    if args.batch_size == 0 {
        return Err(Error::invalid("--batch-size must be at least 1"));
    }
    let started = Instant::now();
    let opts = EvalOptions {
        count: args.count,
        sampler: args.sampler,
        steps: args.steps,
        seed: args.seed,
        batch_size: args.batch_size,
        classifier: args.classifier.clone(),
        mnist_dir: global.mnist_dir.clone(),
        pure_start: args.pure_start,
        diffusers_ddim: args.diffusers_ddim,
    };
    let steps = args.steps.map_or("all".to_string(), |n| n.to_string());
    println!(
        "Evaluating {}: {} digits, {} with {steps} steps, seed {}{}{}{}",
        args.model.display(),
        args.count,
        args.sampler.name().to_uppercase(),
        args.seed,
        if args.pure_start {
            ", from pure noise"
        } else {
            ""
        },
        if args.diffusers_ddim {
            ", DDIM steps as diffusers' default"
        } else {
            ""
        },
        if args.sweep {
            ", then the sweep over samplers and steps"
        } else {
            ""
        }
    );
    let mut bars = StepBars::new(true);
    if let Some(scales) = &args.guidance {
        guidance(&args, &opts, scales, &mut bars)?;
    } else if args.sweep {
        sweep(&args, &opts, &mut bars)?;
    } else {
        let eval_json = args.out.join(EVAL_FILE);
        let report = evaluate_model_with_progress(&args.model, &opts, &mut bars)?;
        print!("{}", report.table());
        report.write(&eval_json)?;
        println!("Wrote {}", eval_json.display());
    }
    println!("Done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `--guidance`: the guidance sweep's table and `guidance.json`.
fn guidance(
    args: &EvalArgs,
    opts: &EvalOptions,
    scales: &[f32],
    bars: &mut StepBars,
) -> Result<()> {
    for &w in scales {
        check_scale(w)?;
    }
    let digits = args.digit.as_deref();
    let sweep = guidance_sweep_model(&args.model, opts, digits, scales, bars)?;
    print!("{}", sweep.table());
    let json = args.out.join("guidance.json");
    write_json(&json, &sweep)?;
    println!("Wrote {}", json.display());
    Ok(())
}

/// `--sweep`: every sampler (or `--samplers`, with `--sampler` added) at every step count;
/// `eval.json` for the requested one, `quality_vs_steps.json` and `.png` for all.
fn sweep(args: &EvalArgs, opts: &EvalOptions, bars: &mut StepBars) -> Result<()> {
    let eval_json = args.out.join(EVAL_FILE);
    let mut samplers = args.samplers.clone().unwrap_or(SamplerKind::ALL.to_vec());
    if !samplers.contains(&args.sampler) {
        samplers.insert(0, args.sampler);
    }
    samplers.dedup();
    let sweep = sweep_model(&args.model, opts, &samplers, bars)?;
    print!("{}", sweep.table());
    let main = sweep
        .runs
        .iter()
        .find(|r| {
            r.sampler == args.sampler.name()
                && r.steps == args.steps.unwrap_or(r.num_train_timesteps)
        })
        .ok_or_else(|| Error::invalid("the sweep lacks the requested sampler and steps"))?;
    println!();
    print!("{}", main.table());
    main.write(&eval_json)?;
    let json = args.out.join("quality_vs_steps.json");
    write_json(&json, &sweep)?;
    let png = args.out.join("quality_vs_steps.png");
    let (w, h) = sweep.plot_png(&png)?;
    println!(
        "Wrote {}, {} and {} ({w}×{h})",
        eval_json.display(),
        json.display(),
        png.display()
    );
    Ok(())
}
