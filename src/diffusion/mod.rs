//! Noise schedules (betas, ᾱ, SNR) and the forward process `add_noise`, with diffusers' semantics,
//! and where the reverse process starts ([`StartNoise`]).

pub mod schedule;
pub mod start;

pub use schedule::{BetaSchedule, NoiseSchedule};
pub use start::{pixel_moments, StartNoise};
