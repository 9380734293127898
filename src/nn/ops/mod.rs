//! The compute core's kernels other than convolution and matrix products, one function per
//! operation, over NHWC f32 slices with explicit dimensions.
//!
//! Conventions (see `notes/nn_contract.md`): outputs are caller-provided slices; backward
//! kernels overwrite their gradient outputs unless the name ends in `_acc`; nothing allocates.
//! Work is split over rayon's threads by sample or by fixed-size chunk, never by a reduction
//! whose order depends on scheduling, so results are bit-identical for a given thread count.

pub mod activation;
pub mod attention;
pub mod channels;
pub mod elementwise;
pub mod embedding;
pub mod fastmath;
pub mod group_norm;
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
