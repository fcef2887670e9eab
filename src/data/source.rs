//! Where a dataset comes from — a built-in name or a file — and the one way every front end
//! (app, CLI, `serve`) loads it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{DataError, LoadOptions, MultiViewDataset, builtin, load_dataset};

/// A dataset's origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatasetSource {
    /// A built-in synthetic dataset by name ([`builtin::names`]).
    Builtin(String),
    /// A MAT file.
    File(PathBuf),
}

impl DatasetSource {
    /// Reads a dataset argument (`DATA` of the CLI, `dataset` of `/train`, `--dataset` of the app):
    /// a built-in name or a path.
    pub fn parse(s: &str) -> Self {
        if builtin::description(s).is_some() { Self::Builtin(s.to_owned()) } else { Self::File(PathBuf::from(s)) }
    }

    /// A short name for the window: the built-in's name or the file's name.
    pub fn display(&self) -> String {
        match self {
            Self::Builtin(n) => format!("{n} (built-in)"),
            Self::File(p) => {
                p.file_name().map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into_owned())
            }
        }
    }

    /// The full form records keep: `builtin:NAME` or the path.
    pub fn describe(&self) -> String {
        match self {
            Self::Builtin(n) => format!("builtin:{n}"),
            Self::File(p) => p.display().to_string(),
        }
    }

    /// The form [`DatasetSource::parse`] reads back (the built-in's name or the path): what run
    /// records keep, so that a run can be trained again from its record.
    pub fn arg(&self) -> String {
        match self {
            Self::Builtin(n) => n.clone(),
            Self::File(p) => p.display().to_string(),
        }
    }

    /// Loads the dataset (the options apply to files; built-ins are generated as they are) and
    /// checks that it has views and samples.
    pub fn load(&self, opts: &LoadOptions) -> Result<MultiViewDataset, DataError> {
        let ds = match self {
            Self::Builtin(name) => builtin::generate(name)?,
            Self::File(path) => load_dataset(path, opts)?,
        };
        if ds.n_views() == 0 || ds.n_samples() == 0 {
            return Err(DataError::Other(format!("{}: the dataset has no views or no samples", self.describe())));
        }
        Ok(ds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_builtins_and_anything_else_to_files() {
        assert_eq!(DatasetSource::parse("gauss3-noise"), DatasetSource::Builtin("gauss3-noise".into()));
        assert_eq!(DatasetSource::parse("x/gauss3-noise.mat"), DatasetSource::File("x/gauss3-noise.mat".into()));
        assert_eq!(DatasetSource::parse("gauss3-noise").describe(), "builtin:gauss3-noise");
        for s in ["gauss3-noise", "/data/BDGP.mat"] {
            assert_eq!(DatasetSource::parse(&DatasetSource::parse(s).arg()), DatasetSource::parse(s));
        }
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e = DatasetSource::parse("/nonexistent/BDGP.mat").load(&LoadOptions::default()).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/BDGP.mat"), "{e}");
        let ds = DatasetSource::parse("gauss3-noise").load(&LoadOptions::default()).unwrap();
        assert_eq!(ds.n_views(), 3);
    }

    #[test]
    fn the_cluster_count_is_checked_in_one_place() {
        use crate::data::ClusterCountError;
        let mut ds = DatasetSource::parse("gauss3-noise").load(&LoadOptions::default()).unwrap();
        let (k, n) = (ds.n_clusters().unwrap(), ds.n_samples());
        assert_eq!(ds.clusters_for(None), Ok(k));
        assert_eq!(ds.clusters_for(Some(5)), Ok(5));
        assert_eq!(ds.clusters_for(Some(1)), Err(ClusterCountError::TooFew { k: 1, from_labels: false }));
        assert_eq!(ds.clusters_for(Some(n + 1)), Err(ClusterCountError::MoreThanSamples { k: n + 1, n }));
        ds.labels = None;
        let e = ds.clusters_for(None).unwrap_err();
        assert_eq!(e, ClusterCountError::Unlabelled);
        assert!(e.to_string().contains("no labels"), "{e}");
    }
}
