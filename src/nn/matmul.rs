//! Single-precision matrix products, row-major, as thin wrappers over the `gemm` crate.
//!
//! The three public products cover what the kernels need without copies:
//! `C = A·B`, `C = Aᵀ·B` and `C = A·Bᵀ`, each optionally accumulating into `C`.
//! Large products let `gemm` split the work over rayon's threads; `gemm` never splits the
//! inner (k) dimension, so results are bit-identical run to run for a given thread count.

use gemm::Parallelism;

/// Below this many multiply-adds a product runs on the calling thread: threading costs more
/// than it saves.
const PARALLEL_MIN_WORK: usize = 1 << 18;

/// A strided, read-only view of a matrix: element `(i, j)` lives at `ptr[i*rs + j*cs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    /// The backing values (the view must stay inside it).
    pub data: &'a [f32],
    /// Row stride, in elements.
    pub rs: usize,
    /// Column stride, in elements.
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        View {
            data,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        View {
            data,
            rs: 1,
            cs: cols,
        }
    }
    /// Index one past the last element of an `r × c` view, for bounds checks.
    fn extent(&self, r: usize, c: usize) -> usize {
        if r == 0 || c == 0 {
            0
        } else {
            (r - 1) * self.rs + (c - 1) * self.cs + 1
        }
    }
}

/// `C[m×n] (+)= A[m×k] · B[k×n]` for strided views; `C`'s element `(i, j)` is at
/// `c[i*c_rs + j*c_cs]` (row-major: `c_rs = ldc, c_cs = 1`; column-major: `c_rs = 1`).
///
/// `threads` is the most threads `gemm` may use (1 = on the calling thread). Panics if a view
/// does not fit its slice, which would be a bug in the caller.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_view(
    m: usize,
    k: usize,
    n: usize,
    a: View,
    b: View,
    c: &mut [f32],
    (c_rs, c_cs): (usize, usize),
    accumulate: bool,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        a.extent(m, k) <= a.data.len(),
        "matmul: A too short for {m}×{k}"
    );
    assert!(
        b.extent(k, n) <= b.data.len(),
        "matmul: B too short for {k}×{n}"
    );
    assert!(
        (m - 1) * c_rs + (n - 1) * c_cs < c.len(),
        "matmul: C too short for {m}×{n}"
    );
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    c[i * c_rs + j * c_cs] = 0.0;
                }
            }
        }
        return;
    }
    let par = if threads > 1 && m * n * k >= PARALLEL_MIN_WORK {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above keep every accessed element inside its slice; `c` is borrowed
    // mutably, so it cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs as isize,
            c_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
}

fn check(name: &str, what: &str, got: usize, need: usize) {
    assert!(got >= need, "{name}: {what} has {got} values, needs {need}");
}

/// `C[m×n] = A·B` (or `C += A·B`) on all of rayon's threads, for the views `a` and `b` of
/// buffers that must hold at least `a_len` and `b_len` values (`name` in the panic message).
fn product(
    name: &str,
    (m, k, n): (usize, usize, usize),
    (a, a_len): (View, usize),
    (b, b_len): (View, usize),
    c: &mut [f32],
    accumulate: bool,
) {
    check(name, "A", a.data.len(), a_len);
    check(name, "B", b.data.len(), b_len);
    check(name, "C", c.len(), m * n);
    let threads = rayon::current_num_threads();
    gemm_view(m, k, n, a, b, c, (n, 1), accumulate, threads);
}

/// `C[m×n] = A[m×k] · B[k×n]` (or `C += A·B` when `acc`), all row-major.
///
/// Uses all of rayon's threads for large products.
pub fn matmul(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32], acc: bool) {
    let (av, bv) = ((View::rows(a, k), m * k), (View::rows(b, n), k * n));
    product("matmul", (m, k, n), av, bv, c, acc);
}

/// `C[m×n] = Aᵀ · B` where `A` is stored row-major as `[k×m]` and `B` as `[k×n]`
/// (or `C += Aᵀ·B` when `acc`). The usual weight gradient `xᵀ·dy`.
pub fn matmul_at_b(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32], acc: bool) {
    let (av, bv) = ((View::transposed(a, m), k * m), (View::rows(b, n), k * n));
    product("matmul_at_b", (m, k, n), av, bv, c, acc);
}

/// `C[m×n] = A · Bᵀ` where `A` is stored row-major as `[m×k]` and `B` as `[n×k]`
/// (or `C += A·Bᵀ` when `acc`). The usual input gradient `dy·wᵀ`.
pub fn matmul_a_bt(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32], acc: bool) {
    let (av, bv) = ((View::rows(a, k), m * k), (View::transposed(b, k), n * k));
    product("matmul_a_bt", (m, k, n), av, bv, c, acc);
}
