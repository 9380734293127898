//! A U-Net decoder's first convolution, `conv3×3(concat[up2(u), s])`, without the up-sampled
//! tensor (the toy U-Net's `dec2.conv1` and `dec1.conv1`).
//!
//! Nearest-neighbour up-sampling repeats each low-resolution pixel over a 2×2 block, so a 3×3
//! 'same' convolution of the up-sampled image reads, for an output pixel of row parity `a`
//! (and column parity `b`), only two low-resolution rows (columns): for `a = 0` the kernel rows
//! `{0}` fall on row `i − 1` and `{1, 2}` on row `i`; for `a = 1`, `{0, 1}` on row `i` and `{2}`
//! on `i + 1`. So the up-sampled part is four 2×2 convolutions at low resolution, one per
//! parity `(a, b)`, with kernels `K_ab[ty, tx] = Σ_{ky ∈ R(a,ty)} Σ_{kx ∈ R(b,tx)} W[ky, kx]` and
//! zero padding on the side the parity reaches over. That is exactly the same function with
//! 4/9 of the multiply-adds (4 taps at ¼ of the pixels instead of 9 at all of them), and no
//! up-sampled copy or concatenation in memory. The skip part is an ordinary 3×3 convolution.
//!
//! Layout: `u` `[n, hl, wl, cu]`, `s` `[n, 2hl, 2wl, cs]`, weight HWIO `[3, 3, cu + cs, cout]`
//! (input channels: up-sampled part first, as in the concatenation), `y` `[n, 2hl, 2wl, cout]`.

use super::{conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Act, Conv2d, Padding};
use crate::nn::ops::add_inplace;
use crate::nn::workspace::Workspace;
use rayon::prelude::*;

/// Kernel rows (or columns) of the 3×3 kernel that tap `t ∈ {0, 1}` of the 2×2 kernel of
/// parity `p` gathers.
const fn taps(p: usize, t: usize) -> &'static [usize] {
    match (p, t) {
        (0, 0) => &[0],
        (0, _) => &[1, 2],
        (_, 0) => &[0, 1],
        _ => &[2],
    }
}

/// The 2×2 convolution `cin → cout` of parity `(a, b)` at low resolution: output pixels
/// `(2i + a, 2j + b)` of a 3×3 'same' convolution over the nearest-2×-upsampled input, padded
/// on the side the parity reaches over.
pub fn up2_parity_conv(cin: usize, cout: usize, (a, b): (usize, usize)) -> Conv2d {
    let pad = Padding {
        top: 1 - a,
        bottom: a,
        left: 1 - b,
        right: b,
    };
    Conv2d::new(cin, cout, 2, 1, pad)
}

/// Fold the first `cu` input channels of the 3×3 HWIO kernel `weight` (`[3, 3, cin, cout]`)
/// into the 2×2 kernel of parity `(a, b)` (`k`, `[2, 2, cu, cout]`, overwritten):
/// `K_ab[ty, tx] = Σ_{ky ∈ R(a, ty)} Σ_{kx ∈ R(b, tx)} W[ky, kx]`, summed in that order.
pub fn fold_up2_kernel(
    weight: &[f32],
    (cin, cu, cout): (usize, usize, usize),
    (a, b): (usize, usize),
    k: &mut [f32],
) {
    let blk = cu * cout;
    k[..4 * blk].fill(0.0);
    for ty in 0..2 {
        for tx in 0..2 {
            let dst = &mut k[(ty * 2 + tx) * blk..][..blk];
            for &ky in taps(a, ty) {
                for &kx in taps(b, tx) {
                    let src = &weight[(ky * 3 + kx) * cin * cout..][..blk];
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// The shape of a decoder convolution over `concat[up2(u), s]`.
#[derive(Clone, Copy, Debug)]
pub struct UpConcatConv {
    /// Channels of the low-resolution input `u`.
    pub cu: usize,
    /// Channels of the skip input `s`.
    pub cs: usize,
    /// Output channels.
    pub cout: usize,
}

/// Scratch of an [`UpConcatConv`] for one batch shape.
pub struct UpConvBufs {
    /// The skip part of the weight, `[3, 3, cs, cout]`.
    w_skip: Vec<f32>,
    /// The four 2×2 kernels, `[4][2, 2, cu, cout]`.
    k: Vec<f32>,
    /// Four low-resolution planes `[4][n, hl, wl, cout]`: outputs forward, gradients backward.
    planes: Vec<f32>,
    /// Weight-gradient scratch: the skip part and one 2×2 kernel.
    dw_skip: Vec<f32>,
    dk: Vec<f32>,
    /// One parity's gradient w.r.t. `u`.
    du_part: Vec<f32>,
}

impl UpConcatConv {
    fn skip_conv(&self) -> Conv2d {
        Conv2d::new(self.cs, self.cout, 3, 1, Padding::same(3))
    }

    /// The 2×2 convolution of parity `(a, b)` at low resolution.
    fn parity_conv(&self, a: usize, b: usize) -> Conv2d {
        up2_parity_conv(self.cu, self.cout, (a, b))
    }

    /// Scratch for batches of `n` at low resolution `hl × wl`.
    pub fn bufs(&self, n: usize, hl: usize, wl: usize, train: bool) -> UpConvBufs {
        let (cu, cs, co) = (self.cu, self.cs, self.cout);
        let g = |len: usize| if train { vec![0.0; len] } else { Vec::new() };
        UpConvBufs {
            w_skip: vec![0.0; 9 * cs * co],
            k: vec![0.0; 16 * cu * co],
            planes: vec![0.0; 4 * n * hl * wl * co],
            dw_skip: g(9 * cs * co),
            dk: g(4 * cu * co),
            du_part: g(n * hl * wl * cu),
        }
    }

    /// Split the weight into the skip part and the four parity kernels.
    fn prepare(&self, weight: &[f32], bufs: &mut UpConvBufs) {
        let (cu, cs, co) = (self.cu, self.cs, self.cout);
        let cin = cu + cs;
        assert_eq!(
            weight.len(),
            9 * cin * co,
            "up-concat conv: weight is not [3, 3, {cin}, {co}]"
        );
        for tap in 0..9 {
            bufs.w_skip[tap * cs * co..(tap + 1) * cs * co]
                .copy_from_slice(&weight[(tap * cin + cu) * co..(tap + 1) * cin * co]);
        }
        for (p, k) in bufs.k.chunks_exact_mut(4 * cu * co).enumerate() {
            fold_up2_kernel(weight, (cin, cu, co), (p / 2, p % 2), k);
        }
    }

    /// `y = bias + conv3×3(concat[up2(u), s])`, no activation. `hl × wl` is `u`'s size.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        u: &[f32],
        s: &[f32],
        n: usize,
        hl: usize,
        wl: usize,
        weight: &[f32],
        bias: &[f32],
        y: &mut [f32],
        bufs: &mut UpConvBufs,
        ws: &mut Workspace,
    ) {
        let (h, w, co) = (2 * hl, 2 * wl, self.cout);
        self.prepare(weight, bufs);
        conv2d_forward(
            &self.skip_conv(),
            s,
            n,
            h,
            w,
            &bufs.w_skip,
            Some(bias),
            Act::None,
            y,
            ws,
        );
        let plane = n * hl * wl * co;
        let blk = 4 * self.cu * co;
        for p in 0..4 {
            let out = &mut bufs.planes[p * plane..(p + 1) * plane];
            conv2d_forward(
                &self.parity_conv(p / 2, p % 2),
                u,
                n,
                hl,
                wl,
                &bufs.k[p * blk..(p + 1) * blk],
                None,
                Act::None,
                out,
                ws,
            );
        }
        let planes = &bufs.planes;
        y.par_chunks_mut(h * w * co)
            .enumerate()
            .for_each(|(bi, y)| {
                for r in 0..h {
                    for c in 0..w {
                        let p = (r % 2) * 2 + c % 2;
                        let src =
                            &planes[p * plane + ((bi * hl + r / 2) * wl + c / 2) * co..][..co];
                        for (o, &v) in y[(r * w + c) * co..][..co].iter_mut().zip(src) {
                            *o += v;
                        }
                    }
                }
            });
    }

    /// Gradients given `dy` (`[n, 2hl, 2wl, cout]`, w.r.t. the convolution's output): `dweight`
    /// (`[3, 3, cu + cs, cout]`), `dbias`, `du` (`[n, hl, wl, cu]`) and `ds` (`[n, 2hl, 2wl, cs]`),
    /// all overwritten. [`UpConcatConv::forward`] must have run with the same weight.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        u: &[f32],
        s: &[f32],
        dy: &[f32],
        (n, hl, wl): (usize, usize, usize),
        dweight: &mut [f32],
        dbias: &mut [f32],
        du: &mut [f32],
        ds: &mut [f32],
        bufs: &mut UpConvBufs,
        ws: &mut Workspace,
    ) {
        let (cu, cs, co) = (self.cu, self.cs, self.cout);
        let (h, w, cin) = (2 * hl, 2 * wl, cu + cs);
        let skip = self.skip_conv();
        conv2d_backward_weight(&skip, s, dy, n, h, w, &mut bufs.dw_skip, Some(dbias), ws);
        conv2d_backward_input(&skip, dy, n, h, w, &bufs.w_skip, ds, ws);
        dweight.fill(0.0);
        for tap in 0..9 {
            dweight[(tap * cin + cu) * co..(tap + 1) * cin * co]
                .copy_from_slice(&bufs.dw_skip[tap * cs * co..(tap + 1) * cs * co]);
        }
        // Gather dy by parity into the low-resolution planes.
        let plane = n * hl * wl * co;
        let (p0, rest) = bufs.planes.split_at_mut(plane);
        let (p1, rest) = rest.split_at_mut(plane);
        let (p2, p3) = rest.split_at_mut(plane);
        let per = hl * wl * co;
        p0.par_chunks_mut(per)
            .zip(p1.par_chunks_mut(per))
            .zip(p2.par_chunks_mut(per).zip(p3.par_chunks_mut(per)))
            .enumerate()
            .for_each(|(bi, ((q0, q1), (q2, q3)))| {
                let dy = &dy[bi * h * w * co..(bi + 1) * h * w * co];
                let qs = [q0, q1, q2, q3];
                for (p, q) in qs.into_iter().enumerate() {
                    let (a, b) = (p / 2, p % 2);
                    for i in 0..hl {
                        for j in 0..wl {
                            q[(i * wl + j) * co..][..co]
                                .copy_from_slice(&dy[((2 * i + a) * w + 2 * j + b) * co..][..co]);
                        }
                    }
                }
            });
        let blk = cu * co;
        for p in 0..4 {
            let (a, b) = (p / 2, p % 2);
            let conv = self.parity_conv(a, b);
            let dyp = &bufs.planes[p * plane..(p + 1) * plane];
            conv2d_backward_weight(&conv, u, dyp, n, hl, wl, &mut bufs.dk, None, ws);
            for ty in 0..2 {
                for tx in 0..2 {
                    let src = &bufs.dk[(ty * 2 + tx) * blk..][..blk];
                    for &ky in taps(a, ty) {
                        for &kx in taps(b, tx) {
                            for (d, &v) in dweight[(ky * 3 + kx) * cin * co..][..blk]
                                .iter_mut()
                                .zip(src)
                            {
                                *d += v;
                            }
                        }
                    }
                }
            }
            let k = &bufs.k[p * 4 * blk..(p + 1) * 4 * blk];
            if p == 0 {
                conv2d_backward_input(&conv, dyp, n, hl, wl, k, du, ws);
            } else {
                conv2d_backward_input(&conv, dyp, n, hl, wl, k, &mut bufs.du_part, ws);
                add_inplace(du, &bufs.du_part);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ops::{
        copy_into_channels, split_channels, upsample_nearest2_backward,
        upsample_nearest2_forward_into,
    };
    use crate::nn::testing::assert_close;
    use crate::util::rng::Rng;

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_close(a, b, 1e-5, what)
    }

    /// Against the plain path: up-sample, concatenate, 3×3 convolution (and its backward).
    #[test]
    fn matches_upsample_concat_conv() {
        let mut rng = Rng::seeded(9);
        for (n, hl, wl, cu, cs, co) in [
            (2, 3, 4, 5, 3, 4),
            (3, 2, 2, 8, 4, 6),
            (1, 7, 7, 4, 2, 3),
            (2, 1, 3, 3, 3, 2),
        ] {
            let uc = UpConcatConv { cu, cs, cout: co };
            let (h, w, cin) = (2 * hl, 2 * wl, cu + cs);
            let u = rng.normal_vec(n * hl * wl * cu);
            let s = rng.normal_vec(n * h * w * cs);
            let weight = rng.normal_vec(9 * cin * co);
            let bias = rng.normal_vec(co);
            let dy = rng.normal_vec(n * h * w * co);
            let mut ws = Workspace::new();
            let mut cat = vec![0.0; n * h * w * cin];
            upsample_nearest2_forward_into(&u, n, hl, wl, cu, (&mut cat, cin, 0));
            copy_into_channels(&s, n * h * w, cs, &mut cat, cin, cu);
            let conv = Conv2d::new(cin, co, 3, 1, Padding::same(3));
            let mut want = vec![0.0; n * h * w * co];
            conv2d_forward(
                &conv,
                &cat,
                n,
                h,
                w,
                &weight,
                Some(&bias),
                Act::None,
                &mut want,
                &mut ws,
            );
            let mut bufs = uc.bufs(n, hl, wl, true);
            let mut y = vec![f32::NAN; want.len()];
            uc.forward(
                &u, &s, n, hl, wl, &weight, &bias, &mut y, &mut bufs, &mut ws,
            );
            let tag = format!("n{n} {hl}x{wl} cu{cu} cs{cs} co{co}");
            close(&y, &want, &format!("forward {tag}"));

            let (mut dw2, mut db2, mut dcat) =
                (vec![0.0; weight.len()], vec![0.0; co], vec![0.0; cat.len()]);
            conv2d_backward_weight(&conv, &cat, &dy, n, h, w, &mut dw2, Some(&mut db2), &mut ws);
            conv2d_backward_input(&conv, &dy, n, h, w, &weight, &mut dcat, &mut ws);
            let (mut du2, mut ds2) = (vec![0.0; u.len()], vec![0.0; s.len()]);
            let mut dup = vec![0.0; n * h * w * cu];
            split_channels((&dcat, cin), n * h * w, 0, (&mut dup, cu), false);
            upsample_nearest2_backward(&dup, n, hl, wl, cu, &mut du2);
            split_channels((&dcat, cin), n * h * w, cu, (&mut ds2, cs), false);
            let (mut dw, mut db, mut du, mut ds) = (
                vec![f32::NAN; dw2.len()],
                vec![f32::NAN; co],
                vec![f32::NAN; u.len()],
                vec![f32::NAN; s.len()],
            );
            uc.backward(
                &u,
                &s,
                &dy,
                (n, hl, wl),
                &mut dw,
                &mut db,
                &mut du,
                &mut ds,
                &mut bufs,
                &mut ws,
            );
            close(&dw, &dw2, &format!("dweight {tag}"));
            close(&db, &db2, &format!("dbias {tag}"));
            close(&du, &du2, &format!("du {tag}"));
            close(&ds, &ds2, &format!("ds {tag}"));
        }
    }
}
