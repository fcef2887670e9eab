//! Getting multi-view data into memory: MAT and embeddings files, layout detection,
//! preprocessing and the built-in synthetic sets.

pub mod builtin;
pub mod dataset;
pub mod embeddings;
pub mod error;
pub mod loader;
pub mod mat;
pub mod preprocess;
pub mod source;

use std::path::Path;

pub use dataset::{CsrMatrix, Ignored, Labels, MatFormat, MultiViewDataset, View, ViewData, ViewStats};
pub use error::{ClassFilterError, ClusterCountError, DataError, ViewSelectError};
pub use loader::{LoadOptions, NonFinite, VariableInfo, list_variables, load_dataset, read_variables};
pub use preprocess::Preprocess;
pub use source::DatasetSource;

use mat::{MatClass, MatValue, MatVariable, NumericArray, SparseArray};

/// The MAT variables a dataset is saved as: `X` (1×V cell of samples ×
/// features views, sparse ones sparse), `Y` (N×1 raw labels), and
/// `view_names` / `class_names` cells of strings.
pub fn dataset_to_mat(ds: &MultiViewDataset) -> Vec<MatVariable> {
    let items = ds
        .views
        .iter()
        .map(|v| match &v.data {
            ViewData::Dense { rows, cols, values } => {
                let mut data = vec![0f64; rows * cols];
                for r in 0..*rows {
                    for c in 0..*cols {
                        data[c * rows + r] = values[r * cols + c] as f64;
                    }
                }
                MatValue::Numeric(NumericArray {
                    dims: vec![*rows, *cols],
                    class: MatClass::Double,
                    data: data.into(),
                    complex: false,
                })
            }
            ViewData::Sparse(m) => {
                // CSR of samples × features → CSC (MATLAB's layout) of the same matrix.
                let mut jc = vec![0usize; m.cols + 1];
                for &c in &m.indices {
                    jc[c as usize + 1] += 1;
                }
                for c in 0..m.cols {
                    jc[c + 1] += jc[c];
                }
                let mut next = jc.clone();
                let mut ir = vec![0usize; m.nnz()];
                let mut data = vec![0f64; m.nnz()];
                for r in 0..m.rows {
                    for k in m.indptr[r]..m.indptr[r + 1] {
                        let c = m.indices[k] as usize;
                        ir[next[c]] = r;
                        data[next[c]] = m.values[k] as f64;
                        next[c] += 1;
                    }
                }
                MatValue::Sparse(SparseArray { rows: m.rows, cols: m.cols, ir, jc, data, logical: false })
            }
        })
        .collect::<Vec<_>>();
    let text = |s: &str| MatValue::Char { dims: vec![1, s.chars().count()], chars: s.chars().collect() };
    let mut vars = vec![MatVariable { name: "X".into(), value: MatValue::Cell { dims: vec![1, items.len()], items } }];
    if let Some(l) = &ds.labels {
        vars.push(MatVariable {
            name: "Y".into(),
            value: MatValue::Numeric(NumericArray {
                dims: vec![l.raw.len(), 1],
                class: MatClass::Double,
                data: l.raw.clone().into(),
                complex: false,
            }),
        });
        if let Some(names) = &l.class_names {
            vars.push(MatVariable {
                name: "class_names".into(),
                value: MatValue::Cell { dims: vec![1, names.len()], items: names.iter().map(|s| text(s)).collect() },
            });
        }
    }
    vars.push(MatVariable {
        name: "view_names".into(),
        value: MatValue::Cell {
            dims: vec![1, ds.views.len()],
            items: ds.views.iter().map(|v| text(&v.name)).collect(),
        },
    });
    vars
}

/// Saves a dataset as a compressed MAT v5 file (atomically).
pub fn save_dataset(ds: &MultiViewDataset, path: &Path) -> Result<(), DataError> {
    mat::writer::write_mat_v5(path, &dataset_to_mat(ds), true)
}

/// Loads a dataset given as a built-in name or a path ([`DatasetSource`]).
pub fn load_named(name_or_path: &str, opts: &LoadOptions) -> Result<MultiViewDataset, DataError> {
    DatasetSource::parse(name_or_path).load(opts)
}
