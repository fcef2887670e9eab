//! The embedding tile's run-time state: the current picture of a snapshot and the t-SNE job in flight.

use std::sync::Arc;

use crate::engine::protocol::EmbeddingSnapshot;

use super::FeatureSource;

/// How the embedding's current picture was computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayoutMethod {
    Pca,
    Tsne { iteration: usize, total: usize, done: bool },
}

impl LayoutMethod {
    pub fn label(&self) -> String {
        match self {
            Self::Pca => "PCA".into(),
            Self::Tsne { done: true, .. } => "t-SNE".into(),
            Self::Tsne { iteration, total, .. } => format!("t-SNE (iteration {iteration}/{total})"),
        }
    }
}

/// The 2-D picture of one snapshot: its points, their coordinates, and where it came from.
#[derive(Debug, Clone)]
pub struct EmbeddingLayout {
    pub snapshot: Arc<EmbeddingSnapshot>,
    /// Position in `snapshot` of each point shown.
    pub positions: Vec<usize>,
    pub coords: Vec<[f32; 2]>,
    pub method: LayoutMethod,
    pub source: FeatureSource,
}

impl EmbeddingLayout {
    /// Dataset row of point `i`.
    pub fn row(&self, i: usize) -> Option<usize> {
        self.positions.get(i).and_then(|&p| self.snapshot.indices.get(p)).copied()
    }

    /// The epoch the picture is from.
    pub fn epoch(&self) -> usize {
        self.snapshot.global_epoch
    }
}

/// The 3-D picture of one snapshot (a PCA while its 3-D t-SNE runs).
#[derive(Debug, Clone)]
pub struct Layout3d {
    pub snapshot: Arc<EmbeddingSnapshot>,
    /// Position in `snapshot` of each point shown.
    pub positions: Vec<usize>,
    pub coords: Vec<[f32; 3]>,
    pub source: FeatureSource,
    /// The t-SNE has finished (else the coordinates are its PCA start).
    pub done: bool,
}

impl Layout3d {
    /// Dataset row of point `i`.
    pub fn row(&self, i: usize) -> Option<usize> {
        self.positions.get(i).and_then(|&p| self.snapshot.indices.get(p)).copied()
    }

    pub fn epoch(&self) -> usize {
        self.snapshot.global_epoch
    }
}

/// A t-SNE job in flight.
#[derive(Debug, Clone)]
pub struct PendingTsne {
    pub job_id: u64,
    pub snapshot: Arc<EmbeddingSnapshot>,
    pub positions: Vec<usize>,
    pub source: FeatureSource,
    pub last_iteration: usize,
}

/// Embedding state at run time.
#[derive(Debug, Clone, Default)]
pub struct EmbeddingRuntime {
    pub layout: Option<EmbeddingLayout>,
    pub pending: Option<PendingTsne>,
    pub error: Option<String>,
    /// Epoch of the snapshot last sent to t-SNE.
    pub last_job_epoch: Option<usize>,
    pub last_tsne_secs: Option<f64>,
    /// The 3-D view's picture.
    pub layout3d: Option<Layout3d>,
    /// Why the last 3-D t-SNE failed.
    pub error3d: Option<String>,
}

/// The label id each model cluster was matched to (from the snapshot's
/// `predicted` / `predicted_aligned` pairs); `None` for a cluster no point took.
pub fn cluster_to_label(s: &EmbeddingSnapshot) -> Vec<Option<usize>> {
    let mut map = vec![None; s.k];
    if let Some(aligned) = &s.predicted_aligned {
        for (&c, &a) in s.predicted.iter().zip(aligned) {
            if let Some(m) = map.get_mut(c) {
                *m = Some(a);
            }
        }
    }
    map
}

/// Position of dataset row `row` in a snapshot.
pub fn position_in(s: &EmbeddingSnapshot, row: usize) -> Option<usize> {
    s.indices.iter().position(|&r| r == row)
}
