//! The lab's module demos: each turns library results into the figures, animations and
//! `summary.json` of one command. One folder per module; demos never import each other (what
//! two of them draw alike lives in `crate::viz`, what they compute alike in the library).
//!
//! - [`forward`]: Module 1, `difflab forward`;
//! - [`train`]: Module 2, `difflab train` (the run, its console and figures);
//! - [`generate`]: Module 3, `difflab sample`, with its conditional part ([`generate::guidance`]);
//! - [`inpaint`]: `difflab inpaint`;
//! - [`pretrained`]: Module 4, `difflab pretrained`.

pub mod forward;
pub mod generate;
pub mod inpaint;
pub mod pretrained;
pub mod train;
