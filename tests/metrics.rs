//! Clustering metrics against scikit-learn's numbers (`../shared/fixtures/metrics_cases.json`).

use std::path::PathBuf;

use mvc_workbench::metrics;

fn fixture() -> Option<serde_json::Value> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("shared").join("fixtures").join("metrics_cases.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap()),
        Err(_) => {
            eprintln!("SKIPPED: {} is absent (it is present in CI)", path.display());
            None
        }
    }
}

fn ids(v: &serde_json::Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

#[test]
fn metrics_equal_scikit_learn_fixtures() {
    let Some(fx) = fixture() else { return };
    let cases = fx["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for (i, c) in cases.iter().enumerate() {
        let truth = ids(&c["labels_true"]);
        let pred = ids(&c["labels_pred"]);
        let s = metrics::scores(&pred, &truth);
        for (name, got) in [("acc", s.acc), ("nmi", s.nmi), ("ari", s.ari), ("purity", s.purity)] {
            let want = c[name].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-9,
                "case {i} (n = {}): {name} is {got}, scikit-learn says {want}",
                truth.len()
            );
        }
    }
}

#[test]
fn aligned_predictions_reach_the_accuracy() {
    let Some(fx) = fixture() else { return };
    for c in fx["cases"].as_array().unwrap() {
        let truth = ids(&c["labels_true"]);
        let pred = ids(&c["labels_pred"]);
        let map = metrics::align_clusters(&pred, &truth);
        let k_pred = pred.iter().collect::<std::collections::BTreeSet<_>>().len();
        let k_true = truth.iter().collect::<std::collections::BTreeSet<_>>().len();
        if k_pred <= k_true {
            let hits = pred.iter().zip(&truth).filter(|(p, t)| map[**p] == **t).count();
            let acc = hits as f64 / truth.len() as f64;
            assert!((acc - metrics::accuracy(&pred, &truth)).abs() < 1e-12);
        }
    }
}
