//! difflab: see how diffusion models work by doing it, on an ordinary CPU.
//!
//! The crate is laid out the way the lab is taught:
//! - [`data`]: MNIST (IDX files, offline lookup, download, selection, resizing);
//! - [`diffusion`]: noise schedules and the forward (noising) process;
//! - [`nn`]: difflab's own CPU compute core (NHWC tensors, explicit forward/backward kernels);
//! - [`models`]: networks built from the core (the lab's U-Net, the toy U-Net, diffusers' UNet2DModel);
//! - [`schedulers`]: DDPM and DDIM with diffusers' semantics (pure math, no model inside);
//! - [`pipelines`]: sampling loops that join a model and a scheduler;
//! - [`eval`]: judging generated digits: an MNIST classifier, FID in its features, reports;
//! - [`train`]: the training loop, optimiser state and checkpoints;
//! - [`viz`]: the figures' shared style, plots, image grids and GIFs;
//! - [`lab`]: `difflab lab`, every module in order into one folder;
//! - [`report`]: the lab report and answer sheet;
//! - [`serve`]: `difflab serve`, the lab in the browser (HTTP API, live pages);
//! - [`cli`]: the `difflab` command line, one thin file per subcommand.

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
