//! Checkpoints: a directory holding the weights (burn's `.bpk` record), the
//! full run config, the model's shape, the dataset fingerprint, the metrics
//! and the seed.
//!
//! ```text
//! DIR/weights.bpk   burn ModuleRecord of the network
//! DIR/config.json   the TrainConfig of the run
//! DIR/meta.json     CheckpointMeta: model shape, dataset fingerprint, seed, metrics, view weights
//! ```
//!
//! Writing is atomic: everything goes into a temporary sibling directory that
//! is then renamed into place (a previous checkpoint is moved aside first and
//! removed last), so a crash never leaves a half-written checkpoint under the
//! final name. Loading checks the files, the shapes and the fingerprint, and
//! says what differs.
//!
//! Wherever a checkpoint is asked for (`eval` / `predict --checkpoint`, `train
//! --init-from`, `init_from`, the server's finished runs), the run directory that
//! `train --out DIR` wrote is accepted as well: [`resolve_dir`] finds
//! `DIR/checkpoint/` in it, and [`load`] goes through it.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::MultiViewDataset;
use crate::engine::config::TrainConfig;
use crate::engine::protocol::MetricsReport;
use crate::engine::update::{CentreStats, UpdateReport};
use crate::model::{Cvc, ModelConfig};

pub const WEIGHTS_FILE: &str = "weights.bpk";
pub const CONFIG_FILE: &str = "config.json";
pub const META_FILE: &str = "meta.json";
/// A metric-learning baseline's checkpoint: its network's shape and its results, beside
/// [`WEIGHTS_FILE`] and [`CONFIG_FILE`] (instead of [`META_FILE`]).
pub const BASELINE_FILE: &str = "baseline.json";
/// The checkpoint's directory inside a run directory (`train --out DIR` writes `DIR/checkpoint`).
pub const RUN_CHECKPOINT_DIR: &str = "checkpoint";
const FORMAT_VERSION: u32 = 1;

/// What a checkpoint knows besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub format_version: u32,
    pub model: ModelConfig,
    pub dataset_name: String,
    pub dataset_fingerprint: String,
    pub n_samples: usize,
    pub seed: u64,
    /// 1-based epoch over both phases at which it was written.
    pub global_epoch: usize,
    pub metrics: Option<MetricsReport>,
    /// AFW weights averaged over the last epoch.
    pub view_weights: Vec<f32>,
    pub device: String,
    /// Seconds since the Unix epoch.
    pub created_unix: u64,
    /// The centres' diagonal Fisher and typical within-cluster distance on the training data,
    /// for later updates (`engine::update`); absent in checkpoints from before issue 15, whose
    /// updates estimate them from the old data.
    #[serde(default)]
    pub centre_stats: Option<CentreStats>,
    /// Set in checkpoints written by an update: the parent and what data the network has seen.
    #[serde(default)]
    pub lineage: Option<Lineage>,
}

/// Data a checkpoint was trained or updated on, enough to load it again and know it is the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRef {
    /// A built-in name or a path (`DatasetSource::arg`).
    pub source: String,
    /// The scaling applied (`minmax`, `zscore`, `none`).
    pub preprocess: String,
    /// The class filter applied after the scaling.
    #[serde(default)]
    pub classes: Option<Vec<usize>>,
    /// The fingerprint of the loaded, scaled and filtered data.
    pub fingerprint: String,
    pub n_samples: usize,
}

/// Where an updated checkpoint came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The checkpoint it was updated from (never modified; using it again is the rollback).
    pub parent: PathBuf,
    /// The run that wrote the parent, when it is known.
    #[serde(default)]
    pub parent_run: Option<String>,
    /// Everything the network has seen: the parent's data, then this update's new data.
    pub data: Vec<DataRef>,
    /// What the update measured.
    pub report: UpdateReport,
}

/// Why a checkpoint could not be written or used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {why}: {source}")]
    Io {
        path: PathBuf,
        why: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error("the checkpoint {path} does not fit this dataset: {}", differences.join("; "))]
    Mismatch { path: PathBuf, differences: Vec<String> },
}

/// A loaded checkpoint (weights are read by [`Checkpoint::model`]).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub config: TrainConfig,
    pub meta: CheckpointMeta,
}

fn io(path: &Path, why: &'static str) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |source| CheckpointError::Io { path, why, source }
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Writes a checkpoint to `dir` atomically and returns `dir`.
pub fn save(dir: &Path, model: &Cvc, config: &TrainConfig, meta: &CheckpointMeta) -> Result<PathBuf, CheckpointError> {
    write_dir_atomic(dir, |tmp| {
        model.clone().save_file(tmp.join(WEIGHTS_FILE)).map_err(|e| CheckpointError::Invalid {
            path: tmp.join(WEIGHTS_FILE),
            why: format!("cannot write the weights: {e}"),
        })?;
        write_json(tmp, CONFIG_FILE, config, "cannot write the config")?;
        write_json(tmp, META_FILE, meta, "cannot write the metadata")
    })
}

/// Writes `value` as pretty JSON to `dir/file`.
pub(crate) fn write_json(
    dir: &Path,
    file: &str,
    value: &impl serde::Serialize,
    what: &'static str,
) -> Result<(), CheckpointError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CheckpointError::Invalid { path: dir.join(file), why: e.to_string() })?;
    std::fs::write(dir.join(file), text).map_err(io(&dir.join(file), what))
}

/// Fills a temporary sibling of `dir` with `fill`, then renames it to `dir` (the previous
/// contents moved aside first and removed after): a reader sees the old checkpoint or the new
/// one, never half of one.
pub(crate) fn write_dir_atomic(
    dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), CheckpointError>,
) -> Result<PathBuf, CheckpointError> {
    let name = dir
        .file_name()
        .ok_or_else(|| CheckpointError::Invalid {
            path: dir.to_path_buf(),
            why: "a checkpoint needs a directory name".into(),
        })?
        .to_string_lossy()
        .into_owned();
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent, "cannot create the checkpoint's parent directory"))?;
    let tmp = parent.join(format!(".{name}.tmp-{}", unique_suffix()));
    let result = (|| {
        std::fs::create_dir(&tmp).map_err(io(&tmp, "cannot create a temporary checkpoint directory"))?;
        fill(&tmp)?;
        let old = parent.join(format!(".{name}.old-{}", unique_suffix()));
        let had_old = dir.exists();
        if had_old {
            std::fs::rename(dir, &old).map_err(io(dir, "cannot move the previous checkpoint aside"))?;
        }
        if let Err(e) = std::fs::rename(&tmp, dir) {
            if had_old {
                std::fs::rename(&old, dir).ok();
            }
            return Err(io(dir, "cannot move the new checkpoint into place")(e));
        }
        if had_old {
            std::fs::remove_dir_all(&old).ok();
        }
        Ok(dir.to_path_buf())
    })();
    if result.is_err() {
        std::fs::remove_dir_all(&tmp).ok();
    }
    result
}

/// The checkpoint directory that `path` names. Accepted, in this order:
///
/// - a checkpoint directory: `path` holds any of [`WEIGHTS_FILE`], [`CONFIG_FILE`], [`META_FILE`]
///   (a missing one is reported by [`load`]);
/// - a run directory (`train --out DIR`, the server's `run-<id>-<dataset>`): `path/checkpoint`
///   is a directory;
/// - one of a checkpoint's files, e.g. `…/weights.bpk`: its directory.
///
/// Otherwise the error lists what was looked for.
pub fn resolve_dir(path: &Path) -> Result<PathBuf, CheckpointError> {
    const FILES: [&str; 3] = [WEIGHTS_FILE, CONFIG_FILE, META_FILE];
    let holds_checkpoint = |d: &Path| FILES.iter().any(|f| d.join(f).is_file());
    if path.is_dir() {
        if holds_checkpoint(path) {
            return Ok(path.to_path_buf());
        }
        let inner = path.join(RUN_CHECKPOINT_DIR);
        if inner.is_dir() {
            return Ok(inner);
        }
    } else if path.is_file() {
        let named = path.file_name().is_some_and(|n| FILES.iter().any(|f| n == *f));
        if let Some(parent) = path.parent().filter(|_| named) {
            return Ok(if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() });
        }
    }
    let what = if !path.exists() {
        " (it does not exist)"
    } else if path.is_dir() {
        ""
    } else {
        " (it is a file)"
    };
    Err(CheckpointError::Invalid {
        path: path.to_path_buf(),
        why: format!(
            "is not a checkpoint or run directory{what}: looked for a checkpoint directory ({}/{WEIGHTS_FILE}, {CONFIG_FILE}, {META_FILE}) and a run \
             directory written by `train --out` ({}/{RUN_CHECKPOINT_DIR}/{WEIGHTS_FILE}, …)",
            path.display(),
            path.display()
        ),
    })
}

/// Reads a checkpoint's config and metadata (not yet the weights). `path` is a checkpoint or a
/// run directory ([`resolve_dir`]); the result's `dir` is the checkpoint directory.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let dir = resolve_dir(path)?;
    let dir = dir.as_path();
    if dir.join(BASELINE_FILE).is_file() {
        return Err(CheckpointError::Invalid {
            path: dir.to_path_buf(),
            why: "holds a metric-learning baseline (seed 001's triplet network), not a CVC-AFWM network; \
                  eval, predict, update and /predict read CVC-AFWM checkpoints (the baseline's results are in its run)"
                .into(),
        });
    }
    for f in [WEIGHTS_FILE, CONFIG_FILE, META_FILE] {
        if !dir.join(f).is_file() {
            return Err(CheckpointError::Invalid {
                path: dir.to_path_buf(),
                why: format!("is not a complete checkpoint: {f} is missing"),
            });
        }
    }
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).map_err(io(&dir.join(f), "cannot read"));
    let config = parse_config(&read(CONFIG_FILE)?).map_err(|e| CheckpointError::Invalid {
        path: dir.join(CONFIG_FILE),
        why: format!("is not a valid run config: {e}"),
    })?;
    let meta: CheckpointMeta = serde_json::from_str(&read(META_FILE)?).map_err(|e| CheckpointError::Invalid {
        path: dir.join(META_FILE),
        why: format!("is not valid checkpoint metadata: {e}"),
    })?;
    if meta.format_version != FORMAT_VERSION {
        return Err(CheckpointError::Invalid {
            path: dir.join(META_FILE),
            why: format!("has format version {}, this build reads version {FORMAT_VERSION}", meta.format_version),
        });
    }
    meta.model.validate().map_err(|why| CheckpointError::Invalid { path: dir.join(META_FILE), why })?;
    Ok(Checkpoint { dir: dir.to_path_buf(), config, meta })
}

impl Checkpoint {
    /// Differences between the data the checkpoint was trained on and `ds`
    /// that make it unusable (view count and sizes), and whether the data
    /// itself differs (fingerprint).
    pub fn differences(&self, ds: &MultiViewDataset) -> (Vec<String>, bool) {
        let mut hard = Vec::new();
        let want = &self.meta.model.view_dims;
        let got = ds.view_dims();
        if want.len() != got.len() {
            hard.push(format!("it was trained on {} views, the dataset has {}", want.len(), got.len()));
        } else {
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                if w != g {
                    hard.push(format!("view {} has {g} features, the checkpoint expects {w}", i + 1));
                }
            }
        }
        let other_data = ds.fingerprint() != self.meta.dataset_fingerprint;
        (hard, other_data)
    }

    /// `ds` restricted to the views the run trained on (`TrainConfig::views`, e.g. a DEC run on
    /// one view of a multi-view file); `ds` itself when the run used every view.
    pub fn views_of<'d>(
        &self,
        ds: &'d MultiViewDataset,
    ) -> Result<std::borrow::Cow<'d, MultiViewDataset>, CheckpointError> {
        match &self.config.views {
            None => Ok(std::borrow::Cow::Borrowed(ds)),
            Some(names) => ds.select_views(names).map(std::borrow::Cow::Owned).map_err(|e| CheckpointError::Mismatch {
                path: self.dir.clone(),
                differences: vec![format!("it was trained on the views {} only, and {e}", names.join(", "))],
            }),
        }
    }

    /// Fails unless `ds` has the checkpoint's shapes; unless `allow_other_data`,
    /// also unless it is the very data the checkpoint was trained on.
    pub fn check_dataset(&self, ds: &MultiViewDataset, allow_other_data: bool) -> Result<(), CheckpointError> {
        let (mut differences, other) = self.differences(ds);
        if other && !allow_other_data {
            differences.push(format!(
                "the data differs from the training data {:?} ({} samples; fingerprint {}… vs {}…)",
                self.meta.dataset_name,
                self.meta.n_samples,
                &self.meta.dataset_fingerprint.get(..12).unwrap_or(""),
                &ds.fingerprint().get(..12).unwrap_or("")
            ));
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(CheckpointError::Mismatch { path: self.dir.clone(), differences })
        }
    }

    /// Builds the network on `device` and loads the weights.
    pub fn model(&self, device: &Device) -> Result<Cvc, CheckpointError> {
        let path = self.dir.join(WEIGHTS_FILE);
        self.meta.model.init(device).try_load_file(&path).map_err(|e| CheckpointError::Invalid {
            path,
            why: format!("the weights do not match the recorded model shape: {e}"),
        })
    }
}

/// A checkpoint's `config.json`. Fields it lacks take today's defaults, except the DEC target:
/// checkpoints written before `target_source` existed were trained with the VCF head's target
/// (the default until session 12, when the views' consensus became the default).
pub fn parse_config(json: &str) -> Result<TrainConfig, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_str(json)?;
    let legacy_target = value.get("target_source").is_none();
    let mut config: TrainConfig = serde_json::from_value(value)?;
    if legacy_target {
        config.target_source = crate::engine::config::TargetSource::Vcf;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::{CONFIG_FILE, RUN_CHECKPOINT_DIR, WEIGHTS_FILE, load, parse_config, resolve_dir};
    use crate::engine::config::{TargetSource, TrainConfig};

    #[test]
    fn run_directories_resolve_to_their_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let ck = run.join(RUN_CHECKPOINT_DIR);
        std::fs::create_dir_all(&ck).unwrap();
        std::fs::write(ck.join(WEIGHTS_FILE), b"").unwrap();
        assert_eq!(resolve_dir(&run).unwrap(), ck);
        assert_eq!(resolve_dir(&ck).unwrap(), ck);
        assert_eq!(resolve_dir(&ck.join(WEIGHTS_FILE)).unwrap(), ck);
        // An incomplete checkpoint inside a run directory is reported as that checkpoint's.
        let e = load(&run).unwrap_err().to_string();
        assert!(e.contains(&format!("{CONFIG_FILE} is missing")) && e.contains(RUN_CHECKPOINT_DIR), "{e}");
        // Neither: the error names both places it looked.
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        for (path, what) in [(empty.clone(), "directory: looked"), (tmp.path().join("nowhere"), "(it does not exist)")]
        {
            let e = resolve_dir(&path).unwrap_err().to_string();
            assert!(e.contains("is not a checkpoint or run directory") && e.contains(what), "{e}");
            assert!(e.contains(&format!("{}/{WEIGHTS_FILE}", path.display())), "{e}");
            assert!(e.contains(&format!("{}/{RUN_CHECKPOINT_DIR}/{WEIGHTS_FILE}", path.display())), "{e}");
        }
        let stray = tmp.path().join("notes.txt");
        std::fs::write(&stray, b"").unwrap();
        assert!(resolve_dir(&stray).unwrap_err().to_string().contains("(it is a file)"));
    }

    #[test]
    fn configs_without_a_target_source_were_trained_on_the_vcf_target() {
        assert_eq!(TrainConfig::default().target_source, TargetSource::Views);
        // A config written today round-trips with its target.
        let today = serde_json::to_string(&TrainConfig::default()).unwrap();
        assert_eq!(parse_config(&today).unwrap().target_source, TargetSource::Views);
        let vcf = TrainConfig { target_source: TargetSource::Vcf, ..TrainConfig::default() };
        assert_eq!(parse_config(&serde_json::to_string(&vcf).unwrap()).unwrap(), vcf);
        // One from before the field existed reads as the VCF target it was trained with; the
        // other missing fields take today's defaults.
        let mut old: serde_json::Value = serde_json::from_str(&today).unwrap();
        old.as_object_mut().unwrap().remove("target_source");
        let parsed = parse_config(&old.to_string()).unwrap();
        assert_eq!(parsed.target_source, TargetSource::Vcf);
        assert_eq!(parsed.learning_rate, TrainConfig::default().learning_rate);
        assert!(parse_config("{\"learning_rate\": \"fast\"}").is_err());
    }
}
