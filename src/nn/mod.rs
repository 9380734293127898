//! difflab's CPU compute core: f32 NHWC tensors and explicit forward/backward kernels
//! (matrix work through `gemm`, threads through `rayon`), optimisers, the parameter store and
//! weight I/O.

pub mod device;
pub mod tensor;
#[cfg(test)]
pub(crate) mod testing;

pub use device::Device;
pub use tensor::Tensor;
#[macro_use]
mod simd;
pub mod conv;
pub mod cross_entropy;
pub mod init;
pub mod matmul;
pub mod ops;
pub mod optim;
pub mod params;
pub mod torch_bin;
pub mod weights;
pub mod workspace;

pub use weights::Weights;
