//! `update`: an online update of a trained checkpoint on new data (issue 15), recorded as a run
//! whose parent is the checkpoint's run (`runs::update`).

use std::path::PathBuf;

use clap::Args;

use crate::data::{NonFinite, Preprocess};
use crate::engine::config::DeviceChoice;
use crate::engine::update::{Expansion, UpdateSettings};
use crate::runs::update::{UpdateJob, run_update};
use crate::runs::{self, RunStore};

/// Arguments of `update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The checkpoint to update: a checkpoint directory or the run folder holding it. It is never
    /// modified: the update writes a new checkpoint in a new run.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The new data: a data file (.mat, .npy, .npz, .csv, .tsv) or a built-in dataset name.
    pub new_data: String,
    /// Only these label classes of the new data (ids of the whole file, as `inspect` lists them).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub classes: Option<Vec<usize>>,
    /// The old (training) data, when it is no longer where the checkpoint's run recorded it.
    #[arg(long, value_name = "DATA")]
    pub old: Option<String>,
    /// Passes over the new data.
    #[arg(long, default_value_t = UpdateSettings::default().iterations)]
    pub iterations: usize,
    /// SGD learning rate of the centres (momentum 0.9).
    #[arg(long, default_value_t = UpdateSettings::default().learning_rate)]
    pub lr: f64,
    /// λ of the EWC penalty λ Σ F (c − c_old)² (0 = no anchoring; F normalised to mean 1).
    #[arg(long, default_value_t = UpdateSettings::default().ewc_lambda)]
    pub ewc_lambda: f64,
    /// Factor on the old centres' gradient (1 = none; the seed's 0.3).
    #[arg(long, default_value_t = UpdateSettings::default().damping)]
    pub damping: f64,
    /// New clusters: seed (every far sample), robust (groups of at least --min-size) or off.
    #[arg(long, default_value = "robust")]
    pub expand: Expansion,
    /// Expansion threshold in units of the typical within-cluster distance.
    #[arg(long, default_value_t = UpdateSettings::default().threshold)]
    pub threshold: f64,
    /// The robust rule's smallest group of far samples.
    #[arg(long, default_value_t = UpdateSettings::default().min_size)]
    pub min_size: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Scaling of the new data (default: the checkpoint's training data's).
    #[arg(long)]
    pub preprocess: Option<Preprocess>,
    /// NaN/Inf handling when loading: error, zero or mean.
    #[arg(long, default_value = "error")]
    pub non_finite: NonFinite,
    /// The label column of .csv/.tsv data (header name or 1-based number), or the label variable.
    #[arg(long, value_name = "NAME")]
    pub label_column: Option<String>,
    /// auto, flex (alias cpu), wgpu or wgpu-software.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// The runs directory the update is recorded in.
    #[arg(long, value_name = "DIR")]
    pub runs: Option<PathBuf>,
    /// The update run's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Print one JSON object (drift_old, acc_old_before, acc_old_after, acc_new, nmi_new,
    /// clusters_before, clusters_after, new_clusters, …).
    #[arg(long)]
    pub json: bool,
}

impl UpdateArgs {
    fn settings(&self) -> UpdateSettings {
        UpdateSettings {
            iterations: self.iterations,
            learning_rate: self.lr,
            ewc_lambda: self.ewc_lambda,
            damping: self.damping,
            expand: self.expand,
            threshold: self.threshold,
            min_size: self.min_size,
            seed: self.seed,
            ..UpdateSettings::default()
        }
    }
}

/// `mvc-workbench update`.
pub fn run(args: &UpdateArgs) -> Result<(), String> {
    let store = RunStore::open(runs::runs_dir(args.runs.as_deref())).map_err(|e| e.to_string())?;
    let job = UpdateJob {
        checkpoint: args.checkpoint.clone(),
        new_data: args.new_data.clone(),
        classes: args.classes.clone(),
        old_data: args.old.clone(),
        preprocess: args.preprocess,
        non_finite: args.non_finite,
        label_column: args.label_column.clone(),
        settings: args.settings(),
        device: args.device,
        front_end: "cli".into(),
        name: args.name.clone(),
    };
    let outcome = run_update(&store, &job).map_err(|e| e.to_string())?;
    if args.json {
        println!("{}", outcome.to_json());
        return Ok(());
    }
    for n in &outcome.notes {
        eprintln!("note: {n}");
    }
    for line in outcome.report.summary_lines() {
        println!("{line}");
    }
    println!("checkpoint: {} (parent untouched: {})", outcome.checkpoint.display(), args.checkpoint.display());
    println!(
        "run: {}{}",
        outcome.run_id,
        outcome.parent_run.as_ref().map(|p| format!(" (parent run {p})")).unwrap_or_default()
    );
    Ok(())
}
