//! `simd_dispatch!`: one function body compiled for AVX-512F, for AVX2+FMA and for the
//! baseline, chosen at run time. Shared by the compute kernels of `conv` and `ops`.

/// Defines a function whose body runs compiled for AVX-512F or AVX2+FMA when the CPU has them
/// (runtime detection), else for the build's baseline: difflab is built for baseline x86-64, so
/// plain loops would otherwise use 128-bit SSE. The body is written once, as portable Rust whose
/// loops LLVM vectorises; off x86-64 it is simply called. (`gemm` dispatches on its own.)
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
