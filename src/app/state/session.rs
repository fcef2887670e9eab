//! What the session holds at run time (never persisted).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::data::{MultiViewDataset, Preprocess, VariableInfo};
use crate::engine::TrainConfig;

use super::{DatasetSource, EmbeddingRuntime, RunLog};

/// A loaded dataset and what the override UI needs.
#[derive(Debug, Clone)]
pub struct LoadedDataset {
    pub source: DatasetSource,
    pub dataset: Arc<MultiViewDataset>,
    /// The file's variables (file datasets only).
    pub variables: Option<Vec<VariableInfo>>,
    pub preprocess: Preprocess,
    /// The scaling each view got (`auto` resolved per view).
    pub scalings: Vec<Preprocess>,
    pub load_secs: f64,
}

/// Result of a background export.
#[derive(Debug, Clone)]
pub enum ExportOutcome {
    Written(Vec<PathBuf>),
    Failed(String),
}

/// Rolling frame-time statistics (the ui pass, in milliseconds).
#[derive(Debug, Clone, Default)]
pub struct FrameTimes {
    pub recent_ms: VecDeque<f32>,
}

impl FrameTimes {
    pub const WINDOW: usize = 240;

    pub fn push(&mut self, ms: f32) {
        if self.recent_ms.len() == Self::WINDOW {
            self.recent_ms.pop_front();
        }
        self.recent_ms.push_back(ms);
    }

    /// The `q`-quantile (0..=1) of the recent frames.
    pub fn quantile(&self, q: f32) -> Option<f32> {
        quantile(self.recent_ms.iter().copied().collect(), q)
    }
}

/// The `q`-quantile of `v` (nearest rank).
pub fn quantile(mut v: Vec<f32>, q: f32) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    let i = ((v.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
    v.get(i).copied()
}

/// A status-bar message.
#[derive(Debug, Clone)]
pub struct Notice {
    pub text: String,
    pub at: Instant,
    /// Shown in the error colour, and longer.
    pub error: bool,
}

/// A set of samples picked together (a confusion-matrix cell, the most uncertain samples):
/// ringed in the embedding and listed in the inspector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    /// Dataset rows, in the order they were picked.
    pub rows: Vec<usize>,
    /// What they are, for the inspector's heading (`true 2, cluster 5 (primary)`).
    pub what: String,
}

/// Everything the session holds at run time (never persisted).
#[derive(Default)]
pub struct Session {
    pub loaded: Option<LoadedDataset>,
    /// What is being loaded right now.
    pub loading: Option<DatasetSource>,
    pub load_error: Option<String>,
    pub run: RunLog,
    /// Dataset row of the selected sample.
    pub selected: Option<usize>,
    /// The samples picked together (`Marked`), if any.
    pub marked: Option<Marked>,
    /// The run's snapshots over time and the scrubber's state.
    pub timeline: super::Timeline,
    pub embedding: EmbeddingRuntime,
    pub export_busy: bool,
    pub export_outcome: Option<ExportOutcome>,
    /// A message for the status bar (e.g. a refused command, a crashed worker).
    pub notice: Option<Notice>,
    pub frames: FrameTimes,
    pub start_error: Option<String>,
    pub tsne_paused: bool,
    /// The run store as the Runs tile shows it.
    pub runs: crate::app::run_history::RunsView,
    /// Measured seconds of one pre-training batch on the loaded dataset, per network shape
    /// (`engine::estimate::shape_key`): the presets' run-time estimates.
    pub step_secs: Vec<(StepShape, f64)>,
    /// Why the step could not be measured, if it could not.
    pub step_error: Option<String>,
    /// Every sample through the ended run's checkpoint, for the inspector.
    pub inspection: crate::app::inspection::Inspection,
}

/// A network shape whose step cost was measured (`engine::estimate::shape_key`).
pub type StepShape = (Vec<usize>, usize, usize, usize, usize);

/// What the `mvc-estimate` thread answers: each network shape's step seconds, or why not.
pub type StepMeasurements = Vec<(StepShape, Result<f64, String>)>;

impl Session {
    /// The estimated seconds of a run of `cfg` on the loaded dataset, when a step of its network
    /// shape has been measured.
    pub fn estimate_secs(&self, cfg: &TrainConfig) -> Option<f64> {
        let n = self.dataset()?.n_samples();
        let key = crate::engine::estimate::shape_key(cfg);
        let (_, step) = self.step_secs.iter().find(|(k, _)| *k == key)?;
        Some(crate::engine::estimate::estimate_run_secs(*step, cfg, n))
    }
}

impl Session {
    /// The snapshot the analysis views and the inspector read: the timeline's (the pinned epoch,
    /// else the latest), else the one the embedding shows.
    pub fn current_snapshot(&self) -> Option<&Arc<crate::engine::protocol::EmbeddingSnapshot>> {
        self.timeline
            .shown()
            .or(self.run.snapshot.as_ref())
            .or_else(|| self.embedding.layout.as_ref().map(|l| &l.snapshot))
    }

    /// The epoch the timeline pins (`None`: following the latest).
    pub fn shown_epoch(&self) -> Option<usize> {
        self.timeline.pinned
    }

    pub fn dataset(&self) -> Option<&Arc<MultiViewDataset>> {
        self.loaded.as_ref().map(|l| &l.dataset)
    }

    pub fn notify(&mut self, msg: impl Into<String>) {
        self.notice = Some(Notice { text: msg.into(), at: Instant::now(), error: false });
    }

    /// A notice shown as an error (e.g. a background thread crashed).
    pub fn notify_error(&mut self, msg: impl Into<String>) {
        self.notice = Some(Notice { text: msg.into(), at: Instant::now(), error: true });
    }

    /// View names of the loaded dataset (or `view 1`, … when there is none).
    pub fn view_names(&self, n: usize) -> Vec<String> {
        match self.dataset() {
            Some(ds) if ds.views.len() == n => ds.views.iter().map(|v| v.name.clone()).collect(),
            _ => (1..=n).map(|i| format!("view {i}")).collect(),
        }
    }

    /// Display name of label class `k`.
    pub fn class_name(&self, k: usize) -> String {
        match self.dataset().and_then(|d| d.labels.as_ref()) {
            Some(l) if k < l.n_clusters() => l.class_name(k),
            _ => format!("{k}"),
        }
    }
}
