//! Load-time benchmark of the MAT readers on the shared datasets.
//! `cargo bench --bench load` prints a table (median of 15 runs after a warm-up);
//! under `cargo test` it loads each file once as a smoke test.

use std::path::PathBuf;
use std::time::Instant;

use mvc_workbench::data::{LoadOptions, load_dataset};

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets");
    if !shared.is_dir() {
        eprintln!("SKIPPED: ../shared/datasets is absent");
        return;
    }
    let files =
        ["MNIST_USPS.mat", "Hdigit.mat", "handwritten.mat", "BDGP.mat", "CiteSeer.mat", "Handwritten_fea_v73.mat"];
    // `-- --bench NAME` limits the table to files whose name contains NAME (for profiling).
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let runs = if benchmarking { 15 } else { 1 };
    println!("| file | bytes | samples × dims | median ms | min ms |");
    println!("|---|---:|---|---:|---:|");
    for f in files.into_iter().filter(|f| only.is_empty() || only.iter().any(|o| f.contains(o.as_str()))) {
        let path = shared.join(f);
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if benchmarking {
            let _ = load_dataset(&path, &LoadOptions::default());
        }
        let mut times = Vec::new();
        let mut shape = String::new();
        for _ in 0..runs {
            let t = Instant::now();
            let ds = load_dataset(&path, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            times.push(t.elapsed().as_secs_f64() * 1e3);
            shape = format!("{} × {:?}", ds.n_samples(), ds.view_dims());
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!("| {f} | {bytes} | {shape} | {:.1} | {:.1} |", times[times.len() / 2], times[0]);
    }
}
