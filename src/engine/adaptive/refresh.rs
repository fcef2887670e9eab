//! The pseudo-label refresh of the contrastive phase: k-means (or the heads' own partition, or the
//! more balanced of the two) on the chosen cluster space, matched to the heads' clusters by the
//! Hungarian method, the confident share of each cluster marked, and the DEC centres moved to the
//! renormalised cluster means ([`refresh`]); with the cluster features it is computed on
//! ([`cluster_features`], [`latents`]).

use burn::tensor::Device;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cluster::{KMeansParams, kmeans};
use crate::data::MultiViewDataset;
use crate::engine::config::{ClusterSpace, PseudoSource, TrainConfig};
use crate::engine::predict::{Evaluation, gather, stratified_sample, to_host};
use crate::loss::LabelTargets;
use crate::metrics::hungarian_min;
use crate::model::Cvc;

use super::reseed::reseed_small_clusters;

/// Restarts of the pseudo-label k-means.
pub const PSEUDO_KMEANS_RESTARTS: usize = 10;
/// Most rows the pseudo-label k-means is fitted on (every row is then assigned).
pub const PSEUDO_KMEANS_ROWS: usize = 20_000;

/// The current pseudo labels of every sample, and what the refresh measured with them.
#[derive(Debug, Clone, PartialEq)]
pub struct PseudoLabels {
    /// Cluster id of each sample, in the heads' numbering.
    pub labels: Vec<usize>,
    /// Whether each sample is among the nearest `ρ` of its cluster.
    pub confident: Vec<bool>,
    /// Each sample's uncertainty in [0, 1]: the normalised entropy of its fuzzy memberships to the
    /// k-means centres in the cluster space (`pseudo::fuzzy_uncertainty`).
    pub uncertainty: Vec<f32>,
    /// Number of clusters.
    pub k: usize,
    /// Each cluster's temperature in the cluster-level contrast (PCL), when asked for.
    pub cluster_temperature: Option<Vec<f32>>,
    /// Each sample's neighbours' mean assignment (row-major `n × k`), when asked for.
    pub neighbours: Option<Vec<f32>>,
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

    /// Mean uncertainty of the confident samples.
    pub fn confident_uncertainty(&self) -> f64 {
        let (s, c) = self
            .confident
            .iter()
            .zip(&self.uncertainty)
            .filter(|(c, _)| **c)
            .fold((0f64, 0usize), |(s, c), (_, &u)| (s + u as f64, c + 1));
        s / c.max(1) as f64
    }

    /// Everything one batch needs from the refresh: the confident labels, and with
    /// `uncertainty_weighting` the rows' weights `1 − u`, the neighbour targets and the
    /// per-cluster temperatures where the refresh computed them.
    pub fn batch_targets(
        &self,
        rows: &[usize],
        uncertainty_weighting: bool,
        knn_weight: f32,
        device: &Device,
    ) -> LabelTargets {
        let mut t = LabelTargets::refreshed(&self.targets(rows), self.k, device);
        if uncertainty_weighting {
            let w: Vec<f32> = rows.iter().map(|&r| 1.0 - self.uncertainty[r]).collect();
            t = t.with_row_weights(&w, device);
        }
        if let Some(nb) = &self.neighbours {
            let k = self.k;
            let rows_nb: Vec<f32> = rows.iter().flat_map(|&r| nb[r * k..(r + 1) * k].iter().copied()).collect();
            t = t.with_neighbours(&rows_nb, k, knn_weight, device);
        }
        if let Some(temp) = &self.cluster_temperature {
            t = t.with_cluster_temperature(temp, device);
        }
        t
    }
}

/// What a refresh gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Refresh {
    pub pseudo: PseudoLabels,
    /// New DEC centres, row-major `k × h_dim`, unit rows (a cluster left empty keeps `None`'s
    /// place: the caller keeps its old centre).
    pub centres: Vec<Option<Vec<f32>>>,
    /// Where the labels came from: [`PseudoSource::Kmeans`] or [`PseudoSource::Heads`] (what
    /// [`PseudoSource::Balanced`] picked).
    pub source: PseudoSource,
    /// With a warm start: the two k-means runs' inertias and which was kept.
    pub warm_start: Option<WarmStart>,
    /// How many near-empty clusters the refresh re-seeded (`min_cluster_share`).
    pub reseeded: usize,
}

/// The pseudo-label k-means with a warm start (`pseudo_warm_start`): the inertia (sum of squared
/// distances, on the rows k-means was fitted on) of the restarts' best and of the run from the heads'
/// partition, and whether the latter was kept (it is unless the restarts' inertia is lower by more than
/// the margin: `warm < restarts · (1 + margin)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WarmStart {
    pub restarts_inertia: f64,
    pub warm_inertia: f64,
    pub kept_warm: bool,
}

/// How a refresh clusters and what else it measures.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshParams {
    /// Fraction ρ of each cluster, nearest its centre, that is confident.
    pub fraction: f32,
    pub space: ClusterSpace,
    /// The fuzzifier of the memberships behind the uncertainty.
    pub fuzzifier: f32,
    /// PCL's mean temperature (per-cluster temperatures computed when set).
    pub pcl_temperature: Option<f32>,
    /// Neighbours of the kNN soft labels (0 = none computed).
    pub knn: usize,
    /// k-means in the cluster space, the heads' own assignment, or the more balanced of the two.
    pub source: PseudoSource,
    /// k-means also runs from the heads' partition (`pseudo_warm_start`), kept unless the restarts'
    /// inertia is lower by more than this fraction of it (`pseudo_warm_margin`; 0: the lower wins).
    pub warm_start: Option<f32>,
    /// A cluster of the chosen partition with fewer than this share of `N / K` samples is re-seeded
    /// from the largest ([`reseed_small_clusters`]; 0: never, `min_cluster_share`).
    pub min_cluster_share: f32,
}

impl RefreshParams {
    /// The refresh a run's settings ask for.
    pub fn of(cfg: &TrainConfig) -> Self {
        RefreshParams {
            fraction: cfg.pseudo_fraction,
            space: cfg.cluster_space,
            fuzzifier: cfg.fuzzifier,
            pcl_temperature: cfg.pcl_temperature,
            knn: cfg.knn_targets,
            source: cfg.pseudo_source,
            warm_start: cfg.pseudo_warm_start.then_some(cfg.pseudo_warm_margin),
            min_cluster_share: cfg.min_cluster_share,
        }
    }
}

/// PCL's smoothing constant α in `n_k log(n_k + α)`.
const PCL_ALPHA: f32 = 10.0;

/// Each row's features in the cluster space (row-major `n × dim`, and `dim`). `latents` are the
/// views' low-level `z_v` (row-major `n × F` each), needed for [`ClusterSpace::Zh`].
pub fn cluster_features(
    eval: &Evaluation,
    weights: &[f32],
    space: ClusterSpace,
    latents: Option<&[Vec<f32>]>,
) -> Result<(Vec<f32>, usize), String> {
    let (n, d) = (eval.rows.len(), eval.h_dim);
    let unit = |x: &mut [f32]| {
        let norm = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        if norm > 0.0 {
            x.iter_mut().for_each(|a| *a /= norm);
        }
    };
    match space {
        ClusterSpace::ZFused => {
            let dim = d * eval.h.len();
            let mut z = vec![0f32; n * dim];
            for i in 0..n {
                for (b, (hv, &w)) in eval.h.iter().zip(weights).enumerate() {
                    for (o, x) in z[i * dim + b * d..i * dim + (b + 1) * d].iter_mut().zip(&hv[i * d..(i + 1) * d]) {
                        *o = x * w;
                    }
                }
            }
            Ok((z, dim))
        }
        ClusterSpace::H => {
            let mut z = vec![0f32; n * d];
            for i in 0..n {
                let row = &mut z[i * d..(i + 1) * d];
                for (hv, &w) in eval.h.iter().zip(weights) {
                    for (o, x) in row.iter_mut().zip(&hv[i * d..(i + 1) * d]) {
                        *o += x * w;
                    }
                }
                unit(row);
            }
            Ok((z, d))
        }
        ClusterSpace::Zh => {
            let latents = latents.ok_or("the zh cluster space needs the views' latents")?;
            let f = latents.first().map_or(0, |l| l.len() / n.max(1));
            let part = f + d;
            let dim = part * eval.h.len();
            let mut z = vec![0f32; n * dim];
            for i in 0..n {
                for (b, ((hv, zv), &w)) in eval.h.iter().zip(latents).zip(weights).enumerate() {
                    let o = &mut z[i * dim + b * part..i * dim + (b + 1) * part];
                    o[..f].copy_from_slice(&zv[i * f..(i + 1) * f]);
                    unit(&mut o[..f]);
                    o[f..].copy_from_slice(&hv[i * d..(i + 1) * d]);
                    unit(&mut o[f..]);
                    // Each part unit length, then the view's weight; /√2 keeps the view's block unit.
                    o.iter_mut().for_each(|x| *x *= w / std::f32::consts::SQRT_2);
                }
            }
            Ok((z, dim))
        }
    }
}

/// Each view's low-level latent `z_v` over the dataset (row-major `n × F` each), from a
/// `valid()` network on the plain `device`: the low half of the `zh` cluster space.
pub fn latents(model: &Cvc, ds: &MultiViewDataset, device: &Device, batch: usize) -> Result<Vec<Vec<f32>>, String> {
    let rows: Vec<usize> = (0..ds.n_samples()).collect();
    let mut out: Vec<Vec<f32>> = vec![Vec::new(); ds.n_views()];
    for chunk in rows.chunks(batch.max(1)) {
        let xs = gather(ds, chunk, device);
        for (v, z) in model.latents(&xs).into_iter().enumerate() {
            out[v].extend(to_host(z)?);
        }
    }
    Ok(out)
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

/// The mean of each cluster's rows of `z` (row-major, `dim` wide); `None` for an empty cluster.
pub(super) fn cluster_means(z: &[f32], dim: usize, labels: &[usize], k: usize) -> Vec<Option<Vec<f32>>> {
    let mut sums = vec![vec![0f64; dim]; k];
    let mut counts = vec![0usize; k];
    for (i, &j) in labels.iter().enumerate() {
        if j < k {
            counts[j] += 1;
            for (s, &x) in sums[j].iter_mut().zip(&z[i * dim..(i + 1) * dim]) {
                *s += x as f64;
            }
        }
    }
    sums.into_iter()
        .zip(counts)
        .map(|(s, c)| (c > 0).then(|| s.iter().map(|x| (x / c as f64) as f32).collect()))
        .collect()
}

/// One centre per cluster (`None`: none for that cluster).
type Centres = Vec<Option<Vec<f32>>>;

/// The pseudo-label k-means' centres: 10 restarts, fitted on at most [`PSEUDO_KMEANS_ROWS`] rows
/// of `z` (row-major `n × dim`); with `start` (one centre per cluster, row-major `k × dim`, and a
/// margin) also one run from those centres, kept unless the restarts' inertia is lower by more than
/// the margin.
fn pseudo_kmeans(
    z: &[f32],
    n: usize,
    dim: usize,
    k: usize,
    seed: u64,
    start: Option<(&[f32], f32)>,
) -> Result<(Centres, Option<WarmStart>), String> {
    let fit_rows: Vec<usize> =
        if n > PSEUDO_KMEANS_ROWS { stratified_sample(None, n, PSEUDO_KMEANS_ROWS, seed) } else { (0..n).collect() };
    let fit: Vec<f32> = fit_rows.iter().flat_map(|&r| z[r * dim..(r + 1) * dim].iter().copied()).collect();
    let km_params = KMeansParams { n_init: PSEUDO_KMEANS_RESTARTS, ..KMeansParams::new(k, seed) };
    let failed = |e: crate::cluster::KMeansError| format!("the pseudo-label k-means failed: {e}");
    let (centroids, warm) = match start {
        None => (kmeans(&fit, fit_rows.len(), dim, &km_params).map_err(failed)?.centroids, None),
        Some((start, margin)) => {
            let (restarts, warm) =
                crate::cluster::kmeans_with_start(&fit, fit_rows.len(), dim, &km_params, start).map_err(failed)?;
            let report = WarmStart {
                restarts_inertia: restarts.inertia,
                warm_inertia: warm.inertia,
                kept_warm: warm.inertia < restarts.inertia * (1.0 + margin as f64),
            };
            (if report.kept_warm { warm.centroids } else { restarts.centroids }, Some(report))
        }
    };
    Ok((centroids.chunks_exact(dim).map(|c| Some(c.to_vec())).collect(), warm))
}

/// Each row's squared distance to each centre; a missing centre (an empty cluster) is infinitely far.
pub(super) fn squared_distances(z: &[f32], dim: usize, centres: &[Option<Vec<f32>>]) -> Vec<Vec<f32>> {
    z.par_chunks_exact(dim.max(1))
        .map(|row| {
            centres
                .iter()
                .map(|c| match c {
                    Some(c) => row.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum(),
                    None => f32::INFINITY,
                })
                .collect()
        })
        .collect()
}

/// The nearest centre and its squared distance.
pub(super) fn nearest(sq: &[f32]) -> (usize, f32) {
    sq.iter().copied().enumerate().fold((0, f32::INFINITY), |best, (j, s)| if s < best.1 { (j, s) } else { best })
}

/// How many of `labels` fall in each of the `k` clusters (ids `>= k` counted nowhere).
pub(super) fn cluster_sizes(labels: &[usize], k: usize) -> Vec<usize> {
    let mut counts = vec![0usize; k];
    for &j in labels {
        if j < k {
            counts[j] += 1;
        }
    }
    counts
}

/// The entropy (nats) of a partition's cluster sizes: `ln k` when every cluster has the same size,
/// lower as clusters merge or one grows at the others' expense.
pub fn size_entropy(labels: &[usize], k: usize) -> f64 {
    let counts = cluster_sizes(labels, k);
    let n: usize = counts.iter().sum();
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.ln()
        })
        .sum()
}

/// The pseudo labels (and new centres) from an evaluation of the whole dataset.
///
/// - k-means (10 restarts, fitted on at most 20,000 rows, then every row assigned) on the rows'
///   features in the cluster space ([`cluster_features`]; by default `Z_w = [w_1 h_1 … w_V h_V]`),
///   its clusters renamed to agree most with `reference` (the heads' current argmax), one to one;
///   or, with [`PseudoSource::Heads`], `reference` itself, with each cluster's mean in the cluster
///   space in place of a k-means centre; with [`PseudoSource::Balanced`], whichever of the two
///   partitions has the higher [`size_entropy`] (k-means on a tie);
/// - in each cluster the `fraction` of samples nearest its centre are confident;
/// - each sample's uncertainty from its distances to every k-means centre; with `pcl_temperature`
///   each cluster's temperature, with `knn` each sample's neighbours' mean assignment (`q_mean`);
/// - with `min_cluster_share`, each near-empty cluster re-seeded ([`reseed_small_clusters`]);
/// - each cluster's centre for the DEC head: `normalize(Σ_{i ∈ C_j} Σ_v w_v h_{v,i})`.
pub fn refresh(
    eval: &Evaluation,
    weights: &[f32],
    reference: &[usize],
    latents: Option<&[Vec<f32>]>,
    params: &RefreshParams,
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
    let (z, z_dim) = cluster_features(eval, weights, params.space, latents)?;
    let mut warm_start = None;
    let kmeans_sq = match params.source {
        PseudoSource::Heads => None,
        PseudoSource::Kmeans | PseudoSource::Balanced => {
            // The heads' partition's means, when it has no empty cluster (a start needs k centres).
            let start: Option<(Vec<f32>, f32)> = params.warm_start.and_then(|margin| {
                let means: Option<Vec<Vec<f32>>> = cluster_means(&z, z_dim, reference, k).into_iter().collect();
                means.map(|c| (c.concat(), margin))
            });
            let (centres, warm) =
                pseudo_kmeans(&z, n, z_dim, k, seed, start.as_ref().map(|(c, m)| (c.as_slice(), *m)))?;
            warm_start = warm;
            Some(squared_distances(&z, z_dim, &centres))
        }
    };
    // `Some(sq)`: the k-means partition, `None`: the heads' own.
    let kmeans_sq = match (params.source, kmeans_sq) {
        (PseudoSource::Balanced, Some(sq)) => {
            let kmeans_labels: Vec<usize> = sq.iter().map(|d| nearest(d).0).collect();
            (size_entropy(reference, k) <= size_entropy(&kmeans_labels, k)).then_some(sq)
        }
        (_, sq) => sq,
    };
    let source = if kmeans_sq.is_some() { PseudoSource::Kmeans } else { PseudoSource::Heads };
    // Every row's squared distance to every centre (an empty head cluster has none, and counts as
    // infinitely far); its nearest centre, or with the heads' partition its own cluster's mean, whose
    // distance ranks the confidence.
    let (sq, raw, dist): (Vec<Vec<f32>>, Vec<usize>, Vec<f32>) = match kmeans_sq {
        Some(sq) => {
            let (raw, dist) = sq.iter().map(|d| nearest(d)).unzip();
            (sq, raw, dist)
        }
        None => {
            let sq = squared_distances(&z, z_dim, &cluster_means(&z, z_dim, reference, k));
            let (raw, dist) = reference.iter().zip(&sq).map(|(&j, d)| (j, d[j])).unzip();
            (sq, raw, dist)
        }
    };
    let uncertainty: Vec<f32> = sq
        .par_iter()
        .map(|d| {
            let finite: Vec<f32> = d.iter().copied().filter(|x| x.is_finite()).collect();
            crate::pseudo::fuzzy_uncertainty(&finite, params.fuzzifier)
        })
        .collect();
    let mapping = match source {
        PseudoSource::Heads => (0..k).collect(),
        _ => match_to(&raw, reference, k),
    };
    let mut labels: Vec<usize> = raw.iter().map(|&c| mapping[c]).collect();
    let reseeded = reseed_small_clusters(&mut labels, &z, z_dim, k, params.min_cluster_share, seed);
    // A re-seeded partition ranks its confident samples by the distance to their new cluster's mean.
    let dist = if reseeded > 0 {
        let sq = squared_distances(&z, z_dim, &cluster_means(&z, z_dim, &labels, k));
        labels.iter().zip(&sq).map(|(&j, d)| d[j]).collect()
    } else {
        dist
    };
    let mut confident = vec![false; n];
    let mut centres = vec![None; k];
    for (j, centre) in centres.iter_mut().enumerate() {
        let mut members: Vec<usize> = (0..n).filter(|&i| labels[i] == j).collect();
        if members.is_empty() {
            continue;
        }
        members.sort_by(|&a, &b| dist[a].total_cmp(&dist[b]));
        let keep = ((members.len() as f64 * params.fraction as f64).ceil() as usize).clamp(1, members.len());
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
    let cluster_temperature = params.pcl_temperature.map(|mean| {
        let d: Vec<f32> = dist.iter().map(|x| x.max(0.0).sqrt()).collect();
        crate::pseudo::pcl_temperatures(&labels, &d, k, PCL_ALPHA, mean)
    });
    let neighbours = (params.knn > 0).then(|| {
        let graph = crate::pseudo::knn_cosine(&eval.z, n, eval.z_dim, params.knn);
        crate::pseudo::neighbour_targets(&graph, &eval.q_mean, k)
    });
    let pseudo = PseudoLabels { labels, confident, uncertainty, k, cluster_temperature, neighbours };
    Ok(Refresh { pseudo, centres, source, warm_start, reseeded })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo labels on `Z`, half of each cluster confident, no extras, from `source`.
    fn plain(source: PseudoSource) -> RefreshParams {
        RefreshParams {
            fraction: 0.5,
            space: ClusterSpace::ZFused,
            fuzzifier: 2.0,
            pcl_temperature: None,
            knn: 0,
            source,
            warm_start: None,
            min_cluster_share: 0.0,
        }
    }

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
        let points: Vec<(f32, f32)> = truth
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let e = (i % 5) as f32 * 0.01;
                (dirs[c].0 + e, dirs[c].1 - e)
            })
            .collect();
        (evaluation_of(&points, 3), truth)
    }

    /// Two views that both see `points` (normalised), `k` clusters, flat heads.
    fn evaluation_of(points: &[(f32, f32)], k: usize) -> Evaluation {
        let h: Vec<f32> = points
            .iter()
            .flat_map(|&(x, y)| {
                let n = (x * x + y * y).sqrt();
                [x / n, y / n]
            })
            .collect();
        let n = points.len();
        Evaluation {
            rows: (0..n).collect(),
            k,
            h_dim: 2,
            h: vec![h.clone(), h],
            q_views: vec![vec![1.0 / k as f32; n * k]; 2],
            q_mean: vec![1.0 / k as f32; n * k],
            t: vec![1.0 / k as f32; n * k],
            z: vec![0.0; n * 4],
            z_dim: 4,
            view_weights: vec![0.5, 0.5],
            pred_mean: vec![0; n],
            pred_views: vec![vec![0; n]; 2],
            pred_vcf: vec![0; n],
            confidence: vec![1.0 / k as f32; n],
            uncertainty: vec![0.0; n],
        }
    }

    #[test]
    fn refresh_keeps_the_heads_numbering_whatever_k_means_calls_its_clusters() {
        let (eval, truth) = three_clusters();
        for perm in [[0usize, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let reference: Vec<usize> = truth.iter().map(|&c| perm[c]).collect();
            // Different k-means seeds number their clusters differently; the labels follow the heads.
            for seed in [1, 2, 3] {
                let params = plain(PseudoSource::Kmeans);
                let r = refresh(&eval, &[0.5, 0.5], &reference, None, &params, seed).unwrap();
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
    fn every_cluster_space_finds_the_three_clusters_and_the_extras_have_their_shapes() {
        let (eval, truth) = three_clusters();
        let n = truth.len();
        let latents = vec![eval.h[0].clone(), eval.h[1].clone()];
        for space in [ClusterSpace::ZFused, ClusterSpace::H, ClusterSpace::Zh] {
            let params = RefreshParams { space, pcl_temperature: Some(0.3), knn: 4, ..plain(PseudoSource::Kmeans) };
            let r = refresh(&eval, &[0.5, 0.5], &truth, Some(&latents), &params, 7).unwrap();
            assert_eq!(r.pseudo.labels, truth, "{space:?}");
            assert!(r.pseudo.uncertainty.iter().all(|u| (0.0..=0.2).contains(u)), "tight clusters: {space:?}");
            let t = r.pseudo.cluster_temperature.as_ref().unwrap();
            assert!((t.iter().sum::<f32>() / 3.0 - 0.3).abs() < 1e-5, "{t:?}");
            assert_eq!(r.pseudo.neighbours.as_ref().map(Vec::len), Some(n * 3));
        }
        let zh = RefreshParams { space: ClusterSpace::Zh, ..plain(PseudoSource::Kmeans) };
        assert!(refresh(&eval, &[0.5, 0.5], &truth, None, &zh, 7).is_err(), "zh needs the latents");
    }

    #[test]
    fn the_heads_source_keeps_the_heads_partition_where_k_means_would_change_it() {
        let (eval, truth) = three_clusters();
        // The heads put the first two samples of cluster 0 into cluster 1: k-means would undo it.
        let mut heads = truth.clone();
        let moved: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] == 0).take(2).collect();
        for &i in &moved {
            heads[i] = 1;
        }
        let kmeans = refresh(&eval, &[0.5, 0.5], &heads, None, &plain(PseudoSource::Kmeans), 3).unwrap();
        assert_eq!(kmeans.pseudo.labels, truth);
        let own = refresh(&eval, &[0.5, 0.5], &heads, None, &plain(PseudoSource::Heads), 3).unwrap();
        assert_eq!(own.pseudo.labels, heads);
        // The moved samples are far from their (heads') cluster's mean: not confident.
        assert!(moved.iter().all(|&i| !own.pseudo.confident[i]), "{:?}", own.pseudo.confident);
        assert!((own.pseudo.confident_fraction() - 0.5).abs() < 0.05);
        assert!(own.pseudo.uncertainty.iter().all(|u| (0.0..=1.0).contains(u)));
        assert!(own.centres.iter().all(Option::is_some));
    }

    #[test]
    fn a_warm_start_reports_both_inertias_and_keeps_the_lower() {
        let (eval, truth) = three_clusters();
        // The heads hold two of cluster 0's samples in cluster 1; Lloyd's steps from their means
        // undo that, as the restarts do, and the labels keep the heads' numbering.
        let mut heads: Vec<usize> = truth.iter().map(|&c| [1, 2, 0][c]).collect();
        for i in (0..truth.len()).filter(|&i| truth[i] == 0).take(2) {
            heads[i] = 2;
        }
        let params = RefreshParams { warm_start: Some(0.0), ..plain(PseudoSource::Kmeans) };
        let r = refresh(&eval, &[0.5, 0.5], &heads, None, &params, 3).unwrap();
        let w = r.warm_start.expect("a warm start was asked for");
        assert_eq!(w.kept_warm, w.warm_inertia < w.restarts_inertia);
        assert!((w.warm_inertia - w.restarts_inertia).abs() <= 1e-6 * w.restarts_inertia, "{w:?}");
        let want: Vec<usize> = truth.iter().map(|&c| [1, 2, 0][c]).collect();
        assert_eq!(r.pseudo.labels, want);
        let cold = refresh(&eval, &[0.5, 0.5], &heads, None, &RefreshParams { warm_start: None, ..params.clone() }, 3);
        assert_eq!(cold.unwrap().warm_start, None);
        // A heads' partition with an empty cluster gives no start: the restarts alone.
        let two: Vec<usize> = truth.iter().map(|&c| c.min(1)).collect();
        assert_eq!(refresh(&eval, &[0.5, 0.5], &two, None, &params, 3).unwrap().warm_start, None);
    }

    #[test]
    fn size_entropy_is_highest_for_equal_clusters() {
        assert!((size_entropy(&[0, 1, 2, 0, 1, 2], 3) - 3f64.ln()).abs() < 1e-12);
        assert_eq!(size_entropy(&[1, 1, 1], 3), 0.0);
        // Sizes 2, 1: −(⅔ ln ⅔ + ⅓ ln ⅓).
        let want = -(2.0 / 3.0 * (2.0f64 / 3.0).ln() + 1.0 / 3.0 * (1.0f64 / 3.0).ln());
        assert!((size_entropy(&[0, 0, 2], 3) - want).abs() < 1e-12);
    }

    #[test]
    fn the_balanced_source_keeps_the_partition_with_the_more_even_sizes() {
        // The heads moved two samples of cluster 0 (sizes 18/22/20): k-means' 20/20/20 is more even.
        let (eval, truth) = three_clusters();
        let mut heads = truth.clone();
        for i in (0..truth.len()).filter(|&i| truth[i] == 0).take(2) {
            heads[i] = 1;
        }
        let r = refresh(&eval, &[0.5, 0.5], &heads, None, &plain(PseudoSource::Balanced), 3).unwrap();
        assert_eq!((r.pseudo.labels.as_slice(), r.source), (truth.as_slice(), PseudoSource::Kmeans));
        // Classes 0 and 1 lie almost on top of each other and class 2 in two far groups: k-means
        // merges 0 and 1 and splits 2 (40/10/10); the heads' 20/20/20 is more even, and kept.
        let truth: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let points: Vec<(f32, f32)> = truth
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let angle = match c {
                    0 => 0.0,
                    1 => 0.01,
                    _ if i % 2 == 0 => 2.0,
                    _ => 4.0,
                };
                let e = (i % 5) as f32 * 0.001;
                ((angle + e).cos(), (angle + e).sin())
            })
            .collect();
        let eval = evaluation_of(&points, 3);
        let kmeans = refresh(&eval, &[0.5, 0.5], &truth, None, &plain(PseudoSource::Kmeans), 3).unwrap();
        assert!(size_entropy(&kmeans.pseudo.labels, 3) < size_entropy(&truth, 3) - 0.1);
        let r = refresh(&eval, &[0.5, 0.5], &truth, None, &plain(PseudoSource::Balanced), 3).unwrap();
        assert_eq!((r.pseudo.labels.as_slice(), r.source), (truth.as_slice(), PseudoSource::Heads));
    }
    #[test]
    fn a_near_empty_head_cluster_is_reseeded_from_the_merged_one_and_the_centres_follow() {
        // The heads merged classes 0 and 1 (40 samples) and gave two samples of class 2 a cluster
        // of their own: with a share of .25 (clusters under 5 of 60) that cluster is re-seeded.
        let (eval, truth) = three_clusters();
        let mut heads: Vec<usize> = truth.iter().map(|&c| if c == 1 { 0 } else { c }).collect();
        for i in (0..truth.len()).filter(|&i| truth[i] == 2).take(2) {
            heads[i] = 1;
        }
        let params = RefreshParams { min_cluster_share: 0.25, ..plain(PseudoSource::Heads) };
        let r = refresh(&eval, &[0.5, 0.5], &heads, None, &params, 3).unwrap();
        assert_eq!(r.reseeded, 1);
        let swapped: Vec<usize> = truth.iter().map(|&c| [1, 0, 2][c]).collect();
        assert!(r.pseudo.labels == truth || r.pseudo.labels == swapped, "{:?}", r.pseudo.labels);
        assert!(r.centres.iter().all(Option::is_some), "every cluster has a centre again");
        // Off (0), or with every cluster above the share, the partition is the heads' own.
        let off = refresh(&eval, &[0.5, 0.5], &heads, None, &plain(PseudoSource::Heads), 3).unwrap();
        assert_eq!((off.reseeded, off.pseudo.labels), (0, heads));
        let even = refresh(&eval, &[0.5, 0.5], &truth, None, &params, 3).unwrap();
        assert_eq!((even.reseeded, even.pseudo.labels), (0, truth));
    }
}
