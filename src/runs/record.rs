//! What a run folder holds: `run.json` ([`RunRecord`]) and the lines of `epochs.jsonl`
//! ([`EpochLine`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::MultiViewDataset;
use crate::engine::TrainConfig;
use crate::engine::protocol::{EpochReport, MetricsReport, Scores, TripletScores};
use crate::engine::run_log::{Reading, Readings};

/// The version of the files' layout (`run.json`'s `format`).
pub const FORMAT: u32 = 1;

/// Where a run stands, as the store records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A process is writing it (its `lock` is held).
    Running,
    Finished,
    /// Stopped by the user; the results so far are kept.
    Stopped,
    /// A loss became NaN or infinite.
    Diverged,
    Failed,
    /// The process writing it ended without finishing it (killed, crashed, power cut).
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Stopped => "stopped",
            Self::Diverged => "diverged",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which data a run trained on: enough to find it again and to know it is the same.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DatasetInfo {
    /// What the user gave: a built-in name or a path (as typed).
    pub source: String,
    /// The dataset's own name (a built-in name or the file's stem).
    pub name: String,
    /// The file, when it came from one.
    pub path: Option<PathBuf>,
    /// SHA-256 of the preprocessed views (the checkpoint's dataset fingerprint).
    pub sha256: String,
    pub n_samples: usize,
    /// `[rows, cols]` of each view.
    pub view_shapes: Vec<[usize; 2]>,
    /// Label classes, when labelled.
    pub n_classes: Option<usize>,
    /// The scaling asked for before training (`minmax`, `zscore`, `auto`, `none`).
    pub preprocess: String,
    /// What each view got (with `auto`, z-score or min-max by the view's density); empty in
    /// records from before it was kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub view_scalings: Vec<String>,
}

impl DatasetInfo {
    /// The fingerprint of a loaded (and preprocessed) dataset.
    pub fn of(ds: &MultiViewDataset, source: &str, preprocess: &str) -> Self {
        DatasetInfo {
            source: source.to_owned(),
            name: ds.name.clone(),
            path: ds.path.clone(),
            sha256: ds.fingerprint(),
            n_samples: ds.n_samples(),
            view_shapes: ds.views.iter().map(|v| [v.data.rows(), v.data.cols()]).collect(),
            n_classes: ds.n_clusters(),
            preprocess: preprocess.to_owned(),
            view_scalings: Vec::new(),
        }
    }

    /// The same, with the scaling each view got ([`crate::data::preprocess::apply`]'s answer).
    pub fn with_scalings(mut self, scalings: &[crate::data::Preprocess]) -> Self {
        self.view_scalings = scalings.iter().map(|p| p.as_str().to_owned()).collect();
        self
    }
}

/// ACC, NMI, ARI and purity, as the run store and `runs list --json` name them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ScoreRow {
    pub acc: f64,
    pub nmi: f64,
    pub ari: f64,
    pub pur: f64,
}

impl From<Scores> for ScoreRow {
    fn from(s: Scores) -> Self {
        ScoreRow { acc: s.acc, nmi: s.nmi, ari: s.ari, pur: s.purity }
    }
}

/// One reading at one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochScores {
    pub epoch: usize,
    #[serde(flatten)]
    pub scores: ScoreRow,
}

impl From<Reading> for EpochScores {
    fn from(r: Reading) -> Self {
        EpochScores { epoch: r.global_epoch, scores: r.scores.into() }
    }
}

/// The best epoch: chosen by ACC against the labels, so `label_selected` is always true and
/// says so wherever it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestScores {
    pub epoch: usize,
    pub label_selected: bool,
    #[serde(flatten)]
    pub scores: ScoreRow,
}

/// A run's outcome.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Results {
    /// The primary reading (the DEC head on the weighted consensus, `mean_q` in a metrics report) at
    /// the last evaluated epoch.
    pub final_epoch: Option<EpochScores>,
    /// The evaluated epoch with the best primary ACC (label-selected).
    pub best: Option<BestScores>,
    /// k-means on the fused `Z` at the last evaluated epoch.
    pub kmeans_z: Option<EpochScores>,
    pub epochs_done: usize,
    pub secs_per_epoch_pretrain: f64,
    pub secs_per_epoch_contrastive: f64,
    /// A metric-learning baseline's test-split readings (kNN accuracy, triplets inside the
    /// margin) at the last evaluated epoch; its `final_epoch` is k-means on the test embeddings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triplet: Option<TripletScores>,
    /// Set when the clustering phase ended early because the clusters settled
    /// (`stop_tolerance`); `final_epoch` is then the epoch before `converged.epoch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged: Option<crate::engine::protocol::Convergence>,
}

impl Results {
    pub fn from_readings(r: &Readings, epochs_done: usize) -> Self {
        Results {
            final_epoch: r.final_epoch.map(Into::into),
            best: r.best_label_selected.map(|b| BestScores {
                epoch: b.global_epoch,
                label_selected: true,
                scores: b.scores.into(),
            }),
            kmeans_z: r.kmeans_z.map(Into::into),
            triplet: r.triplet,
            epochs_done,
            ..Results::default()
        }
    }
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    #[serde(default)]
    pub format: u32,
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// RFC 3339 UTC.
    pub created: String,
    #[serde(default)]
    pub created_unix: f64,
    pub status: Status,
    /// Why it failed (or was interrupted).
    #[serde(default)]
    pub reason: Option<String>,
    /// Which front end started it: `cli`, `sweep`, `app` or `serve`.
    #[serde(default)]
    pub front_end: String,
    pub dataset: DatasetInfo,
    pub config: TrainConfig,
    #[serde(default)]
    pub device: Option<String>,
    /// `mvc-workbench` version that wrote it.
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub ended: Option<String>,
    #[serde(default)]
    pub ended_unix: Option<f64>,
    #[serde(default)]
    pub results: Option<Results>,
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// Set by `sweep`: the cell (dataset + config + seed) this run fills, so a resumed sweep
    /// skips it.
    #[serde(default)]
    pub sweep_cell: Option<String>,
    /// Epochs completed (filled in when listing; the file holds it once the run has ended).
    #[serde(default)]
    pub epochs_done: usize,
    /// Set when the run is an online update of a trained checkpoint (`update`, issue 15): its
    /// parent and what the update measured.
    #[serde(default)]
    pub update: Option<UpdateRecord>,
}

/// An update run's lineage and measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRecord {
    /// The checkpoint it started from (untouched: using it again is the rollback).
    pub parent_checkpoint: PathBuf,
    /// The run that wrote that checkpoint, when it is in a run folder.
    pub parent_run: Option<String>,
    pub report: crate::engine::update::UpdateReport,
}

impl RunRecord {
    /// Wall-clock seconds from creation to the end (or to now while running).
    pub fn duration_secs(&self) -> Option<f64> {
        self.ended_unix.map(|e| (e - self.created_unix).max(0.0))
    }

    /// The final primary reading's scores.
    pub fn final_scores(&self) -> Option<ScoreRow> {
        self.results.as_ref().and_then(|r| r.final_epoch).map(|f| f.scores)
    }

    /// A baseline's final kNN accuracy on its test split.
    pub fn knn_acc(&self) -> Option<f64> {
        self.results.as_ref().and_then(|r| r.triplet).map(|t| t.knn_acc)
    }

    /// The best epoch's scores (label-selected).
    pub fn best_scores(&self) -> Option<ScoreRow> {
        self.results.as_ref().and_then(|r| r.best).map(|b| b.scores)
    }
}

/// One line of `epochs.jsonl`: an epoch's losses, view weights, learning rate (the epoch's mean,
/// `EpochReport::lr`) and time, or an evaluation's three readings (written after its epoch's line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EpochLine {
    Epoch {
        #[serde(flatten)]
        report: EpochReport,
    },
    Metrics(MetricsReport),
}

impl RunRecord {
    /// The run as `runs list --json` and `GET /runs` give it: id, name, status, dataset, seed,
    /// epochs done, config, final / best (label-selected) / k-means scores, and times.
    pub fn summary_json(&self) -> serde_json::Value {
        let res = self.results.as_ref();
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "tags": self.tags,
            "status": self.status,
            "reason": self.reason,
            "front_end": self.front_end,
            "dataset": self.dataset.name,
            "dataset_source": self.dataset.source,
            "dataset_sha256": self.dataset.sha256,
            "seed": self.config.seed,
            "epochs_done": self.epochs_done,
            "total_epochs": self.config.mse_epochs + self.config.con_epochs,
            "config": self.config,
            "device": self.device,
            "final": res.and_then(|r| r.final_epoch),
            "best": res.and_then(|r| r.best),
            "kmeans_z": res.and_then(|r| r.kmeans_z),
            "model": self.config.model,
            "test": res.and_then(|r| r.triplet),
            "created": self.created,
            "ended": self.ended,
            "duration_secs": self.duration_secs(),
            "checkpoint": self.checkpoint,
            "version": self.version,
            "parent_run": self.update.as_ref().and_then(|u| u.parent_run.clone()),
            "parent_checkpoint": self.update.as_ref().map(|u| u.parent_checkpoint.clone()),
        })
    }
}
