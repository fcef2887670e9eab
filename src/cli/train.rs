//! `train`, `eval`, `predict` and `bench`: the engine from the command line.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::data::{self, Labels, LoadOptions, MatFormat, MultiViewDataset, NonFinite, Preprocess, View, ViewData};
use crate::engine::checkpoint::{self, Checkpoint};
use crate::engine::config::{DeviceChoice, LossWeights, TargetSource, TrainConfig};
use crate::engine::device::{cpu_threads, resolve};
use crate::engine::predict::{evaluate, metrics_report, predict_index, truth_of};
use crate::engine::presets;
use crate::engine::protocol::{Command, EpochReport, Event, MetricsReport, Phase, RunSummary, Scores};
use crate::engine::trainer::try_spawn_trainer;
use crate::model::ModelConfig;

/// Arguments of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A .mat file, or the name of a built-in dataset.
    pub data: String,
    /// A dataset preset from the seed's train.py (MNIST-USPS, BDGP, Caltech-2V..5V, Cora, Prokaryotic, Scene15, Wiki, Reuters); never overrides what you set.
    #[arg(long)]
    pub preset: Option<String>,
    /// A TOML file with TrainConfig fields (flags given here win over it).
    #[arg(long)]
    pub config: Option<PathBuf>,
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
    /// Decay the learning rate along a half cosine over the contrastive phase (to 0 at its end).
    #[arg(long)]
    pub lr_cosine: bool,
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
    #[arg(long)]
    pub seed: Option<u64>,
    /// auto, flex (alias cpu), wgpu or wgpu-software.
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Feature scaling before training: minmax, zscore or none.
    #[arg(long, default_value = "minmax")]
    pub preprocess: Preprocess,
    /// NaN/Inf handling when loading: error, zero or mean.
    #[arg(long, default_value = "error")]
    pub non_finite: NonFinite,
    /// Append a view of this many features of pure Gaussian noise (seeded by --seed) before
    /// scaling: does the view weighting notice a useless view? (0 = none)
    #[arg(long, default_value_t = 0)]
    pub noise_view: usize,
    /// Run directory; the checkpoint goes to DIR/checkpoint (default: runs/DATASET, the dataset's name).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// One JSON object per line instead of a progress bar.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run directory `train --out DIR` wrote (or its checkpoint/ folder inside).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// A .mat file, or the name of a built-in dataset.
    pub data: String,
    /// auto, flex (alias cpu), wgpu or wgpu-software.
    #[arg(long, default_value = "flex")]
    pub device: DeviceChoice,
    /// Scaling to apply (default: whichever reproduces the training data, else minmax).
    #[arg(long)]
    pub preprocess: Option<Preprocess>,
    /// Evaluate data other than the training data (same view sizes).
    #[arg(long)]
    pub allow_other_data: bool,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The run directory `train --out DIR` wrote (or its checkpoint/ folder inside).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// A .mat file, or the name of a built-in dataset.
    pub data: String,
    /// The sample (0-based row) to predict.
    #[arg(long)]
    pub index: usize,
    #[arg(long, default_value = "flex")]
    pub device: DeviceChoice,
    #[arg(long)]
    pub preprocess: Option<Preprocess>,
    #[arg(long)]
    pub allow_other_data: bool,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A .mat file or built-in name (default: synthetic MNIST-USPS-shaped 5000 × [784, 784], 10 clusters).
    pub data: Option<String>,
    #[arg(long, default_value = "flex")]
    pub device: DeviceChoice,
    /// Epochs measured in each phase (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    #[arg(long)]
    pub json: bool,
}

fn load(data: &str, non_finite: NonFinite) -> Result<MultiViewDataset, String> {
    let opts = LoadOptions { non_finite, ..LoadOptions::default() };
    data::load_named(data, &opts).map_err(|e| e.to_string())
}

/// Fields a TOML config sets explicitly.
fn toml_keys(table: &toml::Table) -> Vec<String> {
    table.keys().cloned().collect()
}

/// Builds the run config: defaults, then the preset (only where the user set
/// nothing), then the config file, then the flags.
pub fn build_config(args: &TrainArgs) -> Result<TrainConfig, String> {
    let table: toml::Table = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{}: cannot read the config file: {e}", path.display()))?;
            text.parse::<toml::Table>().map_err(|e| format!("{}: is not valid TOML: {e}", path.display()))?
        }
        None => toml::Table::new(),
    };
    let mut explicit = toml_keys(&table);
    let flags: [(&str, bool); 16] = [
        ("mse_epochs", args.mse_epochs.is_some()),
        ("con_epochs", args.con_epochs.is_some()),
        ("batch_size", args.batch_size.is_some()),
        ("learning_rate", args.lr.is_some()),
        ("threshold", args.threshold.is_some()),
        ("temperature_f", args.temperature_f.is_some()),
        ("temperature_l", args.temperature_l.is_some()),
        ("labelled_fraction", args.labelled_fraction.is_some()),
        ("kernel_scale", args.kernel_scale.is_some()),
        ("target_source", args.target_source.is_some()),
        ("kl_warmup", args.kl_warmup.is_some()),
        ("sinkhorn_iters", args.sinkhorn_iters.is_some()),
        ("lr_cosine", args.lr_cosine),
        ("init_from", args.init_from.is_some()),
        ("seed", args.seed.is_some()),
        ("device", args.device.is_some()),
    ];
    explicit.extend(flags.iter().filter(|(_, set)| *set).map(|(n, _)| (*n).to_string()));
    let mut cfg = TrainConfig::default();
    let preset_name = args.preset.clone().or_else(|| table.get("preset").and_then(|v| v.as_str()).map(str::to_string));
    if let Some(name) = &preset_name {
        let explicit_refs: Vec<&str> = explicit.iter().map(String::as_str).collect();
        presets::find(name)?.apply(&mut cfg, &explicit_refs);
    }
    // Overlay the file's keys on the config so far.
    if !table.is_empty() {
        let mut base =
            toml::Table::try_from(&cfg).map_err(|e| format!("internal error serialising the config: {e}"))?;
        for (k, v) in table {
            if k == "preset" {
                continue;
            }
            base.insert(k, v);
        }
        let preset = cfg.preset.clone();
        cfg = base.try_into().map_err(|e| {
            format!("{}: {e}", args.config.as_deref().map(|p| p.display().to_string()).unwrap_or_default())
        })?;
        cfg.preset = preset;
    }
    if let Some(v) = args.mse_epochs {
        cfg.mse_epochs = v;
    }
    if let Some(v) = args.con_epochs {
        cfg.con_epochs = v;
    }
    if let Some(v) = args.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = args.lr {
        cfg.learning_rate = v;
    }
    if let Some(v) = args.threshold {
        cfg.threshold = v;
    }
    if let Some(v) = args.temperature_f {
        cfg.temperature_f = v;
    }
    if let Some(v) = args.temperature_l {
        cfg.temperature_l = v;
    }
    if let Some(v) = args.labelled_fraction {
        cfg.labelled_fraction = v;
    }
    if let Some(v) = args.kernel_scale {
        cfg.kernel_scale = v;
    }
    if let Some(v) = args.target_source {
        cfg.target_source = v;
    }
    if let Some(v) = args.kl_warmup {
        cfg.kl_warmup = v;
    }
    if args.lr_cosine {
        cfg.lr_cosine = true;
    }
    if let Some(v) = args.sinkhorn_iters {
        cfg.sinkhorn_iters = v;
    }
    if let Some(v) = &args.init_from {
        cfg.init_from = Some(v.clone());
    }
    if let Some(s) = &args.loss_weights {
        cfg.loss = LossWeights::parse_rcaq(s)?;
    }
    if let Some(v) = args.n_clusters {
        cfg.n_clusters = Some(v);
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    if let Some(v) = args.device {
        cfg.device = v;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn losses_json(e: &EpochReport) -> serde_json::Value {
    let l = &e.losses;
    let mut v = json!({"event": "epoch", "phase": e.phase, "epoch": e.epoch, "global_epoch": e.global_epoch,
        "losses": {"rec": l.rec, "cluster": l.cluster, "local": l.local, "kl": l.kl, "label": l.label, "total": l.total},
        "view_weights": e.view_weights, "secs": e.secs});
    if let (Some(a), Some(obj)) = (&e.adaptive, v.as_object_mut()) {
        obj.insert("adaptive".into(), serde_json::to_value(a).unwrap_or_default());
    }
    v
}

fn scores_json(s: &Scores) -> serde_json::Value {
    json!({"acc": s.acc, "nmi": s.nmi, "ari": s.ari, "purity": s.purity})
}

fn metrics_json(m: &MetricsReport) -> serde_json::Value {
    json!({"event": "metrics", "epoch": m.global_epoch, "acc": m.mean_q.acc, "nmi": m.mean_q.nmi, "ari": m.mean_q.ari,
        "purity": m.mean_q.purity, "per_view_acc": m.per_view_acc, "vcf": scores_json(&m.vcf), "kmeans_z": scores_json(&m.kmeans_z)})
}

fn done_json(s: &RunSummary) -> serde_json::Value {
    let metrics = s.final_metrics.as_ref().map(|m| {
        json!({"acc": m.mean_q.acc, "nmi": m.mean_q.nmi, "ari": m.mean_q.ari, "purity": m.mean_q.purity,
            "per_view_acc": m.per_view_acc, "vcf": scores_json(&m.vcf), "kmeans_z": scores_json(&m.kmeans_z)})
    });
    json!({"event": "done", "metrics": metrics, "checkpoint": s.checkpoint, "stopped": s.stopped, "device": s.device,
        "secs_per_epoch": {"pretrain": s.secs_per_epoch_pretrain, "contrastive": s.secs_per_epoch_contrastive}})
}

fn scores_line(name: &str, s: &Scores) -> String {
    format!("{name:<22} ACC {:.4}  NMI {:.4}  ARI {:.4}  PUR {:.4}", s.acc, s.nmi, s.ari, s.purity)
}

/// Drives a run on the trainer thread and reports its events; returns the summary.
fn drive(
    ds: MultiViewDataset,
    cfg: TrainConfig,
    out: Option<PathBuf>,
    json: bool,
    quiet: bool,
) -> Result<RunSummary, String> {
    let handle = try_spawn_trainer().map_err(|e| format!("cannot start the trainer thread: {e}"))?;
    handle
        .commands
        .send(Command::Start { dataset: Arc::new(ds), config: Box::new(cfg.clone()), out_dir: out })
        .map_err(|_| "the trainer thread ended before the run started".to_string())?;
    let total = (cfg.mse_epochs + cfg.con_epochs) as u64;
    let bar = (!json && !quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{prefix:>11} [{bar:30}] {pos}/{len} epochs  ETA {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    });
    let say = |line: String| {
        if quiet {
            return;
        }
        match &bar {
            Some(b) => b.println(line),
            None if !json => eprintln!("{line}"),
            None => {}
        }
    };
    loop {
        let Ok(event) = handle.events.recv() else {
            return Err("the trainer thread ended without a result".into());
        };
        match event {
            Event::Started { device, device_note, n_params, total_epochs } => {
                if json && !quiet {
                    println!(
                        "{}",
                        json!({"event": "started", "device": device, "device_note": device_note, "n_params": n_params,
                            "total_epochs": total_epochs})
                    );
                }
                // What the device probe found, said once (the note says why `auto` fell back).
                match device_note {
                    Some(note) => say(format!("device: {device} — {note}")),
                    None => say(format!("device: {device}")),
                }
                say(format!("training: {n_params} parameters, {total_epochs} epochs"));
            }
            Event::Phase(p) => {
                if let Some(b) = &bar {
                    b.set_prefix(match p {
                        Phase::Pretrain => "pretrain",
                        Phase::Contrastive => "contrastive",
                    });
                }
            }
            Event::Progress(p) => {
                if let Some(b) = &bar {
                    b.set_position(p.global_epoch.saturating_sub(1) as u64);
                    b.set_message(humantime(p.eta_secs));
                }
            }
            Event::Epoch(e) => {
                if json && !quiet {
                    println!("{}", losses_json(&e));
                }
                if let Some(b) = &bar {
                    b.set_position(e.global_epoch as u64);
                }
                if bar.is_none() {
                    say(format!(
                        "{:?} epoch {:>4}  loss {:.5} (rec {:.5}, cluster {:.4}, local {:.4}, kl {:.4}, label {:.4})  weights {:?}  {:.2}s",
                        e.phase,
                        e.epoch,
                        e.losses.total,
                        e.losses.rec,
                        e.losses.cluster,
                        e.losses.local,
                        e.losses.kl,
                        e.losses.label,
                        e.view_weights,
                        e.secs
                    ));
                }
            }
            Event::Metrics(m) => {
                if json && !quiet {
                    println!("{}", metrics_json(&m));
                }
                say(format!("epoch {:>4}  {}", m.global_epoch, scores_line("mean q", &m.mean_q)));
            }
            Event::CheckpointSaved(_)
            | Event::Snapshot(_)
            | Event::ParamsApplied(_)
            | Event::Paused
            | Event::Resumed => {}
            Event::Warning(w) => {
                if json && !quiet {
                    println!("{}", json!({"event": "warning", "message": w}));
                }
                say(format!("warning: {w}"));
            }
            Event::Finished(summary) => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                handle.shutdown();
                return Ok(*summary);
            }
            Event::Failed { reason, last_checkpoint, .. } => {
                if let Some(b) = &bar {
                    b.abandon();
                }
                if json && !quiet {
                    println!("{}", json!({"event": "failed", "reason": reason, "last_checkpoint": last_checkpoint}));
                }
                handle.shutdown();
                return Err(match last_checkpoint {
                    Some(c) => format!("{reason} (the last good checkpoint is {})", c.display()),
                    None => reason,
                });
            }
        }
    }
}

fn humantime(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 { format!("{}h{:02}m", s / 3600, (s % 3600) / 60) } else { format!("{}m{:02}s", s / 60, s % 60) }
}

/// `mvc-workbench train`.
pub fn run_train(args: &TrainArgs) -> Result<(), String> {
    let cfg = build_config(args)?;
    let mut ds = load(&args.data, args.non_finite)?;
    if args.noise_view > 0 {
        data::builtin::append_noise_view(&mut ds, args.noise_view, cfg.seed);
    }
    data::preprocess::apply(&mut ds, args.preprocess);
    let out = args.out.clone().unwrap_or_else(|| {
        let stem: String =
            ds.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        PathBuf::from("runs").join(stem)
    });
    let summary = drive(ds, cfg, Some(out), args.json, false)?;
    if args.json {
        println!("{}", done_json(&summary));
    } else {
        if let Some(m) = &summary.final_metrics {
            println!("{}", scores_line("argmax mean q (primary)", &m.mean_q));
            println!("{}", scores_line("argmax t (VCF)", &m.vcf));
            println!("{}", scores_line("k-means on Z", &m.kmeans_z));
            println!(
                "per-view ACC: {}",
                m.per_view_acc.iter().map(|a| format!("{a:.4}")).collect::<Vec<_>>().join(", ")
            );
        }
        println!(
            "seconds per epoch: pre-training {:.2}, contrastive {:.2}",
            summary.secs_per_epoch_pretrain, summary.secs_per_epoch_contrastive
        );
        if let Some(c) = &summary.checkpoint {
            println!("checkpoint: {}", c.display());
        }
    }
    Ok(())
}

/// Loads the data for a checkpoint: the requested scaling, or the one that
/// reproduces the training data's fingerprint.
fn load_for_checkpoint(
    ck: &Checkpoint,
    data: &str,
    preprocess: Option<Preprocess>,
    allow_other: bool,
) -> Result<MultiViewDataset, String> {
    let raw = load(data, NonFinite::Error)?;
    let candidates: Vec<Preprocess> = match preprocess {
        Some(p) => vec![p],
        None => vec![Preprocess::MinMax, Preprocess::ZScore, Preprocess::None],
    };
    let (hard, _) = ck.differences(&raw);
    if !hard.is_empty() {
        return Err(checkpoint::CheckpointError::Mismatch { path: ck.dir.clone(), differences: hard }.to_string());
    }
    for &p in &candidates {
        let mut ds = raw.clone();
        data::preprocess::apply(&mut ds, p);
        if ds.fingerprint() == ck.meta.dataset_fingerprint {
            return Ok(ds);
        }
    }
    let mut ds = raw;
    data::preprocess::apply(&mut ds, candidates[0]);
    ck.check_dataset(&ds, allow_other).map_err(|e| format!("{e} (pass --allow-other-data to evaluate it anyway)"))?;
    Ok(ds)
}

/// `mvc-workbench eval`.
pub fn run_eval(args: &EvalArgs) -> Result<(), String> {
    let ck = checkpoint::load(&args.checkpoint).map_err(|e| e.to_string())?;
    let ds = load_for_checkpoint(&ck, &args.data, args.preprocess, args.allow_other_data)?;
    let dev = resolve(args.device)?;
    let model = ck.model(&dev.device).map_err(|e| e.to_string())?;
    let eval = evaluate(&model, &ds, &dev.device, ck.config.batch_size)?;
    let Some(truth) = truth_of(&ds, &eval.rows) else {
        return Err(format!("{} has no labels, so there is nothing to score the clustering against", args.data));
    };
    let m = metrics_report(&eval, &truth, ck.meta.global_epoch, ck.config.seed)?;
    if args.json {
        println!(
            "{}",
            json!({"event": "eval", "checkpoint": ck.dir, "n_samples": ds.n_samples(), "acc": m.mean_q.acc, "nmi": m.mean_q.nmi,
                "ari": m.mean_q.ari, "purity": m.mean_q.purity, "per_view_acc": m.per_view_acc, "mean_q": scores_json(&m.mean_q),
                "vcf": scores_json(&m.vcf), "kmeans_z": scores_json(&m.kmeans_z), "view_weights": eval.view_weights})
        );
    } else {
        println!("{} samples, {} views, {} clusters ({})", ds.n_samples(), ds.n_views(), eval.k, dev.summary());
        println!("{}", scores_line("argmax mean q (primary)", &m.mean_q));
        println!("{}", scores_line("argmax t (VCF)", &m.vcf));
        println!("{}", scores_line("k-means on Z", &m.kmeans_z));
        println!("per-view ACC: {}", m.per_view_acc.iter().map(|a| format!("{a:.4}")).collect::<Vec<_>>().join(", "));
        println!(
            "view weights: {}",
            eval.view_weights.iter().map(|w| format!("{w:.3}")).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// `mvc-workbench predict`.
pub fn run_predict(args: &PredictArgs) -> Result<(), String> {
    let ck = checkpoint::load(&args.checkpoint).map_err(|e| e.to_string())?;
    let ds = load_for_checkpoint(&ck, &args.data, args.preprocess, args.allow_other_data)?;
    if args.index >= ds.n_samples() {
        return Err(format!(
            "--index {} is out of range: the dataset has {} samples (valid indices are 0 to {})",
            args.index,
            ds.n_samples(),
            ds.n_samples().saturating_sub(1)
        ));
    }
    let dev = resolve(args.device)?;
    let model = ck.model(&dev.device).map_err(|e| e.to_string())?;
    let eval = evaluate(&model, &ds, &dev.device, ck.config.batch_size)?;
    let p = predict_index(&eval, &ds, args.index)?;
    if args.json {
        println!("{}", serde_json::to_string(&p).map_err(|e| e.to_string())?);
    } else {
        println!("sample {}: cluster {} (confidence {:.3})", p.data_index, p.cluster_assignment, p.confidence);
        if let (Some(g), Some(ok)) = (p.ground_truth_label, p.is_correct) {
            println!(
                "ground truth: {g} ({}) — {}",
                p.ground_truth_name.clone().unwrap_or_default(),
                if ok { "correct" } else { "wrong" }
            );
        }
        println!("per view: {:?}", p.per_view_assignment);
        println!(
            "probabilities: {}",
            p.cluster_probabilities.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(" ")
        );
    }
    Ok(())
}

/// A random MNIST-USPS-shaped dataset: `n` samples, views of `dims`, `k` blurred clusters in [0, 1].
pub fn synthetic_like(n: usize, dims: &[usize], k: usize, seed: u64) -> MultiViewDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let y: Vec<usize> = (0..n).map(|i| i % k).collect();
    let views = dims
        .iter()
        .enumerate()
        .map(|(vi, &d)| {
            let centres: Vec<f32> =
                (0..k * d).map(|_| if rng.random::<f32>() < 0.2 { rng.random::<f32>() } else { 0.0 }).collect();
            let values: Vec<f32> = y
                .iter()
                .flat_map(|&c| {
                    (0..d).map(|j| (centres[c * d + j] + 0.1 * rng.random::<f32>()).min(1.0)).collect::<Vec<_>>()
                })
                .collect();
            View {
                name: format!("view{}", vi + 1),
                source: "synthetic".into(),
                transposed: false,
                data: ViewData::Dense { rows: n, cols: d, values },
            }
        })
        .collect();
    MultiViewDataset {
        name: format!("synthetic {n}x{dims:?}"),
        path: None,
        format: MatFormat::Generated,
        views,
        labels: Some(Labels::from_raw("Y", y.iter().map(|&c| c as f64).collect())),
        ignored: vec![],
    }
}

/// Peak single-precision FLOP/s of the threads flex uses, from /proc/cpuinfo
/// (clock × SIMD width × 2 FMA units × 2 FLOPs per FMA); `None` when unknown.
pub fn cpu_peak_gflops(threads: usize) -> Option<(f64, String)> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|s| s.trim().parse::<f64>().ok())?;
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let field = |name: &str| {
        info.lines().find(|l| l.starts_with(name)).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_string())
    };
    // AMD before Zen 5 (family 0x1a) executes AVX-512 as two 256-bit halves.
    let amd_half_width = field("vendor_id").as_deref() == Some("AuthenticAMD")
        && field("cpu family").and_then(|f| f.parse::<u32>().ok()).is_some_and(|f| f < 26);
    let (lanes, isa) = if has("avx512f") && !amd_half_width {
        (16.0, "AVX-512")
    } else if has("avx512f") {
        (8.0, "AVX-512 on 256-bit units")
    } else if has("avx2") && has("fma") {
        (8.0, "AVX2+FMA")
    } else {
        (4.0, "SSE")
    };
    let per_cycle = lanes * 2.0 * 2.0;
    Some((
        threads as f64 * mhz / 1000.0 * per_cycle,
        format!("{threads} threads × {:.2} GHz × {per_cycle} FLOP/cycle ({isa})", mhz / 1000.0),
    ))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}

/// The matrix-product throughput the device reaches on its own: the best of five `n × n × n`
/// products (n = 1536 on a CPU, 4096 on a GPU) through burn, after a warm-up, in GFLOP/s. This is
/// the practical ceiling the engine's GFLOP/s compare against: the nominal peak from
/// `/proc/cpuinfo` uses the base clock (boost clocks run higher) and does not know which SIMD width
/// the matrix kernels use.
pub fn matmul_ceiling_gflops(device: &burn::tensor::Device, is_cpu: bool) -> f64 {
    use burn::tensor::{Distribution, Tensor};
    let n = if is_cpu { 1536 } else { 4096 };
    let a = Tensor::<2>::random([n, n], Distribution::Uniform(-1.0, 1.0), device);
    let b = Tensor::<2>::random([n, n], Distribution::Uniform(-1.0, 1.0), device);
    let mut best = f64::MAX;
    for rep in 0..6 {
        let t = Instant::now();
        let c = a.clone().matmul(b.clone());
        // Reading one value back waits for the product (GPU backends run asynchronously).
        let _ = c.slice([0..1, 0..1]).into_data();
        if rep > 0 {
            best = best.min(t.elapsed().as_secs_f64());
        }
    }
    2.0 * (n as f64).powi(3) / best / 1e9
}

/// `mvc-workbench bench`.
pub fn run_bench(args: &BenchArgs) -> Result<(), String> {
    let ds = match &args.data {
        Some(d) => {
            let mut ds = load(d, NonFinite::Error)?;
            data::preprocess::apply(&mut ds, Preprocess::MinMax);
            ds
        }
        None => synthetic_like(5000, &[784, 784], 10, 0),
    };
    let k = ds.n_clusters().unwrap_or(10);
    let epochs = args.epochs.max(1);
    let cfg = TrainConfig {
        mse_epochs: epochs,
        con_epochs: epochs,
        batch_size: args.batch_size,
        device: args.device,
        eval_every: 1_000_000,
        snapshot_every: 0,
        n_clusters: Some(k),
        ..TrainConfig::default()
    };
    cfg.validate()?;
    let dev = resolve(args.device)?;
    let model_cfg = ModelConfig::from_train(&cfg, ds.view_dims(), k);
    let (n, b) = (ds.n_samples(), cfg.batch_size.min(ds.n_samples()));
    let steps = (n / b) as f64;
    // Forward + backward ≈ 3 × forward; 2 FLOPs per multiply–accumulate.
    let pre_flops = 6.0 * model_cfg.autoencoder_macs() as f64 * b as f64 * steps;
    let con_flops = 6.0 * (model_cfg.autoencoder_macs() + model_cfg.head_macs(b)) as f64 * b as f64 * steps;
    if !args.json {
        eprintln!(
            "benchmarking on {} with {n} samples × {:?}, batch {b}, {epochs} epochs per phase…",
            dev.summary(),
            ds.view_dims()
        );
    }
    let start = Instant::now();
    let summary = drive(ds, cfg, None, args.json, true)?;
    let wall = start.elapsed();
    let secs = |p: Phase| median(summary.epochs.iter().filter(|e| e.phase == p).map(|e| e.secs).collect());
    let (pre, con) = (secs(Phase::Pretrain), secs(Phase::Contrastive));
    let gf = |flops: f64, s: f64| if s > 0.0 { flops / s / 1e9 } else { 0.0 };
    let peak = if dev.is_cpu { cpu_peak_gflops(cpu_threads()) } else { None };
    let ceiling = matmul_ceiling_gflops(&dev.device, dev.is_cpu);
    if args.json {
        println!(
            "{}",
            json!({"event": "bench", "device": summary.device, "batch_size": b, "steps_per_epoch": steps,
                "secs_per_epoch": {"pretrain": pre, "contrastive": con},
                "secs_per_step": {"pretrain": pre / steps, "contrastive": con / steps},
                "gflops": {"pretrain": gf(pre_flops, pre), "contrastive": gf(con_flops, con)},
                "peak_gflops_estimate": peak.as_ref().map(|p| p.0), "peak_basis": peak.as_ref().map(|p| p.1.clone()),
                "matmul_ceiling_gflops": ceiling,
                "wall_secs": wall.as_secs_f64()})
        );
    } else {
        println!("device: {}", summary.device);
        println!("pre-training: {pre:.3} s/epoch ({:.4} s/step, {:.1} GFLOP/s)", pre / steps, gf(pre_flops, pre));
        println!("contrastive:  {con:.3} s/epoch ({:.4} s/step, {:.1} GFLOP/s)", con / steps, gf(con_flops, con));
        println!(
            "matmul ceiling (measured, one large product): {ceiling:.1} GFLOP/s; the engine reaches {:.0} % \
             (pre-training) and {:.0} % (contrastive) of it",
            100.0 * gf(pre_flops, pre) / ceiling,
            100.0 * gf(con_flops, con) / ceiling
        );
        match peak {
            Some((p, basis)) => println!("nominal peak: {p:.1} GFLOP/s ({basis}; boost clocks run higher)"),
            None => println!("nominal peak: unknown for this device"),
        }
        println!("total wall time {:.1}s", wall.as_secs_f64());
    }
    Ok(())
}
