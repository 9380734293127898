//! 2×2 pooling (max and average, stride 2) and nearest-neighbour 2× upsampling, NHWC.
//!
//! Pooling with an odd height or width drops the last row or column (floor, like PyTorch's and
//! Keras' default 'valid' pooling); its gradient there is zero.

use rayon::prelude::*;

fn check(name: &str, x: usize, y: usize, n: usize, h: usize, w: usize, c: usize) {
    assert!(
        x >= n * h * w * c,
        "{name}: input too short for [{n}, {h}, {w}, {c}]"
    );
    assert!(
        y >= n * (h / 2) * (w / 2) * c,
        "{name}: output too short for [{n}, {}, {}, {c}]",
        h / 2,
        w / 2
    );
}

/// `y[b,i,j,ch] = max over di,dj ∈ {0,1} of x[b,2i+di,2j+dj,ch]`; `argmax` records which of the
/// four (`2·di + dj`, first maximum wins) for the backward pass. `x` is `[n,h,w,c]`, `y` and
/// `argmax` are `[n,h/2,w/2,c]`.
pub fn max_pool2_forward(
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    y: &mut [f32],
    argmax: &mut [u8],
) {
    check(
        "max_pool2_forward",
        x.len(),
        y.len().min(argmax.len()),
        n,
        h,
        w,
        c,
    );
    let (oh, ow) = (h / 2, w / 2);
    if n * oh * ow * c == 0 {
        return;
    }
    let out = oh * ow * c;
    y[..n * out]
        .par_chunks_mut(out)
        .zip(argmax[..n * out].par_chunks_mut(out))
        .enumerate()
        .for_each(|(b, (y, am))| {
            let xs = &x[b * h * w * c..(b + 1) * h * w * c];
            for i in 0..oh {
                for j in 0..ow {
                    let p00 = ((2 * i) * w + 2 * j) * c;
                    let p01 = p00 + c;
                    let p10 = p00 + w * c;
                    let p11 = p10 + c;
                    let o = (i * ow + j) * c;
                    for ch in 0..c {
                        let mut best = xs[p00 + ch];
                        let mut k = 0u8;
                        for (idx, p) in [(1u8, p01), (2, p10), (3, p11)] {
                            if xs[p + ch] > best {
                                best = xs[p + ch];
                                k = idx;
                            }
                        }
                        y[o + ch] = best;
                        am[o + ch] = k;
                    }
                }
            }
        });
}

/// `dx[b,2i+di,2j+dj,ch] = dy[b,i,j,ch]` where `2·di + dj = argmax[b,i,j,ch]`, else 0.
/// `dy` and `argmax` are `[n,h/2,w/2,c]`, `dx` is `[n,h,w,c]` (fully overwritten).
pub fn max_pool2_backward(
    dy: &[f32],
    argmax: &[u8],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    dx: &mut [f32],
) {
    check(
        "max_pool2_backward",
        dx.len(),
        dy.len().min(argmax.len()),
        n,
        h,
        w,
        c,
    );
    let out = (h / 2) * (w / 2) * c;
    pool2_backward(n, h, w, c, dx, |b, o, which, row| {
        let (dy, am) = (&dy[b * out + o..][..c], &argmax[b * out + o..][..c]);
        for ((d, &g), &a) in row.iter_mut().zip(dy).zip(am) {
            *d = if a == which { g } else { 0.0 };
        }
    });
}

/// The skeleton of a 2×2 pooling's input gradient `dx` (`[n, h, w, c]`, fully overwritten):
/// `grad(b, o, which, row)` fills the `c` values of each input pixel of sample `b` from the
/// output pixel at offset `o` (`(i·ow + j)·c`), `which = 2·di + dj` being the pixel's place in
/// its window; pixels in a dropped odd last row or column get 0.
fn pool2_backward(
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    dx: &mut [f32],
    grad: impl Fn(usize, usize, u8, &mut [f32]) + Sync,
) {
    let (oh, ow) = (h / 2, w / 2);
    if n * h * w * c == 0 {
        return;
    }
    dx[..n * h * w * c]
        .par_chunks_mut(h * w * c)
        .enumerate()
        .for_each(|(b, dx)| {
            for r in 0..h {
                for col in 0..w {
                    let row = &mut dx[(r * w + col) * c..(r * w + col + 1) * c];
                    let (i, j) = (r / 2, col / 2);
                    if i >= oh || j >= ow {
                        row.fill(0.0);
                        continue;
                    }
                    grad(b, (i * ow + j) * c, ((r % 2) * 2 + col % 2) as u8, row);
                }
            }
        });
}

/// `y[b,i,j,ch] = ¼ Σ over di,dj ∈ {0,1} of x[b,2i+di,2j+dj,ch]`. `x` is `[n,h,w,c]`, `y` is
/// `[n,h/2,w/2,c]`.
pub fn avg_pool2_forward(x: &[f32], n: usize, h: usize, w: usize, c: usize, y: &mut [f32]) {
    check("avg_pool2_forward", x.len(), y.len(), n, h, w, c);
    let (oh, ow) = (h / 2, w / 2);
    per_sample(n, (x, h * w * c), (y, oh * ow * c), |y, xs| {
        for i in 0..oh {
            for j in 0..ow {
                let p00 = ((2 * i) * w + 2 * j) * c;
                let p10 = p00 + w * c;
                let o = (i * ow + j) * c;
                for ch in 0..c {
                    y[o + ch] =
                        0.25 * (xs[p00 + ch] + xs[p00 + c + ch] + xs[p10 + ch] + xs[p10 + c + ch]);
                }
            }
        }
    });
}

/// `f(y_b, x_b)` for each sample `b < n` over rayon's threads, `x` and `y` taken `inp` and
/// `out` values a sample.
fn per_sample(
    n: usize,
    (x, inp): (&[f32], usize),
    (y, out): (&mut [f32], usize),
    f: impl Fn(&mut [f32], &[f32]) + Sync,
) {
    if n * out == 0 {
        return;
    }
    y[..n * out]
        .par_chunks_mut(out)
        .enumerate()
        .for_each(|(b, y)| f(y, &x[b * inp..(b + 1) * inp]));
}

/// `dx[b,2i+di,2j+dj,ch] = ¼ dy[b,i,j,ch]` (0 in a dropped odd last row or column).
/// `dy` is `[n,h/2,w/2,c]`, `dx` is `[n,h,w,c]` (fully overwritten).
pub fn avg_pool2_backward(dy: &[f32], n: usize, h: usize, w: usize, c: usize, dx: &mut [f32]) {
    check("avg_pool2_backward", dx.len(), dy.len(), n, h, w, c);
    let out = (h / 2) * (w / 2) * c;
    pool2_backward(n, h, w, c, dx, |b, o, _, row| {
        for (d, &g) in row.iter_mut().zip(&dy[b * out + o..][..c]) {
            *d = 0.25 * g;
        }
    });
}

/// `y[b,2i+di,2j+dj,ch] = x[b,i,j,ch]`: nearest-neighbour 2× upsampling. `x` is `[n,h,w,c]`,
/// `y` is `[n,2h,2w,c]`.
pub fn upsample_nearest2_forward(x: &[f32], n: usize, h: usize, w: usize, c: usize, y: &mut [f32]) {
    upsample_nearest2_forward_into(x, n, h, w, c, (y, c, 0))
}

/// Like [`upsample_nearest2_forward`] but writing channels `offset..offset + c` of a wider
/// `[n,2h,2w,c_dst]` buffer `y` (the up-sampled half of a decoder's concatenation); the other
/// channels are left untouched.
pub fn upsample_nearest2_forward_into(
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    (y, c_dst, offset): (&mut [f32], usize, usize),
) {
    assert!(
        offset + c <= c_dst,
        "upsample_nearest2: channels {offset}+{c} exceed {c_dst}"
    );
    assert!(
        x.len() >= n * h * w * c,
        "upsample_nearest2: input too short"
    );
    let out = 4 * h * w * c_dst;
    assert!(y.len() >= n * out, "upsample_nearest2: output too short");
    per_sample(n, (x, h * w * c), (y, out), |y, xs| {
        for r in 0..2 * h {
            for col in 0..2 * w {
                let src = &xs[((r / 2) * w + col / 2) * c..][..c];
                y[(r * 2 * w + col) * c_dst + offset..][..c].copy_from_slice(src);
            }
        }
    });
}

/// `dx[b,i,j,ch] = Σ over di,dj of dy[b,2i+di,2j+dj,ch]`. `dy` is `[n,2h,2w,c]`, `dx` is
/// `[n,h,w,c]`.
pub fn upsample_nearest2_backward(
    dy: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    dx: &mut [f32],
) {
    upsample_nearest2_backward_from((dy, c, 0), n, h, w, c, dx)
}

/// Like [`upsample_nearest2_backward`] but reading channels `offset..offset + c` of a wider
/// `[n,2h,2w,c_src]` gradient `dy` (the gradient of a concatenation).
pub fn upsample_nearest2_backward_from(
    (dy, c_src, offset): (&[f32], usize, usize),
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    dx: &mut [f32],
) {
    assert!(
        offset + c <= c_src,
        "upsample_nearest2_backward: channels {offset}+{c} exceed {c_src}"
    );
    let src = 4 * h * w * c_src;
    assert!(
        dy.len() >= n * src,
        "upsample_nearest2_backward: gradient too short"
    );
    assert!(
        dx.len() >= n * h * w * c,
        "upsample_nearest2_backward: output too short"
    );
    if n * h * w * c == 0 {
        return;
    }
    let w2 = 2 * w;
    dx[..n * h * w * c]
        .par_chunks_mut(h * w * c)
        .enumerate()
        .for_each(|(b, dx)| {
            let dy = &dy[b * src..(b + 1) * src];
            for i in 0..h {
                for j in 0..w {
                    let at = |r: usize, col: usize| (r * w2 + col) * c_src + offset;
                    let (a, bb, cc, d) = (
                        at(2 * i, 2 * j),
                        at(2 * i, 2 * j + 1),
                        at(2 * i + 1, 2 * j),
                        at(2 * i + 1, 2 * j + 1),
                    );
                    let row = &mut dx[(i * w + j) * c..][..c];
                    for (ch, v) in row.iter_mut().enumerate() {
                        *v = dy[a + ch] + dy[bb + ch] + dy[cc + ch] + dy[d + ch];
                    }
                }
            }
        });
}
