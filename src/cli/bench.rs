//! `difflab bench`: measure the compute core on this machine (logic in `crate::bench`).

use clap::Args;

use crate::bench::{self, BenchOptions};

/// Options of `difflab bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Timed runs per workload (the median is reported).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub runs: usize,
    /// Untimed warm-up runs per workload.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub warmup: usize,
    /// Batch size of the conv workloads.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub batch: usize,
    /// Side of the square sgemm product that measures the machine's ceiling.
    #[arg(long, default_value_t = 2048, value_name = "N")]
    pub sgemm_size: usize,
    /// Measure only these (e.g. `sgemm`, `conv`, `"8x8 192->64 forward"`); repeatable. Default: everything.
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
}

/// Runs the benchmark and prints the table or the JSON object to stdout.
pub fn run(args: BenchArgs) -> crate::Result<()> {
    if args.runs == 0 || args.batch == 0 || args.sgemm_size == 0 {
        return Err(crate::Error::invalid(
            "bench: --runs, --batch and --sgemm-size must be at least 1",
        ));
    }
    let opts = BenchOptions {
        warmup: args.warmup,
        runs: args.runs,
        batch: args.batch,
        sgemm_size: args.sgemm_size,
        only: args.only,
        progress: true,
    };
    let started = std::time::Instant::now();
    let report = bench::run(&opts)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
        println!(
            "\n(median of {} runs after {} warm-up; {:.1} s)",
            opts.runs,
            opts.warmup,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
