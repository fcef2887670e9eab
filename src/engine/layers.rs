//! The one way a run's config is built, for every front end: defaults → preset → TOML file →
//! the user's own settings (command-line flags, an HTTP request, the app's panel). Every layer
//! is a [`Patch`]: only the fields it sets, by `TrainConfig`'s field names, so "the user set
//! this" is the same question everywhere. A preset never overrides a field a later layer sets.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::config::{ModelFamily, TrainConfig};
use crate::engine::presets;

/// Some of `TrainConfig`'s fields, by name (nested tables for `loss`).
pub type Patch = toml::Table;

/// Why a config could not be built; each message names where the bad value came from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the config file: {why}")]
    Read { path: PathBuf, why: String },
    #[error("{path}: is not valid TOML: {why}")]
    Toml { path: PathBuf, why: String },
    #[error("{origin}: {why}")]
    Field { origin: String, why: String },
    #[error("{0}")]
    Preset(String),
    #[error("{0}")]
    Invalid(String),
}

/// The layers of one run's config.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    /// The front end's defaults (`TrainConfig::default()` for the CLI; `serve` keeps the seed
    /// API's epochs and seed; the app its demo sizes).
    pub defaults: TrainConfig,
    /// A preset name (`MNIST-USPS`, …); also read from the file's `preset` key.
    pub preset: Option<String>,
    /// A TOML file's fields, and where it came from.
    pub file: Option<(PathBuf, Patch)>,
    /// The user's settings, and what to call them in errors (`flags`, `/train`, …).
    pub user: Patch,
    pub user_origin: String,
}

impl Layers {
    /// Reads the TOML file at `path` as the file layer.
    pub fn with_file(mut self, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.to_path_buf(), why: e.to_string() })?;
        let table =
            text.parse::<Patch>().map_err(|e| ConfigError::Toml { path: path.to_path_buf(), why: e.to_string() })?;
        self.file = Some((path.to_path_buf(), table));
        Ok(self)
    }

    /// The config, checked (`TrainConfig::validate`).
    pub fn build(&self) -> Result<TrainConfig, ConfigError> {
        let mut cfg = self.defaults.clone();
        let file = self.file.as_ref();
        let preset = self
            .preset
            .clone()
            .or_else(|| file.and_then(|(_, t)| t.get("preset")).and_then(|v| v.as_str()).map(str::to_owned));
        let mut canonical = None;
        if let Some(name) = &preset {
            let mut explicit: Vec<&str> = self.user.keys().map(String::as_str).collect();
            if let Some((_, t)) = file {
                explicit.extend(t.keys().map(String::as_str));
            }
            let found = presets::find(name).map_err(ConfigError::Preset)?;
            found.apply(&mut cfg, &explicit);
            canonical = Some(found.name.to_owned());
        }
        let family = [(Some(&self.user), self.user_origin.clone()), (file.map(|(_, t)| t), file_origin(file))]
            .into_iter()
            .find_map(|(t, origin)| t?.get("model").and_then(|v| v.as_str()).map(|name| (name.to_owned(), origin)));
        let family = match family {
            Some((name, origin)) => name.parse::<ModelFamily>().map_err(|why| ConfigError::Field { origin, why })?,
            None => cfg.model,
        };
        if family.is_baseline() || family == ModelFamily::Dec {
            let mut explicit: Vec<&str> = self.user.keys().map(String::as_str).collect();
            if let Some((_, t)) = file {
                explicit.extend(t.keys().map(String::as_str));
            }
            if family == ModelFamily::Dec {
                dec_defaults(&mut cfg, &explicit);
            } else {
                baseline_defaults(&mut cfg, &explicit);
            }
        }
        if let Some((path, table)) = file {
            let mut table = table.clone();
            table.remove("preset");
            cfg = overlay(&cfg, &table, &path.display().to_string())?;
        }
        cfg = overlay(&cfg, &self.user, &self.user_origin)?;
        if canonical.is_some() {
            // The preset's own spelling (`mnist_usps` names `MNIST-USPS`).
            cfg.preset = canonical;
        }
        cfg.validate().map_err(ConfigError::Invalid)?;
        Ok(cfg)
    }
}

/// Where a file layer came from, for its errors.
fn file_origin(file: Option<&(PathBuf, Patch)>) -> String {
    file.map(|(p, _)| p.display().to_string()).unwrap_or_default()
}

/// Seed 001's settings for a metric-learning baseline, where neither the user nor the file set the
/// field: no pre-training, 40 epochs, Adam at 7e-4, batches of 256.
pub fn baseline_defaults(cfg: &mut TrainConfig, explicit: &[&str]) {
    let free = |f: &str| !explicit.contains(&f);
    if free("mse_epochs") {
        cfg.mse_epochs = 0;
    }
    if free("con_epochs") {
        cfg.con_epochs = 40;
    }
    if free("learning_rate") {
        cfg.learning_rate = 7e-4;
    }
    if free("batch_size") {
        cfg.batch_size = 256;
    }
}

/// Seed 004's DEC, where neither the user nor the file set the field: the autoencoder
/// `d-512-256-64-10` (the seed's dims `[768, 512, 256, 64, 10]`; its 10-d code is what the
/// decoder reconstructs from) and the head's L2-normalised 10-d feature `h = normalize(W z)`
/// that the Student-t kernel (κ 1, the seed's α) reads, 100 epochs of Adam pre-training at 1e-3, then up to 2,000 epochs
/// of `KL(P ‖ q)` alone with SGD (lr 0.01, momentum 0.9, halved every 500 epochs, no cosine decay), the target `P`
/// fixed over all samples and recomputed every 100 epochs, stopping when fewer than 0.1% of the
/// samples change cluster between two targets. None of CVC-AFWM's adaptive parts (they need
/// views to compare). Metrics every 20 epochs.
pub fn dec_defaults(cfg: &mut TrainConfig, explicit: &[&str]) {
    use crate::engine::config::{OptimizerKind, Term};
    let free = |f: &str| !explicit.contains(&f);
    cfg.model = ModelFamily::Dec;
    let off = Term { enabled: false, weight: 0.0 };
    type Set<'a> = &'a dyn Fn(&mut TrainConfig);
    let settings: [(&str, Set); 21] = [
        ("encoder_hidden", &|c| c.encoder_hidden = vec![512, 256, 64]),
        ("feature_dim", &|c| c.feature_dim = 10),
        ("high_feature_dim", &|c| c.high_feature_dim = 10),
        ("mse_epochs", &|c| c.mse_epochs = 100),
        ("con_epochs", &|c| c.con_epochs = 2000),
        ("batch_size", &|c| c.batch_size = 256),
        ("pretrain_learning_rate", &|c| c.pretrain_learning_rate = Some(1e-3)),
        ("learning_rate", &|c| c.learning_rate = 0.01),
        ("con_optimizer", &|c| c.con_optimizer = OptimizerKind::Sgd),
        ("momentum", &|c| c.momentum = 0.9),
        ("lr_step_epochs", &|c| c.lr_step_epochs = 500),
        ("lr_step_gamma", &|c| c.lr_step_gamma = 0.5),
        // StepLR alone, as the seed (CVC-AFWM's default cosine decay is not seed 004's schedule).
        ("lr_cosine", &|c| c.lr_cosine = false),
        ("target_refresh", &|c| c.target_refresh = 100),
        ("stop_tolerance", &|c| c.stop_tolerance = 0.001),
        ("view_centring", &|c| c.view_centring = false),
        ("adaptive_weights", &|c| c.adaptive_weights = false),
        ("pseudo_refresh", &|c| c.pseudo_refresh = 0),
        ("refresh_centres", &|c| c.refresh_centres = false),
        ("eval_every", &|c| c.eval_every = 20),
        ("snapshot_every", &|c| c.snapshot_every = 20),
    ];
    for (field, set) in settings {
        if free(field) {
            set(cfg);
        }
    }
    if free("loss") {
        let kl = cfg.loss.kl;
        cfg.loss.rec = off;
        cfg.loss.cluster = off;
        cfg.loss.local = off;
        cfg.loss.label = off;
        cfg.loss.kl = Term { enabled: true, weight: if kl.enabled { kl.weight } else { 1.0 } };
    }
}

/// `cfg` with `patch`'s fields laid over it (tables merge: `loss.kl.weight` alone keeps the other
/// terms); an unknown field or a wrong type is an error naming the field and `origin`.
pub fn overlay(cfg: &TrainConfig, patch: &Patch, origin: &str) -> Result<TrainConfig, ConfigError> {
    if patch.is_empty() {
        return Ok(cfg.clone());
    }
    let field = |why: String| ConfigError::Field { origin: origin.to_owned(), why };
    let mut base = Patch::try_from(cfg).map_err(|e| field(format!("internal error serialising the config: {e}")))?;
    merge(&mut base, patch);
    // Every field by name: JSON writes the `None` fields too (as null), which TOML leaves out.
    let known = serde_json::to_value(TrainConfig::default()).map_err(|e| field(e.to_string()))?;
    for key in patch.keys() {
        if known.get(key).is_none() {
            return Err(field(format!("unknown config field {key:?}")));
        }
    }
    let de = toml::Value::Table(base);
    serde_path_to_error::deserialize(de).map_err(|e| field(format!("{}: {}", e.path(), e.inner())))
}

fn merge(base: &mut Patch, patch: &Patch) {
    for (k, v) in patch {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(p)) => merge(b, p),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Sets `key` in `patch` when `value` is given (for front ends turning their inputs into a patch).
pub fn put<T: Serialize>(patch: &mut Patch, key: &str, value: Option<T>) {
    if let Some(v) = value
        && let Ok(v) = toml::Value::try_from(v)
    {
        patch.insert(key.to_owned(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_win_and_presets_never_override_them() {
        let mut user = Patch::new();
        put(&mut user, "learning_rate", Some(0.01));
        let file: Patch = "con_epochs = 7\n[loss.kl]\nweight = 0.5\nenabled = true\n".parse().unwrap();
        let layers = Layers {
            preset: Some("MNIST-USPS".into()),
            file: Some(("f.toml".into(), file)),
            user,
            user_origin: "flags".into(),
            ..Layers::default()
        };
        let cfg = layers.build().unwrap();
        assert_eq!(cfg.learning_rate, 0.01, "the user's value beats the preset's 0.00059");
        assert_eq!(cfg.con_epochs, 7, "the file's value beats the preset's 250");
        assert_eq!(cfg.mse_epochs, 50, "the preset fills what nobody set");
        assert_eq!(cfg.loss.kl.weight, 0.5);
        assert_eq!(cfg.loss.rec, TrainConfig::default().loss.rec, "a partial loss table keeps the other terms");
        assert_eq!(cfg.preset.as_deref(), Some("MNIST-USPS"));
    }

    #[test]
    fn a_baseline_takes_the_seeds_settings_where_nobody_set_them() {
        let mut user = Patch::new();
        put(&mut user, "model", Some("siamese-conv"));
        put(&mut user, "con_epochs", Some(3));
        let layers =
            Layers { preset: Some("MNIST-USPS".into()), user, user_origin: "flags".into(), ..Layers::default() };
        let cfg = layers.build().unwrap();
        assert_eq!(cfg.model, ModelFamily::SiameseConv);
        assert_eq!((cfg.mse_epochs, cfg.con_epochs, cfg.learning_rate), (0, 3, 7e-4), "no pre-training, Adam 7e-4");
        let mut user = Patch::new();
        put(&mut user, "model", Some("mlp"));
        put(&mut user, "mse_epochs", Some(5));
        let e = Layers { user, user_origin: "flags".into(), ..Layers::default() }.build().unwrap_err().to_string();
        assert!(e.contains("mse_epochs must be 0 for the mlp baseline"), "{e}");
        let mut user = Patch::new();
        put(&mut user, "model", Some("resnet"));
        let e = Layers { user, user_origin: "flags".into(), ..Layers::default() }.build().unwrap_err().to_string();
        assert!(e.contains("unknown model \"resnet\""), "{e}");
    }

    #[test]
    fn dec_takes_seed_004s_settings_where_nobody_set_them() {
        use crate::engine::config::OptimizerKind;
        let mut user = Patch::new();
        put(&mut user, "model", Some("dec"));
        put(&mut user, "feature_dim", Some(32));
        let cfg = Layers { user, user_origin: "flags".into(), ..Layers::default() }.build().unwrap();
        assert_eq!(cfg.model, ModelFamily::Dec);
        assert_eq!(
            (cfg.encoder_hidden.as_slice(), cfg.feature_dim, cfg.high_feature_dim),
            (&[512, 256, 64][..], 32, 10)
        );
        assert_eq!((cfg.mse_epochs, cfg.con_epochs, cfg.learning_rate), (100, 2000, 0.01));
        assert_eq!((cfg.con_optimizer, cfg.pretrain_learning_rate), (OptimizerKind::Sgd, Some(1e-3)));
        assert_eq!((cfg.target_refresh, cfg.stop_tolerance, cfg.lr_step_epochs), (100, 0.001, 500));
        assert!(!cfg.loss.rec.enabled && !cfg.loss.cluster.enabled && !cfg.loss.label.enabled && cfg.loss.kl.enabled);
        assert!(!cfg.adaptive_weights && cfg.pseudo_refresh == 0 && !cfg.view_centring);
        let mut user = Patch::new();
        put(&mut user, "model", Some("dec"));
        put(&mut user, "views", Some(vec!["X1", "X2"]));
        let e = Layers { user, user_origin: "flags".into(), ..Layers::default() }.build().unwrap_err().to_string();
        assert!(e.contains("the DEC model trains on one view; views lists 2"), "{e}");
    }

    #[test]
    fn bad_fields_name_their_origin() {
        let file: Patch = "con_epoch = 7\n".parse().unwrap();
        let layers = Layers { file: Some(("f.toml".into(), file)), ..Layers::default() };
        let e = layers.build().unwrap_err().to_string();
        assert!(e.contains("f.toml") && e.contains("con_epoch"), "{e}");
        let file: Patch = "con_epochs = \"many\"\n".parse().unwrap();
        let e = Layers { file: Some(("g.toml".into(), file)), ..Layers::default() }.build().unwrap_err().to_string();
        assert!(e.contains("g.toml") && e.contains("con_epochs"), "{e}");
    }

    /// Fields that are `None` by default (so absent from a TOML of the defaults) are known fields.
    #[test]
    fn optional_fields_can_be_set() {
        let file: Patch = "pcl_temperature = 0.2\nn_clusters = 3\ninit_from = \"x\"\n".parse().unwrap();
        let cfg = overlay(&TrainConfig::default(), &file, "f.toml").unwrap();
        assert_eq!((cfg.pcl_temperature, cfg.n_clusters), (Some(0.2), Some(3)));
        assert_eq!(cfg.init_from.as_deref(), Some(std::path::Path::new("x")));
    }
}
