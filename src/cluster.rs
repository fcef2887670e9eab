//! k-means with k-means++ seeding, Lloyd iterations and restarts.
//!
//! Used twice by the engine: to initialise the DEC cluster centres on the
//! high-level features `h` after pre-training (DEC's convention), and for the
//! "k-means on the fused feature `Z`" reading of the metrics.
//!
//! The algorithm (Arthur & Vassilvitskii 2007, then Lloyd): pick the first
//! centre uniformly, each further one with probability proportional to the
//! squared distance to the nearest centre already chosen (with a few local
//! trials per pick, as scikit-learn does); then alternate assignment and
//! centroid update until the centres move less than `tolerance` (relative to
//! the data variance) or `max_iter` is reached. The best of `n_init` seeded
//! restarts (lowest inertia) wins. The assignment step runs on all cores
//! (rayon's shared pool, one task per chunk of samples). Everything is
//! deterministic for a given seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Settings of a k-means run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    pub n_init: usize,
    pub max_iter: usize,
    /// Relative tolerance on the centre shift (scaled by the mean feature variance).
    pub tolerance: f64,
    pub seed: u64,
}

impl KMeansParams {
    pub fn new(k: usize, seed: u64) -> Self {
        KMeansParams { k, n_init: 3, max_iter: 100, tolerance: 1e-4, seed }
    }
}

/// Why k-means could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KMeansError {
    #[error("k-means needs at least one cluster")]
    NoClusters,
    #[error("k-means needs at least as many samples ({n}) as clusters ({k})")]
    TooFewSamples { n: usize, k: usize },
    #[error("the data for k-means has {len} values, which is not {n} samples × {d} features")]
    BadShape { len: usize, n: usize, d: usize },
    #[error("the data for k-means contains NaN or infinite values")]
    NonFinite,
}

/// The outcome of k-means.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansResult {
    /// Row-major `k × d`.
    pub centroids: Vec<f32>,
    pub labels: Vec<usize>,
    /// Sum of squared distances of the samples to their centres.
    pub inertia: f64,
    pub iterations: usize,
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        let d = a[i] - b[i];
        s += d * d;
    }
    s
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16)
}

/// Assigns every sample to its nearest centre; returns the inertia.
fn assign(data: &[f32], d: usize, centroids: &[f32], k: usize, labels: &mut [usize], dists: &mut [f32]) -> f64 {
    let n = labels.len();
    let t = threads().min(n.div_ceil(256)).max(1);
    let chunk = n.div_ceil(t);
    // On the shared (named) worker pool: one task per chunk.
    labels.par_chunks_mut(chunk).zip(dists.par_chunks_mut(chunk)).zip(data.par_chunks(chunk * d)).for_each(
        |((lab, dis), rows)| {
            for (i, x) in rows.chunks_exact(d).enumerate() {
                let mut best = (f32::INFINITY, 0usize);
                for c in 0..k {
                    let dd = sq_dist(x, &centroids[c * d..(c + 1) * d]);
                    if dd < best.0 {
                        best = (dd, c);
                    }
                }
                lab[i] = best.1;
                dis[i] = best.0;
            }
        },
    );
    dists.iter().map(|&x| x as f64).sum()
}

fn plus_plus(data: &[f32], n: usize, d: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut centroids = Vec::with_capacity(k * d);
    let first = rng.random_range(0..n);
    centroids.extend_from_slice(&data[first * d..(first + 1) * d]);
    let mut closest: Vec<f32> = (0..n).map(|i| sq_dist(&data[i * d..(i + 1) * d], &centroids[0..d])).collect();
    let trials = 2 + (k as f64).ln().floor() as usize;
    for _ in 1..k {
        let total: f64 = closest.iter().map(|&x| x as f64).sum();
        let mut best: Option<(f64, usize, Vec<f32>)> = None;
        for _ in 0..trials {
            let cand = if total > 0.0 {
                let mut r = rng.random::<f64>() * total;
                let mut pick = n - 1;
                for (i, &c) in closest.iter().enumerate() {
                    r -= c as f64;
                    if r <= 0.0 {
                        pick = i;
                        break;
                    }
                }
                pick
            } else {
                rng.random_range(0..n)
            };
            let cx = &data[cand * d..(cand + 1) * d];
            let new_closest: Vec<f32> =
                closest.iter().enumerate().map(|(i, &c)| c.min(sq_dist(&data[i * d..(i + 1) * d], cx))).collect();
            let pot: f64 = new_closest.iter().map(|&x| x as f64).sum();
            if best.as_ref().is_none_or(|b| pot < b.0) {
                best = Some((pot, cand, new_closest));
            }
        }
        if let Some((_, cand, new_closest)) = best {
            centroids.extend_from_slice(&data[cand * d..(cand + 1) * d]);
            closest = new_closest;
        }
    }
    centroids
}

fn one_run(data: &[f32], n: usize, d: usize, p: &KMeansParams, tol: f64, rng: &mut ChaCha8Rng) -> KMeansResult {
    let k = p.k;
    let mut centroids = plus_plus(data, n, d, k, rng);
    let mut labels = vec![0usize; n];
    let mut dists = vec![0f32; n];
    let mut inertia = assign(data, d, &centroids, k, &mut labels, &mut dists);
    let mut iterations = 0;
    for _ in 0..p.max_iter {
        iterations += 1;
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0usize; k];
        for (i, &l) in labels.iter().enumerate() {
            counts[l] += 1;
            for (s, &x) in sums[l * d..(l + 1) * d].iter_mut().zip(&data[i * d..(i + 1) * d]) {
                *s += x as f64;
            }
        }
        let mut new_c = vec![0f32; k * d];
        for c in 0..k {
            if counts[c] == 0 {
                // Empty cluster: move it to the sample farthest from its centre.
                let far = (0..n).max_by(|&a, &b| dists[a].total_cmp(&dists[b])).unwrap_or(0);
                new_c[c * d..(c + 1) * d].copy_from_slice(&data[far * d..(far + 1) * d]);
                dists[far] = 0.0;
            } else {
                for j in 0..d {
                    new_c[c * d + j] = (sums[c * d + j] / counts[c] as f64) as f32;
                }
            }
        }
        let shift: f64 = new_c.iter().zip(&centroids).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
        centroids = new_c;
        inertia = assign(data, d, &centroids, k, &mut labels, &mut dists);
        if shift <= tol {
            break;
        }
    }
    KMeansResult { centroids, labels, inertia, iterations }
}

/// Runs k-means on `n × d` row-major data.
pub fn kmeans(data: &[f32], n: usize, d: usize, params: &KMeansParams) -> Result<KMeansResult, KMeansError> {
    if params.k == 0 {
        return Err(KMeansError::NoClusters);
    }
    if data.len() != n * d {
        return Err(KMeansError::BadShape { len: data.len(), n, d });
    }
    if n < params.k {
        return Err(KMeansError::TooFewSamples { n, k: params.k });
    }
    if data.iter().any(|x| !x.is_finite()) {
        return Err(KMeansError::NonFinite);
    }
    // scikit-learn's tolerance: relative to the mean per-feature variance.
    let mut var_sum = 0.0;
    for j in 0..d {
        let (mut s, mut sq) = (0.0f64, 0.0f64);
        for i in 0..n {
            let x = data[i * d + j] as f64;
            s += x;
            sq += x * x;
        }
        let m = s / n as f64;
        var_sum += (sq / n as f64 - m * m).max(0.0);
    }
    let tol = params.tolerance * var_sum / d.max(1) as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut best: Option<KMeansResult> = None;
    for _ in 0..params.n_init.max(1) {
        let r = one_run(data, n, d, params, tol, &mut rng);
        if best.as_ref().is_none_or(|b| r.inertia < b.inertia) {
            best = Some(r);
        }
    }
    best.ok_or(KMeansError::NoClusters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs() -> (Vec<f32>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let centres = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let mut data = vec![];
        let mut y = vec![];
        for i in 0..300 {
            let c = i % 3;
            data.push(centres[c][0] + rng.random::<f32>() - 0.5);
            data.push(centres[c][1] + rng.random::<f32>() - 0.5);
            y.push(c);
        }
        (data, y)
    }

    #[test]
    fn separates_blobs_and_is_deterministic() {
        let (data, y) = blobs();
        let p = KMeansParams::new(3, 7);
        let a = kmeans(&data, 300, 2, &p).unwrap();
        let b = kmeans(&data, 300, 2, &p).unwrap();
        assert_eq!(a, b);
        assert_eq!(crate::metrics::accuracy(&a.labels, &y), 1.0);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(kmeans(&[0.0; 4], 2, 2, &KMeansParams::new(3, 0)), Err(KMeansError::TooFewSamples { n: 2, k: 3 }));
        assert!(matches!(kmeans(&[0.0; 5], 2, 2, &KMeansParams::new(1, 0)), Err(KMeansError::BadShape { .. })));
        assert_eq!(kmeans(&[f32::NAN, 0.0], 1, 2, &KMeansParams::new(1, 0)), Err(KMeansError::NonFinite));
    }
}
