//! Judging generated digits the way the field does: a small MNIST classifier
//! ([`crate::models::classifier`]) says which digit each one is and how sure it is, and the
//! Fréchet distance between Gaussians fitted to its penultimate features (FID) says how close
//! the set is to real MNIST digits of the same classes.
//!
//! - [`linalg`]: symmetric eigendecomposition (Jacobi) and the PSD matrix square root, f64;
//! - [`frechet`]: [`Gaussian`] fits and the [`frechet_distance`];
//! - [`fid`]: FID in the classifier's features;
//! - [`score`]: the [`Evaluator`] — recognised share, in-classes share, class histogram, FID
//!   against the MNIST test digits, and the floor (the same for real training digits);
//! - [`run`]: generate with the sampling pipeline and score ([`evaluate_denoiser`]), across
//!   samplers and step counts ([`sweep_denoiser`]);
//! - [`guided`]: the same for a class-conditional model asked for digits with guidance
//!   ([`evaluate_guided`]): does it draw the digit it was asked for?
//! - [`model`]: the same for a checkpoint folder ([`evaluate_model`], [`sweep_model`]);
//! - [`report`]: tables, JSON, and `quality_vs_steps.png`.

pub mod fid;
pub mod frechet;
pub mod guided;
pub mod linalg;
pub mod model;
pub mod report;
pub mod run;
pub mod score;

pub use fid::{feature_gaussian, fid};
pub use frechet::{frechet_distance, Gaussian};
pub use guided::{evaluate_guided, sweep_guidance, GuidanceSweep, GuidedScores};
pub use model::{
    evaluate_model, evaluate_model_with_progress, guidance_sweep_model, model_info, sweep_model,
};
pub use report::{write_json, EVAL_FILE};
pub use run::{
    evaluate_denoiser, evaluator_for, sweep_denoiser, sweep_steps, EvalOptions, EvalReport,
    ModelInfo, SkippedSampler, SweepReport,
};
pub use score::{Evaluator, SetScores, CONFIDENCE};
