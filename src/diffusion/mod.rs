//! Noise schedules (betas, ᾱ, SNR) and the forward process `add_noise`, with diffusers' semantics.

pub mod schedule;

pub use schedule::{BetaSchedule, NoiseSchedule};
