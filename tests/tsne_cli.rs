//! `mvc-workbench tsne` as a subprocess: seconds and trustworthiness, 2-D and 3-D, JSON and CSV.

use std::process::Command;

fn tsne(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mvc-workbench")).arg("tsne").args(args).output().unwrap()
}

#[test]
fn tsne_reports_seconds_and_trustworthiness() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("layout.csv");
    let out = tsne(&["gauss3-noise", "--n", "300", "--dims", "3", "--json", "--out", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((j["n"].as_u64(), j["dims"].as_u64(), j["k"].as_u64()), (Some(300), Some(3), Some(12)));
    assert_eq!(j["feature"], "raw");
    assert!(j["seconds"].as_f64().is_some_and(|s| s > 0.0));
    // Four well-separated Gaussian clusters (and a noise view): a faithful layout.
    let t = j["trustworthiness"].as_f64().unwrap();
    assert!(t > 0.85 && t <= 1.0, "trustworthiness {t}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().next(), Some("index,label,x,y,z"));
    assert_eq!(text.lines().count(), 301);

    let human = tsne(&["gauss3-noise", "--n", "200"]);
    let line = String::from_utf8_lossy(&human.stdout);
    assert!(line.contains("into 2-D") && line.contains("trustworthiness (k = 12)"), "{line}");

    let refused = tsne(&["gauss3-noise", "--feature", "z"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--checkpoint"));
    let refused = tsne(&["gauss3-noise", "--dims", "4"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("2 or 3"));
}
