//! The three transforms of Winograd's F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2015), each vectorised over channels.
//!
//! A 2×2 block of a 3×3 'same' correlation's output, `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ)] A`, reads a
//! 4×4 input tile `d` (starting one pixel above and left of the block) and the 3×3 kernel `g`:
//!
//! ```text
//!      ⎡1  0 -1  0⎤        ⎡ 1    0    0 ⎤        ⎡1  1  1  0⎤
//! Bᵀ = ⎢0  1  1  0⎥    G = ⎢1/2  1/2  1/2⎥   Aᵀ = ⎣0  1 -1 -1⎦
//!      ⎢0 -1  1  0⎥        ⎢1/2 -1/2  1/2⎥
//!      ⎣0  1  0 -1⎦        ⎣ 0    0    1 ⎦
//! ```
//!
//! With many channels the elementwise product becomes 16 matrix products: for each of the 16
//! positions `k = 4i + j` of the transformed tile, `M_k[tile, co] = Σ_ci V_k[tile, ci] · U_k[ci, co]`
//! with `V = Bᵀ d B` per tile and channel and `U = G g Gᵀ` per channel pair. 16 multiply-adds
//! per 2×2 outputs instead of 36: 2.25× fewer. The transforms only add and subtract (and halve,
//! for `U`), so their rounding error is a few ulps.
//!
//! Layouts: a band's `V` is `[16, tiles, cin]` and `M` is `[16, tiles, cout]`, row-major; one
//! transform call handles one tile, all channels, reading/writing `16` rows `kstride` apart.

use super::Act;

/// Number of positions in a transformed tile (4×4).
pub(super) const TILE_POSITIONS: usize = 16;

/// `U[k, ci, co] = (G g[·, ·, ci, co] Gᵀ)[k / 4, k % 4]` for an HWIO kernel `g` `[3, 3, cin,
/// cout]`; `u` is `[16, cin, cout]`, overwritten.
pub(super) fn weight_transform(g: &[f32], cin: usize, cout: usize, u: &mut [f32]) {
    let plane = cin * cout;
    assert_eq!(g.len(), 9 * plane, "winograd weight_transform: kernel length");
    assert_eq!(u.len(), 16 * plane, "winograd weight_transform: U length");
    // G as a 4×3 matrix.
    const G: [[f32; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    for ci in 0..cin {
        for co in 0..cout {
            let tap = |a: usize, b: usize| g[(a * 3 + b) * plane + ci * cout + co];
            // t = G g (4×3), then U = t Gᵀ (4×4).
            let mut t = [[0.0f32; 3]; 4];
            for (i, row) in t.iter_mut().enumerate() {
                for (b, v) in row.iter_mut().enumerate() {
                    *v = (0..3).map(|a| G[i][a] * tap(a, b)).sum();
                }
            }
            for (i, row) in t.iter().enumerate() {
                for (j, gj) in G.iter().enumerate() {
                    let v: f32 = (0..3).map(|b| row[b] * gj[b]).sum();
                    u[(i * 4 + j) * plane + ci * cout + co] = v;
                }
            }
        }
    }
}

/// Channels per step of the tile transforms: one AVX-512 register of f32.
const LANES: usize = 16;

/// `dst[..len] = src[..len]`, as one fixed-size (inlined, vector) copy when `len == LANES`.
#[inline(always)]
fn copy_lanes(dst: &mut [f32; LANES], src: &[f32], len: usize) {
    if len == LANES {
        *dst = src[..LANES].try_into().expect("LANES values");
    } else {
        dst[..len].copy_from_slice(&src[..len]);
    }
}

/// `dst[..len] = src[..len]`, as [`copy_lanes`] the other way.
#[inline(always)]
fn store_lanes(dst: &mut [f32], src: &[f32; LANES], len: usize) {
    if len == LANES {
        dst[..LANES].copy_from_slice(src);
    } else {
        dst[..len].copy_from_slice(&src[..len]);
    }
}

/// `Bᵀ d B` for `LANES` channels at once: `d[4a + b]` is tile pixel `(a, b)`.
#[inline(always)]
fn input_lanes(d: &[[f32; LANES]; 16]) -> [[f32; LANES]; 16] {
    let mut v = [[0.0f32; LANES]; 16];
    for l in 0..LANES {
        let x = |a: usize, b: usize| d[4 * a + b][l];
        // t = Bᵀ d, column by column; then V = t B, row by row.
        let mut t = [[0.0f32; 4]; 4];
        for b in 0..4 {
            t[0][b] = x(0, b) - x(2, b);
            t[1][b] = x(1, b) + x(2, b);
            t[2][b] = x(2, b) - x(1, b);
            t[3][b] = x(1, b) - x(3, b);
        }
        for (a, r) in t.iter().enumerate() {
            v[4 * a][l] = r[0] - r[2];
            v[4 * a + 1][l] = r[1] + r[2];
            v[4 * a + 2][l] = r[2] - r[1];
            v[4 * a + 3][l] = r[1] - r[3];
        }
    }
    v
}

simd_dispatch! {
/// `V[k, c] = (Bᵀ d[·, ·, c] B)[k / 4, k % 4]` for one tile: `d[4a + b]` is the input pixel at
/// tile row `a`, column `b` (`cin` channels; a zero row for pixels outside the image), and
/// position `k` goes to `v[k·kstride .. k·kstride + cin]`.
pub(super) fn input_transform_tile(d: &[&[f32]; 16], cin: usize, v: &mut [f32], kstride: usize) {
    assert!(v.len() >= 15 * kstride + cin, "winograd input transform: V too short");
    let mut c = 0;
    while c < cin {
        let len = LANES.min(cin - c);
        let mut x = [[0.0f32; LANES]; 16];
        for (xq, dq) in x.iter_mut().zip(d) {
            copy_lanes(xq, &dq[c..], len);
        }
        let out = input_lanes(&x);
        for (k, o) in out.iter().enumerate() {
            store_lanes(&mut v[k * kstride + c..], o, len);
        }
        c += len;
    }
}
}

/// `act(bias + Aᵀ M A)` for `LANES` channels at once: `m[4a + b]` is position `(a, b)`, output
/// `q` is block pixel `(q / 2, q % 2)`.
#[inline(always)]
fn output_lanes(m: &[[f32; LANES]; 16], bias: &[f32; LANES], act: Act) -> [[f32; LANES]; 4] {
    let mut y = [[0.0f32; LANES]; 4];
    for l in 0..LANES {
        let v = |a: usize, b: usize| m[4 * a + b][l];
        // s = Aᵀ M (2×4), then Y = s A (2×2).
        let mut s = [[0.0f32; 4]; 2];
        for b in 0..4 {
            s[0][b] = v(0, b) + v(1, b) + v(2, b);
            s[1][b] = v(1, b) - v(2, b) - v(3, b);
        }
        for (i, r) in s.iter().enumerate() {
            y[2 * i][l] = r[0] + r[1] + r[2] + bias[l];
            y[2 * i + 1][l] = r[1] - r[2] - r[3] + bias[l];
        }
    }
    if act == Act::Relu {
        for v in y.iter_mut().flatten() {
            // A select, not a branch (vectorises); NaN stays NaN.
            *v = if *v < 0.0 { 0.0 } else { *v };
        }
    }
    y
}

simd_dispatch! {
/// `y_q[co] = act(bias[co] + (Aᵀ M[·, co] A)[q / 2, q % 2])` for one tile: position `k` of `M`
/// is `m[k·kstride .. k·kstride + cout]`, and the 2×2 outputs go to `y[q]` (`cout` values each;
/// a throw-away row where the block runs off the image).
pub(super) fn output_transform_tile(
    m: &[f32],
    kstride: usize,
    cout: usize,
    bias: Option<&[f32]>,
    act: Act,
    y: [&mut [f32]; 4],
) {
    assert!(m.len() >= 15 * kstride + cout, "winograd output transform: M too short");
    let mut y = y;
    let mut c = 0;
    while c < cout {
        let len = LANES.min(cout - c);
        let mut x = [[0.0f32; LANES]; 16];
        for (k, xk) in x.iter_mut().enumerate() {
            copy_lanes(xk, &m[k * kstride + c..], len);
        }
        let mut b = [0.0f32; LANES];
        if let Some(bias) = bias {
            copy_lanes(&mut b, &bias[c..], len);
        }
        let out = output_lanes(&x, &b, act);
        for (yq, o) in y.iter_mut().zip(&out) {
            store_lanes(&mut yq[c..], o, len);
        }
        c += len;
    }
}
}
