//! The in-memory multi-view dataset every other layer works with.

use std::path::PathBuf;

use serde::Serialize;

use super::error::{ClassFilterError, ClusterCountError, ViewSelectError};

/// A compressed-sparse-row matrix (samples × features), `f32` values.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    pub rows: usize,
    pub cols: usize,
    /// `indptr[r]..indptr[r + 1]` indexes `indices` / `values` of row `r`.
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl CsrMatrix {
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Dense row-major copy.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.rows * self.cols];
        for r in 0..self.rows {
            let row = &mut out[r * self.cols..(r + 1) * self.cols];
            for k in self.indptr[r]..self.indptr[r + 1] {
                row[self.indices[k] as usize] = self.values[k];
            }
        }
        out
    }
}

/// The values of one view, samples × features.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewData {
    /// Row-major, `rows * cols` values.
    Dense {
        rows: usize,
        cols: usize,
        values: Vec<f32>,
    },
    Sparse(CsrMatrix),
}

impl ViewData {
    pub fn rows(&self) -> usize {
        match self {
            ViewData::Dense { rows, .. } => *rows,
            ViewData::Sparse(m) => m.rows,
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            ViewData::Dense { cols, .. } => *cols,
            ViewData::Sparse(m) => m.cols,
        }
    }

    pub fn is_sparse(&self) -> bool {
        matches!(self, ViewData::Sparse(_))
    }

    /// Number of stored non-zero values.
    pub fn nonzero(&self) -> usize {
        match self {
            ViewData::Dense { values, .. } => values.iter().filter(|v| **v != 0.0).count(),
            ViewData::Sparse(m) => m.values.iter().filter(|v| **v != 0.0).count(),
        }
    }

    /// A dense row-major copy of the whole view.
    pub fn to_dense(&self) -> Vec<f32> {
        match self {
            ViewData::Dense { values, .. } => values.clone(),
            ViewData::Sparse(m) => m.to_dense(),
        }
    }

    /// Dense row-major copy of the given sample rows (a mini-batch).
    pub fn gather_rows(&self, rows: &[usize]) -> Vec<f32> {
        let cols = self.cols();
        let mut out = vec![0.0f32; rows.len() * cols];
        for (i, &r) in rows.iter().enumerate() {
            let dst = &mut out[i * cols..(i + 1) * cols];
            match self {
                ViewData::Dense { values, .. } => dst.copy_from_slice(&values[r * cols..(r + 1) * cols]),
                ViewData::Sparse(m) => {
                    for k in m.indptr[r]..m.indptr[r + 1] {
                        dst[m.indices[k] as usize] = m.values[k];
                    }
                }
            }
        }
        out
    }

    /// Visits every entry, the implicit zeros of a sparse view included (as one count).
    /// Returns `(sum, sum_sq, min, max, non_finite)` accumulated in `f64`.
    pub fn stats(&self) -> ViewStats {
        let (vals, implicit_zeros): (&[f32], usize) = match self {
            ViewData::Dense { values, .. } => (values, 0),
            ViewData::Sparse(m) => (&m.values, m.rows * m.cols - m.nnz()),
        };
        let mut s = ViewStats {
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            non_finite: 0,
            count: vals.len() + implicit_zeros,
        };
        for &v in vals {
            if !v.is_finite() {
                s.non_finite += 1;
                continue;
            }
            let v = v as f64;
            s.sum += v;
            s.sum_sq += v * v;
            s.min = s.min.min(v);
            s.max = s.max.max(v);
        }
        if implicit_zeros > 0 {
            s.min = s.min.min(0.0);
            s.max = s.max.max(0.0);
        }
        if s.count == 0 {
            s.min = 0.0;
            s.max = 0.0;
        }
        s
    }
}

/// Summary statistics of a view (all entries, implicit sparse zeros included).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ViewStats {
    pub sum: f64,
    pub sum_sq: f64,
    pub min: f64,
    pub max: f64,
    pub non_finite: usize,
    pub count: usize,
}

impl ViewStats {
    pub fn mean(&self) -> f64 {
        let n = (self.count - self.non_finite).max(1) as f64;
        self.sum / n
    }

    pub fn std(&self) -> f64 {
        let n = (self.count - self.non_finite).max(1) as f64;
        let m = self.mean();
        (self.sum_sq / n - m * m).max(0.0).sqrt()
    }
}

/// One view of the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Display name (e.g. `X{1}`, `X1`, or a name from a `view_meaning` cell).
    pub name: String,
    /// Where it came from in the file, e.g. `X{1}` or `data{2}`.
    pub source: String,
    /// Whether the file stored it features × samples (and it was transposed).
    pub transposed: bool,
    pub data: ViewData,
}

/// Ground-truth labels mapped to `0..K-1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// The variable they were read from.
    pub variable: String,
    /// Values as stored in the file.
    pub raw: Vec<f64>,
    /// `raw` mapped to `0..K-1` in ascending order of the raw values.
    pub ids: Vec<usize>,
    /// The distinct raw values, ascending; `classes[ids[i]] == raw[i]`.
    pub classes: Vec<f64>,
    /// Class names when the file has them (same order as `classes`).
    pub class_names: Option<Vec<String>>,
}

impl Labels {
    /// Builds labels from raw values (any ids: 0- or 1-based or arbitrary).
    pub fn from_raw(variable: impl Into<String>, raw: Vec<f64>) -> Self {
        // `-0.0` and `0.0` are one class (MATLAB and numpy can write both); every NaN is one
        // class too (the loader refuses NaN labels before this, but nothing here may panic).
        let key = |v: f64| {
            if v == 0.0 {
                0.0
            } else if v.is_nan() {
                f64::NAN
            } else {
                v
            }
        };
        let mut classes: Vec<f64> = raw.iter().map(|&v| key(v)).collect();
        classes.sort_by(|a, b| a.total_cmp(b));
        classes.dedup_by(|a, b| a.total_cmp(b).is_eq());
        let ids = raw
            .iter()
            .map(|&v| {
                let v = key(v);
                // Always found: `classes` holds every key under the same total order.
                classes.binary_search_by(|c| c.total_cmp(&v)).unwrap_or_else(|i| i.min(classes.len() - 1))
            })
            .collect();
        Labels { variable: variable.into(), raw, ids, classes, class_names: None }
    }

    pub fn n_clusters(&self) -> usize {
        self.classes.len()
    }

    /// The display name of class id `k`.
    pub fn class_name(&self, k: usize) -> String {
        if let Some(names) = &self.class_names
            && let Some(n) = names.get(k)
        {
            return n.clone();
        }
        format_raw(self.classes[k])
    }

    /// Count per raw class value.
    pub fn counts(&self) -> Vec<(f64, usize)> {
        let mut c = vec![0usize; self.classes.len()];
        for &i in &self.ids {
            c[i] += 1;
        }
        self.classes.iter().copied().zip(c).collect()
    }
}

/// Formats a raw label value without a trailing `.0` for integers.
pub fn format_raw(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// A variable the loader looked at and did not use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ignored {
    pub name: String,
    pub why: String,
}

/// Which MAT container the file was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MatFormat {
    #[serde(rename = "v4")]
    V4,
    #[serde(rename = "v5")]
    V5,
    #[serde(rename = "v7.3")]
    V73,
    /// Generated in memory (built-in synthetic sets before they are written).
    #[serde(rename = "generated")]
    Generated,
    /// A NumPy `.npy` array (`data::embeddings`).
    #[serde(rename = "npy")]
    Npy,
    /// A NumPy `.npz` archive of arrays.
    #[serde(rename = "npz")]
    Npz,
    /// Delimited text, `.csv` or `.tsv`.
    #[serde(rename = "csv")]
    Csv,
}

impl MatFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            MatFormat::V4 => "v4",
            MatFormat::V5 => "v5",
            MatFormat::V73 => "v7.3",
            MatFormat::Generated => "generated",
            MatFormat::Npy => "npy",
            MatFormat::Npz => "npz",
            MatFormat::Csv => "csv",
        }
    }
}

/// A multi-view dataset: views that share their samples, and optional labels.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiViewDataset {
    pub name: String,
    pub path: Option<PathBuf>,
    pub format: MatFormat,
    pub views: Vec<View>,
    pub labels: Option<Labels>,
    pub ignored: Vec<Ignored>,
}

impl MultiViewDataset {
    /// The views of `rows` side by side, row-major, and the width (the sum of the views' widths).
    pub fn side_by_side(&self, rows: &[usize]) -> (Vec<f32>, usize) {
        let views: Vec<(Vec<f32>, usize)> =
            self.views.iter().map(|v| (v.data.gather_rows(rows), v.data.cols())).collect();
        let width: usize = views.iter().map(|(_, c)| c).sum();
        let mut out = Vec::with_capacity(rows.len() * width);
        for r in 0..rows.len() {
            for (data, cols) in &views {
                out.extend_from_slice(&data[r * cols..(r + 1) * cols]);
            }
        }
        (out, width)
    }

    pub fn n_samples(&self) -> usize {
        self.views.first().map(|v| v.data.rows()).unwrap_or(0)
    }

    pub fn n_views(&self) -> usize {
        self.views.len()
    }

    pub fn view_dims(&self) -> Vec<usize> {
        self.views.iter().map(|v| v.data.cols()).collect()
    }

    /// Number of label classes, if labelled.
    pub fn n_clusters(&self) -> Option<usize> {
        self.labels.as_ref().map(|l| l.n_clusters())
    }

    /// The number of clusters a run on this dataset uses: `requested` (the config's `n_clusters`)
    /// when given, else the label classes; at least 2 and at most the sample count. The one
    /// check of the app, the CLI, `serve` and the trainer.
    pub fn clusters_for(&self, requested: Option<usize>) -> Result<usize, ClusterCountError> {
        let k = match (requested, self.n_clusters()) {
            (Some(k), _) | (None, Some(k)) => k,
            (None, None) => return Err(ClusterCountError::Unlabelled),
        };
        if k < 2 {
            return Err(ClusterCountError::TooFew { k, from_labels: requested.is_none() });
        }
        let n = self.n_samples();
        if k > n {
            return Err(ClusterCountError::MoreThanSamples { k, n });
        }
        Ok(k)
    }

    /// The samples of the given label classes (ids `0..K-1` as `inspect` lists them, in any
    /// order): the class-incremental protocol's filter (`train --classes`, `update --classes`).
    /// The kept samples stay in file order; their labels are renumbered `0..K'-1` in the order of
    /// the raw values, with the class names carried along. Sparse views become dense.
    pub fn select_classes(&self, classes: &[usize]) -> Result<MultiViewDataset, ClassFilterError> {
        let labels = self.labels.as_ref().ok_or(ClassFilterError::Unlabelled)?;
        let k = labels.n_clusters();
        if classes.is_empty() {
            return Err(ClassFilterError::Empty);
        }
        if let Some(&bad) = classes.iter().find(|&&c| c >= k) {
            return Err(ClassFilterError::NoSuchClass { class: bad, k });
        }
        let rows: Vec<usize> = (0..self.n_samples()).filter(|&i| classes.contains(&labels.ids[i])).collect();
        Ok(self.select_rows(&rows))
    }

    /// Only the named views, in the order named: a name matches a view's source variable (`X1`,
    /// `X{2}`) or its display name. Selecting from a dataset that already holds exactly these
    /// views returns it unchanged, so a selection can be applied again safely.
    pub fn select_views(&self, names: &[String]) -> Result<MultiViewDataset, ViewSelectError> {
        if names.is_empty() {
            return Err(ViewSelectError::Empty);
        }
        let mut views = Vec::with_capacity(names.len());
        for name in names {
            let name = name.trim();
            let found = self
                .views
                .iter()
                .find(|v| v.source == name)
                .or_else(|| self.views.iter().find(|v| v.name == name))
                .or_else(|| self.views.iter().find(|v| v.source.eq_ignore_ascii_case(name)));
            match found {
                Some(v) => views.push(v.clone()),
                None => {
                    return Err(ViewSelectError::NoSuchView {
                        name: name.to_owned(),
                        available: self.views.iter().map(|v| v.source.clone()).collect(),
                    });
                }
            }
        }
        Ok(MultiViewDataset {
            name: self.name.clone(),
            path: self.path.clone(),
            format: self.format,
            views,
            labels: self.labels.clone(),
            ignored: self.ignored.clone(),
        })
    }

    /// The given rows (in that order) of every view and of the labels, as a new dataset.
    pub fn select_rows(&self, rows: &[usize]) -> MultiViewDataset {
        let views = self
            .views
            .iter()
            .map(|v| View {
                data: ViewData::Dense { rows: rows.len(), cols: v.data.cols(), values: v.data.gather_rows(rows) },
                ..v.clone()
            })
            .collect();
        let labels = self.labels.as_ref().map(|l| {
            let mut out = Labels::from_raw(l.variable.clone(), rows.iter().map(|&r| l.raw[r]).collect());
            if let Some(names) = &l.class_names {
                // `from_raw` keeps the raw values' order, so the kept classes' names keep theirs.
                let kept: Vec<String> = out
                    .classes
                    .iter()
                    .filter_map(|c| l.classes.iter().position(|x| x.total_cmp(c).is_eq()).map(|i| names[i].clone()))
                    .collect();
                out.class_names = (kept.len() == out.classes.len()).then_some(kept);
            }
            out
        });
        MultiViewDataset {
            name: self.name.clone(),
            path: self.path.clone(),
            format: self.format,
            views,
            labels,
            ignored: self.ignored.clone(),
        }
    }

    /// The samples of several datasets of the same views, one after the other (labels by their
    /// raw values, so the same class keeps one id). `None` when the view sizes differ or only
    /// some parts are labelled.
    pub fn concat(parts: &[MultiViewDataset]) -> Option<MultiViewDataset> {
        let first = parts.first()?;
        if parts.iter().any(|p| p.view_dims() != first.view_dims() || p.labels.is_some() != first.labels.is_some()) {
            return None;
        }
        let views = (0..first.n_views())
            .map(|v| {
                let mut values = Vec::new();
                for p in parts {
                    values.extend(p.views[v].data.gather_rows(&(0..p.n_samples()).collect::<Vec<_>>()));
                }
                let rows = parts.iter().map(MultiViewDataset::n_samples).sum();
                View {
                    data: ViewData::Dense { rows, cols: first.views[v].data.cols(), values },
                    ..first.views[v].clone()
                }
            })
            .collect();
        let labels = first.labels.as_ref().map(|l| {
            let raw = parts.iter().flat_map(|p| p.labels.as_ref().map(|l| l.raw.clone()).unwrap_or_default()).collect();
            Labels::from_raw(l.variable.clone(), raw)
        });
        Some(MultiViewDataset {
            name: first.name.clone(),
            path: first.path.clone(),
            format: first.format,
            views,
            labels,
            ignored: first.ignored.clone(),
        })
    }

    /// Label ids `0..K-1`, if labelled.
    pub fn label_ids(&self) -> Option<&[usize]> {
        self.labels.as_ref().map(|l| l.ids.as_slice())
    }

    /// A stable fingerprint of shapes, labels and values (hex SHA-256),
    /// used by checkpoints to refuse the wrong data.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update((self.views.len() as u64).to_le_bytes());
        for v in &self.views {
            h.update((v.data.rows() as u64).to_le_bytes());
            h.update((v.data.cols() as u64).to_le_bytes());
            match &v.data {
                ViewData::Dense { values, .. } => {
                    for x in values {
                        h.update(x.to_bits().to_le_bytes());
                    }
                }
                ViewData::Sparse(m) => {
                    for p in &m.indptr {
                        h.update((*p as u64).to_le_bytes());
                    }
                    for i in &m.indices {
                        h.update(i.to_le_bytes());
                    }
                    for x in &m.values {
                        h.update(x.to_bits().to_le_bytes());
                    }
                }
            }
        }
        if let Some(l) = &self.labels {
            for id in &l.ids {
                h.update((*id as u64).to_le_bytes());
            }
        }
        let out = h.finalize();
        out.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod class_filter_tests {
    use super::*;

    #[test]
    fn class_filters_keep_the_named_classes_and_concat_undoes_them() {
        let ds = crate::data::builtin::generate("gauss3-noise").unwrap();
        let ids = ds.label_ids().unwrap().to_vec();
        let old = ds.select_classes(&[0, 1, 2]).unwrap();
        let new = ds.select_classes(&[3]).unwrap();
        assert_eq!(old.n_samples(), ids.iter().filter(|&&c| c < 3).count());
        assert_eq!(old.n_clusters(), Some(3));
        assert_eq!(new.n_clusters(), Some(1));
        assert_eq!(old.n_samples() + new.n_samples(), ds.n_samples());
        let both = MultiViewDataset::concat(&[old.clone(), new]).unwrap();
        assert_eq!(both.n_clusters(), Some(4));
        assert_eq!(both.n_samples(), ds.n_samples());
        assert_eq!(ds.select_classes(&[4]).unwrap_err(), ClassFilterError::NoSuchClass { class: 4, k: 4 });
        assert!(ds.select_classes(&[9]).unwrap_err().to_string().contains("0 to 3"));
        assert_eq!(ds.select_classes(&[]).unwrap_err(), ClassFilterError::Empty);
        // Filtering is by id of the dataset given: the same filter on the same data is reproducible.
        assert_eq!(ds.select_classes(&[2, 0, 1]).unwrap().fingerprint(), old.fingerprint());
    }
}
