//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses its own subset of these helpers")]

use std::path::PathBuf;

use mvc_workbench::data::mat::{MatClass, MatValue, MatVariable, NumericArray};

/// A `rows × cols` double matrix whose entry (r, c) is `f(r, c)`.
pub fn num(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> MatValue {
    let mut data = vec![0.0; rows * cols];
    for c in 0..cols {
        for r in 0..rows {
            data[c * rows + r] = f(r, c);
        }
    }
    MatValue::Numeric(NumericArray {
        dims: vec![rows, cols],
        class: MatClass::Double,
        data: data.into(),
        complex: false,
    })
}

/// A named top-level variable.
pub fn var(name: &str, value: MatValue) -> MatVariable {
    MatVariable { name: name.into(), value }
}

/// `../shared` beside the repository, or `None` (with a message) when absent.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("shared");
    if dir.join("datasets").is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/datasets is absent (it is present in CI); this test needs the shared datasets");
        None
    }
}
