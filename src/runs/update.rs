//! An online update as a run: the one path of `update`, `POST /update` and the app's "New data"
//! action. It finds and checks the checkpoint's old data, loads the new data the same way
//! (scaling, then the class filter), runs `engine::update`, writes the new checkpoint into a new
//! run folder (never over the parent) and records the lineage and the measurements in `run.json`.
//!
//! The old data of a trained checkpoint is found through the run that wrote it
//! (`RUN/checkpoint` → `RUN/run.json`: its dataset source, scaling and class filter), checked
//! against the checkpoint's fingerprint; an updated checkpoint lists all its data itself
//! (`CheckpointMeta::lineage`). `--old DATA` replaces both when the data has moved.

use std::path::{Path, PathBuf};

use crate::data::{DataError, DatasetSource, LoadOptions, MultiViewDataset, NonFinite, Preprocess};
use crate::engine::checkpoint::{self, Checkpoint, CheckpointError, DataRef, Lineage};
use crate::engine::config::DeviceChoice;
use crate::engine::predict::{metrics_report, truth_of};
use crate::engine::protocol::{Event, RunSummary};
use crate::engine::update::{UpdateError, UpdateReport, UpdateSettings, update_network};

use super::record::{DatasetInfo, UpdateRecord};
use super::store::RUN_FILE;
use super::{NewRun, RunStore, StoreError};

/// What to update, with what.
#[derive(Debug, Clone)]
pub struct UpdateJob {
    /// A checkpoint or the run folder holding it.
    pub checkpoint: PathBuf,
    /// The new data: a built-in name or a file.
    pub new_data: String,
    /// Only these label classes of the new data (ids of the whole file, as `inspect` lists them).
    pub classes: Option<Vec<usize>>,
    /// The old data, when it is not where the checkpoint's record says.
    pub old_data: Option<String>,
    /// The scaling of the new data (default: the parent's).
    pub preprocess: Option<Preprocess>,
    pub non_finite: NonFinite,
    /// The label column (or variable) of the data files.
    pub label_column: Option<String>,
    pub settings: UpdateSettings,
    pub device: DeviceChoice,
    /// `cli`, `serve` or `app`.
    pub front_end: String,
    /// The run's name (default: `<parent's dataset> update`).
    pub name: Option<String>,
}

/// What an update produced.
#[derive(Debug, Clone)]
pub struct UpdateOutcome {
    /// The update's run in the store.
    pub run_id: String,
    /// The new checkpoint.
    pub checkpoint: PathBuf,
    pub parent_run: Option<String>,
    pub report: UpdateReport,
    /// What the user should know (old data not found, the Fisher estimated now, …).
    pub notes: Vec<String>,
}

impl UpdateOutcome {
    /// The one JSON object of `update --json` and `POST /update`: `drift_old`, `acc_old_before`,
    /// `acc_old_after`, `acc_new`, `nmi_new`, `clusters_before`, `clusters_after`,
    /// `new_clusters: [{cluster, size, purity, majority}]`, and the rest of the measurements.
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.report;
        serde_json::json!({
            "drift_old": r.drift_old,
            "acc_old_before": r.acc_old_before,
            "acc_old_after": r.acc_old_after,
            "nmi_old_before": r.nmi_old_before,
            "nmi_old_after": r.nmi_old_after,
            "acc_new": r.acc_new,
            "nmi_new": r.nmi_new,
            "acc_new_before": r.acc_new_before,
            "clusters_before": r.clusters_before,
            "clusters_after": r.clusters_after,
            "new_clusters": r.new_clusters,
            "far_samples": r.far_samples,
            "within_distance": r.within_distance,
            "threshold_distance": r.threshold_distance,
            "novelty_space": r.novelty_space,
            "cluster_radii": r.cluster_radii,
            "fisher_source": r.fisher_source,
            "old_shift": r.old_shift,
            "n_new": r.n_new,
            "n_old": r.n_old,
            "secs": r.secs,
            "run": self.run_id,
            "parent_run": self.parent_run,
            "checkpoint": self.checkpoint,
            "notes": self.notes,
        })
    }
}

/// Why an update job failed. `is_input` tells the user's mistakes (a 422 for `serve`) from the
/// program's.
#[derive(Debug, thiserror::Error)]
pub enum UpdateJobError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("the {what}: {source}")]
    Data {
        what: &'static str,
        #[source]
        source: DataError,
    },
    #[error("the {what} ({source_name}): {why}")]
    Classes { what: &'static str, source_name: String, why: String },
    #[error(
        "the checkpoint's old data {source_name} has changed since training (fingerprint {found}… instead of {want}…); give the training data with --old DATA"
    )]
    OldDataChanged { source_name: String, found: String, want: String },
    #[error(transparent)]
    Update(#[from] UpdateError),
    #[error("no device to run the update on: {0}")]
    Device(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UpdateJobError {
    /// Whether the request was at fault (bad files, classes, settings, shapes) rather than the
    /// program or the machine.
    pub fn is_input(&self) -> bool {
        match self {
            Self::Checkpoint(_) | Self::Data { .. } | Self::Classes { .. } | Self::OldDataChanged { .. } => true,
            Self::Update(e) => !matches!(e, UpdateError::Evaluation(_)),
            Self::Device(_) | Self::Store(_) => false,
        }
    }
}

/// The run record beside a checkpoint (`RUN/checkpoint` → `RUN/run.json`), when there is one.
fn parent_record(ck: &Checkpoint) -> Option<super::RunRecord> {
    let run_dir = ck.dir.parent()?;
    let text = std::fs::read_to_string(run_dir.join(RUN_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The data a checkpoint has seen, as recorded (none when nothing records it).
pub fn recorded_data(ck: &Checkpoint) -> Vec<DataRef> {
    if let Some(l) = &ck.meta.lineage {
        return l.data.clone();
    }
    parent_record(ck)
        .map(|rec| {
            vec![DataRef {
                source: rec.dataset.source,
                preprocess: rec.dataset.preprocess,
                classes: rec.config.classes.or_else(|| ck.config.classes.clone()),
                fingerprint: ck.meta.dataset_fingerprint.clone(),
                n_samples: ck.meta.n_samples,
            }]
        })
        .unwrap_or_default()
}

/// Loads `source` as the update loads every dataset: the file or built-in, the scaling, then the
/// class filter.
fn load(
    what: &'static str,
    source: &str,
    preprocess: Preprocess,
    classes: Option<&[usize]>,
    job: &UpdateJob,
    ck: &checkpoint::Checkpoint,
) -> Result<MultiViewDataset, UpdateJobError> {
    let opts = LoadOptions { non_finite: job.non_finite, labels: job.label_column.clone(), ..LoadOptions::default() };
    let ds = DatasetSource::parse(source).load(&opts).map_err(|source| UpdateJobError::Data { what, source })?;
    // The views the run trained on (a DEC run: one of the file's views).
    let mut ds = if ck.config.views.is_some() { ck.views_of(&ds)?.into_owned() } else { ds };
    crate::data::preprocess::apply(&mut ds, preprocess);
    match classes {
        Some(c) => ds.select_classes(c).map_err(|e| UpdateJobError::Classes {
            what,
            source_name: source.to_owned(),
            why: e.to_string(),
        }),
        None => Ok(ds),
    }
}

fn parse_preprocess(s: &str) -> Preprocess {
    s.parse().unwrap_or_default()
}

/// Runs an update job to the end: see the module's documentation.
pub fn run_update(store: &RunStore, job: &UpdateJob) -> Result<UpdateOutcome, UpdateJobError> {
    let ck = checkpoint::load(&job.checkpoint)?;
    let parent = parent_record(&ck);
    let parent_run = parent.as_ref().map(|r| r.id.clone());
    let mut notes = Vec::new();
    let refs = recorded_data(&ck);
    let old_preprocess = refs.first().map_or(Preprocess::default(), |r| parse_preprocess(&r.preprocess));
    let preprocess = job.preprocess.unwrap_or(old_preprocess);

    // The old data: --old, else what the checkpoint records (each part checked).
    let old = match (&job.old_data, refs.is_empty()) {
        (Some(src), _) => {
            let classes = refs.first().and_then(|r| r.classes.clone()).or_else(|| ck.config.classes.clone());
            let ds = load("old data", src, old_preprocess, classes.as_deref(), job, &ck)?;
            let want = refs.iter().map(|r| r.fingerprint.as_str()).collect::<Vec<_>>();
            if refs.len() == 1 && ds.fingerprint() != want[0] {
                notes.push(format!(
                    "the old data {src} differs from the data the checkpoint was trained on (fingerprint {}… vs {}…); it is used as given",
                    &ds.fingerprint()[..12],
                    &want[0].get(..12).unwrap_or("")
                ));
            }
            Some(ds)
        }
        (None, false) => {
            let mut parts = Vec::new();
            for r in &refs {
                let ds = load("old data", &r.source, parse_preprocess(&r.preprocess), r.classes.as_deref(), job, &ck)?;
                let found = ds.fingerprint();
                if found != r.fingerprint {
                    return Err(UpdateJobError::OldDataChanged {
                        source_name: r.source.clone(),
                        found: found[..12].to_owned(),
                        want: r.fingerprint.get(..12).unwrap_or("").to_owned(),
                    });
                }
                parts.push(ds);
            }
            MultiViewDataset::concat(&parts)
        }
        (None, true) => {
            notes.push(
                "the checkpoint records no training data (it is not in a run folder) and --old was not given: drift and the old data's ACC are not measured"
                    .into(),
            );
            None
        }
    };
    let new = load("new data", &job.new_data, preprocess, job.classes.as_deref(), job, &ck)?;

    let resolved = crate::engine::device::resolve(job.device).map_err(UpdateJobError::Device)?;
    let device = resolved.device;
    let network = ck.model(&device)?;
    let updated = update_network(&ck, network, &new, old.as_ref(), &job.settings, &device)?;
    match updated.report.fisher_source.as_str() {
        "old data" => notes.push(
            "the checkpoint predates stored Fisher estimates: the Fisher was estimated from the old data now".into(),
        ),
        "none" => notes.push("no Fisher in the checkpoint and no old data: the EWC anchor is off".into()),
        _ => {}
    }

    // The run and the new checkpoint.
    let mut config = ck.config.clone();
    config.n_clusters = Some(updated.model.n_clusters);
    let parent_name = parent.as_ref().map_or_else(|| ck.meta.dataset_name.clone(), |r| r.name.clone());
    let mut writer = store.create(NewRun {
        name: job.name.clone().unwrap_or_else(|| format!("{parent_name} update")),
        tags: vec!["update".into()],
        front_end: job.front_end.clone(),
        dataset: DatasetInfo::of(&new, &job.new_data, preprocess.as_str()),
        config: config.clone(),
        sweep_cell: None,
    })?;
    writer.observe(&Event::Started {
        device: resolved.description.clone(),
        device_note: resolved.note.clone(),
        n_params: 0,
        total_epochs: 0,
    })?;
    let mut data = if job.old_data.is_some() { Vec::new() } else { refs.clone() };
    if let (Some(src), Some(o)) = (&job.old_data, &old) {
        data.push(DataRef {
            source: src.clone(),
            preprocess: old_preprocess.as_str().into(),
            classes: refs.first().and_then(|r| r.classes.clone()),
            fingerprint: o.fingerprint(),
            n_samples: o.n_samples(),
        });
    }
    data.push(DataRef {
        source: job.new_data.clone(),
        preprocess: preprocess.as_str().into(),
        classes: job.classes.clone(),
        fingerprint: new.fingerprint(),
        n_samples: new.n_samples(),
    });
    let final_metrics = match truth_of(&new, &updated.new_eval.rows) {
        Some(t) => Some(
            metrics_report(&updated.new_eval, &t, ck.meta.global_epoch, config.seed)
                .map_err(|e| UpdateJobError::Update(UpdateError::Evaluation(e)))?,
        ),
        None => None,
    };
    let meta = checkpoint::CheckpointMeta {
        model: updated.model.clone(),
        dataset_name: new.name.clone(),
        dataset_fingerprint: new.fingerprint(),
        n_samples: new.n_samples(),
        metrics: final_metrics.clone(),
        device: resolved.description.clone(),
        created_unix: checkpoint::now_unix(),
        centre_stats: Some(updated.stats.clone()),
        lineage: Some(Lineage {
            parent: ck.dir.clone(),
            parent_run: parent_run.clone(),
            data,
            report: updated.report.clone(),
        }),
        ..ck.meta.clone()
    };
    let out = writer.dir().join(checkpoint::RUN_CHECKPOINT_DIR);
    let saved = write_new(&out, &ck.dir, &updated.network, &config, &meta);
    let saved = match saved {
        Ok(p) => p,
        Err(e) => {
            writer.fail(&e.to_string()).ok();
            return Err(e.into());
        }
    };
    writer.set_update(UpdateRecord {
        parent_checkpoint: ck.dir.clone(),
        parent_run: parent_run.clone(),
        report: updated.report.clone(),
    })?;
    writer.observe(&Event::CheckpointSaved(saved.clone()))?;
    if let Some(m) = &final_metrics {
        writer.observe(&Event::Metrics(m.clone()))?;
    }
    writer.observe(&Event::Finished(Box::new(RunSummary {
        stopped: false,
        epochs: Vec::new(),
        metrics: final_metrics.iter().cloned().collect(),
        final_metrics,
        checkpoint: Some(saved.clone()),
        secs_per_epoch_pretrain: 0.0,
        secs_per_epoch_contrastive: 0.0,
        device: resolved.description,
        config,
        converged: None,
        refresh_secs: Vec::new(),
        dataset_fingerprint: new.fingerprint(),
    })))?;
    Ok(UpdateOutcome { run_id: writer.id().to_owned(), checkpoint: saved, parent_run, report: updated.report, notes })
}

/// Saves the updated network to `out`, which must be a new directory (never the parent's).
fn write_new(
    out: &Path,
    parent: &Path,
    network: &crate::model::Cvc,
    config: &crate::engine::TrainConfig,
    meta: &checkpoint::CheckpointMeta,
) -> Result<PathBuf, CheckpointError> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };
    if out.exists() || same(out, parent) {
        return Err(CheckpointError::Invalid {
            path: out.to_path_buf(),
            why: "already exists; an update writes a new checkpoint and never replaces one".into(),
        });
    }
    checkpoint::save(out, network, config, meta)
}
