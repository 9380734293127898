//! 3×3 stride-1 'same' convolutions through Winograd's F(2×2, 3×3): 2.25× fewer multiply-adds
//! than im2col, for the forward pass only (inference; see `winograd_transform.rs` for the math).
//!
//! The output is cut into 2×2 blocks ("tiles", `th × tw` per image, the last row/column of
//! tiles hanging over an odd edge). Tiles are numbered image by image, row by row; each rayon
//! task takes a contiguous run of whole tile rows and works through it in bands of 48..192
//! tiles, so that a band's transformed input `V` (`[16, tiles, cin]`) and products `M`
//! (`[16, tiles, cout]`) are still in cache when the next step reads them:
//! 1. input transform of every tile of the band into `V`,
//! 2. 16 products `M_k = V_k · U_k` (`[tiles, cin] × [cin, cout]`, through `gemm`, on the task's
//!    thread),
//! 3. output transform with bias and activation straight into `y`.
//!
//! Every output value is computed by one thread in a fixed order, so results are bit-identical
//! run to run for a given thread count.

use std::ops::Range;

use super::winograd_transform::{
    input_transform_tile, output_transform_tile, weight_transform, TILE_POSITIONS,
};
use super::{check_len, Act, Workspace};
use crate::nn::matmul::{gemm_view, View};

/// A 3×3 kernel transformed once for Winograd F(2×2, 3×3): `U_k = (G g Gᵀ)[k]`, 16 matrices
/// `[cin, cout]` (16/9 of the kernel's size).
#[derive(Clone, Debug)]
pub struct WinogradWeights {
    cin: usize,
    cout: usize,
    /// `[16, cin, cout]`.
    u: Vec<f32>,
}

impl WinogradWeights {
    /// Transform an HWIO kernel `weight` `[3, 3, cin, cout]`.
    ///
    /// Panics if `weight` does not have `9·cin·cout` values or a channel count is 0.
    pub fn new(weight: &[f32], cin: usize, cout: usize) -> Self {
        assert!(
            cin > 0 && cout > 0,
            "WinogradWeights: channel counts must be positive"
        );
        check_len("WinogradWeights", "weight", weight.len(), 9 * cin * cout);
        let mut u = vec![0.0; TILE_POSITIONS * cin * cout];
        weight_transform(weight, cin, cout, &mut u);
        WinogradWeights { cin, cout, u }
    }

    /// Input channels.
    pub fn cin(&self) -> usize {
        self.cin
    }

    /// Output channels.
    pub fn cout(&self) -> usize {
        self.cout
    }

    /// `U_k`, `[cin, cout]`.
    fn u(&self, k: usize) -> &[f32] {
        let plane = self.cin * self.cout;
        &self.u[k * plane..(k + 1) * plane]
    }
}

/// How one call is cut: tiles, tasks and bands.
#[derive(Clone, Copy, Debug)]
struct Plan {
    n: usize,
    h: usize,
    w: usize,
    cin: usize,
    cout: usize,
    /// Tile rows per image.
    th: usize,
    /// Tiles per tile row.
    tw: usize,
    /// Tiles per band.
    band: usize,
    /// Rayon tasks.
    tasks: usize,
    /// Tile rows (over the whole batch) per task.
    rows_per_task: usize,
    /// Threads each product may use (more than 1 only when there are fewer tasks than threads).
    gemm_threads: usize,
}

impl Plan {
    fn new(wg: &WinogradWeights, n: usize, h: usize, w: usize) -> Self {
        let (cin, cout) = (wg.cin, wg.cout);
        let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
        let threads = rayon::current_num_threads();
        let tile_rows = (n * th).max(1);
        let tasks = threads.min(tile_rows);
        let rows_per_task = tile_rows.div_ceil(tasks);
        let tasks = tile_rows.div_ceil(rows_per_task);
        let band = band_tiles(cin).min((rows_per_task * tw).max(1));
        Plan {
            n,
            h,
            w,
            cin,
            cout,
            th,
            tw,
            band,
            tasks,
            rows_per_task,
            gemm_threads: threads.div_ceil(tasks),
        }
    }

    /// Scratch one task needs: `V`, `M`, a zero row of `cin` and 3 throw-away rows of `cout`.
    fn task_len(&self) -> usize {
        TILE_POSITIONS * self.band * (self.cin + self.cout) + self.cin + 3 * self.cout
    }

    /// Index in `y` of output pixel `(oy, ox)` of image `b`.
    fn y_index(&self, b: usize, oy: usize, ox: usize) -> usize {
        ((b * self.h + oy) * self.w + ox) * self.cout
    }

    /// Index in `y` where tile row `g` (over the whole batch) starts; `y.len()` past the end.
    fn y_row_start(&self, g: usize) -> usize {
        if g >= self.n * self.th {
            return self.n * self.h * self.w * self.cout;
        }
        self.y_index(g / self.th, 2 * (g % self.th), 0)
    }
}

/// Tiles per band: half the input channels, within 48..=192. Measured on the CIFAR U-Net's
/// layers (2 threads, bands of 24..192 tiles): deep layers want long bands, which amortise the
/// packing of `U_k` that `gemm` redoes for every product; 128-channel layers are 5% faster with
/// short ones, whose `V` and `M` stay in L2. Differences between 48 and 192 are within 10%.
fn band_tiles(cin: usize) -> usize {
    (cin / 2).clamp(48, 192)
}

/// Scratch values [`conv2d_winograd_forward`] takes from its workspace for an `n × h × w` input.
pub fn winograd_scratch_len(wg: &WinogradWeights, n: usize, h: usize, w: usize) -> usize {
    let p = Plan::new(wg, n, h, w);
    p.tasks * p.task_len()
}

/// `y[n, oy, ox, co] = act(bias[co] + Σ_{kh, kw, ci} x[n, oy + kh − 1, ox + kw − 1, ci]
/// · weight[kh, kw, ci, co])`, `x` zero outside the image: [`super::conv2d_forward`] of a 3×3,
/// stride-1, padding-1 layer, computed with Winograd F(2×2, 3×3) from the transformed kernel
/// `wg` (see [`WinogradWeights::new`]). Agrees with the direct convolution to float rounding.
///
/// Shapes: `x` is `[n, h, w, cin]`, `bias` is `[cout]`, `y` is `[n, h, w, cout]` (overwritten).
/// Scratch ([`winograd_scratch_len`] values) comes from `ws`. Panics if a slice has the wrong
/// length.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_winograd_forward(
    wg: &WinogradWeights,
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    bias: Option<&[f32]>,
    act: Act,
    y: &mut [f32],
    ws: &mut Workspace,
) {
    const K: &str = "conv2d_winograd_forward";
    check_len(K, "x", x.len(), n * h * w * wg.cin);
    check_len(K, "y", y.len(), n * h * w * wg.cout);
    if let Some(b) = bias {
        check_len(K, "bias", b.len(), wg.cout);
    }
    if y.is_empty() {
        return;
    }
    let p = Plan::new(wg, n, h, w);
    let scratch = ws.scratch(p.tasks * p.task_len());
    let job = Job {
        p: &p,
        wg,
        x,
        bias,
        act,
    };
    run_tasks(&job, 0..p.tasks, y, scratch);
}

/// What every task reads.
struct Job<'a> {
    p: &'a Plan,
    wg: &'a WinogradWeights,
    x: &'a [f32],
    bias: Option<&'a [f32]>,
    act: Act,
}

/// Runs `tasks` in parallel: `y` is the output from the first task's first tile row on, and
/// `scratch` holds one task's worth per task. Splits both in halves until one task is left.
fn run_tasks(job: &Job, tasks: Range<usize>, y: &mut [f32], scratch: &mut [f32]) {
    let p = job.p;
    if tasks.len() == 1 {
        run_task(job, tasks.start, y, scratch);
        return;
    }
    let mid = tasks.start + tasks.len() / 2;
    let base = p.y_row_start(tasks.start * p.rows_per_task);
    let (y_lo, y_hi) = y.split_at_mut(p.y_row_start(mid * p.rows_per_task) - base);
    let (s_lo, s_hi) = scratch.split_at_mut((mid - tasks.start) * p.task_len());
    rayon::join(
        || run_tasks(job, tasks.start..mid, y_lo, s_lo),
        || run_tasks(job, mid..tasks.end, y_hi, s_hi),
    );
}

/// One task: tile rows `t·rows_per_task ..` in bands; `y` starts at the task's first tile row.
fn run_task(job: &Job, t: usize, y: &mut [f32], scratch: &mut [f32]) {
    let p = job.p;
    let rows = t * p.rows_per_task..((t + 1) * p.rows_per_task).min(p.n * p.th);
    let y_base = p.y_row_start(rows.start);
    let (v, rest) = scratch.split_at_mut(TILE_POSITIONS * p.band * p.cin);
    let (m, rest) = rest.split_at_mut(TILE_POSITIONS * p.band * p.cout);
    let (zero, junk) = rest.split_at_mut(p.cin);
    zero.fill(0.0);
    let tiles = rows.start * p.tw..rows.end * p.tw;
    let mut first = tiles.start;
    while first < tiles.end {
        let band = first..(first + p.band).min(tiles.end);
        input_transform_band(job, band.clone(), zero, v);
        multiply_band(job, band.len(), v, m);
        output_transform_band(job, band.clone(), m, y, y_base, junk);
        first = band.end;
    }
}

/// Image, tile row and tile column of tile `i` (numbered over the whole batch).
fn tile_coords(p: &Plan, i: usize) -> (usize, usize, usize) {
    let per_image = p.th * p.tw;
    (i / per_image, (i % per_image) / p.tw, i % p.tw)
}

/// `V[k, i, ci]` for the band's tiles `i` (see [`input_transform_tile`]); `v` is `[16, tiles,
/// cin]` with `tiles = band.len()`, and `zero` is `cin` zeros standing for padding.
fn input_transform_band(job: &Job, band: Range<usize>, zero: &[f32], v: &mut [f32]) {
    let p = job.p;
    let (cin, kstride) = (p.cin, band.len() * p.cin);
    for (j, i) in band.enumerate() {
        let (b, ty, tx) = tile_coords(p, i);
        let mut d = [zero; 16];
        for (q, dq) in d.iter_mut().enumerate() {
            let (iy, ix) = (
                (2 * ty + q / 4).wrapping_sub(1),
                (2 * tx + q % 4).wrapping_sub(1),
            );
            // Off the image (including row or column −1, which wraps to usize::MAX): zeros.
            if iy < p.h && ix < p.w {
                let at = ((b * p.h + iy) * p.w + ix) * cin;
                *dq = &job.x[at..at + cin];
            }
        }
        input_transform_tile(&d, cin, &mut v[j * cin..], kstride);
    }
}

/// `M_k = V_k · U_k` for the 16 positions `k`: `[tiles, cin] × [cin, cout]`.
fn multiply_band(job: &Job, tiles: usize, v: &[f32], m: &mut [f32]) {
    let p = job.p;
    let (cin, cout) = (p.cin, p.cout);
    for k in 0..TILE_POSITIONS {
        gemm_view(
            tiles,
            cin,
            cout,
            View::rows(&v[k * tiles * cin..(k + 1) * tiles * cin], cin),
            View::rows(job.wg.u(k), cout),
            &mut m[k * tiles * cout..(k + 1) * tiles * cout],
            (cout, 1),
            false,
            p.gemm_threads,
        );
    }
}

/// The band's output blocks, with bias and activation, into `y` (which starts at index
/// `y_base` of the whole output); `junk` (3 rows of `cout`) takes values off the image's edge.
fn output_transform_band(
    job: &Job,
    band: Range<usize>,
    m: &[f32],
    y: &mut [f32],
    y_base: usize,
    junk: &mut [f32],
) {
    let p = job.p;
    let (cout, kstride) = (p.cout, band.len() * p.cout);
    for (j, i) in band.enumerate() {
        let (b, ty, tx) = tile_coords(p, i);
        let (oy, ox) = (2 * ty, 2 * tx);
        let mut spare = junk.chunks_exact_mut(cout);
        let mut next_spare = || spare.next().expect("3 throw-away rows");
        let at = p.y_index(b, oy, ox) - y_base;
        let (row0, row1) = if oy + 1 < p.h {
            let (r0, r1) = y.split_at_mut(at + p.w * cout);
            (&mut r0[at..], Some(r1))
        } else {
            (&mut y[at..], None)
        };
        let (y0, y1) = pixel_pair(row0, ox + 1 < p.w, cout, &mut next_spare);
        let (y2, y3) = match row1 {
            Some(r1) => pixel_pair(r1, ox + 1 < p.w, cout, &mut next_spare),
            None => (next_spare(), next_spare()),
        };
        output_transform_tile(
            &m[j * cout..],
            kstride,
            cout,
            job.bias,
            job.act,
            [y0, y1, y2, y3],
        );
    }
}

/// The first two pixels (`cout` values each) of `row`, or the first and a spare row when the
/// second is off the image.
fn pixel_pair<'a>(
    row: &'a mut [f32],
    second: bool,
    cout: usize,
    spare: &mut impl FnMut() -> &'a mut [f32],
) -> (&'a mut [f32], &'a mut [f32]) {
    if second {
        let (a, b) = row[..2 * cout].split_at_mut(cout);
        (a, b)
    } else {
        (&mut row[..cout], spare())
    }
}
