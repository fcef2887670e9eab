//! Statistics of a clustering that the seeds' related methods use (seeds 002, 003), on plain
//! row-major host data: fuzzy memberships and the uncertainty of a pseudo label, PCL's
//! per-cluster concentration, and kNN soft labels.

use rayon::prelude::*;

/// Fuzzy c-means memberships of one sample from its squared distances to the `K` centres, with
/// fuzzifier `m > 1`: `u_j = 1 / Σ_l (d_j / d_l)^(2/(m−1))`. They sum to 1; a sample on a centre
/// belongs to it alone (shared equally between coinciding centres).
pub fn fuzzy_memberships(sq_dist: &[f32], m: f32) -> Vec<f32> {
    let k = sq_dist.len();
    if k == 0 {
        return Vec::new();
    }
    let zero: Vec<usize> = (0..k).filter(|&j| sq_dist[j] <= f32::EPSILON).collect();
    if !zero.is_empty() {
        let share = 1.0 / zero.len() as f32;
        return (0..k).map(|j| if zero.contains(&j) { share } else { 0.0 }).collect();
    }
    // u_j ∝ d_j^(−2/(m−1)) with d_j = sqrt(sq_dist_j): (sq_dist_j)^(−1/(m−1)).
    let p = -1.0 / (m.max(1.0 + 1e-3) - 1.0) as f64;
    let logs: Vec<f64> = sq_dist.iter().map(|&d| p * (d as f64).ln()).collect();
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logs.iter().map(|l| (l - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| (x / s) as f32).collect()
}

/// The uncertainty of a pseudo label: the normalised entropy `H(u) / ln K` of the sample's fuzzy
/// memberships, in [0, 1] (0: all membership in one cluster; 1: equal memberships).
///
/// The entropy rather than `1 − max u`: two samples with the same top membership differ in how the
/// rest is spread, and the entropy ranks a sample torn between two clusters as less uncertain
/// than one spread over all K, where `1 − max u` sees no difference.
pub fn fuzzy_uncertainty(sq_dist: &[f32], m: f32) -> f32 {
    let k = sq_dist.len();
    if k < 2 {
        return 0.0;
    }
    let u = fuzzy_memberships(sq_dist, m);
    let h: f64 = u.iter().filter(|&&x| x > 0.0).map(|&x| -(x as f64) * (x as f64).ln()).sum();
    ((h / (k as f64).ln()) as f32).clamp(0.0, 1.0)
}

/// PCL's concentration of each cluster, `φ_k = Σ_{i∈k} ‖x_i − c_k‖ / (n_k log(n_k + α))`, from
/// each sample's label and distance (not squared) to its cluster's centre; an empty or
/// single-sample cluster takes the median of the others. Then clipped to the 10th–90th
/// percentile over the clusters and rescaled so that the mean is `mean_temperature`.
pub fn pcl_temperatures(labels: &[usize], dist: &[f32], k: usize, alpha: f32, mean_temperature: f32) -> Vec<f32> {
    let mut sum = vec![0f64; k];
    let mut count = vec![0usize; k];
    for (&l, &d) in labels.iter().zip(dist) {
        if l < k {
            sum[l] += d as f64;
            count[l] += 1;
        }
    }
    let raw: Vec<Option<f64>> = (0..k)
        .map(|j| (count[j] > 1).then(|| sum[j] / (count[j] as f64 * (count[j] as f64 + alpha as f64).ln())))
        .collect();
    let mut known: Vec<f64> = raw.iter().flatten().copied().filter(|x| x.is_finite() && *x > 0.0).collect();
    if known.is_empty() {
        return vec![mean_temperature; k];
    }
    known.sort_by(f64::total_cmp);
    let pct = |p: f64| known[((p * (known.len() - 1) as f64).round() as usize).min(known.len() - 1)];
    let (lo, hi, median) = (pct(0.1), pct(0.9), pct(0.5));
    let phi: Vec<f64> =
        raw.iter().map(|x| x.filter(|v| v.is_finite() && *v > 0.0).unwrap_or(median).clamp(lo, hi)).collect();
    let mean = phi.iter().sum::<f64>() / k as f64;
    phi.iter().map(|x| (x / mean * mean_temperature as f64) as f32).collect()
}

/// The `k` nearest neighbours of every row by cosine similarity (excluding itself), in
/// decreasing similarity (ties by index): the Euclidean neighbours of the L2-normalised rows, found
/// by `analysis::nearest_neighbours` (blocked matrix products), so the graph on `Z` costs one
/// matrix product per block instead of a scalar N² · dim scan.
pub fn knn_cosine(data: &[f32], n: usize, d: usize, k: usize) -> Vec<Vec<usize>> {
    let k = k.min(n.saturating_sub(1));
    if k == 0 || d == 0 {
        return vec![Vec::new(); n];
    }
    let unit: Vec<f32> = data[..n * d]
        .chunks_exact(d)
        .flat_map(|row| {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            row.iter().map(move |x| x / norm)
        })
        .collect();
    match crate::analysis::nearest_neighbours(&unit, d, k) {
        Ok(rows) => rows.into_iter().map(|row| row.into_iter().map(|nb| nb.index).collect()).collect(),
        // Only a failed matrix product lands here (the shapes are checked above): fall back to
        // the scan, which needs no device.
        Err(_) => brute_knn_cosine(data, n, d, k),
    }
}

/// [`knn_cosine`] by a scalar scan over all pairs (its reference in the tests, and its fallback).
fn brute_knn_cosine(data: &[f32], n: usize, d: usize, k: usize) -> Vec<Vec<usize>> {
    let norms: Vec<f32> =
        (0..n).map(|i| data[i * d..(i + 1) * d].iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12)).collect();
    let k = k.min(n.saturating_sub(1));
    (0..n)
        .into_par_iter()
        .map(|i| {
            let a = &data[i * d..(i + 1) * d];
            let mut sims: Vec<(f32, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let b = &data[j * d..(j + 1) * d];
                    (a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norms[i] * norms[j]), j)
                })
                .collect();
            if k < sims.len() {
                sims.select_nth_unstable_by(k, |x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
                sims.truncate(k);
            }
            sims.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            sims.into_iter().map(|(_, j)| j).collect()
        })
        .collect()
}

/// Each row's neighbours' mean assignment (row-major `n × k_clusters`): TSD's neighbourhood soft
/// labels, from the assignments `q` (row-major `n × k_clusters`).
pub fn neighbour_targets(neighbours: &[Vec<usize>], q: &[f32], k_clusters: usize) -> Vec<f32> {
    let mut out = vec![0f32; neighbours.len() * k_clusters];
    for (i, nb) in neighbours.iter().enumerate() {
        let row = &mut out[i * k_clusters..(i + 1) * k_clusters];
        if nb.is_empty() {
            row.copy_from_slice(&q[i * k_clusters..(i + 1) * k_clusters]);
            continue;
        }
        for &j in nb {
            for (o, x) in row.iter_mut().zip(&q[j * k_clusters..(j + 1) * k_clusters]) {
                *o += x;
            }
        }
        let s: f32 = row.iter().sum();
        row.iter_mut().for_each(|x| *x /= s.max(1e-12));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memberships_sum_to_one_and_match_a_hand_computed_case() {
        // Distances 1 and 2 (squared 1, 4), m = 2: u ∝ 1/d² → (1, 1/4) / 1.25 = (0.8, 0.2).
        let u = fuzzy_memberships(&[1.0, 4.0], 2.0);
        assert!((u[0] - 0.8).abs() < 1e-6 && (u[1] - 0.2).abs() < 1e-6, "{u:?}");
        let u = fuzzy_memberships(&[0.3, 2.0, 5.0, 0.9], 1.5);
        assert!((u.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(fuzzy_memberships(&[0.0, 1.0, 0.0], 2.0), vec![0.5, 0.0, 0.5]);
        // Uncertainty: equal distances → 1; on a centre → 0; in [0, 1].
        assert!((fuzzy_uncertainty(&[2.0, 2.0, 2.0], 2.0) - 1.0).abs() < 1e-6);
        assert_eq!(fuzzy_uncertainty(&[0.0, 2.0, 2.0], 2.0), 0.0);
        let h = -(0.8f64 * 0.8f64.ln() + 0.2 * 0.2f64.ln()) / 2f64.ln();
        assert!((fuzzy_uncertainty(&[1.0, 4.0], 2.0) as f64 - h).abs() < 1e-6);
    }

    #[test]
    fn pcl_concentration_matches_a_hand_computed_case_with_clipping() {
        // Five clusters of 3 samples, mean distances 1..5: φ_j = 3·d_j / (3 ln 13) = d_j / ln 13.
        let mut labels = Vec::new();
        let mut dist = Vec::new();
        for j in 0..5 {
            for _ in 0..3 {
                labels.push(j);
                dist.push((j + 1) as f32);
            }
        }
        let t = pcl_temperatures(&labels, &dist, 5, 10.0, 0.5);
        // Percentiles over {1..5}/ln13: 10th → index round(0.4) = 0 (1), 90th → round(3.6) = 4 (5):
        // no clipping at five clusters; rescaled to mean 0.5: φ ∝ (1..5) / 3.
        let want: Vec<f32> = (1..=5).map(|d| d as f32 / 3.0 * 0.5).collect();
        for (a, b) in t.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{t:?} vs {want:?}");
        }
        // Eleven clusters with one outlier: it is clipped to the 90th percentile.
        let mut labels = Vec::new();
        let mut dist = Vec::new();
        for j in 0..11 {
            for _ in 0..2 {
                labels.push(j);
                dist.push(if j == 10 { 100.0 } else { 1.0 + j as f32 * 0.1 });
            }
        }
        let t = pcl_temperatures(&labels, &dist, 11, 10.0, 1.0);
        let mean = t.iter().sum::<f32>() / 11.0;
        assert!((mean - 1.0).abs() < 1e-5);
        assert_eq!(t[10], t[9], "the outlier is clipped to the 90th percentile (cluster 9's value)");
    }

    #[test]
    fn knn_by_products_equals_the_scan_on_clustered_data() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let (n, d, k) = (std::env::var("KNN_N").ok().and_then(|v| v.parse().ok()).unwrap_or(600), 64, 10);
        let data: Vec<f32> =
            (0..n * d).map(|i| ((i / d) % 7 == i % d % 7) as u8 as f32 + rng.random::<f32>()).collect();
        let t = std::time::Instant::now();
        let fast = knn_cosine(&data, n, d, k);
        let fast_secs = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let slow = brute_knn_cosine(&data, n, d, k);
        eprintln!("kNN of {n} x {d}: products {fast_secs:.3} s, scan {:.3} s", t.elapsed().as_secs_f64());
        // Near-equal similarities may swap places; the sets must agree but for such swaps.
        let same: usize = fast.iter().zip(&slow).map(|(a, b)| a.iter().filter(|j| b.contains(j)).count()).sum();
        assert!(same as f64 >= 0.999 * (n * k) as f64, "{same} of {} neighbours agree", n * k);
        assert_eq!(knn_cosine(&data[..d], 1, d, 3), vec![Vec::<usize>::new()]);
    }

    #[test]
    fn knn_equals_brute_force_on_a_small_set() {
        let data: Vec<f32> = (0..40).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3 + (i % 3) as f32).collect();
        let (n, d, k) = (10, 4, 3);
        let got = knn_cosine(&data, n, d, k);
        for i in 0..n {
            let cos = |j: usize| {
                let (a, b) = (&data[i * d..(i + 1) * d], &data[j * d..(j + 1) * d]);
                let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
            };
            let mut all: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            all.sort_by(|&a, &b| cos(b).total_cmp(&cos(a)).then(a.cmp(&b)));
            assert_eq!(got[i], all[..k].to_vec(), "row {i}");
        }
        let q = vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5];
        let t = neighbour_targets(&[vec![1, 2], vec![0], vec![]], &q, 2);
        assert_eq!(t, vec![0.25, 0.75, 1.0, 0.0, 0.5, 0.5]);
    }
}
