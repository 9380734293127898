//! Sampling loops that join a noise-predicting model and a scheduler.

pub mod forward_demo;
pub mod sample;
