//! Micro-benchmarks for tuning the compute core:
//! `cargo bench --bench kernels -- [FILTER...]`, env `THREADS` (default 2).
//!
//! Prints GFLOP/s of square sgemm and of every conv2d pass on the lab's layer shapes. With
//! `THREADS=1` it counts the CPU time the thread actually got (`/proc/thread-self/schedstat`,
//! summed over a batch of calls because the kernel updates it only at scheduler ticks), which
//! stays meaningful while other processes load the machine; with more threads it reports the
//! best wall-clock time. `difflab bench` is the user-facing version.

use difflab::bench::{lab_conv_cases, ConvCase, Pass};
use difflab::nn::conv::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Act, Workspace,
};
use difflab::nn::matmul::matmul;
use difflab::util::rng::Rng;
use std::time::Instant;

/// CPU seconds the calling thread has had so far (0 where schedstat is unavailable).
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns * 1e-9)
}

/// Seconds per call of `f`: CPU time averaged over batches of ~0.3 s (best batch) for one
/// thread, best single wall-clock call otherwise.
fn seconds_per_call(threads: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64().max(1e-6);
    if threads == 1 {
        let per_batch = ((0.3 / once) as usize).clamp(3, 1000);
        (0..5)
            .map(|_| {
                let c = thread_cpu();
                for _ in 0..per_batch {
                    f();
                }
                (thread_cpu() - c) / per_batch as f64
            })
            .fold(f64::INFINITY, f64::min)
    } else {
        (0..((1.5 / once) as usize).clamp(5, 200))
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    }
}

fn conv_seconds(case: &ConvCase, pass: Pass, threads: usize) -> f64 {
    let ConvCase { conv: c, n, h, w } = *case;
    let (oh, ow) = c.out_hw(h, w);
    let mut rng = Rng::seeded(2);
    let x = rng.normal_vec(n * h * w * c.cin);
    let weight = rng.normal_vec(c.weight_len());
    let bias = rng.normal_vec(c.cout);
    let dy = rng.normal_vec(n * oh * ow * c.cout);
    let (mut y, mut dx, mut dw, mut db) = (
        vec![0.0; dy.len()],
        vec![0.0; x.len()],
        vec![0.0; weight.len()],
        vec![0.0; c.cout],
    );
    let mut ws = Workspace::new();
    seconds_per_call(threads, || match pass {
        Pass::Forward => conv2d_forward(
            &c,
            &x,
            n,
            h,
            w,
            &weight,
            Some(&bias),
            Act::Relu,
            &mut y,
            &mut ws,
        ),
        Pass::BackwardInput => conv2d_backward_input(&c, &dy, n, h, w, &weight, &mut dx, &mut ws),
        Pass::BackwardWeight => {
            conv2d_backward_weight(&c, &x, &dy, n, h, w, &mut dw, Some(&mut db), &mut ws)
        }
    })
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        for size in [512, 1024, 2048] {
            if wants(&format!("sgemm {size}")) {
                let mut rng = Rng::seeded(1);
                let (a, b) = (rng.normal_vec(size * size), rng.normal_vec(size * size));
                let mut c = vec![0.0; size * size];
                let s =
                    seconds_per_call(threads, || matmul(size, size, size, &a, &b, &mut c, false));
                let g = 2.0 * (size as f64).powi(3) / s / 1e9;
                println!("sgemm {size} {size}x{size} {threads} threads: best {g:.1} GFLOP/s");
            }
        }
        for case in lab_conv_cases(128) {
            for pass in Pass::ALL {
                let name = format!("conv {} {}", case.label(), pass.name());
                if wants(&name) {
                    let s = conv_seconds(&case, pass, threads);
                    let g = case.conv.flops(case.n, case.h, case.w) / s / 1e9;
                    println!(
                        "{name:<40} {threads} threads: best {g:.1} GFLOP/s ({:.2} ms)",
                        s * 1e3
                    );
                }
            }
        }
    });
}
