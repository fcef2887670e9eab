//! MAT v7.3: an HDF5 container. Arrays are datasets stored transposed (HDF5
//! is row-major over the reversed dimensions, which is MATLAB's column-major
//! order), cells are datasets of object references into `#refs#`, sparse
//! matrices are groups (`data`, `ir`, `jc`) marked `MATLAB_sparse`.

use std::path::Path;

use hdf5::types::{FixedAscii, TypeDescriptor};
use hdf5::{Dataset, File, Group, Location};

use super::{MatClass, MatFile, MatValue, MatVariable, NumericArray, SparseArray};
use crate::data::dataset::MatFormat;
use crate::data::error::DataError;

/// Cells nested deeper than this are refused (guards against reference cycles).
const MAX_DEPTH: usize = 16;

fn h5err(path: &Path, var: &str, e: impl std::fmt::Display) -> DataError {
    DataError::Hdf5 { path: path.to_path_buf(), why: format!("variable `{var}`: {e}") }
}

fn string_attr(loc: &Location, name: &str) -> Option<String> {
    let attr = loc.attr(name).ok()?;
    if let Ok(s) = attr.read_scalar::<FixedAscii<64>>() {
        return Some(s.as_str().trim_end_matches('\0').to_string());
    }
    if let Ok(s) = attr.read_scalar::<hdf5::types::VarLenAscii>() {
        return Some(s.as_str().to_string());
    }
    None
}

fn int_attr(loc: &Location, name: &str) -> Option<u64> {
    let attr = loc.attr(name).ok()?;
    attr.read_scalar::<u64>().ok().or_else(|| attr.read_raw::<u64>().ok().and_then(|v| v.first().copied()))
}

/// The descriptive text of the 512-byte MATLAB header before the HDF5 superblock (empty for a
/// plain HDF5 file). Reads only those bytes.
pub fn header_text(path: &Path) -> String {
    use std::io::Read;
    let mut head = Vec::with_capacity(116);
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(116).read_to_end(&mut head);
    }
    if !head.starts_with(b"MATLAB") {
        return String::new();
    }
    String::from_utf8_lossy(&head).trim_end_matches([' ', '\0']).to_string()
}

/// Reads every top-level variable of a v7.3 file.
pub fn read(path: &Path) -> Result<MatFile, DataError> {
    hdf5::silence_errors(true);
    let file_bytes = std::fs::metadata(path).map(|m| m.len() as usize).unwrap_or(0);
    let file = File::open(path).map_err(|e| DataError::Hdf5 {
        path: path.to_path_buf(),
        why: format!("cannot open the HDF5 container (the file may be truncated or damaged): {e}"),
    })?;
    let header = header_text(path);
    let names = file.member_names().map_err(|e| h5err(path, "/", e))?;
    let mut variables = Vec::new();
    for name in names {
        if name.starts_with('#') {
            continue; // `#refs#`, `#subsystem#`
        }
        let value = if let Ok(ds) = file.dataset(&name) {
            read_dataset(path, &file, &ds, &name, 0, file_bytes)?
        } else if let Ok(g) = file.group(&name) {
            read_group(path, &g, &name, file_bytes)?
        } else {
            MatValue::Skipped { what: "HDF5 object that is neither a dataset nor a group".into() }
        };
        variables.push(MatVariable { name, value });
    }
    Ok(MatFile { format: MatFormat::V73, header, variables })
}

/// Reads a whole dataset, refusing one whose declared size no file of this size can hold
/// (a chunked dataset may declare any shape and store nothing; reading it would allocate it all).
fn read_all<T: hdf5::H5Type>(path: &Path, ds: &Dataset, var: &str, file_bytes: usize) -> Result<Vec<T>, DataError> {
    let bytes = ds.size().saturating_mul(std::mem::size_of::<T>());
    // MATLAB compresses with deflate, whose ratio is at most ~1032:1.
    let limit = file_bytes.saturating_mul(1040).max(1 << 20);
    if bytes > limit {
        return Err(DataError::variable(
            path,
            var,
            format!("declares {} elements ({bytes} bytes), more than a file of {file_bytes} bytes can hold", ds.size()),
        ));
    }
    ds.read_raw::<T>().map_err(|e| h5err(path, var, e))
}

fn read_group(path: &Path, g: &Group, var: &str, file_bytes: usize) -> Result<MatValue, DataError> {
    let class = string_attr(g, "MATLAB_class").unwrap_or_default();
    if let Some(rows) = int_attr(g, "MATLAB_sparse") {
        let member = |name: &str| g.dataset(name).map_err(|e| h5err(path, var, e));
        let jc: Vec<u64> = read_all(path, &member("jc")?, var, file_bytes)?;
        let cols = jc.len().saturating_sub(1);
        let nnz = jc.last().copied().unwrap_or(0) as usize;
        let (ir, data) = if nnz == 0 {
            (vec![], vec![])
        } else {
            let ir: Vec<u64> = read_all(path, &member("ir")?, var, file_bytes)?;
            let data: Vec<f64> = read_all(path, &member("data")?, var, file_bytes)?;
            (ir, data)
        };
        if jc.first().is_some_and(|&c| c != 0) || jc.windows(2).any(|w| w[0] > w[1]) {
            return Err(DataError::variable(
                path,
                var,
                "sparse group: the column pointers `jc` must start at 0 and never decrease",
            ));
        }
        if ir.len() < nnz || data.len() < nnz {
            return Err(DataError::variable(path, var, "sparse group: `ir`/`data` are shorter than `jc` says"));
        }
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        if let Some(skipped) = super::oversized_sparse(rows, cols, file_bytes) {
            return Ok(skipped);
        }
        if ir.iter().take(nnz).any(|&r| r as usize >= rows) {
            return Err(DataError::variable(path, var, format!("a sparse row index exceeds the {rows} rows")));
        }
        return Ok(MatValue::Sparse(SparseArray {
            rows,
            cols,
            ir: ir.into_iter().take(nnz).map(|r| r as usize).collect(),
            jc: jc.into_iter().map(|c| c as usize).collect(),
            data: data.into_iter().take(nnz).collect(),
            logical: class == "logical",
        }));
    }
    Ok(MatValue::Skipped { what: if class.is_empty() { "HDF5 group".into() } else { class } })
}

fn read_dataset(
    path: &Path,
    file: &File,
    ds: &Dataset,
    var: &str,
    depth: usize,
    file_bytes: usize,
) -> Result<MatValue, DataError> {
    if depth > MAX_DEPTH {
        return Err(DataError::variable(path, var, "cells are nested too deeply (a reference cycle?)"));
    }
    let class = string_attr(ds, "MATLAB_class").unwrap_or_else(|| "double".into());
    let mut dims: Vec<usize> = ds.shape().into_iter().rev().collect();
    if dims.len() == 1 {
        dims.push(1);
    }
    if int_attr(ds, "MATLAB_empty").unwrap_or(0) != 0 {
        // Empty arrays store their dimensions as data.
        let d: Vec<u64> = read_all(path, ds, var, file_bytes).unwrap_or_default();
        let mut dims: Vec<usize> = d.into_iter().map(|x| usize::try_from(x).unwrap_or(usize::MAX)).collect();
        if super::element_count(&dims) != Some(0) {
            // An empty array has a zero dimension; anything else stored here is not trusted.
            dims = vec![0, 0];
        }
        return Ok(match class.as_str() {
            "cell" => MatValue::Cell { dims, items: vec![] },
            "char" => MatValue::Char { dims, chars: vec![] },
            c => MatValue::Numeric(NumericArray {
                dims,
                class: MatClass::from_name(c).unwrap_or(MatClass::Double),
                data: Vec::new().into(),
                complex: false,
            }),
        });
    }
    let dtype = ds.dtype().map_err(|e| h5err(path, var, e))?;
    let desc = dtype.to_descriptor().map_err(|e| h5err(path, var, e))?;
    match (class.as_str(), &desc) {
        ("cell", _) | (_, TypeDescriptor::Reference(_)) => {
            let refs: Vec<hdf5::ObjectReference1> = read_all(path, ds, var, file_bytes)?;
            let mut items = Vec::with_capacity(refs.len());
            for (i, r) in refs.iter().enumerate() {
                let item_name = format!("{var}{{{}}}", i + 1);
                let obj = file.dereference(r).map_err(|e| h5err(path, &item_name, e))?;
                let v = match obj {
                    hdf5::ReferencedObject::Dataset(d) => {
                        read_dataset(path, file, &d, &item_name, depth + 1, file_bytes)?
                    }
                    hdf5::ReferencedObject::Group(g) => read_group(path, &g, &item_name, file_bytes)?,
                    hdf5::ReferencedObject::Datatype(_) => MatValue::Skipped { what: "named datatype".into() },
                };
                items.push(v);
            }
            Ok(MatValue::Cell { dims, items })
        }
        ("char", _) => {
            let units: Vec<u16> = read_all(path, ds, var, file_bytes)?;
            let chars = char::decode_utf16(units).map(|r| r.unwrap_or('\u{FFFD}')).collect();
            Ok(MatValue::Char { dims, chars })
        }
        ("struct", _) | ("function_handle", _) => Ok(MatValue::Skipped { what: class }),
        (
            c,
            TypeDescriptor::Integer(_)
            | TypeDescriptor::Unsigned(_)
            | TypeDescriptor::Float(_)
            | TypeDescriptor::Boolean,
        ) => {
            let data: Vec<f64> = read_all(path, ds, var, file_bytes)?;
            let mclass = MatClass::from_name(c).unwrap_or(MatClass::Double);
            Ok(MatValue::Numeric(NumericArray { dims, class: mclass, data: data.into(), complex: false }))
        }
        (_, TypeDescriptor::Compound(_)) => {
            Ok(MatValue::Skipped { what: "complex numbers (compound real/imag)".into() })
        }
        (c, d) => Ok(MatValue::Skipped { what: format!("{c} stored as {d}") }),
    }
}
