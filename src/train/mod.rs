//! Module 2: training the denoisers. The data ([`data`]), the two architectures behind one type
//! ([`model`]), the run's settings ([`settings`]), the loop ([`trainer`]), checkpoints
//! ([`checkpoint`]), the whole command ([`job`]) with its progress ([`console`]) and the figures
//! written at the end ([`figures`]).

pub mod checkpoint;
pub mod console;
pub mod data;
pub mod figures;
pub mod job;
pub mod model;
pub mod preview;
pub mod settings;
pub mod step_time;
pub mod trainer;

pub use checkpoint::{load_denoiser, Checkpoint, CheckpointConfig};
pub use job::{Summary, TrainJob};
pub use model::{Arch, Denoiser, DenoiserCtx, ModelConfig};
pub use settings::{
    DataConfig, LrSchedule, PixelMoments, ScheduleConfig, TrainSettings, TrainingConfig,
    TrainingStats,
};
pub use trainer::{EpochReport, Observer, Plan, RunOptions, Silent, StepProgress, Trainer};
