//! Malformed input gives a clear error naming the file; valid files round-trip
//! through the writer; layouts and preprocessing behave.

use std::path::{Path, PathBuf};

use mvc_workbench::data::mat::writer::{encode_v5, write_mat_v5};
use mvc_workbench::data::mat::{MatClass, MatValue, MatVariable, NumericArray, SparseArray};
use mvc_workbench::data::{
    CsrMatrix, LoadOptions, NonFinite, Preprocess, ViewData, builtin, load_dataset, preprocess, save_dataset,
};

mod common;
use common::{num, var};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(dir: &Path, name: &str, vars: &[MatVariable], compress: bool) -> PathBuf {
    let p = dir.join(name);
    write_mat_v5(&p, vars, compress).unwrap();
    p
}

fn load_err(path: &Path) -> String {
    load_dataset(path, &LoadOptions::default()).expect_err("should fail").to_string()
}

#[test]
fn empty_file_is_refused_with_its_name() {
    let d = tmp();
    let p = d.path().join("empty.mat");
    std::fs::write(&p, b"").unwrap();
    let e = load_err(&p);
    assert!(e.contains("empty.mat") && e.contains("empty"), "{e}");
}

#[test]
fn random_bytes_are_not_a_mat_file() {
    let d = tmp();
    let p = d.path().join("noise.mat");
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&p, bytes).unwrap();
    let e = load_err(&p);
    assert!(e.contains("noise.mat") && e.contains("not a MAT file"), "{e}");
}

#[test]
fn truncated_files_fail_cleanly_at_every_offset() {
    let d = tmp();
    let ds = builtin::generate("gauss3-noise").unwrap();
    for compress in [true, false] {
        let full = encode_v5(&mvc_workbench::data::dataset_to_mat(&ds), compress);
        let p = d.path().join("cut.mat");
        for cut in [0usize, 10, 127, 128, 131, 136, 200, 1000, full.len() / 2, full.len() - 9, full.len() - 1] {
            std::fs::write(&p, &full[..cut]).unwrap();
            let e = load_err(&p);
            assert!(e.contains("cut.mat"), "cut at {cut}: {e}");
            assert!(
                e.contains("truncated") || e.contains("empty") || e.contains("corrupt") || e.contains("not a MAT file"),
                "cut at {cut} (compress {compress}): {e}"
            );
        }
    }
}

#[test]
fn corrupted_zlib_stream_is_reported() {
    let d = tmp();
    let vars = vec![
        var("X1", num(50, 4, |r, c| (r * c) as f64)),
        var("X2", num(50, 3, |r, _| r as f64)),
        var("Y", num(50, 1, |r, _| (r % 3) as f64)),
    ];
    let mut bytes = encode_v5(&vars, true);
    // Scramble the middle of the first compressed stream (past its 2-byte zlib header).
    for b in &mut bytes[128 + 8 + 4..128 + 8 + 40] {
        *b ^= 0x5A;
    }
    let p = d.path().join("zlib.mat");
    std::fs::write(&p, bytes).unwrap();
    let e = load_err(&p);
    assert!(e.contains("zlib.mat") && e.contains("zlib"), "{e}");
}

#[test]
fn label_vector_of_the_wrong_length_is_named() {
    let d = tmp();
    let vars = vec![
        var(
            "X",
            MatValue::Cell {
                dims: vec![1, 2],
                items: vec![num(100, 5, |r, c| (r + c) as f64), num(100, 3, |r, _| r as f64)],
            },
        ),
        var("Y", num(90, 1, |r, _| (r % 4) as f64)),
    ];
    let p = write(d.path(), "badlabels.mat", &vars, true);
    let e = load_err(&p);
    assert!(e.contains("badlabels.mat") && e.contains("X{1}") && e.contains("`Y` has 90"), "{e}");
}

#[test]
fn triplet_lists_are_recognised() {
    let d = tmp();
    let vars = vec![
        var("X1", num(40, 6, |r, c| (r * c) as f64)),
        var("X2", num(17, 3, |r, c| if c < 2 { (r % 7 + 1) as f64 } else { 0.5 })),
        var("Y", num(40, 1, |r, _| (r % 2) as f64)),
    ];
    let p = write(d.path(), "triplets.mat", &vars, false);
    let e = load_err(&p);
    assert!(e.contains("X2") && e.contains("triplets"), "{e}");
}

#[test]
fn non_finite_values_are_counted_or_replaced() {
    let d = tmp();
    let vars = vec![
        var(
            "X1",
            num(10, 2, |r, c| {
                if r == 3 && c == 1 {
                    f64::NAN
                } else if r == 5 {
                    f64::INFINITY
                } else {
                    (r + c) as f64
                }
            }),
        ),
        var("X2", num(10, 2, |r, _| r as f64)),
        var("Y", num(10, 1, |r, _| (r % 2) as f64)),
    ];
    let p = write(d.path(), "nan.mat", &vars, true);
    let e = load_err(&p);
    assert!(e.contains("nan.mat") && e.contains("X1") && e.contains("3 NaN or infinite"), "{e}");
    let zero = load_dataset(&p, &LoadOptions { non_finite: NonFinite::Zero, ..Default::default() }).unwrap();
    let v = zero.views[0].data.to_dense();
    assert_eq!(v[3 * 2 + 1], 0.0);
    let mean = load_dataset(&p, &LoadOptions { non_finite: NonFinite::ColumnMean, ..Default::default() }).unwrap();
    let v = mean.views[0].data.to_dense();
    // Column 1 finite values: r + 1 for r not in {3, 5}: mean of 1,2,3,5,7,8,9,10 = 45/8.
    assert!((v[3 * 2 + 1] - 45.0 / 8.0).abs() < 1e-5, "{}", v[3 * 2 + 1]);
    assert!(v.iter().all(|x| x.is_finite()));
}

#[test]
fn builtin_datasets_round_trip_through_the_writer() {
    let d = tmp();
    for name in builtin::names() {
        let ds = builtin::generate(name).unwrap();
        let p = d.path().join(format!("{name}.mat"));
        save_dataset(&ds, &p).unwrap();
        let back = load_dataset(&p, &LoadOptions::default()).unwrap();
        assert_eq!(back.n_views(), ds.n_views());
        for (a, b) in ds.views.iter().zip(&back.views) {
            assert_eq!(a.data, b.data, "{name} view {}", a.name);
            assert_eq!(a.name, b.name, "view names travel in view_names");
        }
        let (la, lb) = (ds.labels.as_ref().unwrap(), back.labels.as_ref().unwrap());
        assert_eq!(la.raw, lb.raw);
        assert_eq!(la.class_names, lb.class_names);
        assert_eq!(ds.fingerprint(), back.fingerprint());
    }
}

#[test]
fn committed_builtin_files_are_what_the_generator_makes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets");
    for name in builtin::names() {
        let p = dir.join(format!("{name}.mat"));
        let on_disk = load_dataset(&p, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            on_disk.fingerprint(),
            builtin::generate(name).unwrap().fingerprint(),
            "{} is stale: run `mvc-workbench datasets --write datasets`",
            p.display()
        );
    }
}

#[test]
fn sparse_and_transposed_layouts_round_trip() {
    let d = tmp();
    // A 6 x 4 sparse view stored features x samples (4 x 6), labels for 6 samples.
    let dense_t = |r: usize, c: usize| if (r + c).is_multiple_of(3) { (r * 10 + c) as f64 } else { 0.0 };
    let (rows, cols) = (4, 6);
    let mut ir = vec![];
    let mut jc = vec![0];
    let mut data = vec![];
    for c in 0..cols {
        for r in 0..rows {
            if dense_t(r, c) != 0.0 {
                ir.push(r);
                data.push(dense_t(r, c));
            }
        }
        jc.push(ir.len());
    }
    let sp = MatValue::Sparse(SparseArray { rows, cols, ir, jc, data, logical: false });
    let vars = vec![
        var("data", MatValue::Cell { dims: vec![1, 2], items: vec![sp, num(3, 6, |r, c| (r + 2 * c) as f64)] }),
        var("truth", num(1, 6, |_, c| (c % 2 + 1) as f64)),
        var("A", MatValue::Cell { dims: vec![1, 1], items: vec![num(6, 6, |_, _| 1.0)] }),
    ];
    let p = write(d.path(), "layout.mat", &vars, true);
    let ds = load_dataset(&p, &LoadOptions::default()).unwrap();
    assert_eq!(ds.n_samples(), 6);
    assert_eq!(ds.views[0].source, "data{1}");
    assert!(ds.views[0].transposed && ds.views[1].transposed);
    let v0 = ds.views[0].data.to_dense();
    for s in 0..6 {
        for f in 0..4 {
            assert_eq!(v0[s * 4 + f] as f64, dense_t(f, s));
        }
    }
    assert_eq!(ds.labels.as_ref().unwrap().variable, "truth");
    assert!(ds.ignored.iter().any(|i| i.name == "A"), "the graph cell A is not taken for the views");
}

#[test]
fn files_without_labels_are_valid() {
    let d = tmp();
    let vars = vec![
        var("X1", num(30, 4, |r, c| (r * c) as f64)),
        var("X2", num(30, 2, |r, _| r as f64)),
        var("alpha", num(1, 1, |_, _| 0.5)),
    ];
    let p = write(d.path(), "nolabels.mat", &vars, true);
    let ds = load_dataset(&p, &LoadOptions::default()).unwrap();
    assert!(ds.labels.is_none());
    assert_eq!(ds.n_views(), 2);
    assert!(ds.ignored.iter().any(|i| i.name == "alpha" && i.why.contains("scalar")));
}

#[test]
fn labels_in_any_form_map_to_zero_based_ids() {
    let d = tmp();
    for (name, raw) in [("gnd", vec![7.0, 3.0, 7.0, 11.0]), ("truelabel", vec![0.0, 1.0, 2.0, 1.0])] {
        let cls = MatClass::Int64;
        let vars = vec![
            var(
                "fea",
                MatValue::Cell {
                    dims: vec![1, 2],
                    items: vec![num(4, 3, |r, c| (r + c) as f64), num(4, 2, |r, _| r as f64)],
                },
            ),
            var(
                name,
                MatValue::Numeric(NumericArray {
                    dims: vec![1, 4],
                    class: cls,
                    data: raw.clone().into(),
                    complex: false,
                }),
            ),
        ];
        let p = write(d.path(), "labels.mat", &vars, false);
        let ds = load_dataset(&p, &LoadOptions::default()).unwrap();
        let l = ds.labels.unwrap();
        assert_eq!(l.variable, name);
        assert_eq!(l.raw, raw);
        assert!(l.ids.iter().all(|&i| i < l.n_clusters()));
        assert_eq!(l.n_clusters(), 3);
    }
}

#[test]
fn v4_files_are_read() {
    // Two little-endian double matrices in the headerless v4 format.
    let mut bytes = Vec::new();
    let mut mat = |name: &str, rows: i32, cols: i32, vals: &[f64]| {
        for h in [0i32, rows, cols, 0, name.len() as i32 + 1] {
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        for v in vals {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    };
    mat("X1", 3, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    mat("X2", 3, 1, &[7.0, 8.0, 9.0]);
    mat("Y", 3, 1, &[1.0, 2.0, 1.0]);
    let d = tmp();
    let p = d.path().join("old.mat");
    std::fs::write(&p, &bytes).unwrap();
    let ds = load_dataset(&p, &LoadOptions::default()).unwrap();
    assert_eq!(ds.format.as_str(), "v4");
    assert_eq!(ds.views[0].data.to_dense(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    assert_eq!(ds.labels.unwrap().ids, vec![0, 1, 0]);
}

#[test]
fn minmax_and_zscore_never_divide_by_zero() {
    let mut ds = builtin::generate("gauss3-noise").unwrap();
    // Make one feature constant.
    if let ViewData::Dense { values, cols, .. } = &mut ds.views[0].data {
        let c = *cols;
        values.iter_mut().skip(2).step_by(c).for_each(|x| *x = 4.0);
    }
    let mut mm = ds.clone();
    preprocess::apply(&mut mm, Preprocess::MinMax);
    for v in &mm.views {
        let s = v.data.stats();
        assert_eq!(s.non_finite, 0);
        assert!(s.min >= 0.0 && s.max <= 1.0 + 1e-6, "{s:?}");
    }
    let mut z = ds.clone();
    preprocess::apply(&mut z, Preprocess::ZScore);
    let v = z.views[1].data.to_dense();
    let cols = z.views[1].data.cols();
    let mean0: f64 = v.iter().step_by(cols).map(|&x| x as f64).sum::<f64>() / z.n_samples() as f64;
    assert!(mean0.abs() < 1e-5);
    assert_eq!(z.views[0].data.stats().non_finite, 0);

    // A non-negative sparse view stays sparse under min-max.
    let mut sp = ds.clone();
    sp.views[0].data = ViewData::Sparse(CsrMatrix {
        rows: 2,
        cols: 2,
        indptr: vec![0, 1, 2],
        indices: vec![0, 1],
        values: vec![2.0, 4.0],
    });
    sp.views.truncate(1);
    preprocess::apply(&mut sp, Preprocess::MinMax);
    assert!(sp.views[0].data.is_sparse());
    assert_eq!(sp.views[0].data.to_dense(), vec![1.0, 0.0, 0.0, 1.0]);
}

#[test]
fn auto_z_scores_dense_views_and_min_maxes_sparse_ones() {
    let mut ds = builtin::generate("gauss3-noise").unwrap();
    // View 1 mostly zeros (1 entry in 4 non-zero), view 0 dense.
    if let ViewData::Dense { values, .. } = &mut ds.views[1].data {
        values.iter_mut().enumerate().filter(|(i, _)| i % 4 != 0).for_each(|(_, x)| *x = 0.0);
    }
    assert!(preprocess::nonzero_share(&ds.views[0].data) > 0.99);
    let share = preprocess::nonzero_share(&ds.views[1].data);
    assert!((share - 0.25).abs() < 0.01, "{share}");
    let mut auto = ds.clone();
    let got = preprocess::apply(&mut auto, Preprocess::Auto);
    assert_eq!(got[0], Preprocess::ZScore);
    assert_eq!(got[1], Preprocess::MinMax);
    // Each view equals the scaling auto chose for it.
    let mut z = ds.clone();
    preprocess::apply(&mut z, Preprocess::ZScore);
    let mut mm = ds.clone();
    preprocess::apply(&mut mm, Preprocess::MinMax);
    assert_eq!(auto.views[0].data.to_dense(), z.views[0].data.to_dense());
    assert_eq!(auto.views[1].data.to_dense(), mm.views[1].data.to_dense());
    assert_ne!(auto.views[0].data.to_dense(), mm.views[0].data.to_dense());
    // The name round-trips through the CLI's and the API's spelling.
    assert_eq!("auto".parse::<Preprocess>().unwrap(), Preprocess::Auto);
    assert_eq!(Preprocess::Auto.as_str(), "auto");
    let json: Preprocess = serde_json::from_str("\"auto\"").unwrap();
    assert_eq!(json, Preprocess::Auto);
}
