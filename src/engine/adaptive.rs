//! The contrastive phase's adaptive state, apart from the batch loop (`engine::trainer`):
//!
//! - **view centring**: each view's mean projection, which `Cvc::with_centring` subtracts before
//!   the L2 normalisation ([`projection_means`]);
//! - **view weights `w*`**: each view's discrepancy `D_v = KL(P̄ ‖ q_v)` from the unweighted consensus,
//!   smoothed over batches, and the closed-form weights `softmax(−(D_v / mean D) / γ)`
//!   ([`ViewTarget`], `loss::view_target_weights`);
//! - **pseudo labels**: k-means (10 restarts) on the weighted fused features `Z = [w_v h_v]`,
//!   matched one to one to the heads' current clusters by the Hungarian method (so a refresh
//!   never renames a cluster, and the app's colours stay), the nearest `ρ` of each cluster marked
//!   confident, and the DEC centres moved to the renormalised cluster means ([`refresh`]).

use burn::tensor::Device;

use crate::cluster::{KMeansParams, kmeans};
use crate::data::MultiViewDataset;
use crate::engine::predict::{Evaluation, gather, stratified_sample, to_host};
use crate::loss::view_target_weights;
use crate::metrics::hungarian_min;
use crate::model::Cvc;

/// Restarts of the pseudo-label k-means.
pub const PSEUDO_KMEANS_RESTARTS: usize = 10;
/// Most rows the pseudo-label k-means is fitted on (every row is then assigned).
pub const PSEUDO_KMEANS_ROWS: usize = 20_000;
/// Weight of the newest batch in the smoothed discrepancies.
const DISCREPANCY_SMOOTHING: f64 = 0.1;

/// The mean projection `W z_v + b` of each view over the dataset (`V` rows of `H` values), from a
/// `valid()` network on the plain `device`: the centres `Cvc::with_centring` takes.
pub fn projection_means(
    model: &Cvc,
    ds: &MultiViewDataset,
    device: &Device,
    batch: usize,
) -> Result<Vec<Vec<f32>>, String> {
    let n = ds.n_samples();
    let mut sums: Vec<Vec<f64>> = Vec::new();
    let rows: Vec<usize> = (0..n).collect();
    for chunk in rows.chunks(batch.max(1)) {
        let xs = gather(ds, chunk, device);
        for (v, z) in model.latents(&xs).into_iter().enumerate() {
            let z = model.projection.forward(z);
            let f = z.dims()[1];
            let values = to_host(z)?;
            if sums.len() <= v {
                sums.push(vec![0.0; f]);
            }
            for row in values.chunks_exact(f) {
                for (s, x) in sums[v].iter_mut().zip(row) {
                    *s += *x as f64;
                }
            }
        }
    }
    Ok(sums.into_iter().map(|s| s.into_iter().map(|x| (x / n.max(1) as f64) as f32).collect()).collect())
}

/// The smoothed discrepancies `D_v` and the weights `w*` they give.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewTarget {
    discrepancy: Vec<f64>,
    seen: bool,
}

impl ViewTarget {
    pub fn new(views: usize) -> Self {
        ViewTarget { discrepancy: vec![0.0; views], seen: false }
    }

    /// Folds one batch's discrepancies into the smoothed discrepancies (non-finite values are
    /// ignored).
    pub fn observe(&mut self, batch: &[f32]) {
        if batch.len() != self.discrepancy.len() || batch.iter().any(|x| !x.is_finite()) {
            return;
        }
        for (d, &x) in self.discrepancy.iter_mut().zip(batch) {
            *d = if self.seen {
                (1.0 - DISCREPANCY_SMOOTHING) * *d + DISCREPANCY_SMOOTHING * x as f64
            } else {
                x as f64
            };
        }
        self.seen = true;
    }

    pub fn discrepancy(&self) -> &[f64] {
        &self.discrepancy
    }

    /// `w*` at temperature `gamma` (uniform before the first batch).
    pub fn weights(&self, gamma: f32) -> Vec<f32> {
        let v = self.discrepancy.len();
        if !self.seen {
            return vec![1.0 / v.max(1) as f32; v];
        }
        view_target_weights(&self.discrepancy, gamma)
    }
}

/// The current pseudo labels of every sample.
#[derive(Debug, Clone, PartialEq)]
pub struct PseudoLabels {
    /// Cluster id of each sample, in the heads' numbering.
    pub labels: Vec<usize>,
    /// Whether each sample is among the nearest `ρ` of its cluster.
    pub confident: Vec<bool>,
}

impl PseudoLabels {
    /// The targets of some rows: `Some(label)` for a confident row.
    pub fn targets(&self, rows: &[usize]) -> Vec<Option<usize>> {
        rows.iter().map(|&r| self.confident[r].then_some(self.labels[r])).collect()
    }

    /// Fraction of confident samples.
    pub fn confident_fraction(&self) -> f64 {
        self.confident.iter().filter(|&&c| c).count() as f64 / self.confident.len().max(1) as f64
    }
}

/// What a refresh gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Refresh {
    pub pseudo: PseudoLabels,
    /// New DEC centres, row-major `k × h_dim`, unit rows (a cluster left empty keeps `None`'s
    /// place: the caller keeps its old centre).
    pub centres: Vec<Option<Vec<f32>>>,
}

/// The one-to-one relabelling of `new` (ids `0..k`) that agrees most with `reference`
/// (ids `0..k`): `mapping[new_id] = reference_id`, a permutation.
pub fn match_to(new: &[usize], reference: &[usize], k: usize) -> Vec<usize> {
    let mut overlap = vec![vec![0f64; k]; k];
    for (&a, &b) in new.iter().zip(reference) {
        if a < k && b < k {
            overlap[a][b] += 1.0;
        }
    }
    let cost: Vec<Vec<f64>> = overlap.iter().map(|row| row.iter().map(|c| -c).collect()).collect();
    let assigned = hungarian_min(&cost);
    let mut mapping: Vec<Option<usize>> = assigned;
    // A square problem assigns every row; fill any gap with the unused ids, to stay a permutation.
    let mut free: Vec<usize> = (0..k).filter(|j| !mapping.contains(&Some(*j))).collect();
    mapping.iter_mut().map(|m| m.unwrap_or_else(|| free.pop().unwrap_or(0))).collect()
}

/// The pseudo labels (and new centres) from an evaluation of the whole dataset.
///
/// - k-means (10 restarts, fitted on at most 20,000 rows, then every row assigned) on
///   `Z_w = [w_1 h_1 … w_V h_V]`;
/// - its clusters renamed to agree most with `reference` (the heads' current argmax), one to one;
/// - in each cluster the `fraction` of samples nearest its centre are confident;
/// - each cluster's centre for the DEC head: `normalize(Σ_{i ∈ C_j} Σ_v w_v h_{v,i})`.
pub fn refresh(
    eval: &Evaluation,
    weights: &[f32],
    reference: &[usize],
    fraction: f32,
    seed: u64,
) -> Result<Refresh, String> {
    let (n, d, k, v) = (eval.rows.len(), eval.h_dim, eval.k, eval.h.len());
    if weights.len() != v || reference.len() != n {
        return Err(format!(
            "pseudo-label refresh: {} view weights and {} reference labels for {v} views and {n} samples",
            weights.len(),
            reference.len()
        ));
    }
    let z_dim = d * v;
    let mut z = vec![0f32; n * z_dim];
    for i in 0..n {
        for (b, (hv, &w)) in eval.h.iter().zip(weights).enumerate() {
            for (o, x) in z[i * z_dim + b * d..i * z_dim + (b + 1) * d].iter_mut().zip(&hv[i * d..(i + 1) * d]) {
                *o = x * w;
            }
        }
    }
    let fit_rows: Vec<usize> =
        if n > PSEUDO_KMEANS_ROWS { stratified_sample(None, n, PSEUDO_KMEANS_ROWS, seed) } else { (0..n).collect() };
    let fit: Vec<f32> = fit_rows.iter().flat_map(|&r| z[r * z_dim..(r + 1) * z_dim].iter().copied()).collect();
    let params = KMeansParams { n_init: PSEUDO_KMEANS_RESTARTS, ..KMeansParams::new(k, seed) };
    let km =
        kmeans(&fit, fit_rows.len(), z_dim, &params).map_err(|e| format!("the pseudo-label k-means failed: {e}"))?;
    // Assign every row to its nearest centre, with its squared distance.
    let (raw, dist): (Vec<usize>, Vec<f32>) = (0..n)
        .map(|i| {
            let row = &z[i * z_dim..(i + 1) * z_dim];
            (0..k)
                .map(|j| {
                    let c = &km.centroids[j * z_dim..(j + 1) * z_dim];
                    (j, row.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
                })
                .fold((0, f32::INFINITY), |best, (j, s)| if s < best.1 { (j, s) } else { best })
        })
        .unzip();
    let mapping = match_to(&raw, reference, k);
    let labels: Vec<usize> = raw.iter().map(|&c| mapping[c]).collect();
    let mut confident = vec![false; n];
    let mut centres = vec![None; k];
    for (j, centre) in centres.iter_mut().enumerate() {
        let mut members: Vec<usize> = (0..n).filter(|&i| labels[i] == j).collect();
        if members.is_empty() {
            continue;
        }
        members.sort_by(|&a, &b| dist[a].total_cmp(&dist[b]));
        let keep = ((members.len() as f64 * fraction as f64).ceil() as usize).clamp(1, members.len());
        for &i in &members[..keep] {
            confident[i] = true;
        }
        let mut mean = vec![0f64; d];
        for &i in &members {
            for (hv, &w) in eval.h.iter().zip(weights) {
                for (m, x) in mean.iter_mut().zip(&hv[i * d..(i + 1) * d]) {
                    *m += (*x * w) as f64;
                }
            }
        }
        let norm = mean.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 && norm.is_finite() {
            *centre = Some(mean.iter().map(|x| (x / norm) as f32).collect());
        }
    }
    Ok(Refresh { pseudo: PseudoLabels { labels, confident }, centres })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_a_permutation_that_undoes_a_relabelling() {
        let reference = vec![0, 0, 1, 1, 2, 2, 2];
        let permuted: Vec<usize> = reference.iter().map(|&c| [2, 0, 1][c]).collect();
        let m = match_to(&permuted, &reference, 3);
        let back: Vec<usize> = permuted.iter().map(|&c| m[c]).collect();
        assert_eq!(back, reference);
        let mut sorted = m.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2]);
    }

    /// Three tight clusters on the unit circle, seen by two views.
    fn three_clusters() -> (Evaluation, Vec<usize>) {
        let dirs = [(1.0f32, 0.0f32), (-0.5, 0.866), (-0.5, -0.866)];
        let truth: Vec<usize> = (0..60).map(|i| (i * 7) % 3).collect();
        let h: Vec<f32> = truth
            .iter()
            .enumerate()
            .flat_map(|(i, &c)| {
                let e = (i % 5) as f32 * 0.01;
                let (x, y) = (dirs[c].0 + e, dirs[c].1 - e);
                let n = (x * x + y * y).sqrt();
                [x / n, y / n]
            })
            .collect();
        let n = truth.len();
        let eval = Evaluation {
            rows: (0..n).collect(),
            k: 3,
            h_dim: 2,
            h: vec![h.clone(), h],
            q_views: vec![vec![1.0 / 3.0; n * 3]; 2],
            q_mean: vec![1.0 / 3.0; n * 3],
            t: vec![1.0 / 3.0; n * 3],
            z: vec![0.0; n * 4],
            z_dim: 4,
            view_weights: vec![0.5, 0.5],
            pred_mean: vec![0; n],
            pred_views: vec![vec![0; n]; 2],
            pred_vcf: vec![0; n],
            confidence: vec![1.0 / 3.0; n],
        };
        (eval, truth)
    }

    #[test]
    fn refresh_keeps_the_heads_numbering_whatever_k_means_calls_its_clusters() {
        let (eval, truth) = three_clusters();
        for perm in [[0usize, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let reference: Vec<usize> = truth.iter().map(|&c| perm[c]).collect();
            // Different k-means seeds number their clusters differently; the labels follow the heads.
            for seed in [1, 2, 3] {
                let r = refresh(&eval, &[0.5, 0.5], &reference, 0.5, seed).unwrap();
                assert_eq!(r.pseudo.labels, reference, "permutation {perm:?}, seed {seed}");
                assert!((r.pseudo.confident_fraction() - 0.5).abs() < 0.05);
                for (j, c) in r.centres.iter().enumerate() {
                    let c = c.as_ref().unwrap();
                    let norm = (c[0] * c[0] + c[1] * c[1]).sqrt();
                    assert!((norm - 1.0).abs() < 1e-5, "centre {j} is not unit length: {c:?}");
                    let want = truth.iter().position(|&t| perm[t] == j).unwrap();
                    let dot = c[0] * eval.h[0][want * 2] + c[1] * eval.h[0][want * 2 + 1];
                    assert!(dot > 0.99, "centre {j} is not at its cluster");
                }
            }
        }
    }

    #[test]
    fn view_target_starts_uniform_and_down_weights_the_discrepant_view() {
        let mut t = ViewTarget::new(3);
        assert_eq!(t.weights(0.5), vec![1.0 / 3.0; 3]);
        t.observe(&[0.125, 0.125, 0.5]);
        let w = t.weights(0.5);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(w[2] < 0.1 && (w[0] - w[1]).abs() < 1e-6, "{w:?}");
        t.observe(&[f32::NAN, 0.0, 0.0]);
        assert_eq!(t.discrepancy(), &[0.125, 0.125, 0.5]);
    }
}
