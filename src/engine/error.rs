//! Why a training run failed, as a type: the front ends tell a diverged run from a bad setting
//! and from a bug by the variant, never by the message's wording.

use serde::{Deserialize, Serialize};

use crate::data::ClusterCountError;
use crate::engine::protocol::{LossTerm, Phase};

/// The error a run ends with (`Event::Failed`).
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrainError {
    /// A setting is out of range or the network cannot be built from them.
    #[error("{why}")]
    Settings { why: String },
    /// The dataset cannot be trained on as given (no views, views of different lengths, NaN).
    #[error("{why}")]
    Data { why: String },
    /// The number of clusters does not fit the dataset.
    #[error("{why}")]
    Clusters { why: String },
    /// The checkpoint a run starts from (`init_from`) cannot be used.
    #[error("cannot start from the checkpoint: {why}")]
    Checkpoint { why: String },
    /// The compute device could not be set up or a result could not be read back from it.
    #[error("{why}")]
    Device { why: String },
    /// Evaluating the network on the dataset failed (readings, pseudo-label refresh).
    #[error("evaluating the network failed: {why}")]
    Evaluation { why: String },
    /// A loss became NaN or infinite.
    #[error(
        "training diverged: the {} loss became {value} in {} epoch {epoch}, batch {batch} of {n_batches}; \
         lower the learning rate (now {lr}) or check the data's scaling",
        term.label(), phase.label()
    )]
    Diverged {
        term: LossTerm,
        /// NaN or ±∞; JSON writes it as `null`, which reads back as NaN.
        #[serde(deserialize_with = "nan_if_null")]
        value: f32,
        phase: Phase,
        epoch: usize,
        batch: usize,
        n_batches: usize,
        lr: f64,
    },
    /// The trainer itself broke (a panic: a bug, not the user's data or settings); `why` says
    /// so in words ("the trainer hit an internal error: …", "the trainer thread crashed: …").
    #[error("{why}")]
    Internal { why: String },
}

impl TrainError {
    pub fn settings(why: impl Into<String>) -> Self {
        Self::Settings { why: why.into() }
    }
    pub fn data(why: impl Into<String>) -> Self {
        Self::Data { why: why.into() }
    }
    pub fn device(why: impl Into<String>) -> Self {
        Self::Device { why: why.into() }
    }
    pub fn evaluation(why: impl Into<String>) -> Self {
        Self::Evaluation { why: why.into() }
    }
    pub fn checkpoint(why: impl std::fmt::Display) -> Self {
        Self::Checkpoint { why: why.to_string() }
    }

    /// A bug in the trainer rather than a problem with the run's data or settings.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Internal { .. })
    }

    /// A loss became non-finite.
    pub fn is_diverged(&self) -> bool {
        matches!(self, Self::Diverged { .. })
    }
}

fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::NAN))
}

impl From<ClusterCountError> for TrainError {
    fn from(e: ClusterCountError) -> Self {
        Self::Clusters { why: e.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variant_not_the_wording_says_what_failed() {
        let d = TrainError::Diverged {
            term: LossTerm::Kl,
            value: f32::NAN,
            phase: Phase::Contrastive,
            epoch: 3,
            batch: 2,
            n_batches: 7,
            lr: 1e-3,
        };
        assert!(d.is_diverged() && !d.is_internal());
        let text = d.to_string();
        assert!(
            text.starts_with("training diverged: the KL (views) loss became NaN in contrastive epoch 3, batch 2 of 7"),
            "{text}"
        );
        let back: TrainError = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back.to_string(), text);
        let i = TrainError::Internal { why: "index out of bounds".into() };
        assert!(i.is_internal() && !i.is_diverged());
        let c: TrainError = ClusterCountError::Unlabelled.into();
        assert!(!c.is_internal() && c.to_string().contains("no labels"), "{c}");
    }
}
