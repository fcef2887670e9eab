//! `tsne DATA`: a t-SNE layout of a dataset's raw features (its views side by side) or of a
//! trained network's fused feature `Z`, timed, with the layout's trustworthiness (k = 12,
//! scikit-learn's definition). The benchmark of the app's embedding (docs/BENCHMARKS.md).

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::eval::load_for_checkpoint;
use super::train::load;
use crate::analysis::embed::{TsneSettings, tsne};
use crate::analysis::trustworthiness;
use crate::data::{self, MultiViewDataset, NonFinite, Preprocess};
use crate::engine::checkpoint;
use crate::engine::config::DeviceChoice;
use crate::engine::device::resolve;
use crate::engine::predict::{evaluate_rows, stratified_sample};

/// Which features to lay out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Feature {
    /// The views' (scaled) features side by side.
    Raw,
    /// The fused feature `Z` of a trained network (`--checkpoint`).
    Z,
}

/// Arguments of `tsne`.
#[derive(Debug, Args)]
pub struct TsneArgs {
    /// A .mat file, or the name of a built-in dataset.
    pub data: String,
    #[arg(long, value_enum, default_value = "raw")]
    pub feature: Feature,
    /// The run directory (or checkpoint) whose network gives `Z`; needed for `--feature z`.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Lay out this many samples (a stratified sample when labelled); default all.
    #[arg(long)]
    pub n: Option<usize>,
    /// 2 or 3.
    #[arg(long, default_value_t = 2)]
    pub dims: usize,
    #[arg(long, default_value_t = 30.0)]
    pub perplexity: f32,
    #[arg(long, default_value_t = 750)]
    pub iterations: usize,
    /// Barnes-Hut accuracy: a cell is summarised when its width over its distance is below theta
    /// (scikit-learn's and openTSNE's convention; smaller is more exact and slower).
    #[arg(long, default_value_t = 0.5)]
    pub theta: f32,
    /// FFT interpolation (FIt-SNE) instead of Barnes-Hut (2-D only).
    #[arg(long)]
    pub fft: bool,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// One gradient step for both phases (default: openTSNE's "auto", n / 12 during the early
    /// exaggeration, then n).
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// Scaling of the raw features (default minmax; with --checkpoint, whichever reproduces the
    /// training data).
    #[arg(long)]
    pub preprocess: Option<Preprocess>,
    #[arg(long, default_value = "flex")]
    pub device: DeviceChoice,
    /// Also write the layout as CSV (index, label, coordinates).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Also write the features that were laid out (raw or `Z`, one row per point, in the order of
    /// `--out`'s rows) as a float32 `.npy`, e.g. for `scripts/tsne_compare.py` to lay out the same
    /// matrix with openTSNE.
    #[arg(long, value_name = "FILE.npy")]
    pub features_out: Option<PathBuf>,
}

/// The neighbourhood size of the reported trustworthiness.
pub const TRUST_K: usize = 12;

/// The rows `--n` asks for.
fn rows_of(ds: &MultiViewDataset, n: Option<usize>, seed: u64) -> Vec<usize> {
    let total = ds.n_samples();
    stratified_sample(ds.label_ids(), total, n.unwrap_or(total).min(total), seed)
}

/// `mvc-workbench tsne`.
pub fn run(args: &TsneArgs) -> Result<(), String> {
    if args.dims != 2 && args.dims != 3 {
        return Err(format!("--dims must be 2 or 3, not {}", args.dims));
    }
    let (ds, features, dim, rows) = match (args.feature, &args.checkpoint) {
        (Feature::Z, None) => return Err("--feature z needs --checkpoint DIR (a trained run)".into()),
        (_, None) => {
            let mut ds = load(&args.data, NonFinite::Error)?;
            data::preprocess::apply(&mut ds, args.preprocess.unwrap_or_default());
            let rows = rows_of(&ds, args.n, args.seed);
            let (x, dim) = ds.side_by_side(&rows);
            (ds, x, dim, rows)
        }
        (feature, Some(dir)) => {
            let ck = checkpoint::load(dir).map_err(|e| e.to_string())?;
            let ds = load_for_checkpoint(&ck, &args.data, args.preprocess, false)?;
            let rows = rows_of(&ds, args.n, args.seed);
            if feature == Feature::Raw {
                let (x, dim) = ds.side_by_side(&rows);
                (ds, x, dim, rows)
            } else {
                let dev = resolve(args.device)?;
                let model = ck.model(&dev.device).map_err(|e| e.to_string())?;
                let eval = evaluate_rows(&model, &ds, &rows, &dev.device, ck.config.batch_size)?;
                (ds, eval.z, eval.z_dim, rows)
            }
        }
    };
    let settings = TsneSettings {
        perplexity: args.perplexity,
        iterations: args.iterations,
        theta: (!args.fft).then_some(args.theta),
        seed: args.seed,
        learning_rate: args.learning_rate,
    };
    if let Some(path) = &args.features_out {
        let rows_n = features.len() / dim.max(1);
        let bytes = crate::data::embeddings::npy_f32_matrix(&features, rows_n, dim);
        crate::export::atomic_write(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let started = Instant::now();
    let layout = tsne(&features, dim, args.dims, &settings)?;
    let secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let trust = trustworthiness(&features, dim, &layout, args.dims, TRUST_K)?;
    let trust_secs = started.elapsed().as_secs_f64();
    if let Some(path) = &args.out {
        let labels = ds.label_ids();
        let mut csv = String::from(if args.dims == 3 { "index,label,x,y,z\n" } else { "index,label,x,y\n" });
        for (i, &row) in rows.iter().enumerate() {
            let label = labels.map_or_else(String::new, |l| l[row].to_string());
            let coords: Vec<String> = layout[i * args.dims..(i + 1) * args.dims].iter().map(f32::to_string).collect();
            csv.push_str(&format!("{row},{label},{}\n", coords.join(",")));
        }
        crate::export::atomic_write(path, csv.as_bytes()).map_err(|e| e.to_string())?;
    }
    let method = if args.fft { "FFT" } else { "Barnes-Hut" };
    let feature = match args.feature {
        Feature::Raw => "raw",
        Feature::Z => "z",
    };
    let threads = rayon::current_num_threads();
    if args.json {
        println!(
            "{}",
            json!({
                "data": args.data, "feature": feature, "n": rows.len(), "dim": dim, "dims": args.dims,
                "method": method, "perplexity": args.perplexity, "iterations": args.iterations,
                "theta": settings.theta, "seed": args.seed, "learning_rate": args.learning_rate, "threads": threads, "seconds": secs,
                "trustworthiness": trust, "k": TRUST_K, "trustworthiness_seconds": trust_secs,
            })
        );
    } else {
        println!(
            "t-SNE ({method}) of {feature} features, {} x {dim} into {}-D on {threads} thread(s): {secs:.2} s; \
             trustworthiness (k = {TRUST_K}) {trust:.4} (computed in {trust_secs:.1} s)",
            rows.len(),
            args.dims
        );
    }
    Ok(())
}
