//! Per-dataset presets from the seed's `train.py`.
//!
//! A preset only sets the fields the seed sets for that dataset (learning
//! rate, epochs, seed, the cluster-level temperature `temperature_c`, which
//! is our `temperature_l`), and never a field the user set explicitly: the
//! caller passes the names of those fields. Where the seed's lineage loads a
//! dataset with a scaling other than this project's default (min-max), the
//! preset carries that too ([`Preset::preprocess`], resolved by [`scaling`]).

use crate::data::Preprocess;
use crate::engine::config::TrainConfig;

/// One dataset's settings; `None` leaves the field alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    pub learning_rate: Option<f64>,
    pub mse_epochs: Option<usize>,
    pub con_epochs: Option<usize>,
    pub seed: Option<u64>,
    pub temperature_l: Option<f32>,
    /// The feature scaling the seed's lineage loads this dataset with, where it is not min-max.
    /// Not a `TrainConfig` field: the front ends scale the data before training, through
    /// [`scaling`].
    pub preprocess: Option<Preprocess>,
}

const fn p(
    name: &'static str,
    lr: Option<f64>,
    mse: Option<usize>,
    con: Option<usize>,
    seed: Option<u64>,
    temp: Option<f32>,
) -> Preset {
    Preset { name, learning_rate: lr, mse_epochs: mse, con_epochs: con, seed, temperature_l: temp, preprocess: None }
}

/// `preset` with the lineage's scaling of its dataset.
const fn scaled(preset: Preset, how: Preprocess) -> Preset {
    Preset { preprocess: Some(how), ..preset }
}

/// The seed's presets, in its order.
pub const PRESETS: &[Preset] = &[
    p("MNIST-USPS", Some(0.00059), Some(50), Some(250), Some(2), Some(0.01)),
    p("BDGP", Some(0.00002), Some(200), Some(300), Some(25), Some(0.6)),
    p("Caltech-5V", None, None, Some(151), None, Some(0.02)),
    p("Caltech-4V", Some(0.00023), None, Some(300), Some(25), Some(0.12)),
    p("Caltech-3V", Some(0.00023), None, Some(300), Some(3), Some(0.05)),
    p("Caltech-2V", Some(0.0002), Some(50), Some(100), Some(25), Some(0.03)),
    p("Cora", Some(0.00032), Some(50), Some(15), Some(25), Some(0.55)),
    // The seed imports `load_data` from a `dataloader.py` it does not include; its table gives
    // Prokaryotic's dims as [438, 3, 393], as the lineage's public loaders do (CMSA's
    // `dataloader.py` among them), and each of those read here takes the three views as stored
    // (`astype(np.float32)`, no scaler) while it min-maxes other datasets. Per-feature scaling costs this
    // dataset its structure: docs/RESULTS.md, "Session 44".
    scaled(p("Prokaryotic", Some(0.00001), Some(50), Some(28), Some(25), None), Preprocess::None),
    p("Scene15", Some(0.00004), Some(50), Some(300), Some(25), Some(0.02)),
    p("Wiki", Some(0.000055), Some(50), Some(300), Some(25), Some(0.06)),
    p("Reuters", Some(0.00005), Some(50), Some(144), Some(25), Some(0.03)),
];

/// Names of the presets.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

fn normalise(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
}

/// Finds a preset by name, ignoring case and punctuation (`mnist_usps` finds `MNIST-USPS`).
pub fn find(name: &str) -> Result<&'static Preset, String> {
    let want = normalise(name);
    PRESETS
        .iter()
        .find(|p| normalise(p.name) == want)
        .ok_or_else(|| format!("there is no preset {name:?}; the presets are: {}", names().join(", ")))
}

/// The seed's preset for a dataset, by its name or its file's name (`../shared/datasets/BDGP.mat`
/// and `bdgp` find `BDGP`; `MNIST_USPS.mat` finds `MNIST-USPS`), the way the seed's `train.py`
/// picks its settings by the dataset's name; `None` for a dataset the seed has no preset for.
pub fn for_dataset(name: &str) -> Option<&'static Preset> {
    let stem = std::path::Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name);
    find(stem).ok()
}

/// The scaling a run's data gets: the user's choice where they made one, else its preset's (by
/// the preset's name, as `TrainConfig::preset` holds it), else min-max (the default). The one
/// rule `train`, `sweep`, `serve` and the app follow.
pub fn scaling(preset: Option<&str>, chosen: Option<Preprocess>) -> Preprocess {
    chosen.or_else(|| preset.and_then(|name| find(name).ok()).and_then(|p| p.preprocess)).unwrap_or_default()
}

/// The config field names a preset may set.
pub const PRESET_FIELDS: &[&str] = &["learning_rate", "mse_epochs", "con_epochs", "seed", "temperature_l"];

impl Preset {
    /// Applies the preset to `cfg`, skipping every field named in `explicit`
    /// (the ones the user set). Returns the fields it changed.
    pub fn apply(&self, cfg: &mut TrainConfig, explicit: &[&str]) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let free = |f: &str| !explicit.contains(&f);
        if let Some(v) = self.learning_rate.filter(|_| free("learning_rate")) {
            cfg.learning_rate = v;
            changed.push("learning_rate");
        }
        if let Some(v) = self.mse_epochs.filter(|_| free("mse_epochs")) {
            cfg.mse_epochs = v;
            changed.push("mse_epochs");
        }
        if let Some(v) = self.con_epochs.filter(|_| free("con_epochs")) {
            cfg.con_epochs = v;
            changed.push("con_epochs");
        }
        if let Some(v) = self.seed.filter(|_| free("seed")) {
            cfg.seed = v;
            changed.push("seed");
        }
        if let Some(v) = self.temperature_l.filter(|_| free("temperature_l")) {
            cfg.temperature_l = v;
            changed.push("temperature_l");
        }
        cfg.preset = Some(self.name.to_string());
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_never_overrides_explicit_fields() {
        let mut cfg = TrainConfig { learning_rate: 0.1, ..TrainConfig::default() };
        let changed = find("mnist_usps").unwrap().apply(&mut cfg, &["learning_rate"]);
        assert_eq!(cfg.learning_rate, 0.1);
        assert_eq!(cfg.con_epochs, 250);
        assert_eq!(cfg.seed, 2);
        assert!(!changed.contains(&"learning_rate"));
        assert_eq!(cfg.preset.as_deref(), Some("MNIST-USPS"));
        assert!(find("nope").unwrap_err().contains("MNIST-USPS"));
    }

    #[test]
    fn a_dataset_file_finds_its_preset_by_name() {
        assert_eq!(for_dataset("../shared/datasets/MNIST_USPS.mat").map(|p| p.name), Some("MNIST-USPS"));
        assert_eq!(for_dataset("/data/BDGP.mat").map(|p| p.name), Some("BDGP"));
        assert_eq!(for_dataset("prokaryotic").map(|p| p.name), Some("Prokaryotic"));
        assert_eq!(for_dataset("../shared/datasets/handwritten.mat"), None);
        assert_eq!(for_dataset("gauss3-noise"), None);
    }

    #[test]
    fn the_users_scaling_wins_over_the_presets_which_wins_over_the_default() {
        assert_eq!(scaling(Some("Prokaryotic"), None), Preprocess::None);
        assert_eq!(scaling(Some("prokaryotic"), Some(Preprocess::ZScore)), Preprocess::ZScore);
        assert_eq!(scaling(Some("Prokaryotic"), Some(Preprocess::MinMax)), Preprocess::MinMax);
        assert_eq!(scaling(Some("MNIST-USPS"), None), Preprocess::MinMax);
        assert_eq!(scaling(None, None), Preprocess::MinMax);
        assert_eq!(scaling(None, Some(Preprocess::Auto)), Preprocess::Auto);
        // Names that are not presets (the app's demo and full-defaults entries) scale as the default.
        assert_eq!(scaling(Some("Demo (small, fast)"), None), Preprocess::MinMax);
    }
}
