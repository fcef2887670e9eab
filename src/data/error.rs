//! Errors of the data layer. Every message names the file and, where it
//! applies, the variable and what was expected.

use std::path::PathBuf;

/// Something went wrong reading or interpreting a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: cannot read the file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a MAT file ({why})")]
    NotMat { path: PathBuf, why: String },
    #[error("{path}: the file is damaged: {why}")]
    Corrupt { path: PathBuf, why: String },
    #[error("{path}: variable `{variable}`: {why}")]
    Variable { path: PathBuf, variable: String, why: String },
    #[error("{path}: {why}")]
    Layout { path: PathBuf, why: String },
    #[error("{path}: HDF5 (MAT v7.3) error: {why}")]
    Hdf5 { path: PathBuf, why: String },
    #[error("{0}")]
    Other(String),
}

impl DataError {
    pub(crate) fn corrupt(path: &std::path::Path, why: impl Into<String>) -> Self {
        DataError::Corrupt { path: path.to_path_buf(), why: why.into() }
    }
    pub(crate) fn variable(path: &std::path::Path, variable: &str, why: impl Into<String>) -> Self {
        DataError::Variable { path: path.to_path_buf(), variable: variable.to_string(), why: why.into() }
    }
    pub(crate) fn layout(path: &std::path::Path, why: impl Into<String>) -> Self {
        DataError::Layout { path: path.to_path_buf(), why: why.into() }
    }
}

/// The number of clusters cannot be used with a dataset ([`super::MultiViewDataset::clusters_for`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterCountError {
    #[error("the dataset has no labels, so the number of clusters must be set (n_clusters)")]
    Unlabelled,
    #[error("clustering needs at least 2 clusters, {} {k}", if *from_labels { "the labels give" } else { "n_clusters is" })]
    TooFew { k: usize, from_labels: bool },
    #[error("there are more clusters ({k}) than samples ({n})")]
    MoreThanSamples { k: usize, n: usize },
}

/// A view selection (`--views`, `TrainConfig::views`) cannot be applied
/// ([`super::MultiViewDataset::select_views`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewSelectError {
    #[error("the list of views is empty")]
    Empty,
    #[error("there is no view {name:?}; the dataset's views are {}", available.join(", "))]
    NoSuchView { name: String, available: Vec<String> },
}

/// A class filter (`--classes`) cannot be applied ([`super::MultiViewDataset::select_classes`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassFilterError {
    #[error("the dataset has no labels, so it cannot be filtered by class")]
    Unlabelled,
    #[error("the list of classes is empty")]
    Empty,
    #[error("there is no class {class}: the dataset's class ids are 0 to {} (as `inspect` lists them)", k - 1)]
    NoSuchClass { class: usize, k: usize },
}
