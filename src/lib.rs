//! difflab: see how diffusion models work by doing it, on an ordinary CPU.
//!
//! The library, bottom up (each layer imports only those below it; see `ARCHITECTURE.md`):
//! - [`error`], [`util`]: the one error type; atomic writes, seeded RNG, progress callbacks, timing;
//! - [`nn`]: difflab's own CPU compute core (NHWC tensors, explicit forward/backward kernels,
//!   the parameter store);
//! - [`data`]: MNIST (IDX files, offline lookup, download, labelled digit sets, resizing);
//! - [`viz`]: the figures' shared style, plots, image grids and GIFs;
//! - [`diffusion`]: noise schedules and the forward (noising) process;
//! - [`schedulers`]: diffusers' schedulers (DDPM, DDIM, DPM-Solver++, UniPC, Euler, Euler
//!   ancestral, PNDM), pure math, no model inside;
//! - [`models`]: networks built from the core (the lab's U-Net, the toy U-Net, diffusers'
//!   UNet2DModel, the MNIST classifier);
//! - [`hub`]: pretrained diffusers models from the Hugging Face hub or a folder;
//! - [`pipelines`]: sampling, guidance and inpainting loops that join a model and a scheduler;
//! - [`train`]: the training loop, checkpoints and the one way to open a trained model;
//! - [`eval`]: judging generated digits: an MNIST classifier, FID in its features, reports.
//!
//! The applications on top: [`console`] (terminal progress), [`demos`] (one per lab module),
//! [`report`] (the lab report and answer sheet), [`lab`] (`difflab lab`), [`bench`](mod@bench)
//! (`difflab bench`), [`serve`] (`difflab serve`, the lab in the browser) and [`cli`].

#![warn(missing_docs)]

pub mod bench;
pub mod cli;
pub mod console;
pub mod data;
pub mod demos;
pub mod diffusion;
pub mod error;
pub mod eval;
pub mod lab;
pub mod models;
pub mod nn;
pub mod pipelines;
pub mod report;
pub mod schedulers;
pub mod serve;
pub mod train;
pub mod util;
pub mod viz;

pub use error::{Error, Result};
pub mod hub;
