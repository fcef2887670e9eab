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
//! restarts (lowest inertia) wins. The distances of the assignment step and
//! of the seeding's trials come from matrix products (`‖c‖² − 2 x·c`, as
//! scikit-learn computes them): one product over all samples per Lloyd
//! iteration (and per seeding step), the selection then on rayon's shared
//! pool in blocks of samples. Everything is deterministic for a given seed.

use burn::tensor::{Device, Tensor, TensorData};
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
    #[error("k-means needs at least one feature per sample")]
    NoFeatures,
    #[error("the data for k-means has {len} values, which is not {n} samples × {d} features")]
    BadShape { len: usize, n: usize, d: usize },
    #[error("the k-means start has {len} values, which is not {k} centres × {d} features")]
    BadStart { len: usize, k: usize, d: usize },
    #[error("the data for k-means contains NaN or infinite values")]
    NonFinite,
    #[error("k-means' distance products failed: {0}")]
    Products(String),
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

/// The squared norm of each `d`-wide row.
fn row_norms(rows: &[f32], d: usize) -> Vec<f32> {
    rows.chunks_exact(d).map(|r| r.iter().map(|x| x * x).sum()).collect()
}

/// Samples per task of the assignment's selection (and exact distance) step.
const ROWS_PER_TASK: usize = 512;

/// `x · cᵀ` for all samples `x` (`n × d`, on the device) and centres `c` (`k × d`), as `n × k`
/// row-major: one matrix product through burn-flex's (runtime-detected AVX-512/AVX2) kernels.
fn products(x: &Tensor<2>, c: &[f32], d: usize) -> Result<Vec<f32>, KMeansError> {
    let k = c.len() / d;
    let c = Tensor::<2>::from_data(TensorData::new(c.to_vec(), [k, d]), &x.device());
    x.clone().matmul(c.transpose()).into_data().try_to_vec::<f32>().map_err(|e| KMeansError::Products(format!("{e:?}")))
}

/// Assigns every sample to its nearest centre; returns the inertia.
///
/// The nearest centre minimises `‖c‖² − 2 x·c` (the sample's own norm is the same for every
/// centre), so the `n × k` products come from one matrix product, as in scikit-learn's Lloyd; the
/// winner's distance is then computed exactly, so the inertia that picks the best restart carries
/// no cancellation error.
fn assign(
    data: &[f32],
    x: &Tensor<2>,
    d: usize,
    centroids: &[f32],
    labels: &mut [usize],
    dists: &mut [f32],
) -> Result<f64, KMeansError> {
    let centre_norms = row_norms(centroids, d);
    let k = centre_norms.len();
    let dots = products(x, centroids, d)?;
    // On the shared (named) worker pool: one task per block of samples.
    labels
        .par_chunks_mut(ROWS_PER_TASK)
        .zip(dists.par_chunks_mut(ROWS_PER_TASK))
        .zip(data.par_chunks(ROWS_PER_TASK * d))
        .zip(dots.par_chunks(ROWS_PER_TASK * k))
        .for_each(|(((lab, dis), rows), dots)| {
            for (i, (x, dot)) in rows.chunks_exact(d).zip(dots.chunks_exact(k)).enumerate() {
                let mut best = (f32::INFINITY, 0usize);
                for (c, (&cn, &xc)) in centre_norms.iter().zip(dot).enumerate() {
                    let score = cn - 2.0 * xc;
                    if score < best.0 {
                        best = (score, c);
                    }
                }
                lab[i] = best.1;
                dis[i] = sq_dist(x, &centroids[best.1 * d..(best.1 + 1) * d]);
            }
        });
    Ok(dists.iter().map(|&x| x as f64).sum())
}

/// Each sample's squared distance to each of `candidates` (`t × d`), `min`-ed with its distance so
/// far: one `n × t` matrix product, `‖x‖² − 2 x·c + ‖c‖²` floored at zero.
fn closest_with(
    x: &Tensor<2>,
    norms: &[f32],
    d: usize,
    candidates: &[f32],
    closest: &[f32],
) -> Result<Vec<Vec<f32>>, KMeansError> {
    let cand_norms = row_norms(candidates, d);
    let t = cand_norms.len();
    let dots = products(x, candidates, d)?;
    Ok((0..t)
        .map(|j| {
            closest
                .iter()
                .zip(norms)
                .zip(dots.chunks_exact(t))
                .map(|((&c, &xn), dot)| c.min((xn - 2.0 * dot[j] + cand_norms[j]).max(0.0)))
                .collect()
        })
        .collect())
}

fn plus_plus(
    data: &[f32],
    x: &Tensor<2>,
    norms: &[f32],
    d: usize,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f32>, KMeansError> {
    let n = norms.len();
    let mut centroids = Vec::with_capacity(k * d);
    let first = rng.random_range(0..n);
    centroids.extend_from_slice(&data[first * d..(first + 1) * d]);
    let mut closest: Vec<f32> = (0..n).map(|i| sq_dist(&data[i * d..(i + 1) * d], &centroids[0..d])).collect();
    let trials = 2 + (k as f64).ln().floor() as usize;
    for _ in 1..k {
        let total: f64 = closest.iter().map(|&x| x as f64).sum();
        // The trials are drawn from the same distribution, then scored together.
        let picks: Vec<usize> = (0..trials)
            .map(|_| {
                if total > 0.0 {
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
                }
            })
            .collect();
        let candidates: Vec<f32> = picks.iter().flat_map(|&p| data[p * d..(p + 1) * d].iter().copied()).collect();
        let scored = closest_with(x, norms, d, &candidates, &closest)?;
        let mut best: Option<(f64, usize)> = None;
        for (j, new_closest) in scored.iter().enumerate() {
            let pot: f64 = new_closest.iter().map(|&x| x as f64).sum();
            if best.is_none_or(|b| pot < b.0) {
                best = Some((pot, j));
            }
        }
        if let Some((_, j)) = best {
            centroids.extend_from_slice(&data[picks[j] * d..(picks[j] + 1) * d]);
            closest = scored.into_iter().nth(j).unwrap_or(closest);
        }
    }
    Ok(centroids)
}

fn one_run(
    data: &[f32],
    x: &Tensor<2>,
    norms: &[f32],
    d: usize,
    p: &KMeansParams,
    tol: f64,
    start: &[f32],
) -> Result<KMeansResult, KMeansError> {
    let (n, k) = (norms.len(), p.k);
    let mut centroids = start.to_vec();
    let mut labels = vec![0usize; n];
    let mut dists = vec![0f32; n];
    let mut inertia = assign(data, x, d, &centroids, &mut labels, &mut dists)?;
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
        inertia = assign(data, x, d, &centroids, &mut labels, &mut dists)?;
        if shift <= tol {
            break;
        }
    }
    Ok(KMeansResult { centroids, labels, inertia, iterations })
}

/// What every run on one data set shares: the stopping tolerance, the rows' norms and the data
/// as a tensor for the distance products.
struct Prepared {
    tol: f64,
    norms: Vec<f32>,
    x: Tensor<2>,
}

fn prepare(data: &[f32], n: usize, d: usize, params: &KMeansParams) -> Result<Prepared, KMeansError> {
    if params.k == 0 {
        return Err(KMeansError::NoClusters);
    }
    if d == 0 {
        return Err(KMeansError::NoFeatures);
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
    // (Row by row: the data is row-major.)
    let (mut sums, mut squares) = (vec![0.0f64; d], vec![0.0f64; d]);
    for row in data.chunks_exact(d) {
        for ((s, sq), &x) in sums.iter_mut().zip(squares.iter_mut()).zip(row) {
            *s += x as f64;
            *sq += x as f64 * x as f64;
        }
    }
    let var_sum: f64 = sums
        .iter()
        .zip(&squares)
        .map(|(&s, &sq)| {
            let m = s / n as f64;
            (sq / n as f64 - m * m).max(0.0)
        })
        .sum();
    let tol = params.tolerance * var_sum / d.max(1) as f64;
    let norms = row_norms(data, d);
    let x = Tensor::<2>::from_data(TensorData::new(data.to_vec(), [n, d]), &Device::flex());
    Ok(Prepared { tol, norms, x })
}

fn best_of_restarts(
    data: &[f32],
    d: usize,
    params: &KMeansParams,
    prep: &Prepared,
) -> Result<KMeansResult, KMeansError> {
    // The seedings draw from one generator in turn (the Lloyd runs draw nothing), then the Lloyd
    // runs, independent of each other, share the pool: their centre updates are serial loops.
    // The same restarts and the same winner as one after another.
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let starts = (0..params.n_init.max(1))
        .map(|_| plus_plus(data, &prep.x, &prep.norms, d, params.k, &mut rng))
        .collect::<Result<Vec<_>, _>>()?;
    let runs = starts
        .par_iter()
        .map(|start| one_run(data, &prep.x, &prep.norms, d, params, prep.tol, start))
        .collect::<Result<Vec<_>, _>>()?;
    let mut best: Option<KMeansResult> = None;
    for r in runs {
        if best.as_ref().is_none_or(|b| r.inertia < b.inertia) {
            best = Some(r);
        }
    }
    best.ok_or(KMeansError::NoClusters)
}

/// Runs k-means on `n × d` row-major data.
pub fn kmeans(data: &[f32], n: usize, d: usize, params: &KMeansParams) -> Result<KMeansResult, KMeansError> {
    let prep = prepare(data, n, d, params)?;
    best_of_restarts(data, d, params, &prep)
}

/// k-means's seeded restarts, and beside them one Lloyd run from the given centres `start`
/// (row-major `k × d`; e.g. the means of a partition already in use): returns both, the restarts'
/// best first, so that the caller can keep whichever has the lower inertia and say which it kept.
pub fn kmeans_with_start(
    data: &[f32],
    n: usize,
    d: usize,
    params: &KMeansParams,
    start: &[f32],
) -> Result<(KMeansResult, KMeansResult), KMeansError> {
    let prep = prepare(data, n, d, params)?;
    if start.len() != params.k * d {
        return Err(KMeansError::BadStart { len: start.len(), k: params.k, d });
    }
    if start.iter().any(|x| !x.is_finite()) {
        return Err(KMeansError::NonFinite);
    }
    let restarts = best_of_restarts(data, d, params, &prep)?;
    let warm = one_run(data, &prep.x, &prep.norms, d, params, prep.tol, start)?;
    Ok((restarts, warm))
}

/// The mean silhouette of a partition (Rousseeuw 1987), as scikit-learn's `silhouette_score`
/// computes it: for each sample, `(b − a) / max(a, b)` with `a` its mean Euclidean distance to the
/// other members of its cluster and `b` the smallest mean distance to another cluster's members;
/// 0 for a sample alone in its cluster. `None` with fewer than two clusters in use. O(n² d): the
/// caller subsamples large sets; [`Distances`] computes the pairs once for several partitions.
pub fn silhouette(data: &[f32], d: usize, labels: &[usize]) -> Option<f64> {
    Distances::of(data, d)?.silhouette(labels)
}

/// The Euclidean distances between every pair of `n` rows (`n × n`, row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Distances {
    n: usize,
    pairs: Vec<f64>,
}

impl Distances {
    /// The pairwise distances of the rows of `data` (`d` features each); `None` for a shape that
    /// does not fit.
    pub fn of(data: &[f32], d: usize) -> Option<Self> {
        if d == 0 || !data.len().is_multiple_of(d) {
            return None;
        }
        let n = data.len() / d;
        let pairs = (0..n)
            .into_par_iter()
            .flat_map_iter(|i| {
                let x = &data[i * d..(i + 1) * d];
                (0..n).map(move |j| f64::from(sq_dist(x, &data[j * d..(j + 1) * d])).sqrt())
            })
            .collect();
        Some(Distances { n, pairs })
    }

    /// The mean silhouette of `labels` (one per row), as [`silhouette`].
    pub fn silhouette(&self, labels: &[usize]) -> Option<f64> {
        let n = self.n;
        if labels.len() != n {
            return None;
        }
        let k = labels.iter().copied().max().map_or(0, |m| m + 1);
        let mut sizes = vec![0usize; k];
        labels.iter().for_each(|&l| sizes[l] += 1);
        if sizes.iter().filter(|&&s| s > 0).count() < 2 {
            return None;
        }
        let total: f64 = (0..n)
            .into_par_iter()
            .map(|i| {
                let own = labels[i];
                if sizes[own] < 2 {
                    return 0.0;
                }
                let mut sums = vec![0f64; k];
                for (&dist, &l) in self.pairs[i * n..(i + 1) * n].iter().zip(labels) {
                    sums[l] += dist;
                }
                let a = sums[own] / (sizes[own] - 1) as f64;
                let b = (0..k)
                    .filter(|&c| c != own && sizes[c] > 0)
                    .map(|c| sums[c] / sizes[c] as f64)
                    .fold(f64::INFINITY, f64::min);
                let m = a.max(b);
                if m > 0.0 { (b - a) / m } else { 0.0 }
            })
            .sum();
        Some(total / n as f64)
    }
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

    /// The run from given centres keeps their order (cluster j is the one centre j started), ends
    /// on the same partition as the restarts here, and the restarts are `kmeans`'s own.
    #[test]
    fn a_warm_start_keeps_its_centres_identities() {
        let (data, y) = blobs();
        let p = KMeansParams::new(3, 7);
        // The classes' means, listed in the order 2, 0, 1.
        let order = [2usize, 0, 1];
        let mut start = vec![];
        for &c in &order {
            let rows: Vec<usize> = (0..300).filter(|&i| y[i] == c).collect();
            for j in 0..2 {
                start.push(rows.iter().map(|&i| data[i * 2 + j]).sum::<f32>() / rows.len() as f32);
            }
        }
        let (restarts, warm) = kmeans_with_start(&data, 300, 2, &p, &start).unwrap();
        assert_eq!(restarts, kmeans(&data, 300, 2, &p).unwrap());
        for (i, &l) in warm.labels.iter().enumerate() {
            assert_eq!(order[l], y[i], "sample {i}");
        }
        assert!((warm.inertia - restarts.inertia).abs() <= 1e-6 * restarts.inertia);
        assert!(matches!(
            kmeans_with_start(&data, 300, 2, &p, &start[..4]),
            Err(KMeansError::BadStart { len: 4, k: 3, d: 2 })
        ));
    }

    /// The assignment from matrix products equals the nearest centre found one distance at a time,
    /// and its distances are the exact ones, on data wide enough to take several blocks.
    #[test]
    fn the_product_assignment_is_the_nearest_centre() {
        let (n, d, k) = (1300, 37, 7);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let data: Vec<f32> = (0..n * d).map(|_| rng.random::<f32>() * 4.0 - 2.0).collect();
        let centroids: Vec<f32> = (0..k * d).map(|_| rng.random::<f32>() * 4.0 - 2.0).collect();
        let (mut labels, mut dists) = (vec![0; n], vec![0.0; n]);
        let x = Tensor::<2>::from_data(TensorData::new(data.clone(), [n, d]), &Device::flex());
        let inertia = assign(&data, &x, d, &centroids, &mut labels, &mut dists).unwrap();
        let mut exact = 0.0;
        for i in 0..n {
            let x = &data[i * d..(i + 1) * d];
            let all: Vec<f32> = (0..k).map(|c| sq_dist(x, &centroids[c * d..(c + 1) * d])).collect();
            let best = all.iter().copied().fold(f32::INFINITY, f32::min);
            assert_eq!(dists[i], all[labels[i]], "sample {i}");
            // Equal up to the products' rounding (a near-tie may go either way).
            assert!(all[labels[i]] <= best * (1.0 + 1e-5), "sample {i}: {} against {best}", all[labels[i]]);
            exact += best as f64;
        }
        assert!((inertia - exact).abs() <= 1e-5 * exact, "{inertia} against {exact}");
        // The seeding's scores are each sample's distance to the nearest of the chosen points.
        let norms = row_norms(&data, d);
        let far = vec![f32::INFINITY; n];
        let scored = closest_with(&x, &norms, d, &centroids[..2 * d], &far).unwrap();
        for (j, col) in scored.iter().enumerate() {
            for i in (0..n).step_by(97) {
                let want = sq_dist(&data[i * d..(i + 1) * d], &centroids[j * d..(j + 1) * d]);
                assert!((col[i] - want).abs() <= 1e-4 * want.max(1.0), "sample {i}, candidate {j}");
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(kmeans(&[], 2, 0, &KMeansParams::new(1, 0)), Err(KMeansError::NoFeatures));
        assert_eq!(kmeans(&[0.0; 4], 2, 2, &KMeansParams::new(3, 0)), Err(KMeansError::TooFewSamples { n: 2, k: 3 }));
        assert!(matches!(kmeans(&[0.0; 5], 2, 2, &KMeansParams::new(1, 0)), Err(KMeansError::BadShape { .. })));
        assert_eq!(kmeans(&[f32::NAN, 0.0], 1, 2, &KMeansParams::new(1, 0)), Err(KMeansError::NonFinite));
    }

    /// Equal to scikit-learn 1.x's `silhouette_score` on a hand-made set (values printed by it),
    /// with a singleton cluster in the third partition (its sample scores 0).
    #[test]
    fn the_silhouette_equals_scikit_learns() {
        let x = [0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 5.0, 5.0, 5.0, 6.0, 6.0, 5.0, 6.0, 6.0, 2.0, 2.0];
        let s = silhouette(&x, 2, &[0, 0, 0, 1, 1, 1, 1, 0]).unwrap();
        assert!((s - 0.7739268856772215).abs() < 1e-6, "{s}");
        let s = silhouette(&x, 2, &[0, 0, 1, 1, 2, 2, 2, 0]).unwrap();
        assert!((s - 0.24248184482110574).abs() < 1e-6, "{s}");
        let s = silhouette(&x, 2, &[0, 0, 0, 1, 1, 1, 1, 2]).unwrap();
        assert!((s - 0.5802648239980167).abs() < 1e-6, "{s}");
        assert_eq!(silhouette(&x, 2, &[0; 8]), None);
    }
}
