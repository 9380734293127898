//! Module 2's library: training the denoisers. The data ([`data`]), the two architectures behind
//! one type ([`crate::models::Denoiser`]), the run's settings ([`settings`]), the loop ([`trainer`]), checkpoints
//! ([`checkpoint`]) and the one way to open a trained one for sampling ([`trained`]). The
//! `difflab train` command with its console and figures is `crate::demos::train`.

pub mod checkpoint;
pub mod data;
pub mod preview;
pub mod settings;
pub mod step_time;
pub mod trained;
pub mod trainer;

pub use checkpoint::{load_denoiser, Checkpoint, CheckpointConfig};
pub use settings::{
    DataConfig, LrSchedule, PixelMoments, ScheduleConfig, TrainSettings, TrainingConfig,
    TrainingStats,
};
pub use trained::{model_info, ModelInfo, TrainedModel};
pub use trainer::{EpochReport, Observer, Plan, RunOptions, Silent, StepProgress, Trainer};
