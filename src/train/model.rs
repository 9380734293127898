//! Moved to [`crate::models::denoiser`]: the two trainable U-Nets behind one type. This shim
//! keeps the old path until its importers move.

pub use crate::models::denoiser::{Arch, Denoiser, DenoiserCtx, ModelConfig};
