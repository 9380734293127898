//! GFLOP/s of the sgemm ceiling and of the conv2d kernels on the lab model's layer shapes.

use serde::Serialize;

use crate::nn::conv::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Act, Conv2d, Padding, Workspace,
};
use crate::nn::matmul::matmul;
use crate::util::rng::Rng;
use crate::util::timing::{median, time_runs};

/// One convolution workload: a layer shape and an input size.
#[derive(Clone, Copy, Debug)]
pub struct ConvCase {
    /// The layer.
    pub conv: Conv2d,
    /// Batch size.
    pub n: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
}

impl ConvCase {
    /// A short label such as `16x16 65->32`.
    pub fn label(&self) -> String {
        let c = &self.conv;
        let kind = if c.k == 3 && c.stride == 1 {
            String::new()
        } else {
            format!(" k{}s{}", c.k, c.stride)
        };
        format!("{}x{} {}->{}{kind}", self.h, self.w, c.cin, c.cout)
    }
}

/// The large 3×3 'same' layers of the lab's U-Net at batch `n` (issue 3's list): the encoder,
/// bottleneck and decoder convolutions (192→64 and 96→32 are the decoder's concatenations).
pub fn lab_conv_cases(n: usize) -> Vec<ConvCase> {
    [
        (16, 65, 32),
        (16, 32, 32),
        (8, 32, 64),
        (8, 64, 64),
        (8, 192, 64),
        (4, 64, 128),
        (4, 128, 128),
        (16, 96, 32),
    ]
    .iter()
    .map(|&(hw, cin, cout)| ConvCase {
        conv: Conv2d::new(cin, cout, 3, 1, Padding::same(3)),
        n,
        h: hw,
        w: hw,
    })
    .collect()
}

/// Which kernel a measurement timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    /// `conv2d_forward` with bias and ReLU.
    Forward,
    /// `conv2d_backward_input`.
    BackwardInput,
    /// `conv2d_backward_weight` with the bias gradient.
    BackwardWeight,
}

impl Pass {
    /// All three passes, in training order of appearance.
    pub const ALL: [Pass; 3] = [Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight];
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Pass::Forward => "forward",
            Pass::BackwardInput => "backward_input",
            Pass::BackwardWeight => "backward_weight",
        }
    }
}

/// One line of the conv table.
#[derive(Clone, Debug, Serialize)]
pub struct ConvResult {
    /// The layer label, e.g. `8x8 192->64`.
    pub layer: String,
    /// The kernel timed.
    pub pass: Pass,
    /// Median milliseconds per call.
    pub ms: f64,
    /// GFLOP/s at the median time (2 flops per multiply-add).
    pub gflops: f64,
    /// GFLOP/s of the fastest run (less sensitive to other load on the machine).
    pub best_gflops: f64,
}

/// GFLOP/s of a `size³` single-precision product through [`matmul`] on all threads: the
/// machine's ceiling for the kernels that use it.
pub fn sgemm_gflops(size: usize, warmup: usize, runs: usize, tick: impl FnMut()) -> f64 {
    let mut rng = Rng::seeded(1);
    let a = rng.normal_vec(size * size);
    let b = rng.normal_vec(size * size);
    let mut c = vec![0.0; size * size];
    let times = time_runs(
        warmup,
        runs,
        || matmul(size, size, size, &a, &b, &mut c, false),
        tick,
    );
    2.0 * (size as f64).powi(3) / median(&times) / 1e9
}

/// Times one pass of one case: median over `runs` calls after `warmup`.
pub fn time_conv(
    case: &ConvCase,
    pass: Pass,
    warmup: usize,
    runs: usize,
    tick: impl FnMut(),
) -> ConvResult {
    let ConvCase { conv: c, n, h, w } = *case;
    let (oh, ow) = c.out_hw(h, w);
    let mut rng = Rng::seeded(2);
    let x = rng.normal_vec(n * h * w * c.cin);
    let weight = rng.normal_vec(c.weight_len());
    let bias = rng.normal_vec(c.cout);
    let dy = rng.normal_vec(n * oh * ow * c.cout);
    let mut out = vec![0.0; x.len().max(dy.len()).max(weight.len())];
    let mut db = vec![0.0; c.cout];
    let mut ws = Workspace::new();
    let times = time_runs(
        warmup.max(1),
        runs,
        || match pass {
            Pass::Forward => conv2d_forward(
                &c,
                &x,
                n,
                h,
                w,
                &weight,
                Some(&bias),
                Act::Relu,
                &mut out[..dy.len()],
                &mut ws,
            ),
            Pass::BackwardInput => {
                conv2d_backward_input(&c, &dy, n, h, w, &weight, &mut out[..x.len()], &mut ws)
            }
            Pass::BackwardWeight => conv2d_backward_weight(
                &c,
                &x,
                &dy,
                n,
                h,
                w,
                &mut out[..weight.len()],
                Some(&mut db),
                &mut ws,
            ),
        },
        tick,
    );
    let (t, best) = (
        median(&times),
        times.iter().copied().fold(f64::INFINITY, f64::min),
    );
    let flops = c.flops(n, h, w);
    ConvResult {
        layer: case.label(),
        pass,
        ms: t * 1e3,
        gflops: flops / t / 1e9,
        best_gflops: flops / best / 1e9,
    }
}
