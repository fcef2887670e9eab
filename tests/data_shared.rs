//! Every shared dataset loads and matches what scipy / h5py read from it
//! (`../shared/fixtures/datasets_expected.json`).

mod common;

use mvc_workbench::data::{LoadOptions, load_dataset};

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-300) || (a - b).abs() < 1e-9
}

#[test]
fn every_shared_dataset_matches_the_fixture() {
    let Some(shared) = common::shared_dir() else { return };
    let text = std::fs::read_to_string(shared.join("fixtures/datasets_expected.json")).expect("fixture readable");
    let fixture: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let cases = fixture["datasets"].as_array().expect("datasets array");
    assert!(cases.len() >= 20, "expected the whole catalogue, found {}", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let path = shared.join("datasets").join(file);
        let ds = match load_dataset(&path, &LoadOptions::default()) {
            Ok(ds) => ds,
            Err(e) => {
                failures.push(format!("{file}: failed to load: {e}"));
                continue;
            }
        };
        let want_version = case["mat_version"].as_str().unwrap();
        let got_version = match ds.format.as_str() {
            "v5" => "5",
            "v7.3" => "7.3",
            o => o,
        };
        if got_version != want_version {
            failures.push(format!("{file}: format {got_version}, expected {want_version}"));
        }
        let n = case["n"].as_u64().unwrap() as usize;
        if ds.n_samples() != n {
            failures.push(format!("{file}: {} samples, expected {n}", ds.n_samples()));
        }
        let views = case["views"].as_array().unwrap();
        if ds.n_views() != views.len() {
            failures.push(format!("{file}: {} views, expected {}", ds.n_views(), views.len()));
            continue;
        }
        for (i, (v, want)) in ds.views.iter().zip(views).enumerate() {
            let shape: Vec<usize> =
                want["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            if [v.data.rows(), v.data.cols()] != [shape[0], shape[1]] {
                failures.push(format!(
                    "{file} view {i}: shape {}x{}, expected {shape:?}",
                    v.data.rows(),
                    v.data.cols()
                ));
                continue;
            }
            if v.source != want["source"].as_str().unwrap() {
                failures.push(format!("{file} view {i}: source {}, expected {}", v.source, want["source"]));
            }
            let s = v.data.stats();
            let (sum, sum_sq) = (want["sum"].as_f64().unwrap(), want["sum_sq"].as_f64().unwrap());
            if !rel_close(s.sum, sum, 1e-6) {
                failures.push(format!(
                    "{file} view {i}: sum {} expected {sum} (rel err {:.2e})",
                    s.sum,
                    (s.sum - sum).abs() / sum.abs()
                ));
            }
            if !rel_close(s.sum_sq, sum_sq, 1e-6) {
                failures.push(format!(
                    "{file} view {i}: sum_sq {} expected {sum_sq} (rel err {:.2e})",
                    s.sum_sq,
                    (s.sum_sq - sum_sq).abs() / sum_sq.abs()
                ));
            }
            let head: Vec<f64> =
                want["first_row_head"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            let row = v.data.gather_rows(&[0]);
            for (j, h) in head.iter().enumerate() {
                if !rel_close(row[j] as f64, *h, 1e-6) {
                    failures.push(format!("{file} view {i}: x[0][{j}] = {} expected {h}", row[j]));
                }
            }
        }
        let labels = ds.labels.as_ref();
        match (labels, case["label_variable"].as_str()) {
            (Some(l), Some(want)) => {
                if l.variable != want {
                    failures.push(format!("{file}: label variable {}, expected {want}", l.variable));
                }
                let raw: Vec<f64> = case["labels"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
                if l.raw != raw {
                    failures.push(format!("{file}: label values differ from the fixture"));
                }
                let k = case["n_clusters"].as_u64().unwrap() as usize;
                if l.n_clusters() != k {
                    failures.push(format!("{file}: {} clusters, expected {k}", l.n_clusters()));
                }
                if l.ids.iter().any(|&id| id >= k) {
                    failures.push(format!("{file}: label ids are not mapped to 0..K-1"));
                }
            }
            (None, Some(want)) => failures.push(format!("{file}: no labels found, expected `{want}`")),
            (Some(l), None) => {
                failures.push(format!("{file}: found labels `{}` the fixture does not have", l.variable))
            }
            (None, None) => {}
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn v73_char_cells_give_names_and_are_not_views() {
    let Some(shared) = common::shared_dir() else { return };
    let ds = load_dataset(&shared.join("datasets/Handwritten_fea_v73.mat"), &LoadOptions::default()).unwrap();
    assert_eq!(ds.n_views(), 6);
    let l = ds.labels.as_ref().unwrap();
    assert_eq!(l.n_clusters(), 10);
    // class_meaning (1x10 char cell) becomes class names; view_meaning names the views.
    assert!(l.class_names.is_some(), "class names from class_meaning");
    assert!(
        ds.views.iter().all(|v| !v.name.starts_with("X{")),
        "views named from view_meaning: {:?}",
        ds.views.iter().map(|v| &v.name).collect::<Vec<_>>()
    );
    assert!(ds.ignored.iter().any(|i| i.name == "data_name"));
}

#[test]
fn forcing_views_and_labels_works_on_a_real_file() {
    let Some(shared) = common::shared_dir() else { return };
    let path = shared.join("datasets/MNIST_USPS.mat");
    let opts = LoadOptions { views: Some(vec!["X2".into()]), labels: Some("Y".into()), ..Default::default() };
    let ds = load_dataset(&path, &opts).unwrap();
    assert_eq!(ds.n_views(), 1);
    assert_eq!(ds.views[0].source, "X2");
    // Without labels, rows are samples as stored.
    let opts = LoadOptions { views: Some(vec!["data{2}".into()]), no_labels: true, ..Default::default() };
    let ds = load_dataset(&shared.join("datasets/BDGP.mat"), &opts).unwrap();
    assert_eq!((ds.views[0].data.rows(), ds.views[0].data.cols()), (79, 2500));
    assert!(ds.labels.is_none());
    // A missing variable is named in the error.
    let opts = LoadOptions { views: Some(vec!["nope".into()]), ..Default::default() };
    let err = load_dataset(&path, &opts).unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("MNIST_USPS.mat"), "{err}");
}

#[test]
fn sparse_views_stay_sparse() {
    let Some(shared) = common::shared_dir() else { return };
    let ds = load_dataset(&shared.join("datasets/CiteSeer.mat"), &LoadOptions::default()).unwrap();
    assert!(ds.views.iter().all(|v| v.data.is_sparse()));
}
