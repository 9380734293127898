//! The compute core's kernels other than convolution and matrix products, one function per
//! operation, over NHWC f32 slices with explicit dimensions.
//!
//! Conventions (see `notes/nn_contract.md`): outputs are caller-provided slices; backward
//! kernels overwrite their gradient outputs unless the name ends in `_acc`; nothing allocates.
//! Work is split over rayon's threads by sample or by fixed-size chunk, never by a reduction
//! whose order depends on scheduling, so results are bit-identical for a given thread count.

/// Defines a function whose body runs compiled for AVX-512F or AVX2+FMA when the CPU has them
/// (runtime detection), else for the build's baseline: difflab is built for baseline x86-64, so
/// plain loops would otherwise use 128-bit SSE. The body is written once, as portable Rust whose
/// loops LLVM vectorises; off x86-64 it is simply called.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn imp($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    imp($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    imp($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has AVX2 and FMA.
                    return unsafe { avx2($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}

pub mod activation;
pub mod attention;
pub mod channels;
pub mod elementwise;
pub mod embedding;
pub mod fastmath;
pub mod group_norm;
mod group_norm_forward;
pub mod linear;
pub mod loss;
pub mod pool;

pub use activation::*;
pub use attention::*;
pub use channels::*;
pub use elementwise::*;
pub use embedding::*;
pub use fastmath::*;
pub use group_norm::*;
pub use linear::*;
pub use loss::*;
pub use pool::*;

/// Elementwise kernels split their slices into chunks of this many values for rayon: large
/// enough that scheduling is negligible, small enough to keep both cores busy.
pub(crate) const CHUNK: usize = 1 << 14;
