//! Files that once crashed the loader or were refused though scipy reads them: each case from
//! issue 19, and scipy's own MAT test files read as scipy reads them (`tests/data/scipy/`,
//! values in `expected.json`, written by `scipy.io.loadmat` 1.17).

use std::path::{Path, PathBuf};

use mvc_workbench::data::mat::writer::write_mat_v5;
use mvc_workbench::data::mat::{MatValue, read_mat};
use mvc_workbench::data::{LoadOptions, load_dataset};

fn scipy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/scipy")
}

mod common;
use common::{num, var};

/// A value as scipy shows it: dims and column-major values (sparse made dense).
fn dense(v: &MatValue) -> Option<(Vec<usize>, Vec<f64>)> {
    match v {
        MatValue::Numeric(a) => Some((a.dims.clone(), a.data.to_f64())),
        MatValue::Sparse(s) => {
            let mut d = vec![0.0; s.rows * s.cols];
            for c in 0..s.cols {
                for k in s.jc[c]..s.jc[c + 1] {
                    d[c * s.rows + s.ir[k]] = s.data[k];
                }
            }
            Some((vec![s.rows, s.cols], d))
        }
        _ => None,
    }
}

#[test]
fn scipy_test_files_read_as_scipy_reads_them() {
    let dir = scipy_dir();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let mut checked = 0;
    for (file, want) in expected.as_object().unwrap() {
        let path = dir.join(file);
        let got = read_mat(&path);
        if let Some(err) = want.get("error").and_then(|e| e.as_str()) {
            if err.contains("HDF reader") {
                // scipy leaves v7.3 to h5py; this reader must read it.
                let f = got.unwrap_or_else(|e| panic!("{file}: {e}"));
                assert!(!f.variables.is_empty(), "{file}: no variables");
            } else if file == "corrupted_zlib_data.mat" {
                // scipy refuses trailing bytes after the inner element; reading the element that
                // is whole, or refusing the file, are both fine, but never a panic.
                let _ = got;
            } else {
                assert!(got.is_err(), "{file}: scipy refuses it ({err}) but it was read");
            }
            continue;
        }
        let f = got.unwrap_or_else(|e| panic!("{file}: scipy reads it, this reader says: {e}"));
        for (name, w) in want["variables"].as_object().unwrap() {
            let kind = w["kind"].as_str().unwrap();
            let Some(v) = f.get(name) else { panic!("{file}: variable `{name}` missing") };
            match kind {
                "numeric" | "sparse" => {
                    let (dims, vals) = dense(v).unwrap_or_else(|| panic!("{file}: `{name}` is {}", v.describe()));
                    let wdims: Vec<usize> =
                        w["dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
                    assert_eq!(dims[..2], wdims[..2], "{file}: `{name}` dims");
                    let wvals: Vec<f64> = w["values"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
                    assert_eq!(vals.len(), wvals.len(), "{file}: `{name}` value count");
                    for (i, (a, b)) in vals.iter().zip(&wvals).enumerate() {
                        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{file}: `{name}`[{i}] = {a}, scipy {b}");
                    }
                    if kind == "sparse" {
                        assert!(matches!(v, MatValue::Sparse(_)), "{file}: `{name}` should be sparse");
                    }
                }
                "char" => assert!(matches!(v, MatValue::Char { .. }), "{file}: `{name}` is {}", v.describe()),
                "cell" => assert!(matches!(v, MatValue::Cell { .. }), "{file}: `{name}` is {}", v.describe()),
                _ => {}
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} variables compared");
}

#[test]
fn logical_sparse_stored_as_bytes_is_read() {
    let f = read_mat(&scipy_dir().join("logical_sparse.mat")).unwrap();
    let MatValue::Sparse(s) = f.get("sp_log_5_4").unwrap() else { panic!("not sparse") };
    assert!(s.logical);
    assert_eq!((s.rows, s.cols, s.data.clone()), (5, 4, vec![1.0; 5]));
}

#[test]
fn dimensions_stored_as_uint32_are_read_and_negative_ones_refused() {
    let f = read_mat(&scipy_dir().join("miuint32_for_miint32.mat")).unwrap();
    let (dims, vals) = dense(f.get("an_array").unwrap()).unwrap();
    assert_eq!(dims, vec![1, 10]);
    assert_eq!(vals, (0..10).map(f64::from).collect::<Vec<_>>());
    let err = read_mat(&scipy_dir().join("bad_miuint32.mat")).unwrap_err().to_string();
    assert!(err.contains("bad_miuint32.mat") && err.contains("negative dimension"), "{err}");
}

#[test]
fn labels_holding_both_zero_and_negative_zero_are_one_class() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("signed-zero.mat");
    let y = [0.0, -0.0, 1.0, -0.0, 1.0, 0.0];
    let x = num(6, 2, |r, c| (c * 6 + r) as f64);
    write_mat_v5(&p, &[var("X1", x.clone()), var("X2", x), var("Y", num(6, 1, |r, _| y[r]))], false).unwrap();
    let ds = load_dataset(&p, &LoadOptions::default()).unwrap();
    let l = ds.labels.unwrap();
    assert_eq!(l.n_clusters(), 2);
    assert_eq!(l.ids, vec![0, 0, 1, 0, 1, 0]);
}

#[test]
fn nan_labels_are_refused_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nan-labels.mat");
    let x = num(4, 2, |r, c| (c * 4 + r) as f64);
    write_mat_v5(
        &p,
        &[var("X1", x.clone()), var("X2", x), var("Y", num(4, 1, |r, _| [1.0, f64::NAN, 2.0, 1.0][r]))],
        false,
    )
    .unwrap();
    let err = load_dataset(&p, &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("nan-labels.mat") && err.contains("`Y`") && err.contains("NaN"), "{err}");
}

/// A v4 header: type (little-endian double, full), rows, cols, imaginary flag, name length.
fn v4_header(ty: i32, rows: i32, cols: i32, name: &str) -> Vec<u8> {
    let mut b = Vec::new();
    for x in [ty, rows, cols, 0, name.len() as i32 + 1] {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b.extend_from_slice(name.as_bytes());
    b.push(0);
    b
}

fn write_bytes(dir: &Path, name: &str, b: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, b).unwrap();
    p
}

#[test]
fn v4_header_whose_size_overflows_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // 2^31-1 × 2^31-1 doubles: rows × cols fits a usize, × 8 bytes does not.
    let mut b = v4_header(0, i32::MAX, i32::MAX, "X");
    b.extend_from_slice(&[0u8; 64]);
    let p = write_bytes(dir.path(), "overflow-v4.mat", &b);
    let err = read_mat(&p).unwrap_err().to_string();
    assert!(err.contains("overflow-v4.mat") && err.contains("`X`"), "{err}");
    // A sparse (type 2) v4 matrix whose last row claims 2^32 columns.
    let mut b = v4_header(2, 2, 3, "S");
    for x in [1.0f64, 1e15, 1.0, 1e15, 5.0, 0.0] {
        b.extend_from_slice(&x.to_le_bytes());
    }
    let p = write_bytes(dir.path(), "huge-sparse-v4.mat", &b);
    let err = read_mat(&p).unwrap_err().to_string();
    assert!(err.contains("huge-sparse-v4.mat") && err.contains("`S`"), "{err}");
}

/// A v7.3 file whose sparse group's column pointers decrease.
#[test]
fn v73_sparse_with_decreasing_column_pointers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad-jc.mat");
    {
        let f = hdf5::File::create(&p).unwrap();
        let g = f.create_group("S").unwrap();
        g.new_attr::<u64>().create("MATLAB_sparse").unwrap().write_scalar(&3u64).unwrap();
        g.new_dataset_builder().with_data(&[0u64, 2, 1, 3]).create("jc").unwrap();
        g.new_dataset_builder().with_data(&[0u64, 1, 2]).create("ir").unwrap();
        g.new_dataset_builder().with_data(&[1.0f64, 2.0, 3.0]).create("data").unwrap();
    }
    let err = read_mat(&p).unwrap_err().to_string();
    assert!(err.contains("bad-jc.mat") && err.contains("never decrease"), "{err}");
    // The same group with pointers in order reads.
    let p2 = dir.path().join("good-jc.mat");
    {
        let f = hdf5::File::create(&p2).unwrap();
        let g = f.create_group("S").unwrap();
        g.new_attr::<u64>().create("MATLAB_sparse").unwrap().write_scalar(&3u64).unwrap();
        g.new_dataset_builder().with_data(&[0u64, 1, 2, 3]).create("jc").unwrap();
        g.new_dataset_builder().with_data(&[0u64, 1, 2]).create("ir").unwrap();
        g.new_dataset_builder().with_data(&[1.0f64, 2.0, 3.0]).create("data").unwrap();
    }
    let f = read_mat(&p2).unwrap();
    let (dims, vals) = dense(f.get("S").unwrap()).unwrap();
    assert_eq!(dims, vec![3, 3]);
    assert_eq!(vals, vec![1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0]);
}

/// A chunked v7.3 dataset may declare a huge shape and store nothing.
#[test]
fn v73_dataset_declaring_more_than_the_file_holds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge-chunked.mat");
    {
        let f = hdf5::File::create(&p).unwrap();
        f.new_dataset::<f64>().chunk((1, 1024)).shape((1 << 20, 1 << 20)).create("X").unwrap();
    }
    let err = read_mat(&p).unwrap_err().to_string();
    assert!(err.contains("huge-chunked.mat") && err.contains("`X`") && err.contains("more than a file"), "{err}");
}
