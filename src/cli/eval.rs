//! `eval` and `predict`: a checkpoint (or the run folder holding it) on a dataset.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::train::{load, scores_json, scores_line};
use crate::analysis::{Confusion, Reading};
use crate::data::{self, MultiViewDataset, NonFinite, Preprocess};
use crate::engine::checkpoint::{self, Checkpoint};
use crate::engine::config::DeviceChoice;
use crate::engine::device::resolve;
use crate::engine::predict::{evaluate_checkpoint, metrics_and_kmeans_z, predict_index, truth_of, uncertainty_deciles};

/// What `eval` and `predict` both take: a checkpoint, the data to run it on, and how.
#[derive(Debug, Args)]
pub struct CheckpointOnData {
    /// The run directory `train --out DIR` wrote (or its checkpoint/ folder inside).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// A .mat file, or the name of a built-in dataset.
    pub data: String,
    /// auto, flex (alias cpu), wgpu or wgpu-software.
    #[arg(long, default_value = "flex")]
    pub device: DeviceChoice,
    /// Scaling to apply (default: whichever reproduces the training data; for other data the one
    /// the run recorded, else minmax).
    #[arg(long)]
    pub preprocess: Option<Preprocess>,
    /// Evaluate data other than the training data (same view sizes).
    #[arg(long)]
    pub allow_other_data: bool,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub on: CheckpointOnData,
    /// Also print the confusion matrix of one reading against the labels (primary, vcf or
    /// kmeans-z), its clusters in the Hungarian matching's order, with each cluster's size and
    /// purity (`--json`: a `confusion` object).
    #[arg(long, value_name = "READING")]
    pub confusion: Option<Reading>,
}

/// Arguments of `predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub on: CheckpointOnData,
    /// The sample (0-based row) to predict.
    #[arg(long)]
    pub index: usize,
}

/// Loads the data for a checkpoint: the requested scaling, or the one that reproduces the training
/// data's fingerprint; for other data (`allow_other`) the scaling the run recorded (its `run.json`
/// or an update's lineage), else min-max, said on stderr.
pub(super) fn load_for_checkpoint(
    ck: &Checkpoint,
    data: &str,
    preprocess: Option<Preprocess>,
    allow_other: bool,
) -> Result<MultiViewDataset, String> {
    let raw = load(data, NonFinite::Error)?;
    let raw = if ck.config.views.is_some() { ck.views_of(&raw).map_err(|e| e.to_string())?.into_owned() } else { raw };
    let recorded: Option<Preprocess> =
        crate::runs::update::recorded_data(ck).last().and_then(|r| r.preprocess.parse().ok());
    let candidates: Vec<Preprocess> = match preprocess {
        Some(p) => vec![p],
        None => {
            let mut c: Vec<Preprocess> = recorded.into_iter().collect();
            for p in [Preprocess::MinMax, Preprocess::ZScore, Preprocess::Auto, Preprocess::None] {
                if !c.contains(&p) {
                    c.push(p);
                }
            }
            c
        }
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
    let scaling = candidates[0];
    data::preprocess::apply(&mut ds, scaling);
    ck.check_dataset(&ds, allow_other).map_err(|e| format!("{e} (pass --allow-other-data to evaluate it anyway)"))?;
    if preprocess.is_none() {
        let why = if recorded.is_some() {
            "the scaling its run recorded"
        } else {
            "no run record says which, so the default"
        };
        eprintln!(
            "note: {data} is not the training data; it is scaled with {} ({why}; --preprocess chooses)",
            scaling.as_str()
        );
    }
    Ok(ds)
}

/// `mvc-workbench eval`.
pub fn run_eval(args: &EvalArgs) -> Result<(), String> {
    let ck = checkpoint::load(&args.on.checkpoint).map_err(|e| e.to_string())?;
    let ds = load_for_checkpoint(&ck, &args.on.data, args.on.preprocess, args.on.allow_other_data)?;
    let dev = resolve(args.on.device)?;
    let (_, eval) = evaluate_checkpoint(&ck, &ds, &dev.device)?;
    let Some(truth) = truth_of(&ds, &eval.rows) else {
        return Err(format!("{} has no labels, so there is nothing to score the clustering against", args.on.data));
    };
    let (m, kmeans_z) = metrics_and_kmeans_z(&eval, &truth, ck.meta.global_epoch, ck.config.seed)?;
    let deciles = uncertainty_deciles(&eval, &truth);
    let confusion = args.confusion.map(|reading| {
        let pred: &[usize] = match reading {
            Reading::Primary => &eval.pred_mean,
            Reading::Vcf => &eval.pred_vcf,
            Reading::KmeansZ => &kmeans_z,
        };
        let n_labels = ds.labels.as_ref().map_or(0, |l| l.n_clusters());
        (reading, Confusion::new(pred, &truth, eval.k.max(pred.iter().max().map_or(0, |m| m + 1)), n_labels))
    });
    let label_name = |l: usize| ds.labels.as_ref().map_or_else(|| l.to_string(), |labels| labels.class_name(l));
    if args.on.json {
        println!(
            "{}",
            json!({"event": "eval", "checkpoint": ck.dir, "n_samples": ds.n_samples(), "acc": m.mean_q.acc, "nmi": m.mean_q.nmi,
                "ari": m.mean_q.ari, "purity": m.mean_q.purity, "per_view_acc": m.per_view_acc, "mean_q": scores_json(&m.mean_q),
                "vcf": scores_json(&m.vcf), "kmeans_z": scores_json(&m.kmeans_z), "view_weights": eval.view_weights,
                "uncertainty_deciles": deciles,
                "confusion": confusion.as_ref().map(|(reading, c)| json!({
                    "reading": reading.as_str(), "labels": (0..c.n_labels).map(label_name).collect::<Vec<_>>(),
                    "columns": c.columns, "column_label": c.column_label, "counts": c.counts,
                    "cluster_sizes": c.cluster_sizes(), "purities": c.purities(), "acc": c.accuracy()}))})
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
        println!(
            "error rate by uncertainty decile (1 = most certain): {}",
            deciles.iter().map(|d| format!("{:.3}", d.error_rate)).collect::<Vec<_>>().join(", ")
        );
        if let Some((reading, c)) = &confusion {
            println!(
                "\nconfusion matrix of {} (rows: labels; columns: clusters in the Hungarian matching's order, the matched cell in brackets):",
                reading.label()
            );
            print!("{}", c.to_text(label_name));
        }
    }
    Ok(())
}

/// `mvc-workbench predict`.
pub fn run_predict(args: &PredictArgs) -> Result<(), String> {
    let ck = checkpoint::load(&args.on.checkpoint).map_err(|e| e.to_string())?;
    let ds = load_for_checkpoint(&ck, &args.on.data, args.on.preprocess, args.on.allow_other_data)?;
    if args.index >= ds.n_samples() {
        return Err(format!(
            "--index {} is out of range: the dataset has {} samples (valid indices are 0 to {})",
            args.index,
            ds.n_samples(),
            ds.n_samples().saturating_sub(1)
        ));
    }
    let dev = resolve(args.on.device)?;
    let (_, eval) = evaluate_checkpoint(&ck, &ds, &dev.device)?;
    let p = predict_index(&eval, &ds, args.index)?;
    if args.on.json {
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
