//! Per-view, per-feature scaling applied before training.

use serde::{Deserialize, Serialize};

use super::dataset::{MultiViewDataset, ViewData};

/// How each feature of each view is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preprocess {
    /// `(x - min) / (max - min)` per feature (the MFLVC family's default).
    #[default]
    #[serde(alias = "minmax")]
    MinMax,
    /// `(x - mean) / std` per feature.
    #[serde(alias = "zscore")]
    ZScore,
    /// Values as stored.
    None,
    /// Per view: z-score where at least [`AUTO_DENSE_SHARE`] of the view's entries are non-zero,
    /// min-max otherwise. Z-scoring a mostly-zero feature turns its rare non-zeros into large
    /// outliers (a word in 2 of 203 WebKB pages becomes ~10 standard deviations) and makes a
    /// sparse view dense; on dense views it is the standard scaling, and it lets features whose
    /// range is set by a few outliers count in the reconstruction (docs/RESULTS.md, session 28).
    Auto,
}

/// The share of non-zero entries at or above which [`Preprocess::Auto`] z-scores a view.
pub const AUTO_DENSE_SHARE: f64 = 0.5;

/// The share of a view's entries that are non-zero (stored sparse zeros and explicit zeros alike).
pub fn nonzero_share(data: &ViewData) -> f64 {
    let total = data.rows() * data.cols();
    if total == 0 {
        return 0.0;
    }
    data.nonzero() as f64 / total as f64
}

impl std::str::FromStr for Preprocess {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minmax" | "min-max" => Ok(Preprocess::MinMax),
            "zscore" | "z-score" => Ok(Preprocess::ZScore),
            "none" => Ok(Preprocess::None),
            "auto" => Ok(Preprocess::Auto),
            o => Err(format!("unknown preprocessing {o:?}; use minmax, zscore, auto or none")),
        }
    }
}

impl Preprocess {
    pub fn as_str(&self) -> &'static str {
        match self {
            Preprocess::MinMax => "minmax",
            Preprocess::ZScore => "zscore",
            Preprocess::None => "none",
            Preprocess::Auto => "auto",
        }
    }

    /// The scaling this choice applies to one view: `auto` resolves by the view's density,
    /// every other choice is itself.
    pub fn for_view(self, data: &ViewData) -> Preprocess {
        match self {
            Preprocess::Auto if nonzero_share(data) >= AUTO_DENSE_SHARE => Preprocess::ZScore,
            Preprocess::Auto => Preprocess::MinMax,
            other => other,
        }
    }
}

/// Per-feature statistics over all samples (implicit sparse zeros included).
fn column_stats(data: &ViewData) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (rows, cols) = (data.rows(), data.cols());
    let mut min = vec![f64::INFINITY; cols];
    let mut max = vec![f64::NEG_INFINITY; cols];
    let mut sum = vec![0f64; cols];
    let mut sq = vec![0f64; cols];
    match data {
        ViewData::Dense { values, .. } => {
            for row in values.chunks_exact(cols.max(1)) {
                for (j, &x) in row.iter().enumerate() {
                    let x = x as f64;
                    min[j] = min[j].min(x);
                    max[j] = max[j].max(x);
                    sum[j] += x;
                    sq[j] += x * x;
                }
            }
        }
        ViewData::Sparse(m) => {
            let mut nnz = vec![0usize; cols];
            for (k, &x) in m.values.iter().enumerate() {
                let j = m.indices[k] as usize;
                let x = x as f64;
                min[j] = min[j].min(x);
                max[j] = max[j].max(x);
                sum[j] += x;
                sq[j] += x * x;
                nnz[j] += 1;
            }
            for j in 0..cols {
                if nnz[j] < rows {
                    min[j] = min[j].min(0.0);
                    max[j] = max[j].max(0.0);
                }
            }
        }
    }
    for j in 0..cols {
        if rows == 0 {
            min[j] = 0.0;
            max[j] = 0.0;
        }
    }
    (min, max, sum, sq)
}

/// Scales every view in place. Constant features become 0 (never NaN).
/// A sparse view stays sparse when the scaling maps 0 to 0 (min-max with
/// every feature's minimum at 0); otherwise it is made dense.
/// Returns the scaling each view got (`auto` resolved per view).
pub fn apply(ds: &mut MultiViewDataset, how: Preprocess) -> Vec<Preprocess> {
    let mut applied = Vec::with_capacity(ds.views.len());
    for view in &mut ds.views {
        let how = how.for_view(&view.data);
        applied.push(how);
        if how == Preprocess::None {
            continue;
        }
        let (rows, cols) = (view.data.rows(), view.data.cols());
        let (min, max, sum, sq) = column_stats(&view.data);
        let n = rows.max(1) as f64;
        // x' = (x - shift) * scale
        let (shift, scale): (Vec<f64>, Vec<f64>) = match how {
            Preprocess::MinMax => (0..cols)
                .map(|j| {
                    let range = max[j] - min[j];
                    (min[j], if range > 0.0 && range.is_finite() { 1.0 / range } else { 0.0 })
                })
                .unzip(),
            Preprocess::ZScore => (0..cols)
                .map(|j| {
                    let mean = sum[j] / n;
                    let var = (sq[j] / n - mean * mean).max(0.0);
                    let sd = var.sqrt();
                    (mean, if sd > 1e-12 * mean.abs().max(1.0) { 1.0 / sd } else { 0.0 })
                })
                .unzip(),
            Preprocess::None | Preprocess::Auto => unreachable!("resolved above"),
        };
        let keeps_zero = shift.iter().all(|&s| s == 0.0);
        match &mut view.data {
            ViewData::Sparse(m) if keeps_zero => {
                for (k, x) in m.values.iter_mut().enumerate() {
                    let j = m.indices[k] as usize;
                    *x = ((*x as f64) * scale[j]) as f32;
                }
            }
            data => {
                let mut values = data.to_dense();
                for row in values.chunks_exact_mut(cols.max(1)) {
                    for (j, x) in row.iter_mut().enumerate() {
                        *x = ((*x as f64 - shift[j]) * scale[j]) as f32;
                    }
                }
                *data = ViewData::Dense { rows, cols, values };
            }
        }
    }
    applied
}
