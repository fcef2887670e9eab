//! From MAT variables to a [`MultiViewDataset`]: which variable is the label,
//! which are the views, and which way round they are stored.

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::dataset::{CsrMatrix, Ignored, Labels, MultiViewDataset, View, ViewData};
use super::error::DataError;
use super::mat::{self, MatFile, MatValue, NumericArray, SparseArray};

/// What to do with NaN / ±Inf values in a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NonFinite {
    /// Refuse the file, reporting how many there are.
    #[default]
    Error,
    /// Replace them by 0.
    Zero,
    /// Replace them by the mean of the finite values of their feature.
    ColumnMean,
    /// Keep them (for inspection only: training refuses them).
    Keep,
}

impl std::str::FromStr for NonFinite {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "error" => Ok(NonFinite::Error),
            "zero" => Ok(NonFinite::Zero),
            "mean" | "column-mean" => Ok(NonFinite::ColumnMean),
            "keep" => Ok(NonFinite::Keep),
            o => Err(format!("unknown non-finite policy {o:?}; use error, zero, mean or keep")),
        }
    }
}

/// The user's overrides of the layout guess. `Default` guesses everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// Variables to use as views, in order: a variable name (`X1`), a whole
    /// cell (`X`, every element a view) or one cell element (`X{2}`).
    pub views: Option<Vec<String>>,
    /// The label variable (`Y`, or a cell element `Y{1}`).
    pub labels: Option<String>,
    /// Load without labels even if the file has some.
    pub no_labels: bool,
    pub non_finite: NonFinite,
}

/// A variable of the file as the override UI lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariableInfo {
    pub name: String,
    /// e.g. `2500x1 double`, `1x2 cell`.
    pub description: String,
    /// Usable as a view (a 2-D numeric or sparse matrix, or a cell of them).
    pub view_candidate: bool,
    /// Usable as labels (a numeric vector).
    pub label_candidate: bool,
}

const LABEL_NAMES: &[&str] =
    &["y", "gt", "truth", "truelabel", "truelabels", "label", "labels", "gnd", "gnd_label", "target", "targets"];
const VIEW_CELL_NAMES: &[&str] = &["x", "data", "fea", "feature", "features", "views"];
const CLASS_NAME_VARS: &[&str] =
    &["class_meaning", "classnames", "class_names", "labelnames", "label_names", "categories"];
const VIEW_NAME_VARS: &[&str] = &["view_meaning", "viewnames", "view_names"];

/// Reads a dataset file's variables: an embeddings file (`.npy`, `.npz`, `.csv`, `.tsv`;
/// [`super::embeddings`]) by its first bytes or extension, otherwise a MAT file. `label_column` is
/// the label column of a delimited file.
pub fn read_variables(path: &Path, label_column: Option<&str>) -> Result<MatFile, DataError> {
    use std::io::Read;
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| DataError::Io { path: path.to_path_buf(), source: e })?;
    match super::embeddings::sniff(path, &head[..n]) {
        Some(kind) => super::embeddings::read(path, kind, label_column),
        None => mat::read_mat(path),
    }
}

/// Lists the variables of a file for the override UI.
pub fn list_variables(path: &Path) -> Result<Vec<VariableInfo>, DataError> {
    let file = read_variables(path, None)?;
    Ok(file
        .variables
        .iter()
        .map(|v| VariableInfo {
            name: v.name.clone(),
            description: v.value.describe(),
            view_candidate: is_matrix(&v.value)
                || matches!(&v.value, MatValue::Cell { items, .. } if !items.is_empty() && items.iter().all(is_matrix)),
            label_candidate: label_vector(&v.value).is_some(),
        })
        .collect())
}

/// Reads a dataset file (`.mat` of any version, `.npy`, `.npz`, `.csv`, `.tsv`) and interprets it
/// as a multi-view dataset.
pub fn load_dataset(path: &Path, opts: &LoadOptions) -> Result<MultiViewDataset, DataError> {
    let file = read_variables(path, opts.labels.as_deref())?;
    from_mat(path, &file, opts)
}

fn is_matrix(v: &MatValue) -> bool {
    match v {
        MatValue::Numeric(a) => a.is_2d() && a.rows() > 0 && a.cols() > 0 && !(a.rows() == 1 && a.cols() == 1),
        MatValue::Sparse(s) => s.rows > 0 && s.cols > 0,
        _ => false,
    }
}

/// The values of a numeric vector (or of the first element of a cell of copies).
fn label_vector(v: &MatValue) -> Option<Vec<f64>> {
    match v {
        MatValue::Numeric(a) if a.is_2d() && (a.rows() == 1 || a.cols() == 1) && a.data.len() > 1 => {
            Some(a.data.to_f64())
        }
        MatValue::Sparse(s) if s.rows == 1 || s.cols == 1 => Some(sparse_to_dense_f64(s)),
        MatValue::Cell { items, .. } if !items.is_empty() => {
            let first = label_vector(&items[0])?;
            items.iter().all(|it| label_vector(it).as_ref() == Some(&first)).then_some(first)
        }
        _ => None,
    }
}

fn sparse_to_dense_f64(s: &SparseArray) -> Vec<f64> {
    let mut out = vec![0.0; s.rows * s.cols];
    for c in 0..s.cols {
        for k in s.jc[c]..s.jc[c + 1] {
            out[s.ir[k] + c * s.rows] = s.data[k];
        }
    }
    out
}

/// Resolves `NAME` or `NAME{i}` to a value of the file.
fn resolve<'f>(path: &Path, file: &'f MatFile, spec: &str) -> Result<&'f MatValue, DataError> {
    let (name, index) = match spec.find('{') {
        Some(i) if spec.ends_with('}') => {
            let idx: usize = spec[i + 1..spec.len() - 1].trim().parse().map_err(|_| {
                DataError::layout(path, format!("`{spec}`: the cell index must be a number, like X{{2}}"))
            })?;
            (&spec[..i], Some(idx))
        }
        _ => (spec, None),
    };
    let value = file.get(name).ok_or_else(|| {
        let names: Vec<&str> = file.variables.iter().map(|v| v.name.as_str()).collect();
        DataError::layout(path, format!("there is no variable `{name}`; the file has: {}", names.join(", ")))
    })?;
    match index {
        None => Ok(value),
        Some(i) => match value {
            MatValue::Cell { items, .. } => items.get(i.wrapping_sub(1)).ok_or_else(|| {
                DataError::variable(
                    path,
                    name,
                    format!("has {} cell elements; `{spec}` is out of range (indices start at 1)", items.len()),
                )
            }),
            other => Err(DataError::variable(
                path,
                name,
                format!("is a {}, not a cell, so `{spec}` does not exist", other.describe()),
            )),
        },
    }
}

/// A view candidate: where it came from and its matrix.
struct Candidate<'f> {
    source: String,
    value: &'f MatValue,
}

fn matrix_dims(v: &MatValue) -> (usize, usize) {
    match v {
        MatValue::Numeric(a) => (a.rows(), a.cols()),
        MatValue::Sparse(s) => (s.rows, s.cols),
        _ => (0, 0),
    }
}

fn cell_candidates<'f>(name: &str, v: &'f MatValue) -> Option<Vec<Candidate<'f>>> {
    if let MatValue::Cell { items, .. } = v
        && !items.is_empty()
        && items.iter().all(is_matrix)
    {
        return Some(
            items
                .iter()
                .enumerate()
                .map(|(i, it)| Candidate { source: format!("{name}{{{}}}", i + 1), value: it })
                .collect(),
        );
    }
    None
}

/// Numbered per-view variables: `X1..Xn`, `x1..`, `view1..`, `V1..`.
fn numbered_views(file: &MatFile) -> Option<Vec<Candidate<'_>>> {
    for prefix in ["X", "x", "view", "View", "V", "v", "fea", "data"] {
        let mut out = Vec::new();
        for i in 1.. {
            let name = format!("{prefix}{i}");
            match file.variables.iter().find(|v| v.name == name) {
                Some(v) if is_matrix(&v.value) => out.push(Candidate { source: name, value: &v.value }),
                _ => break,
            }
        }
        if out.len() >= 2 {
            return Some(out);
        }
    }
    None
}

/// Interprets the variables of a MAT file as a multi-view dataset.
pub fn from_mat(path: &Path, file: &MatFile, opts: &LoadOptions) -> Result<MultiViewDataset, DataError> {
    let mut used: Vec<String> = Vec::new();

    // 1. Labels.
    let mut labels: Option<(String, Vec<f64>)> = None;
    if !opts.no_labels {
        if let Some(spec) = &opts.labels {
            let v = resolve(path, file, spec)?;
            let vals = label_vector(v).ok_or_else(|| {
                DataError::variable(
                    path,
                    spec,
                    format!("is a {}, but labels must be a numeric row or column vector", v.describe()),
                )
            })?;
            labels = Some((spec.clone(), vals));
        } else {
            'outer: for want in LABEL_NAMES {
                for var in &file.variables {
                    if var.name.to_ascii_lowercase() == *want
                        && let Some(vals) = label_vector(&var.value)
                    {
                        labels = Some((var.name.clone(), vals));
                        break 'outer;
                    }
                }
            }
        }
    }
    if let Some((name, _)) = &labels {
        used.push(name.split('{').next().unwrap_or(name).to_string());
    }
    let n_from_labels = labels.as_ref().map(|(_, v)| v.len());

    // 2. View candidates.
    let candidates: Vec<Candidate> = if let Some(specs) = &opts.views {
        if specs.is_empty() {
            return Err(DataError::layout(path, "the list of view variables is empty"));
        }
        let mut out = Vec::new();
        for spec in specs {
            let v = resolve(path, file, spec)?;
            if let Some(c) = cell_candidates(spec, v) {
                out.extend(c);
            } else if is_matrix(v) {
                out.push(Candidate { source: spec.clone(), value: v });
            } else {
                return Err(DataError::variable(
                    path,
                    spec,
                    format!("is a {}, which cannot be a view (a view is a 2-D numeric or sparse matrix)", v.describe()),
                ));
            }
            used.push(spec.split('{').next().unwrap_or(spec).to_string());
        }
        out
    } else {
        let named_cell = VIEW_CELL_NAMES.iter().find_map(|want| {
            file.variables
                .iter()
                .find(|v| v.name.to_ascii_lowercase() == *want)
                .and_then(|v| cell_candidates(&v.name, &v.value).map(|c| (v.name.clone(), c)))
        });
        let chosen = if let Some((name, c)) = named_cell {
            used.push(name);
            c
        } else if let Some(c) = numbered_views(file) {
            used.extend(c.iter().map(|c| c.source.clone()));
            c
        } else if let Some((name, c)) = file
            .variables
            .iter()
            .filter(|v| !used.contains(&v.name))
            .find_map(|v| cell_candidates(&v.name, &v.value).map(|c| (v.name.clone(), c)))
        {
            used.push(name);
            c
        } else {
            // Any 2-D matrices with one side equal to the sample count.
            let c: Vec<Candidate> = file
                .variables
                .iter()
                .filter(|v| !used.contains(&v.name) && is_matrix(&v.value))
                .filter(|v| {
                    let (r, c) = matrix_dims(&v.value);
                    n_from_labels.is_none_or(|n| r == n || c == n)
                })
                .map(|v| Candidate { source: v.name.clone(), value: &v.value })
                .collect();
            used.extend(c.iter().map(|c| c.source.clone()));
            c
        };
        if chosen.is_empty() {
            let names: Vec<String> =
                file.variables.iter().map(|v| format!("{} ({})", v.name, v.value.describe())).collect();
            return Err(DataError::layout(
                path,
                format!(
                    "no views found: expected a cell array like X, data or fea, variables X1..Xn, or 2-D matrices{}; the file has: {}",
                    n_from_labels.map(|n| format!(" with {n} rows or columns (the label count)")).unwrap_or_default(),
                    if names.is_empty() {
                        "no variables (the file ends after its header: it may be truncated)".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
        chosen
    };

    // 3. Sample count and orientation.
    let n = match n_from_labels {
        Some(n) => n,
        None => {
            let rows: Vec<usize> = candidates.iter().map(|c| matrix_dims(c.value).0).collect();
            let cols: Vec<usize> = candidates.iter().map(|c| matrix_dims(c.value).1).collect();
            if opts.views.is_some() || rows.iter().all(|&r| r == rows[0]) || candidates.len() == 1 {
                rows[0]
            } else if cols.iter().all(|&c| c == cols[0]) {
                cols[0]
            } else {
                rows[0]
            }
        }
    };
    let mut views = Vec::with_capacity(candidates.len());
    for c in &candidates {
        let (r, cc) = matrix_dims(c.value);
        let transposed = if r == n {
            false
        } else if cc == n {
            true
        } else {
            if cc == 3 && looks_like_triplets(c.value) {
                return Err(DataError::variable(
                    path,
                    &c.source,
                    format!(
                        "is a {r}x3 list of (row, column, value) triplets, not a matrix; build the matrix first (MATLAB: sparse(T(:,1), T(:,2), T(:,3)))"
                    ),
                ));
            }
            let what = match (&labels, n_from_labels) {
                (Some((lname, _)), Some(_)) => format!("the label vector `{lname}` has {n} entries"),
                _ => format!("the first view has {n} samples"),
            };
            return Err(DataError::variable(
                path,
                &c.source,
                format!("is {r}x{cc}, but {what}: views must have one side equal to the sample count"),
            ));
        };
        let data = to_view_data(c.value, transposed);
        views.push(View { name: c.source.clone(), source: c.source.clone(), transposed, data });
    }

    // 4. Non-finite values.
    for v in &mut views {
        handle_non_finite(path, v, opts.non_finite)?;
    }

    // 5. Names of classes and views.
    if let Some((name, raw)) = &labels {
        let bad = raw.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(DataError::variable(
                path,
                name,
                format!("the label vector holds {bad} NaN or infinite values; every sample needs a finite class id"),
            ));
        }
    }
    let mut labels = labels.map(|(name, raw)| Labels::from_raw(name, raw));
    if let Some(l) = &mut labels {
        for want in CLASS_NAME_VARS {
            if let Some(var) = file.variables.iter().find(|v| v.name.to_ascii_lowercase() == *want)
                && let Some(names) = var.value.strings()
                && names.len() == l.n_clusters()
            {
                l.class_names = Some(names);
                used.push(var.name.clone());
                break;
            }
        }
    }
    for want in VIEW_NAME_VARS {
        if let Some(var) = file.variables.iter().find(|v| v.name.to_ascii_lowercase() == *want)
            && let Some(names) = var.value.strings()
            && names.len() == views.len()
        {
            for (v, nm) in views.iter_mut().zip(names) {
                if !nm.is_empty() {
                    v.name = nm;
                }
            }
            used.push(var.name.clone());
            break;
        }
    }

    let ignored = file
        .variables
        .iter()
        .filter(|v| !used.contains(&v.name))
        .map(|v| Ignored {
            name: v.name.clone(),
            why: match &v.value {
                MatValue::Skipped { what } => format!("{what}: not read"),
                MatValue::Numeric(a) if a.data.len() <= 1 => format!("{}: a scalar", v.value.describe()),
                MatValue::Char { .. } => format!("{}: text", v.value.describe()),
                other => format!("{}: not a view or the label", other.describe()),
            },
        })
        .collect();

    let name = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "dataset".into());
    Ok(MultiViewDataset { name, path: Some(path.to_path_buf()), format: file.format, views, labels, ignored })
}

fn looks_like_triplets(v: &MatValue) -> bool {
    match v {
        MatValue::Numeric(a) if a.cols() == 3 => {
            let r = a.rows();
            (0..r).all(|i| {
                let (x, y) = (a.data.get(i), a.data.get(r + i));
                x >= 1.0 && y >= 1.0 && x.fract() == 0.0 && y.fract() == 0.0
            })
        }
        _ => false,
    }
}

/// Converts a matrix to samples × features, keeping sparse storage when it saves memory.
fn to_view_data(v: &MatValue, transposed: bool) -> ViewData {
    match v {
        MatValue::Numeric(a) => dense_from_numeric(a, transposed),
        MatValue::Sparse(s) => {
            let density = s.data.len() as f64 / ((s.rows * s.cols).max(1) as f64);
            let csr = if transposed {
                // CSC of the stored (features × samples) matrix is CSR of its transpose.
                CsrMatrix {
                    rows: s.cols,
                    cols: s.rows,
                    indptr: s.jc.clone(),
                    indices: s.ir.iter().map(|&i| i as u32).collect(),
                    values: s.data.iter().map(|&x| x as f32).collect(),
                }
            } else {
                csc_to_csr(s)
            };
            // CSR costs ~8 bytes a value (index + value) against 4 for dense.
            if density < 0.4 {
                ViewData::Sparse(csr)
            } else {
                ViewData::Dense { rows: csr.rows, cols: csr.cols, values: csr.to_dense() }
            }
        }
        _ => unreachable!("only matrices become views"),
    }
}

fn dense_from_numeric(a: &NumericArray, transposed: bool) -> ViewData {
    let (r, c) = (a.rows(), a.cols());
    mat::with_num_data!(&a.data, v => dense_from_stored(v, r, c, transposed))
}

/// A view from stored column-major `r × c` values, converted to `f32` in the same pass.
fn dense_from_stored<T: mat::Stored>(data: &[T], r: usize, c: usize, transposed: bool) -> ViewData {
    if transposed {
        // Column-major r × c is row-major c × r: samples are the columns.
        let values = data.par_iter().with_min_len(1 << 16).map(|&x| x.f32()).collect();
        return ViewData::Dense { rows: c, cols: r, values };
    }
    // Column-major to row-major, in blocks of B rows (one task each, in parallel) and B columns,
    // so that both the reads and the writes stay in cache.
    const B: usize = 64;
    let mut values = vec![0f32; r * c];
    if c == 0 {
        return ViewData::Dense { rows: r, cols: c, values };
    }
    values.par_chunks_mut(B * c).enumerate().for_each(|(blk, out)| {
        let r0 = blk * B;
        let nr = out.len() / c;
        for c0 in (0..c).step_by(B) {
            for j in c0..(c0 + B).min(c) {
                let col = &data[j * r + r0..j * r + r0 + nr];
                for (i, &x) in col.iter().enumerate() {
                    out[i * c + j] = x.f32();
                }
            }
        }
    });
    ViewData::Dense { rows: r, cols: c, values }
}

fn csc_to_csr(s: &SparseArray) -> CsrMatrix {
    let nnz = s.data.len();
    let mut counts = vec![0usize; s.rows + 1];
    for &r in &s.ir {
        counts[r + 1] += 1;
    }
    for i in 0..s.rows {
        counts[i + 1] += counts[i];
    }
    let indptr = counts.clone();
    let mut next = counts;
    let mut indices = vec![0u32; nnz];
    let mut values = vec![0f32; nnz];
    for c in 0..s.cols {
        for k in s.jc[c]..s.jc[c + 1] {
            let r = s.ir[k];
            let dst = next[r];
            indices[dst] = c as u32;
            values[dst] = s.data[k] as f32;
            next[r] += 1;
        }
    }
    CsrMatrix { rows: s.rows, cols: s.cols, indptr, indices, values }
}

fn handle_non_finite(path: &Path, v: &mut View, policy: NonFinite) -> Result<(), DataError> {
    let cols = v.data.cols();
    let values: &mut Vec<f32> = match &mut v.data {
        ViewData::Dense { values, .. } => values,
        ViewData::Sparse(m) => &mut m.values,
    };
    let bad = values.iter().filter(|x| !x.is_finite()).count();
    if bad == 0 {
        return Ok(());
    }
    match policy {
        NonFinite::Keep => Ok(()),
        NonFinite::Error => Err(DataError::variable(
            path,
            &v.source,
            format!(
                "contains {bad} NaN or infinite values; choose to replace them by 0 or by the column mean (--non-finite zero|mean)"
            ),
        )),
        NonFinite::Zero => {
            values.iter_mut().filter(|x| !x.is_finite()).for_each(|x| *x = 0.0);
            Ok(())
        }
        NonFinite::ColumnMean => {
            let mut sum = vec![0f64; cols];
            let mut cnt = vec![0usize; cols];
            match &v.data {
                ViewData::Dense { values, .. } => {
                    for (i, x) in values.iter().enumerate() {
                        if x.is_finite() {
                            sum[i % cols] += *x as f64;
                            cnt[i % cols] += 1;
                        }
                    }
                }
                ViewData::Sparse(m) => {
                    for (k, x) in m.values.iter().enumerate() {
                        if x.is_finite() {
                            sum[m.indices[k] as usize] += *x as f64;
                        }
                    }
                    // Implicit zeros count as finite entries of their column.
                    let mut nonfinite = vec![0usize; cols];
                    for (k, x) in m.values.iter().enumerate() {
                        if !x.is_finite() {
                            nonfinite[m.indices[k] as usize] += 1;
                        }
                    }
                    for c in 0..cols {
                        cnt[c] = m.rows - nonfinite[c];
                    }
                }
            }
            let mean: Vec<f32> =
                sum.iter().zip(&cnt).map(|(s, &c)| if c > 0 { (*s / c as f64) as f32 } else { 0.0 }).collect();
            match &mut v.data {
                ViewData::Dense { values, .. } => {
                    for (i, x) in values.iter_mut().enumerate() {
                        if !x.is_finite() {
                            *x = mean[i % cols];
                        }
                    }
                }
                ViewData::Sparse(m) => {
                    for k in 0..m.values.len() {
                        if !m.values[k].is_finite() {
                            m.values[k] = mean[m.indices[k] as usize];
                        }
                    }
                }
            }
            Ok(())
        }
    }
}
