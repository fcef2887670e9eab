//! Training engine: configuration, the channel protocol and the trainer thread.

pub mod adaptive;
pub mod baseline;
pub mod checkpoint;
pub mod config;
mod control;
pub mod device;
pub mod error;
pub mod estimate;
pub mod layers;
pub mod predict;
pub mod presets;
pub mod protocol;
pub mod run_log;
pub mod step;
pub mod trainer;
pub mod update;

pub use config::{CentroidInit, DeviceChoice, LossWeights, OptimizerKind, TargetSource, Term, TrainConfig};
pub use error::TrainError;
pub use protocol::{Command, EmbeddingSnapshot, Event, LiveParams, Phase};
pub use trainer::{TrainerHandle, spawn_trainer};
