//! The trainer's channel protocol: commands in, events out.
//!
//! A caller (the app, the CLI, the HTTP server) owns a
//! [`TrainerHandle`](crate::engine::trainer::TrainerHandle): a `Sender<Command>`
//! and a `Receiver<Event>`, both `crossbeam-channel`, both **bounded**. The
//! trainer runs on its own named thread (`mvc-trainer`), creates its model and
//! tensors there, and checks for commands between batches, so every command
//! takes effect at the next batch (well within a second).
//!
//! ## Commands
//! - [`Command::Start`] begins a run (ignored with an [`Event::Warning`] while one is active).
//! - [`Command::Pause`] / [`Command::Resume`]: the run waits between batches.
//! - [`Command::Stop`]: the run ends after the current batch with
//!   [`Event::Finished`] whose `stopped` is true (results so far are kept).
//! - [`Command::Update`]: live parameters (learning rate, threshold,
//!   temperatures, loss weights), applied from the next batch; answered by
//!   [`Event::ParamsApplied`].
//! - [`Command::Snapshot`]: an [`Event::Snapshot`] of the current embedding soon after.
//! - [`Command::Shutdown`]: the thread exits (also when the command sender is dropped).
//!
//! ## Events, in order for one run
//! `Started` → `Phase(Pretrain)` → (`Progress`* → `Epoch`)* → `Phase(Contrastive)` →
//! (`Progress`* → `Epoch` → `Metrics`? → `Snapshot`? → `CheckpointSaved`?)* →
//! `Finished` | `Failed`.
//!
//! ## Back-pressure
//! The event channel is bounded ([`EVENT_CAPACITY`]). High-rate events
//! (`Progress`, `Snapshot`) are sent with `try_send` and dropped when the
//! channel is full: they are superseded by the next one. Epoch-level events
//! (`Epoch`, `Metrics`, …) are also sent with `try_send`; when the channel is
//! full they are kept in the trainer's own history (always complete, returned
//! in [`RunSummary::epochs`] and [`RunSummary::metrics`]), so a slow or absent receiver never stalls
//! training and never loses the run's record. Terminal events (`Finished`,
//! `Failed`) are sent with a blocking send with a timeout.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::MultiViewDataset;
use crate::engine::config::{LossWeights, TrainConfig};
use crate::engine::error::TrainError;

/// Capacity of the event channel.
pub const EVENT_CAPACITY: usize = 256;
/// Capacity of the command channel.
pub const COMMAND_CAPACITY: usize = 64;

/// Live-editable parameters; `None` leaves a value as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveParams {
    pub learning_rate: Option<f64>,
    pub threshold: Option<f32>,
    pub temperature_f: Option<f32>,
    pub temperature_l: Option<f32>,
    /// γ of the closed-form view weights `w*` (`TrainConfig::weight_temperature`).
    #[serde(default)]
    pub weight_temperature: Option<f32>,
    /// The weight of the neighbours' assignment in `P` (`TrainConfig::knn_weight`; with
    /// `knn_targets` > 0).
    #[serde(default)]
    pub knn_weight: Option<f32>,
    pub loss: Option<LossWeights>,
}

/// What a caller asks of the trainer.
#[derive(Debug, Clone)]
pub enum Command {
    Start {
        dataset: Arc<MultiViewDataset>,
        /// Boxed: a config is large next to the other commands.
        config: Box<TrainConfig>,
        /// Where checkpoints go; `None` keeps the run in memory only.
        out_dir: Option<PathBuf>,
    },
    Pause,
    Resume,
    Stop,
    Update(LiveParams),
    Snapshot,
    Shutdown,
}

/// Training phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Reconstruction-only pre-training.
    Pretrain,
    /// The whole objective.
    Contrastive,
}

impl Phase {
    /// The name shown in logs and messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pretrain => "pre-training",
            Self::Contrastive => "contrastive",
        }
    }
}

/// Mean per-term losses over an epoch (0 for a term that is off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Losses {
    pub rec: f64,
    pub cluster: f64,
    pub local: f64,
    pub kl: f64,
    pub label: f64,
    /// The triplet loss of a metric-learning baseline (0 for CVC-AFWM).
    #[serde(default)]
    pub triplet: f64,
    pub total: f64,
}

/// One term of the objective as the trainer reports it (`Losses`), with `Total` their sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossTerm {
    Rec,
    Cluster,
    Local,
    Kl,
    Label,
    /// A metric-learning baseline's triplet loss.
    Triplet,
    Total,
}

impl LossTerm {
    /// Every term, in the order the plots, tables and figures show them.
    pub const ALL: [LossTerm; 7] =
        [Self::Rec, Self::Cluster, Self::Local, Self::Kl, Self::Label, Self::Triplet, Self::Total];

    /// CVC-AFWM's objective's parts, in the order of `loss::Objective::parts`.
    pub const OBJECTIVE: [LossTerm; 6] = [Self::Rec, Self::Cluster, Self::Local, Self::Kl, Self::Label, Self::Total];

    /// The name shown in plots and figures.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rec => "reconstruction",
            Self::Cluster => "cluster-level",
            Self::Local => "instance-level",
            Self::Kl => "KL (views)",
            Self::Label => "label",
            Self::Triplet => "triplet",
            Self::Total => "total",
        }
    }
}

impl Losses {
    /// From the objective's parts (`loss::Objective::parts`: reconstruction, cluster-level,
    /// instance-level, KL, label, total).
    pub fn from_parts(parts: &[f64]) -> Self {
        let mut l = Losses::default();
        for (term, &x) in LossTerm::OBJECTIVE.iter().zip(parts) {
            *l.get_mut(*term) = x;
        }
        l
    }

    fn get_mut(&mut self, term: LossTerm) -> &mut f64 {
        match term {
            LossTerm::Rec => &mut self.rec,
            LossTerm::Cluster => &mut self.cluster,
            LossTerm::Local => &mut self.local,
            LossTerm::Kl => &mut self.kl,
            LossTerm::Label => &mut self.label,
            LossTerm::Triplet => &mut self.triplet,
            LossTerm::Total => &mut self.total,
        }
    }

    /// The value of one term.
    pub fn get(&self, term: LossTerm) -> f64 {
        match term {
            LossTerm::Rec => self.rec,
            LossTerm::Cluster => self.cluster,
            LossTerm::Local => self.local,
            LossTerm::Kl => self.kl,
            LossTerm::Label => self.label,
            LossTerm::Triplet => self.triplet,
            LossTerm::Total => self.total,
        }
    }
}

/// End of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub phase: Phase,
    /// 1-based within its phase.
    pub epoch: usize,
    /// 1-based over both phases (the x axis of the plots).
    pub global_epoch: usize,
    pub losses: Losses,
    /// AFW view weights averaged over the epoch's batches (sum to 1).
    pub view_weights: Vec<f32>,
    pub secs: f64,
    /// The mean learning rate over the epoch's batches (with `lr_cosine`, the decayed rates; 0 in
    /// reports written before it was recorded).
    #[serde(default)]
    pub lr: f64,
    /// What the contrastive phase's adaptive parts did this epoch (`None` in pre-training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveReport>,
}

/// The adaptive parts of one contrastive epoch: the view weights' target, the pseudo labels,
/// and the chance values the contrastive terms are measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveReport {
    /// The closed-form view weights `w*_v = softmax(−(D_v / max(mean D, 10⁻³)) / γ)` at the epoch's end
    /// (uniform when `adaptive_weights` is off).
    pub view_target: Vec<f32>,
    /// The smoothed discrepancy `D_v = KL(P̄ ‖ q_v)` of each view from the unweighted consensus (`loss::view_discrepancy`).
    pub discrepancy: Vec<f64>,
    /// Fraction of samples whose refreshed pseudo label is confident enough to enter `L_Q`
    /// (0 when the refresh is off).
    pub pseudo_fraction: f64,
    /// Fraction of the epoch's sample pairs (within a batch, off the diagonal) that are positives
    /// of the local contrast: both confident and the same pseudo label.
    pub positive_pairs: f64,
    /// Fraction of samples whose pseudo label changed at this epoch's refresh (`None`: no refresh
    /// this epoch).
    pub pseudo_changed: Option<f64>,
    /// Fraction of samples whose cluster in the heads' own assignment (the primary reading)
    /// changed since the previous pseudo-label refresh (`None`: no refresh this epoch, or the
    /// first). With `pseudo_changed`, what the label-free stop (`stop_tolerance`) reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads_changed: Option<f64>,
    /// Where this epoch's refreshed labels came from, k-means or the heads (`None`: no refresh this
    /// epoch; with `pseudo_source = balanced` the one it picked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudo_source: Option<crate::engine::config::PseudoSource>,
    /// With `pseudo_warm_start`, this epoch's refresh: the inertia of k-means' restarts and of the
    /// run from the heads' partition, and which was kept (`None`: no refresh, or no warm start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<crate::engine::adaptive::WarmStart>,
    /// With `min_cluster_share`, how many near-empty clusters this epoch's refresh re-seeded
    /// (`None`: no refresh this epoch, or the re-seeding off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters_reseeded: Option<usize>,
    /// `L_C,cluster` at chance: `pairs · ln(2K − 1)`.
    pub cluster_chance: f64,
    /// `L_C,local` at chance: `pairs · ln B`.
    pub local_chance: f64,
}

/// Clustering quality of one reading of the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub acc: f64,
    pub nmi: f64,
    pub ari: f64,
    pub purity: f64,
}

/// Metrics at an epoch, for the three readings (only when the data has labels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    pub global_epoch: usize,
    /// The primary reading (the name is historical): the DEC head on the weighted consensus
    /// `normalize(Σ w_v h_v)`; for networks from before issue 13, argmax of the mean of the views' `q_v`.
    pub mean_q: Scores,
    /// argmax of the VCF head's `t`.
    pub vcf: Scores,
    /// k-means on the fused feature `Z`.
    pub kmeans_z: Scores,
    /// ACC of each view's own `argmax q_v`.
    pub per_view_acc: Vec<f64>,
    /// ACC / NMI / ARI / purity of each view's own `argmax q_v` (empty in records from before
    /// issue 18).
    #[serde(default)]
    pub per_view: Vec<Scores>,
    /// `view_agreement[a][b]`: the fraction of samples whose `argmax q_a` equals `argmax q_b`
    /// (the views share the DEC head's centres, so their cluster ids mean the same); 1 on the
    /// diagonal (empty in records from before issue 18).
    #[serde(default)]
    pub view_agreement: Vec<Vec<f64>>,
    /// The scores of k-means on each view's own `h_v` (3 restarts; empty in records from before
    /// issue 18).
    #[serde(default)]
    pub per_view_kmeans: Vec<Scores>,
    /// A metric-learning baseline's readings of its test split (`None` for CVC-AFWM). For a
    /// baseline, `mean_q` and `kmeans_z` are both k-means on the test embeddings and `vcf` is the
    /// kNN classifier's predictions scored as a clustering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triplet: Option<TripletScores>,
}

/// CVC-AFWM's three readings, in the order of [`MetricsReport::readings`].
pub const CVC_READINGS: [&str; 3] = ["primary (heads)", "VCF head", "k-means on Z"];
/// A metric-learning baseline's two readings of its test split.
pub const BASELINE_READINGS: [&str; 2] = ["k-means on test embeddings", "kNN classifier (test)"];

impl MetricsReport {
    /// The readings this report carries, named: CVC-AFWM's three ([`CVC_READINGS`]: `mean_q`,
    /// `vcf`, `kmeans_z`), or a baseline's two ([`BASELINE_READINGS`]: k-means on the test
    /// embeddings, and the kNN classifier, whose ACC is its plain accuracy, with no matching).
    pub fn readings(&self) -> Vec<(&'static str, Scores)> {
        match self.triplet {
            Some(t) => {
                vec![(BASELINE_READINGS[0], self.mean_q), (BASELINE_READINGS[1], Scores { acc: t.knn_acc, ..self.vcf })]
            }
            None => vec![(CVC_READINGS[0], self.mean_q), (CVC_READINGS[1], self.vcf), (CVC_READINGS[2], self.kmeans_z)],
        }
    }
}

/// What a metric-learning baseline is measured by, on its held-out test split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TripletScores {
    /// Accuracy of the `knn_k`-nearest-neighbour classifier (test embeddings against the training
    /// embeddings' labels).
    pub knn_acc: f64,
    /// Fraction of the test split's label triplets (one random positive and negative per anchor,
    /// drawn with a fixed seed) with `d(a, p) − d(a, n) + margin > 0`.
    pub violations: f64,
    pub n_train: usize,
    pub n_test: usize,
}

/// An embedding snapshot for plots and the inspector (a capped, stratified sample).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingSnapshot {
    pub global_epoch: usize,
    /// Dataset row of each point.
    pub indices: Vec<usize>,
    /// Fused feature `Z`, row-major, `indices.len() × z_dim`.
    pub z: Vec<f32>,
    pub z_dim: usize,
    /// Per-view `h_v`, each row-major `indices.len() × h_dim`.
    pub h: Vec<Vec<f32>>,
    pub h_dim: usize,
    /// Mean soft assignment, row-major `indices.len() × k`.
    pub q_mean: Vec<f32>,
    /// Per-view soft assignments, each row-major `indices.len() × k`.
    pub q_views: Vec<Vec<f32>>,
    pub k: usize,
    /// Predicted cluster (argmax of the mean `q`), in model cluster ids.
    pub predicted: Vec<usize>,
    /// Predicted cluster mapped to label ids by the Hungarian matching (when labelled).
    pub predicted_aligned: Option<Vec<usize>>,
    /// max of the mean `q`.
    pub confidence: Vec<f32>,
    /// True label ids, when labelled.
    pub labels: Option<Vec<usize>>,
    /// AFW view weights at the time of the snapshot.
    pub view_weights: Vec<f32>,
    /// argmax of the VCF head's `t`, in model cluster ids (`None` in snapshots from before issue 18).
    #[serde(default)]
    pub predicted_vcf: Option<Vec<usize>>,
    /// k-means (3 restarts) on this snapshot's `Z` (`None` in snapshots from before issue 18).
    #[serde(default)]
    pub predicted_kmeans_z: Option<Vec<usize>>,
    /// Each point's pseudo-label uncertainty in [0, 1] (`predict::Evaluation::uncertainty`);
    /// empty in snapshots recorded before it was.
    #[serde(default)]
    pub uncertainty: Vec<f32>,
}

/// Fine-grained progress within an epoch (coalesced; may be dropped).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub phase: Phase,
    pub epoch: usize,
    pub global_epoch: usize,
    pub total_epochs: usize,
    pub batch: usize,
    pub n_batches: usize,
    /// Estimated seconds left for the whole run.
    pub eta_secs: f64,
}

/// Everything a finished (or stopped) run leaves behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub stopped: bool,
    pub epochs: Vec<EpochReport>,
    pub metrics: Vec<MetricsReport>,
    /// Final metrics (None when unlabelled).
    pub final_metrics: Option<MetricsReport>,
    pub checkpoint: Option<PathBuf>,
    /// Mean seconds per epoch of each phase.
    pub secs_per_epoch_pretrain: f64,
    pub secs_per_epoch_contrastive: f64,
    pub device: String,
    pub config: TrainConfig,
    pub dataset_fingerprint: String,
    /// The contrastive epoch at which the clustering phase ended early because fewer than
    /// `stop_tolerance` of the samples changed cluster between two refreshes (of the pseudo
    /// labels or the fixed target; seed 004's `tol`), and that fraction; `None`: it ran all
    /// `con_epochs` (or was stopped).
    #[serde(default)]
    pub converged: Option<Convergence>,
    /// Seconds of each pseudo-label refresh (evaluation of every sample, k-means on `Z`, the
    /// Hungarian match, the centres' move), the contrastive phase's start included; they run
    /// between epochs, so `secs_per_epoch_contrastive` leaves them out.
    #[serde(default)]
    pub refresh_secs: Vec<f64>,
}

/// An early end of the clustering phase ([`RunSummary::converged`]): a refresh of the pseudo
/// labels or of the fixed target found fewer than `stop_tolerance` of the samples in another
/// cluster than the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// The contrastive epoch (1-based) whose refresh found the clusters settled; it did not train,
    /// so the run's final readings are of the epoch before.
    pub epoch: usize,
    /// The fraction of samples that changed cluster since the previous refresh: the larger of
    /// the pseudo labels' and the heads' own assignment's shares (the fixed target's, for DEC).
    pub changed: f64,
}

impl Convergence {
    /// One sentence for a front end: where the phase ended, of how many epochs, and why.
    pub fn sentence(&self, tolerance: f64, con_epochs: usize) -> String {
        format!(
            "the clusters settled: {:.2} % of the samples changed cluster between the refreshes before \
             contrastive epoch {} (at most; the stop tolerance is {:.2} %), so the phase ended after {} of {} epochs",
            100.0 * self.changed,
            self.epoch,
            100.0 * tolerance,
            self.epoch.saturating_sub(1),
            con_epochs
        )
    }
}

/// What the trainer reports.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        /// The device's description (`flex (CPU, 2 threads)`, `wgpu: …`).
        device: String,
        /// Why `auto` settled on it, when not obvious ([`crate::engine::device::ResolvedDevice::note`]).
        device_note: Option<String>,
        n_params: usize,
        total_epochs: usize,
    },
    Phase(Phase),
    Progress(Progress),
    Epoch(EpochReport),
    Metrics(MetricsReport),
    Snapshot(Box<EmbeddingSnapshot>),
    ParamsApplied(LiveParams),
    Paused,
    Resumed,
    CheckpointSaved(PathBuf),
    /// Something the user should know that does not end the run.
    Warning(String),
    Finished(Box<RunSummary>),
    /// The run ended with an error; the last good checkpoint, if any, is named. The error's
    /// variant says what failed ([`TrainError::is_internal`]: a bug, [`TrainError::is_diverged`]).
    Failed {
        error: TrainError,
        last_checkpoint: Option<PathBuf>,
    },
}
