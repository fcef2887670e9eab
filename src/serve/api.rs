//! The request and response bodies of the HTTP API (the seed's field names, kept so its
//! `curl` examples work). Their schemas are the OpenAPI description's components.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::protocol::Losses;

/// `POST /train`. Every field is optional; a field left out takes the preset of
/// `dataset_name` when one exists (MNIST-USPS, BDGP, …), else the seed API's default.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainRequest {
    /// A built-in dataset (`gauss3-noise`, `rings-moons`) or the name of a `.mat` file in the
    /// server's `--datasets` folder (case, `-` and `_` ignored: `MNIST-USPS` finds `MNIST_USPS.mat`).
    #[schema(example = "gauss3-noise")]
    pub dataset_name: Option<String>,
    /// Mini-batch size, 1 to 65536 (default 256).
    pub batch_size: Option<usize>,
    /// Adam learning rate (default 0.0003).
    pub learning_rate: Option<f64>,
    /// Number of clusters (default: the number of classes of the dataset's labels).
    pub num_cluster: Option<usize>,
    /// Number of views the client expects; the dataset's own views are used, and a warning is
    /// returned when they differ.
    pub views: Option<usize>,
    /// Per-feature scaling of every view before training: `minmax`, `zscore`, `auto` (z-score the
    /// views whose entries are mostly non-zero, min-max the others) or `none`. Default: the
    /// dataset's preset's where it has one (Prokaryotic: `none`), else `minmax`.
    #[schema(value_type = Option<String>, example = "minmax")]
    pub preprocess: Option<crate::data::Preprocess>,
    /// Epochs of reconstruction pre-training, at most 100000 (default 200).
    pub mse_epochs: Option<usize>,
    /// Epochs of contrastive training, at most 100000 (default 300).
    pub con_epochs: Option<usize>,
    /// Random seed (default 25).
    pub seed: Option<u64>,
    /// Pseudo-label threshold of the local contrast, in [0, 1] (default 0.8).
    pub threshold: Option<f32>,
    /// Sinkhorn–Knopp rounds balancing the target `P` (SwAV, seed 002; default 0).
    pub sinkhorn_iters: Option<usize>,
    /// Weight `L_Q` and `L_A` per sample by 1 − its pseudo label's uncertainty (seed 003; default false).
    pub uncertainty_weighting: Option<bool>,
    /// The pseudo-label k-means' space: `h`, `zh` (low + high level, seed 003) or `z-fused` (default).
    #[schema(value_type = Option<String>, example = "z-fused")]
    pub cluster_space: Option<crate::engine::config::ClusterSpace>,
    /// Where the refreshed pseudo labels come from: `kmeans` (default), `heads` (the heads' own
    /// assignment) or `balanced` (at each refresh the one of the two with the more even cluster sizes).
    #[schema(value_type = Option<String>, example = "kmeans")]
    pub pseudo_source: Option<crate::engine::config::PseudoSource>,
    /// What each view is contrasted with: `pairs` (every other view, default), `consensus` (the
    /// views' weighted consensus, detached) or `others` (the other views' consensus, detached).
    #[schema(value_type = Option<String>, example = "consensus")]
    pub contrast_pairing: Option<crate::engine::config::ContrastPairing>,
    /// How the contrastive terms are summed: `terms` (each once, default) or `per-view` (with
    /// `consensus` and `others`, each view's term times `V − 1`, the pairs a view sits in).
    #[schema(value_type = Option<String>, example = "per-view")]
    pub contrast_scale: Option<crate::engine::config::ContrastScale>,
    /// With the k-means source, also run k-means from the heads' current partition and keep the
    /// lower-inertia result (default false).
    pub pseudo_warm_start: Option<bool>,
    /// With `pseudo_warm_start`: keep the heads' partition unless the restarts' inertia is lower by
    /// more than this fraction, in [0, 1) (default 0: whichever is lower).
    pub pseudo_warm_margin: Option<f32>,
    /// Which features the view centring centres: `contrast` (default: the instance contrast's only)
    /// or `all`.
    #[schema(value_type = Option<String>, example = "contrast")]
    pub centring_scope: Option<crate::engine::config::CentringScope>,
    /// Decay the contrastive learning rate along a half cosine to 0 (default true since session 34; false: constant, as the seed).
    pub lr_cosine: Option<bool>,
    /// Start the contrastive phase with a fresh Adam instead of the pre-training's moments (default false: one optimiser for both phases, as the seed).
    pub fresh_optimizer: Option<bool>,
    /// Contrastive epochs over which the learning rate rises linearly to its set value (0 = at once, as the seed).
    pub lr_warmup_epochs: Option<usize>,
    /// Contrastive epochs before the pseudo labels are used (0 = from the phase's start: k-means on the pre-trained features).
    pub pseudo_delay: Option<usize>,
    /// At each pseudo-label refresh, re-seed a cluster holding fewer than this share of N/K samples (0 = never, the default).
    pub min_cluster_share: Option<f32>,
    /// Per-cluster temperatures of the cluster-level contrast with this mean (PCL, seed 002; off when absent).
    pub pcl_temperature: Option<f32>,
    /// Neighbours whose mean assignment is mixed into `P` (TSD, seed 002; 0 = off, the default).
    pub knn_targets: Option<usize>,
    /// Train on these label classes only (ids as `inspect` lists them): the class-incremental
    /// protocol; `POST /update` feeds the others later.
    pub classes: Option<Vec<usize>>,
    /// The network: `cvc` (CVC-AFWM, the default), `dec` (seed 004's single-view DEC with its
    /// schedule; name the view in `view_names`), or a metric-learning baseline of seed 001
    /// (`siamese-conv`, `ae-conv`, `mlp`), trained with the triplet loss on a train split and
    /// evaluated on the held-out test split (`metrics.knn_accuracy`).
    #[schema(value_type = Option<String>, example = "siamese-conv")]
    pub model: Option<crate::engine::config::ModelFamily>,
    /// Train on these views only, by the variable each was read from (`["X1"]`); `/predict`
    /// then reads the same views.
    pub view_names: Option<Vec<String>>,
    /// Hold DEC's target `P` fixed over all samples, recomputed every N contrastive epochs
    /// (0 = per batch, the default; `dec`: 100).
    pub target_refresh: Option<usize>,
    /// End the clustering phase when fewer than this fraction of the samples change cluster
    /// between two refreshes of the pseudo labels (or of DEC's fixed target); default 0.001
    /// (DEC's `tol`); 0 = run every epoch.
    pub stop_tolerance: Option<f64>,
    /// A conv baseline's image shape, `HEIGHTxWIDTH` (default: 28x28 for 784 features, 16x16 for 256).
    #[schema(value_type = Option<String>, example = "28x28")]
    pub image: Option<crate::engine::config::ImageShape>,
    /// A baseline's triplet mining: `random` (the seed's), `batch-hard` or `semi-hard`.
    #[schema(value_type = Option<String>, example = "random")]
    pub mining: Option<crate::engine::config::Mining>,
    /// A baseline's positives: `labels` (supervised) or `cross-view` (the same sample in another view).
    #[schema(value_type = Option<String>, example = "labels")]
    pub positives: Option<crate::engine::config::Positives>,
    /// The triplet loss's margin (default 10).
    pub margin: Option<f32>,
    /// A baseline's held-out share of each class (default 0.2).
    pub test_fraction: Option<f32>,
    /// Neighbours of a baseline's kNN reading (default 5).
    pub knn_k: Option<usize>,
}

/// `POST /update`: an online update of a stored run's checkpoint on new data (issue 15). Only
/// `run` and `dataset_name` are required; the rest default as `update` does.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// The run whose checkpoint to update: its id in the run store (as `GET /runs` lists it), a
    /// unique prefix, or its name. Its checkpoint is never modified.
    #[schema(example = "20260101-120000-gauss3-noise-1a2b")]
    pub run: String,
    /// The new data: a built-in dataset or a data file of the server's `--datasets` folder.
    #[schema(example = "gauss3-noise")]
    pub dataset_name: String,
    /// Only these label classes of the new data.
    pub classes: Option<Vec<usize>>,
    /// Passes over the new data, 1 to 10000 (default 50).
    pub iterations: Option<usize>,
    /// SGD learning rate of the centres (default 0.01).
    pub learning_rate: Option<f64>,
    /// λ of the EWC penalty (default 1; 0 = no anchoring).
    pub ewc_lambda: Option<f64>,
    /// Factor on the old centres' gradient, in [0, 1] (default 0.3).
    pub damping: Option<f64>,
    /// `seed`, `robust` (default) or `off`.
    pub expand: Option<String>,
    /// Expansion threshold in units of the typical within-cluster distance (default 1.5).
    pub threshold: Option<f64>,
    /// The robust rule's smallest group (default 20).
    pub min_size: Option<usize>,
    pub seed: Option<u64>,
}

/// Clustering quality of the primary reading (argmax of the mean view assignment).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiMetrics {
    pub accuracy: f64,
    pub nmi: f64,
    pub purity: f64,
    pub ari: f64,
    /// A metric-learning baseline's kNN accuracy on its test split (absent for CVC-AFWM; a
    /// baseline's other fields are k-means on its test embeddings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knn_accuracy: Option<f64>,
}

/// Answer of `POST /train`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrainResponse {
    /// `success`, or `stopped` when the run was ended by `POST /runs/{id}/stop`.
    pub status: String,
    pub run_id: u64,
    /// Null when the dataset has no labels.
    pub metrics: Option<ApiMetrics>,
    pub dataset_name: String,
    pub n_samples: usize,
    pub n_clusters: usize,
    /// Epochs completed over both phases.
    pub epochs: usize,
    pub device: String,
    pub seconds: f64,
    pub checkpoint: Option<String>,
    /// Things the client should know (e.g. `views` differs from the dataset).
    pub warnings: Vec<String>,
    /// Set when the clustering phase ended early because the clusters settled
    /// (`stop_tolerance`): the refresh's contrastive epoch and the share of samples that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged: Option<ApiConvergence>,
}

/// An early end of the clustering phase ([`TrainResponse::converged`]).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiConvergence {
    /// The contrastive epoch whose refresh found the clusters settled (it did not train).
    pub epoch: usize,
    /// The share of samples that changed cluster since the previous refresh.
    pub changed: f64,
    /// The same in a sentence.
    pub message: String,
}

/// `POST /predict`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// The sample (0-based row of the dataset of the last run).
    pub data_index: i64,
    #[serde(default = "yes")]
    pub return_cluster_assignment: bool,
    /// Return `h` of the first view (as the seed did).
    #[serde(default)]
    pub return_features: bool,
    /// Return the first view's reconstruction (in the preprocessed, min-max scale).
    #[serde(default)]
    pub return_reconstruction: bool,
    #[serde(default = "yes")]
    pub compare_with_ground_truth: bool,
}

fn yes() -> bool {
    true
}

/// Answer of `POST /predict`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PredictResponse {
    pub data_index: usize,
    pub status: String,
    /// Mean soft assignment over the views, in the model's cluster order.
    pub cluster_probabilities: Vec<f32>,
    /// Predicted cluster, mapped to the label ids by the Hungarian matching of the whole
    /// dataset (the model's own id when the data is unlabelled).
    pub cluster_assignment: Option<usize>,
    pub hidden_features: Option<Vec<f32>>,
    pub reconstructed_features: Option<Vec<f32>>,
    /// The true label id (0-based class index), when labelled and asked for.
    pub ground_truth_label: Option<usize>,
    pub is_correct: Option<bool>,
    /// max of `cluster_probabilities`.
    pub confidence: f32,
    /// The pseudo label's uncertainty in [0, 1]: the normalised entropy of the sample's fuzzy
    /// c-means memberships (m = 2) from its distances to the cluster centres (seed 003).
    pub uncertainty: f32,
    /// Each view's own assignment, aligned like `cluster_assignment`.
    pub per_view_assignment: Vec<usize>,
    /// The run whose model answered.
    pub run_id: u64,
}

/// Mean per-term losses of the last finished epoch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct ApiLosses {
    pub rec: f64,
    pub cluster: f64,
    pub local: f64,
    pub kl: f64,
    pub label: f64,
    /// A metric-learning baseline's triplet loss (0 for CVC-AFWM).
    #[serde(default)]
    pub triplet: f64,
    pub total: f64,
}

impl From<Losses> for ApiLosses {
    fn from(l: Losses) -> Self {
        ApiLosses {
            rec: l.rec,
            cluster: l.cluster,
            local: l.local,
            kl: l.kl,
            label: l.label,
            triplet: l.triplet,
            total: l.total,
        }
    }
}

/// A run's live state (`GET /runs/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunStatus {
    pub run_id: u64,
    /// `loading`, `running`, `finished`, `stopped` or `failed`.
    pub status: String,
    pub dataset_name: String,
    pub n_samples: usize,
    pub n_views: usize,
    pub n_clusters: usize,
    /// `pretrain` or `contrastive` (null before the first epoch starts).
    pub phase: Option<String>,
    /// Epoch within the phase (1-based) and over both phases.
    pub epoch: usize,
    pub global_epoch: usize,
    pub total_epochs: usize,
    pub batch: usize,
    pub n_batches: usize,
    pub eta_secs: Option<f64>,
    pub elapsed_secs: f64,
    pub last_losses: Option<ApiLosses>,
    pub view_weights: Vec<f32>,
    /// Latest metrics (primary reading), when labelled.
    pub metrics: Option<ApiMetrics>,
    pub device: Option<String>,
    pub checkpoint: Option<String>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

/// `POST /runs/{id}/stop`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StopResponse {
    pub run_id: u64,
    /// `stopping`.
    pub status: String,
}
