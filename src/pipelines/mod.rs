//! Sampling loops that join a noise-predicting model and a scheduler.

pub mod sample;
