//! Training engine: configuration, the channel protocol and the trainer thread.

pub mod config;
pub mod protocol;

pub use config::{CentroidInit, DeviceChoice, LossWeights, Term, TrainConfig};
pub use protocol::{Command, EmbeddingSnapshot, Event, LiveParams, Phase};
