//! Small shared helpers: atomic writes, seeded randomness, progress reporting, timing.

pub mod fsio;
pub mod progress;
pub mod rng;
pub mod timing;
