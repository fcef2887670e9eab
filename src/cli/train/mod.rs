//! `train`: the engine from the command line; every run is recorded in the run store.

mod config;
mod drive;

use std::path::PathBuf;

use clap::Args;

use crate::data::{self, LoadOptions, MultiViewDataset, NonFinite, Preprocess};
use crate::engine::config::{DeviceChoice, TargetSource};
use crate::runs::{self, DatasetInfo, NewRun, RunStore};

pub use config::{build_config, patch_of};
pub(crate) use drive::{drive, scores_json, scores_line};

/// Arguments of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A data file (.mat, .npy, .npz, .csv, .tsv), or the name of a built-in dataset.
    pub data: String,
    /// A dataset preset from the seed's train.py (MNIST-USPS, BDGP, Caltech-2V..5V, Cora, Prokaryotic, Scene15, Wiki, Reuters); never overrides what you set.
    #[arg(long)]
    pub preset: Option<String>,
    /// A TOML file with TrainConfig fields (flags given here win over it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The network: cvc (CVC-AFWM, the default), dec (seed 004's single-view DEC; one view,
    /// e.g. --views X1), or a metric-learning baseline of seed 001 trained with the triplet
    /// loss: siamese-conv, ae-conv (image views) or mlp.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<crate::engine::config::ModelFamily>,
    /// Use only these variables as views, in order (e.g. X1, or X1,X2; a cell element: X{2}).
    #[arg(long, value_delimiter = ',', value_name = "VARS")]
    pub views: Option<Vec<String>>,
    /// A baseline's epochs (sets con_epochs; a baseline has no pre-training; default 40).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// A conv baseline's image shape, HEIGHTxWIDTH (default: 28x28 for 784 features, 16x16 for 256).
    #[arg(long, value_name = "HxW")]
    pub image: Option<crate::engine::config::ImageShape>,
    /// A baseline's triplet mining: random (the seed's), batch-hard or semi-hard.
    #[arg(long)]
    pub mining: Option<crate::engine::config::Mining>,
    /// A baseline's positives: labels (supervised) or cross-view (the same sample in another view; no labels used).
    #[arg(long)]
    pub positives: Option<crate::engine::config::Positives>,
    /// The triplet loss's margin (default 10, the seed's).
    #[arg(long)]
    pub margin: Option<f32>,
    /// A baseline's held-out share of each class (default 0.2).
    #[arg(long)]
    pub test_fraction: Option<f32>,
    /// Neighbours of a baseline's kNN accuracy (default 5).
    #[arg(long)]
    pub knn_k: Option<usize>,
    /// Epochs of reconstruction-only pre-training.
    #[arg(long)]
    pub mse_epochs: Option<usize>,
    /// Epochs of the whole objective.
    #[arg(long)]
    pub con_epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Pseudo-label threshold of the local contrast.
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Temperature of the feature-level (local) contrast.
    #[arg(long)]
    pub temperature_f: Option<f32>,
    /// Temperature of the cluster-level contrast.
    #[arg(long)]
    pub temperature_l: Option<f32>,
    /// κ of the DEC kernel q ∝ (1 + κ‖h − μ‖²)⁻¹ (1 = the seed's kernel).
    #[arg(long)]
    pub kernel_scale: Option<f32>,
    /// Where the DEC target P comes from: views (the views' mean q, the default) or vcf (the VCF head's t, the seed's choice).
    #[arg(long)]
    pub target_source: Option<TargetSource>,
    /// Contrastive epochs over which L_A and L_Q ramp in from 0 (0 = at once).
    #[arg(long)]
    pub kl_warmup: Option<usize>,
    /// Sinkhorn rounds balancing the target P's clusters (0 = DEC's target).
    #[arg(long)]
    pub sinkhorn_iters: Option<usize>,
    /// Weight each sample's L_Q and L_A by 1 − its pseudo label's uncertainty (seed 003).
    #[arg(long)]
    pub uncertainty_weighting: bool,
    /// The fuzzifier m > 1 of the memberships behind the uncertainty (default 2).
    #[arg(long, value_name = "M")]
    pub fuzzifier: Option<f32>,
    /// The space the pseudo-label k-means clusters in: h, zh (low + high level, seed 003) or z-fused.
    #[arg(long, value_name = "SPACE")]
    pub cluster_space: Option<crate::engine::config::ClusterSpace>,
    /// Where the refreshed pseudo labels come from: kmeans (in --cluster-space), heads (the heads'
    /// own assignment, DEC's self-training) or balanced (at each refresh the one of the two with the
    /// more even cluster sizes; the default since session 34).
    #[arg(long, value_name = "SOURCE")]
    pub pseudo_source: Option<crate::engine::config::PseudoSource>,
    /// What each view is contrasted with in the cross-view contrastive terms: pairs (every other
    /// view, the seed's), consensus (the views' weighted consensus, detached) or others (the other
    /// views' consensus, detached; the default since session 34).
    #[arg(long, value_name = "PAIRING")]
    pub contrast_pairing: Option<crate::engine::config::ContrastPairing>,
    /// How the contrastive terms are summed: terms (each once) or per-view (with
    /// consensus and others, each view's term times V − 1, the number of pairs a view sits in; the
    /// default since session 34).
    #[arg(long, value_name = "SCALE")]
    pub contrast_scale: Option<crate::engine::config::ContrastScale>,
    /// With the k-means source, also run k-means from the heads' current partition and keep the
    /// lower-inertia result (--pseudo-warm-start=false: the restarts alone, the default).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pseudo_warm_start: Option<bool>,
    /// With --pseudo-warm-start: keep the heads' partition unless the restarts' inertia is lower by
    /// more than this fraction (default 0: whichever is lower).
    #[arg(long, value_name = "FRACTION")]
    pub pseudo_warm_margin: Option<f32>,
    /// Which features the view centring centres: contrast (the default: only the instance
    /// contrast's; the heads, Z and the readings keep each sample's distance from the view's mean)
    /// or all.
    #[arg(long, value_name = "SCOPE")]
    pub centring_scope: Option<crate::engine::config::CentringScope>,
    /// Per-cluster temperatures of the cluster-level contrast with this mean (PCL, seed 002).
    #[arg(long, value_name = "MEAN")]
    pub pcl_temperature: Option<f32>,
    /// Mix each sample's K nearest neighbours' assignment into the target P (TSD, seed 002; 0 = off).
    #[arg(long, value_name = "K")]
    pub knn_targets: Option<usize>,
    /// The weight of the neighbours' assignment in P (default 0.5).
    #[arg(long, value_name = "W")]
    pub knn_weight: Option<f32>,
    /// Decay the learning rate along a half cosine over the contrastive phase, to 0 at its end
    /// (the default since session 34; --lr-cosine=false: constant, as the seed).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub lr_cosine: Option<bool>,
    /// Start the contrastive phase with a fresh Adam instead of the pre-training's moments
    /// (off by default: one optimiser for both phases, as the seed).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub fresh_optimizer: Option<bool>,
    /// Contrastive epochs over which the learning rate rises linearly to its set value (0 = at once, as the seed).
    #[arg(long, value_name = "EPOCHS")]
    pub lr_warmup_epochs: Option<usize>,
    /// Contrastive epochs before the pseudo labels are used (0 = from the phase's start, k-means on pre-trained features).
    #[arg(long, value_name = "EPOCHS")]
    pub pseudo_delay: Option<usize>,
    /// At each pseudo-label refresh, re-seed a cluster holding fewer than this share of N/K samples from the largest cluster (0 = never, the default).
    #[arg(long, value_name = "SHARE")]
    pub min_cluster_share: Option<f32>,
    /// Hidden sizes of each view's encoder, comma-separated (default 500,500,2000; DEC 512,256,64).
    #[arg(long, value_delimiter = ',', value_name = "SIZES")]
    pub encoder_hidden: Option<Vec<usize>>,
    /// F, the size of each view's latent z (default 512; DEC 10).
    #[arg(long)]
    pub feature_dim: Option<usize>,
    /// H, the size of the high-level feature h and of the DEC head's space (default 512; DEC 10).
    #[arg(long)]
    pub high_feature_dim: Option<usize>,
    /// The clustering phase's optimiser: adam (the default) or sgd (with --momentum; DEC's).
    #[arg(long, value_name = "OPT")]
    pub con_optimizer: Option<crate::engine::config::OptimizerKind>,
    /// SGD's momentum (default 0.9).
    #[arg(long)]
    pub momentum: Option<f64>,
    /// The pre-training's Adam learning rate (default: --lr; DEC 0.001).
    #[arg(long)]
    pub pretrain_lr: Option<f64>,
    /// Multiply the clustering phase's learning rate by --lr-gamma every N epochs (StepLR; 0 = off; DEC 500).
    #[arg(long, value_name = "N")]
    pub lr_step: Option<usize>,
    /// The factor of each --lr-step (default 0.5).
    #[arg(long)]
    pub lr_gamma: Option<f64>,
    /// Hold DEC's target P fixed over all samples, recomputed every N contrastive epochs (0 = per batch, the default; DEC 100).
    #[arg(long, value_name = "N")]
    pub target_refresh: Option<usize>,
    /// End the clustering phase when fewer than this fraction of samples change cluster between two refreshes of the pseudo labels (or of DEC's target); default 0.001 (DEC's tol); 0 = run every epoch.
    #[arg(long, value_name = "FRACTION")]
    pub tol: Option<f64>,
    /// Start from the weights of this run directory's checkpoint (or of a checkpoint directory;
    /// same network and data); with --mse-epochs 0 a pre-trained one goes straight to the
    /// contrastive phase.
    #[arg(long, value_name = "DIR")]
    pub init_from: Option<PathBuf>,
    /// Fraction of samples whose true labels supervise L_Q (0 = unsupervised).
    #[arg(long)]
    pub labelled_fraction: Option<f32>,
    /// Loss weights R,C,A,Q (0 switches a term off).
    #[arg(long)]
    pub loss_weights: Option<String>,
    /// Number of clusters (default: the number of label classes).
    #[arg(long)]
    pub n_clusters: Option<usize>,
    /// Train on the samples of these label classes only (ids as `inspect` lists them, e.g.
    /// 0,1,2): the class-incremental protocol; `update --classes` feeds the others later.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub classes: Option<Vec<usize>>,
    /// The label column of a .csv/.tsv file (its header name, or its 1-based number), or the
    /// label variable of a .mat/.npz file (default: guessed from the usual names).
    #[arg(long, value_name = "NAME")]
    pub label_column: Option<String>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// auto, flex (alias cpu), wgpu or wgpu-software.
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Feature scaling before training: minmax, zscore, auto (z-score the views whose entries
    /// are mostly non-zero, min-max the sparse ones) or none. Default: the preset's where it has
    /// one (Prokaryotic: none, as the seed's lineage loads it), else minmax.
    #[arg(long)]
    pub preprocess: Option<Preprocess>,
    /// NaN/Inf handling when loading: error, zero or mean.
    #[arg(long, default_value = "error")]
    pub non_finite: NonFinite,
    /// Append a view of this many features of pure Gaussian noise (seeded by --seed) before
    /// scaling: does the view weighting notice a useless view? (0 = none)
    #[arg(long, default_value_t = 0)]
    pub noise_view: usize,
    /// Write the checkpoint to DIR/checkpoint instead of the run's folder in the runs directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The runs directory this run is recorded in (default: $MVC_RUNS, else
    /// ~/.local/share/mvc-workbench/runs).
    #[arg(long, value_name = "DIR")]
    pub runs: Option<PathBuf>,
    /// The run's name in the runs directory (default: DATASET seed SEED).
    #[arg(long)]
    pub name: Option<String>,
    /// A tag for the run (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Internal (set by `sweep`): the sweep cell this run fills.
    #[arg(long, hide = true)]
    pub sweep_cell: Option<String>,
    /// One JSON object per line instead of a progress bar.
    #[arg(long)]
    pub json: bool,
}

fn cfg_knn_k(summary: &crate::engine::protocol::RunSummary) -> usize {
    summary.config.knn_k
}

/// Loads a built-in dataset or a file, with the non-finite policy.
pub(crate) fn load(data: &str, non_finite: NonFinite) -> Result<MultiViewDataset, String> {
    load_labelled(data, non_finite, None)
}

/// [`load`] with the label column (or variable) named.
pub(crate) fn load_labelled(
    data: &str,
    non_finite: NonFinite,
    label_column: Option<&str>,
) -> Result<MultiViewDataset, String> {
    load_with(data, non_finite, label_column, None)
}

/// [`load_labelled`] with only the named variables as views.
pub(crate) fn load_with(
    data: &str,
    non_finite: NonFinite,
    label_column: Option<&str>,
    views: Option<&[String]>,
) -> Result<MultiViewDataset, String> {
    let opts = LoadOptions {
        non_finite,
        labels: label_column.map(str::to_owned),
        views: views.map(<[String]>::to_vec),
        ..LoadOptions::default()
    };
    data::load_named(data, &opts).map_err(|e| e.to_string())
}

/// `mvc-workbench train`.
pub fn run_train(args: &TrainArgs) -> Result<(), String> {
    let cfg = build_config(args)?;
    let mut ds = load_with(&args.data, args.non_finite, args.label_column.as_deref(), args.views.as_deref())?;
    if args.noise_view > 0 {
        data::builtin::append_noise_view(&mut ds, args.noise_view, cfg.seed);
    }
    let mut cfg = cfg;
    if args.noise_view > 0
        && let (Some(views), Some(noise)) = (cfg.views.as_mut(), ds.views.last())
    {
        // The appended noise view is one of the run's views.
        views.push(noise.source.clone());
    }
    let preprocess = crate::engine::presets::scaling(cfg.preset.as_deref(), args.preprocess);
    if args.preprocess.is_none() && preprocess != Preprocess::default() {
        eprintln!(
            "scaling: {} (the {} preset's; --preprocess sets another)",
            preprocess.as_str(),
            cfg.preset.as_deref().unwrap_or_default()
        );
    }
    let scalings = data::preprocess::apply(&mut ds, preprocess);
    if preprocess == Preprocess::Auto {
        let each: Vec<String> =
            ds.views.iter().zip(&scalings).map(|(v, p)| format!("{} {}", v.name, p.as_str())).collect();
        eprintln!("auto scaling (z-score where at least half the entries are non-zero): {}", each.join(", "));
    }
    if args.preset.is_none()
        && !cfg.model.is_baseline()
        && let Some(p) = crate::engine::presets::for_dataset(&args.data)
    {
        // serve and seed's train.py pick the preset by the dataset's name; `train` asks for it.
        eprintln!(
            "note: the seed has a preset for {} (its learning rate, epochs, seed and τ_L{}); this run uses the \
             defaults and your settings. Add --preset {} to start from it.",
            p.name,
            p.preprocess.map(|s| format!(", scaling {}", s.as_str())).unwrap_or_default(),
            p.name
        );
    }
    if let Some(classes) = &cfg.classes {
        ds = ds.select_classes(classes).map_err(|e| format!("{}: {e}", args.data))?;
    }
    let store = RunStore::open(runs::runs_dir(args.runs.as_deref())).map_err(|e| e.to_string())?;
    let mut writer = store
        .create(NewRun {
            name: args.name.clone().unwrap_or_default(),
            tags: args.tags.clone(),
            front_end: if args.sweep_cell.is_some() { "sweep" } else { "cli" }.into(),
            dataset: DatasetInfo::of(&ds, &args.data, preprocess.as_str()).with_scalings(&scalings),
            config: cfg.clone(),
            sweep_cell: args.sweep_cell.clone(),
        })
        .map_err(|e| e.to_string())?;
    let out = args.out.clone().unwrap_or_else(|| writer.dir().to_path_buf());
    if !args.json {
        eprintln!("run {} (recorded in {})", writer.id(), store.dir().display());
    }
    let log = drive(ds, cfg, Some(out), args.json, false, Some(&mut writer))?;
    let summary = log.summary.as_deref().ok_or("the run ended without a summary")?;
    if args.json {
        println!("{}", drive::done_json(summary, writer.id()));
    } else {
        if let Some(t) = summary.final_metrics.as_ref().and_then(|m| m.triplet.map(|t| (m, t))) {
            let (m, t) = t;
            println!("test split: {} samples (trained on {})", t.n_test, t.n_train);
            println!("{}", scores_line("k-means on embeddings", &m.kmeans_z));
            println!("kNN accuracy (k = {})   {:.4}", cfg_knn_k(summary), t.knn_acc);
            println!("triplets inside the margin: {:.4}", t.violations);
        } else if let Some(m) = &summary.final_metrics {
            println!("{}", scores_line("argmax mean q (primary)", &m.mean_q));
            println!("{}", scores_line("argmax t (VCF)", &m.vcf));
            println!("{}", scores_line("k-means on Z", &m.kmeans_z));
            println!(
                "per-view ACC: {}",
                m.per_view_acc.iter().map(|a| format!("{a:.4}")).collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(best) = log.readings().best_label_selected.filter(|_| !summary.config.model.is_baseline()) {
            println!("{} (epoch {}, label-selected)", scores_line("best epoch", &best.scores), best.global_epoch);
        }
        if let Some(c) = summary.converged {
            println!("stopped early: {}", c.sentence(summary.config.stop_tolerance, summary.config.con_epochs));
        }
        println!(
            "seconds per epoch: pre-training {:.2}, contrastive {:.2}",
            summary.secs_per_epoch_pretrain, summary.secs_per_epoch_contrastive
        );
        if let Some(c) = &summary.checkpoint {
            println!("checkpoint: {}", c.display());
        }
        println!("run: {}", writer.id());
    }
    Ok(())
}
