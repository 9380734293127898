//! Small shared helpers: atomic writes, seeded randomness, timing.

pub mod fsio;
pub mod progress;
pub mod rng;
