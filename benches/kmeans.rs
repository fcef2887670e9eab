//! k-means benchmark (`cluster::kmeans`, what the pseudo-label refresh and the "k-means on `Z`"
//! reading run): 10 clusters, 10 restarts, 100 iterations at most, tolerance 1e-4 (scikit-learn's
//! defaults of the classic `KMeans`), on a feature matrix.
//!
//! `cargo bench --bench kmeans -- [FILE]` prints the median and best of 5 runs after a warm-up,
//! and the inertia. FILE is any file the loader reads (`.npy` / `.npz` / `.mat`), its views side by
//! side, used as they are (e.g. a network's `Z` that `mvc-workbench tsne --feature z
//! --features-out Z.npy` wrote); without one, 5,000 samples of 1,024 features in 10 blurred
//! clusters (MNIST-USPS's `Z` shape). `scripts/kmeans_compare.py FILE` runs scikit-learn on the
//! same matrix with the same settings. Under `cargo test` it runs once on a small matrix.

use std::path::Path;
use std::time::Instant;

use mvc_workbench::cluster::{KMeansParams, kmeans};
use mvc_workbench::data::{LoadOptions, load_dataset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n × d` points around `k` random centres in the unit cube, each coordinate blurred by ±0.5.
fn blobs(n: usize, d: usize, k: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let centres: Vec<f32> = (0..k * d).map(|_| rng.random::<f32>()).collect();
    (0..n)
        .flat_map(|i| (0..d).map(move |j| (i, j)))
        .map(|(i, j)| centres[(i % k) * d + j] + rng.random::<f32>() - 0.5)
        .collect()
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let file = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let (name, data, n, d) = match &file {
        Some(f) => {
            let ds = load_dataset(Path::new(f), &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            let n = ds.n_samples();
            let (data, d) = ds.side_by_side(&(0..n).collect::<Vec<_>>());
            (f.clone(), data, n, d)
        }
        None if benchmarking => ("blobs".into(), blobs(5000, 1024, 10), 5000, 1024),
        None => ("blobs".into(), blobs(600, 64, 10), 600, 64),
    };
    let params = KMeansParams { n_init: 10, ..KMeansParams::new(10, 0) };
    let runs = if benchmarking { 5 } else { 1 };
    if benchmarking {
        let _ = kmeans(&data, n, d, &params);
    }
    let mut times = Vec::new();
    let mut inertia = 0.0;
    for _ in 0..runs {
        let t = Instant::now();
        let r = kmeans(&data, n, d, &params).unwrap_or_else(|e| panic!("{e}"));
        times.push(t.elapsed().as_secs_f64());
        inertia = r.inertia;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "k-means on {name} ({n} × {d}, k 10, 10 restarts): median {:.3} s, best {:.3} s over {runs} runs; inertia {inertia:.6e}",
        times[times.len() / 2],
        times[0]
    );
}
