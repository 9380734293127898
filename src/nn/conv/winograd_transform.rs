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

use std::ops::{Add, Sub};

use super::Act;

/// Number of positions in a transformed tile (4×4).
pub(super) const TILE_POSITIONS: usize = 16;

/// `U[k, ci, co] = (G g[·, ·, ci, co] Gᵀ)[k / 4, k % 4]` for an HWIO kernel `g` `[3, 3, cin,
/// cout]`; `u` is `[16, cin, cout]`, overwritten.
pub(super) fn weight_transform(g: &[f32], cin: usize, cout: usize, u: &mut [f32]) {
    let plane = cin * cout;
    assert_eq!(
        g.len(),
        9 * plane,
        "winograd weight_transform: kernel length"
    );
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

/// `LANES` channels of one pixel or transform position (one vector register).
#[derive(Clone, Copy)]
struct Lanes([f32; LANES]);

impl Lanes {
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        let mut v = [0.0; LANES];
        v.copy_from_slice(&s[..LANES]);
        Lanes(v)
    }

    #[inline(always)]
    fn store(self, d: &mut [f32]) {
        d[..LANES].copy_from_slice(&self.0);
    }
}

impl Add for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn add(mut self, b: Lanes) -> Lanes {
        for l in 0..LANES {
            self.0[l] += b.0[l];
        }
        self
    }
}

impl Sub for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn sub(mut self, b: Lanes) -> Lanes {
        for l in 0..LANES {
            self.0[l] -= b.0[l];
        }
        self
    }
}

/// `V = Bᵀ d B` for one 4×4 tile (of scalars or lane vectors): `x[4a + b]` is tile pixel `(a, b)`.
#[inline(always)]
fn input_tile_math<T: Copy + Add<Output = T> + Sub<Output = T>>(x: [T; 16]) -> [T; 16] {
    // t = Bᵀ d, column by column; then V = t B, row by row.
    let mut t = x;
    for b in 0..4 {
        t[b] = x[b] - x[8 + b];
        t[4 + b] = x[4 + b] + x[8 + b];
        t[8 + b] = x[8 + b] - x[4 + b];
        t[12 + b] = x[4 + b] - x[12 + b];
    }
    let mut v = t;
    for a in 0..4 {
        let r = 4 * a;
        v[r] = t[r] - t[r + 2];
        v[r + 1] = t[r + 1] + t[r + 2];
        v[r + 2] = t[r + 2] - t[r + 1];
        v[r + 3] = t[r + 1] - t[r + 3];
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
    while c + LANES <= cin {
        let mut x = [Lanes([0.0; LANES]); 16];
        for (xq, dq) in x.iter_mut().zip(d) {
            *xq = Lanes::load(&dq[c..]);
        }
        for (k, o) in input_tile_math(x).into_iter().enumerate() {
            o.store(&mut v[k * kstride + c..]);
        }
        c += LANES;
    }
    for c in c..cin {
        let mut x = [0.0f32; 16];
        for (xq, dq) in x.iter_mut().zip(d) {
            *xq = dq[c];
        }
        for (k, o) in input_tile_math(x).into_iter().enumerate() {
            v[k * kstride + c] = o;
        }
    }
}
}

/// `Y = Aᵀ M A` for one tile (of scalars or lane vectors): `m[4a + b]` is position `(a, b)`,
/// `Y[q]` block pixel `(q / 2, q % 2)`.
#[inline(always)]
fn output_tile_math<T: Copy + Add<Output = T> + Sub<Output = T>>(m: [T; 16]) -> [T; 4] {
    // s = Aᵀ M (2×4), then Y = s A (2×2).
    let mut s = [m[0]; 8];
    for b in 0..4 {
        s[b] = m[b] + m[4 + b] + m[8 + b];
        s[4 + b] = m[4 + b] - m[8 + b] - m[12 + b];
    }
    [
        s[0] + s[1] + s[2],
        s[1] - s[2] - s[3],
        s[4] + s[5] + s[6],
        s[5] - s[6] - s[7],
    ]
}

/// `act(v + b)`; ReLU as a select, not a branch (vectorises), NaN stays NaN.
#[inline(always)]
fn bias_act(v: f32, b: f32, act: Act) -> f32 {
    let o = v + b;
    match act {
        Act::None => o,
        Act::Relu => {
            if o < 0.0 {
                0.0
            } else {
                o
            }
        }
    }
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
    while c + LANES <= cout {
        let mut x = [Lanes([0.0; LANES]); 16];
        for (k, xk) in x.iter_mut().enumerate() {
            *xk = Lanes::load(&m[k * kstride + c..]);
        }
        let b = match bias {
            Some(b) => Lanes::load(&b[c..]),
            None => Lanes([0.0; LANES]),
        };
        for (yq, mut o) in y.iter_mut().zip(output_tile_math(x)) {
            for l in 0..LANES {
                o.0[l] = bias_act(o.0[l], b.0[l], act);
            }
            o.store(&mut yq[c..]);
        }
        c += LANES;
    }
    for c in c..cout {
        let mut x = [0.0f32; 16];
        for (k, xk) in x.iter_mut().enumerate() {
            *xk = m[k * kstride + c];
        }
        let b = bias.map_or(0.0, |b| b[c]);
        for (yq, o) in y.iter_mut().zip(output_tile_math(x)) {
            yq[c] = bias_act(o, b, act);
        }
    }
}
}
