//! A baseline's readings of its test split: k-means on the test embeddings, the kNN classifier
//! against the training embeddings, and the fraction of test triplets still inside the margin.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::analysis::embed::orthonormalise;
use crate::cluster::{KMeansParams, kmeans};
use crate::data::MultiViewDataset;
use crate::engine::config::Positives;
use crate::engine::predict::{KMEANS_Z_RESTARTS, to_scores};
use crate::engine::protocol::{EmbeddingSnapshot, MetricsReport, Scores, TripletScores};
use crate::loss::mining::random_label_triplets;
use crate::loss::triplet::squared_distances;
use crate::metrics;
use crate::model::triplet::TripletNet;

use super::split::{Split, by_class};

/// Embeddings of some rows, row-major `rows.len() × dim`.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub rows: Vec<usize>,
    pub data: Vec<f32>,
    pub dim: usize,
}

/// The rows' embeddings by the network in inference mode (batch norm's running statistics, no
/// dropout): with label positives the views' embeddings side by side, with cross-view
/// positives their mean (the views share one space).
pub fn embed(
    net: &TripletNet,
    ds: &MultiViewDataset,
    rows: &[usize],
    positives: Positives,
    device: &Device,
    batch: usize,
) -> Result<Embeddings, String> {
    let net = net.valid();
    let n_views = net.views.len();
    let mut data = Vec::new();
    let mut dim = 0;
    for chunk in rows.chunks(batch.max(1)) {
        let per_view: Vec<Tensor<2>> = ds
            .views
            .iter()
            .take(n_views)
            .enumerate()
            .map(|(v, view)| {
                let x = Tensor::<2>::from_data(
                    TensorData::new(view.data.gather_rows(chunk), [chunk.len(), view.data.cols()]),
                    device,
                );
                net.embed(v, x)
            })
            .collect();
        let e = match positives {
            Positives::Labels => Tensor::cat(per_view, 1),
            Positives::CrossView => Tensor::stack::<3>(per_view, 0).mean_dim(0).squeeze_dim::<2>(0),
        };
        dim = e.dims()[1];
        data.extend(
            e.into_data().try_to_vec::<f32>().map_err(|e| format!("reading the embeddings back failed: {e:?}"))?,
        );
    }
    if data.iter().any(|x| !x.is_finite()) {
        return Err("the embeddings contain NaN or infinite values (the training diverged)".into());
    }
    Ok(Embeddings { rows: rows.to_vec(), data, dim })
}

/// Each query's `k` nearest references (squared Euclidean, computed on `device` in blocks),
/// nearest first.
pub fn nearest(
    query: &Embeddings,
    reference: &Embeddings,
    k: usize,
    device: &Device,
) -> Result<Vec<Vec<usize>>, String> {
    let k = k.min(reference.rows.len());
    let n_ref = reference.rows.len();
    let r = Tensor::<2>::from_data(TensorData::new(reference.data.clone(), [n_ref, reference.dim]), device);
    let mut out = Vec::with_capacity(query.rows.len());
    const BLOCK: usize = 256;
    for chunk in query.data.chunks(BLOCK * query.dim.max(1)) {
        let m = chunk.len() / query.dim.max(1);
        let q = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [m, query.dim]), device);
        let d: Vec<f32> = squared_distances(q, r.clone())
            .into_data()
            .try_to_vec()
            .map_err(|e| format!("reading the distances back failed: {e:?}"))?;
        for i in 0..m {
            let row = &d[i * n_ref..(i + 1) * n_ref];
            let mut idx: Vec<usize> = (0..n_ref).collect();
            if k < n_ref {
                idx.select_nth_unstable_by(k, |&a, &b| row[a].total_cmp(&row[b]));
                idx.truncate(k);
            }
            idx.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
            out.push(idx);
        }
    }
    Ok(out)
}

/// The majority label of each query's neighbours (a tie goes to the class of the nearest tied
/// neighbour). `neighbour_labels[i]` lists query `i`'s neighbours' labels, nearest first.
pub fn knn_vote(neighbour_labels: &[Vec<usize>]) -> Vec<usize> {
    neighbour_labels
        .iter()
        .map(|ls| {
            let mut best = (0usize, usize::MAX); // (count, first position)
            let mut winner = ls.first().copied().unwrap_or(0);
            for (pos, &l) in ls.iter().enumerate() {
                let count = ls.iter().filter(|&&x| x == l).count();
                let first = ls.iter().position(|&x| x == l).unwrap_or(pos);
                if count > best.0 || (count == best.0 && first < best.1) {
                    best = (count, first);
                    winner = l;
                }
            }
            winner
        })
        .collect()
}

fn euclid(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
}

/// The fraction of label triplets of `e` (each row an anchor, a random positive and negative of
/// the same rows drawn with a fixed seed) with `d(a, p) − d(a, n) + margin > 0`.
pub fn violations(e: &Embeddings, labels: &[usize], margin: f32) -> f64 {
    let local: Vec<usize> = e.rows.iter().map(|&r| labels[r]).collect();
    let positions: Vec<usize> = (0..e.rows.len()).collect();
    let groups = by_class(&positions, &local);
    let mut rng = ChaCha8Rng::seed_from_u64(0x7e57);
    let triplets = random_label_triplets(&positions, &local, &groups, &mut rng);
    if triplets.is_empty() {
        return 0.0;
    }
    let row = |i: usize| &e.data[i * e.dim..(i + 1) * e.dim];
    let bad = triplets
        .iter()
        .filter(|t| euclid(row(t.anchor), row(t.positive)) - euclid(row(t.anchor), row(t.negative)) + margin > 0.0)
        .count();
    bad as f64 / triplets.len() as f64
}

/// Everything one evaluation of a baseline gives: the metrics and the test split's snapshot.
pub struct BaselineEvaluation {
    pub metrics: MetricsReport,
    pub snapshot: EmbeddingSnapshot,
}

/// What an evaluation of a baseline needs besides the network and the data.
#[derive(Debug, Clone, Copy)]
pub struct EvalParams {
    pub positives: Positives,
    /// Neighbours of the kNN classifier.
    pub knn_k: usize,
    pub margin: f32,
    /// Clusters of the k-means reading.
    pub k: usize,
    pub batch: usize,
    pub seed: u64,
    /// Points of the snapshot at most (`snapshot_points`; a stratified sample of the test split).
    pub snapshot_points: usize,
}

/// The test split's readings (labels needed), and its embedding snapshot.
pub fn evaluate(
    net: &TripletNet,
    ds: &MultiViewDataset,
    split: &Split,
    params: EvalParams,
    device: &Device,
    global_epoch: usize,
) -> Result<Option<BaselineEvaluation>, String> {
    let EvalParams { positives, knn_k, margin, k, batch, seed, snapshot_points } = params;
    let Some(labels) = ds.label_ids() else { return Ok(None) };
    let train = embed(net, ds, &split.train, positives, device, batch)?;
    let test = embed(net, ds, &split.test, positives, device, batch)?;
    let truth: Vec<usize> = split.test.iter().map(|&r| labels[r]).collect();
    let neighbours = nearest(&test, &train, knn_k, device)?;
    let votes: Vec<Vec<usize>> =
        neighbours.iter().map(|ns| ns.iter().map(|&j| labels[train.rows[j]]).collect()).collect();
    let knn_pred = knn_vote(&votes);
    let knn_acc = knn_pred.iter().zip(&truth).filter(|(p, t)| p == t).count() as f64 / truth.len().max(1) as f64;
    let n = test.rows.len();
    let params = KMeansParams { n_init: KMEANS_Z_RESTARTS, ..KMeansParams::new(k.min(n), seed) };
    let km = kmeans(&test.data, n, test.dim, &params).map_err(|e| e.to_string())?;
    let km_scores: Scores = to_scores(metrics::scores(&km.labels, &truth));
    let metrics = MetricsReport {
        global_epoch,
        mean_q: km_scores,
        vcf: to_scores(metrics::scores(&knn_pred, &truth)),
        kmeans_z: km_scores,
        per_view_acc: Vec::new(),
        per_view: Vec::new(),
        view_agreement: Vec::new(),
        per_view_kmeans: Vec::new(),
        triplet: Some(TripletScores {
            knn_acc,
            violations: violations(&test, labels, margin),
            n_train: split.train.len(),
            n_test: split.test.len(),
        }),
    };
    // The snapshot: the whole test split, or a stratified sample of it.
    let keep = crate::engine::predict::stratified_sample(Some(&truth), n, snapshot_points.max(1), seed);
    let pick = |v: &[usize]| keep.iter().map(|&i| v[i]).collect::<Vec<_>>();
    let shown = Embeddings {
        rows: pick(&test.rows),
        data: keep.iter().flat_map(|&i| test.data[i * test.dim..(i + 1) * test.dim].iter().copied()).collect(),
        dim: test.dim,
    };
    let snapshot = snapshot(
        &shown,
        &km.centroids,
        &pick(&km.labels),
        &pick(&knn_pred),
        &pick(&truth),
        ds.n_views(),
        global_epoch,
        device,
    );
    Ok(Some(BaselineEvaluation { metrics, snapshot }))
}

/// Dimensions a snapshot keeps of a wider embedding (its leading principal components).
pub const SNAPSHOT_DIMS: usize = 50;

/// The test split as an embedding snapshot: `z` the embeddings (their first
/// [`SNAPSHOT_DIMS`] principal components when wider), `q` Student-t memberships to the k-means
/// centres (distances scaled by the mean distance to the nearest centre), the k-means clusters
/// as the prediction and the kNN classifier as the second reading.
#[expect(clippy::too_many_arguments, reason = "the parts of one snapshot")]
fn snapshot(
    test: &Embeddings,
    centroids: &[f32],
    km_labels: &[usize],
    knn_pred: &[usize],
    truth: &[usize],
    n_views: usize,
    global_epoch: usize,
    device: &Device,
) -> EmbeddingSnapshot {
    let n = test.rows.len();
    let k = centroids.len() / test.dim.max(1);
    let d2: Vec<f32> = (0..n)
        .flat_map(|i| {
            let x = &test.data[i * test.dim..(i + 1) * test.dim];
            (0..k).map(move |c| {
                let m = &centroids[c * test.dim..(c + 1) * test.dim];
                x.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum::<f32>()
            })
        })
        .collect();
    let scale = ((0..n).map(|i| d2[i * k..(i + 1) * k].iter().copied().fold(f32::INFINITY, f32::min)).sum::<f32>()
        / n.max(1) as f32)
        .max(1e-12);
    let mut q = Vec::with_capacity(n * k);
    let mut confidence = Vec::with_capacity(n);
    let mut uncertainty = Vec::with_capacity(n);
    for i in 0..n {
        let row: Vec<f32> = d2[i * k..(i + 1) * k].iter().map(|&d| 1.0 / (1.0 + d / scale)).collect();
        let s: f32 = row.iter().sum::<f32>().max(1e-12);
        let row: Vec<f32> = row.iter().map(|x| x / s).collect();
        confidence.push(row.iter().copied().fold(0.0, f32::max));
        let h: f32 = row.iter().filter(|&&p| p > 0.0).map(|&p| -p * p.ln()).sum();
        uncertainty.push(if k > 1 { h / (k as f32).ln() } else { 0.0 });
        q.extend(row);
    }
    let (z, z_dim) = if test.dim > SNAPSHOT_DIMS && n > SNAPSHOT_DIMS {
        (principal_components(&test.data, n, test.dim, SNAPSHOT_DIMS, device), SNAPSHOT_DIMS)
    } else {
        (test.data.clone(), test.dim)
    };
    let map = metrics::align_clusters(km_labels, truth);
    EmbeddingSnapshot {
        global_epoch,
        indices: test.rows.clone(),
        z,
        z_dim,
        h: Vec::new(),
        h_dim: 0,
        q_mean: q,
        q_views: Vec::new(),
        k,
        predicted: km_labels.to_vec(),
        predicted_aligned: Some(km_labels.iter().map(|&p| map.get(p).copied().unwrap_or(p)).collect()),
        confidence,
        labels: Some(truth.to_vec()),
        view_weights: vec![1.0 / n_views.max(1) as f32; n_views],
        predicted_vcf: Some(knn_pred.to_vec()),
        predicted_kmeans_z: Some(km_labels.to_vec()),
        uncertainty,
    }
}

/// The first `k` principal-component scores of `data` (`n × dim`, row-major), `n × k`: subspace
/// iteration (12 rounds from a seeded random basis) whose two products per round run on `device`
/// (a 1000 × 4096 embedding takes milliseconds, where the host PCA of `analysis::embed` takes
/// seconds), the basis re-orthonormalised on the host; each component's largest loading positive.
pub fn principal_components(data: &[f32], n: usize, dim: usize, k: usize, device: &Device) -> Vec<f32> {
    let mut mean = vec![0f32; dim];
    for row in data.chunks_exact(dim) {
        mean.iter_mut().zip(row).for_each(|(m, &x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f32);
    let centred: Vec<f32> = data.chunks_exact(dim).flat_map(|r| r.iter().zip(&mean).map(|(x, m)| x - m)).collect();
    let x = Tensor::<2>::from_data(TensorData::new(centred, [n, dim]), device);
    let xt = x.clone().transpose();
    let mut rng = ChaCha8Rng::seed_from_u64(0x9ca);
    // Column-major basis: `basis[c]` is component `c`.
    let mut basis: Vec<Vec<f64>> = (0..k).map(|_| (0..dim).map(|_| rng.random::<f64>() - 0.5).collect()).collect();
    orthonormalise(&mut basis);
    let to_device = |b: &[Vec<f64>]| {
        let flat: Vec<f32> = (0..dim).flat_map(|i| b.iter().map(move |v| v[i] as f32)).collect();
        Tensor::<2>::from_data(TensorData::new(flat, [dim, k]), device)
    };
    for _ in 0..12 {
        let next = xt.clone().matmul(x.clone().matmul(to_device(&basis)));
        let Ok(host) = next.into_data().try_to_vec::<f32>() else { break };
        basis = (0..k).map(|c| (0..dim).map(|i| f64::from(host[i * k + c])).collect()).collect();
        orthonormalise(&mut basis);
    }
    for v in &mut basis {
        let big = v.iter().copied().fold(0f64, |acc, x| if x.abs() > acc.abs() { x } else { acc });
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
    }
    x.matmul(to_device(&basis)).into_data().try_to_vec::<f32>().unwrap_or_else(|_| vec![0.0; n * k])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knn_vote_takes_the_majority_and_breaks_ties_by_the_nearest() {
        assert_eq!(knn_vote(&[vec![1, 2, 2], vec![3, 1, 1, 3], vec![4]]), vec![2, 3, 4]);
    }

    #[test]
    fn violations_count_triplets_inside_the_margin() {
        // Two tight classes 10 apart: with margin 1 no triplet violates, with margin 20 all do.
        let e = Embeddings { rows: vec![0, 1, 2, 3], data: vec![0.0, 0.0, 0.1, 0.0, 10.0, 0.0, 10.1, 0.0], dim: 2 };
        let labels = [0, 0, 1, 1];
        assert_eq!(violations(&e, &labels, 1.0), 0.0);
        assert_eq!(violations(&e, &labels, 20.0), 1.0);
    }

    #[test]
    fn principal_components_match_the_host_pca() {
        // Points on a tilted line plus a little spread: the first component carries the line.
        let (n, dim) = (60, 5);
        let data: Vec<f32> = (0..n)
            .flat_map(|i| {
                let t = i as f32 / 10.0;
                let e = ((i * 7919) % 13) as f32 / 130.0;
                vec![t, 2.0 * t + e, -t, e, 0.5 * t - e]
            })
            .collect();
        let ours = principal_components(&data, n, dim, 2, &Device::flex());
        let host = crate::analysis::embed::pca(&data, dim, 2, 0);
        for (a, b) in ours.iter().step_by(2).zip(host.iter().step_by(2)) {
            assert!((a - b).abs() < 1e-3, "first component: {a} vs {b}");
        }
    }
}
