//! Inference: run a trained network over a dataset (or some of its rows) and
//! read it three ways — the DEC head on the AFW-weighted consensus `normalize(Σ_v w_v h_v)` (primary;
//! the mean of the views' `q` for networks from before issue 13), argmax of the VCF
//! output `t`, and k-means on the fused feature `Z` — plus each view's own scores and the views'
//! agreement, and
//! answer for one sample what the seed's `/predict` did.
//!
//! The AFW weights of an evaluation come from the summaries of the whole set
//! being evaluated (not of one batch), so a sample's reading does not depend
//! on which batch it happens to fall in; the VCF layer still attends across
//! the samples of each batch, in row order.

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cluster::{KMeansParams, kmeans};
use crate::data::MultiViewDataset;
use crate::engine::checkpoint::Checkpoint;
use crate::engine::protocol::{EmbeddingSnapshot, MetricsReport, Scores};
use crate::metrics;
use crate::model::Cvc;

/// Reads a tensor back to the host as `f32`s.
pub fn to_host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    t.try_into_data()
        .map_err(|e| format!("reading a result back from the device failed: {e:?}"))?
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| format!("reading a result back from the device failed: {e:?}"))
}

/// Everything the network says about a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Dataset rows, in evaluation order.
    pub rows: Vec<usize>,
    pub k: usize,
    pub h_dim: usize,
    /// Per-view `h_v`, each row-major `rows × h_dim`.
    pub h: Vec<Vec<f32>>,
    /// Per-view `q_v`, each row-major `rows × k`.
    pub q_views: Vec<Vec<f32>>,
    /// The primary assignment, row-major `rows × k`: the DEC head on `normalize(Σ_v w_v h_v)` (the
    /// mean of the `q_v` for networks from before issue 13).
    pub q_mean: Vec<f32>,
    /// VCF output, row-major `rows × k` (empty with [`Readings::WithoutVcf`]).
    pub t: Vec<f32>,
    /// Fused feature, row-major `rows × z_dim`.
    pub z: Vec<f32>,
    pub z_dim: usize,
    /// AFW weights from the summaries of all rows.
    pub view_weights: Vec<f32>,
    /// argmax of `q_mean` (model cluster ids).
    pub pred_mean: Vec<usize>,
    /// argmax of each `q_v`.
    pub pred_views: Vec<Vec<usize>>,
    /// argmax of `t` (empty with [`Readings::WithoutVcf`]).
    pub pred_vcf: Vec<usize>,
    /// max of `q_mean`.
    pub confidence: Vec<f32>,
    /// Each row's uncertainty in [0, 1]: the normalised entropy of its fuzzy c-means memberships
    /// (fuzzifier [`UNCERTAINTY_FUZZIFIER`]) from the distances of `normalize(Σ_v w_v h_v)` to the DEC
    /// centres (`pseudo::fuzzy_uncertainty`).
    pub uncertainty: Vec<f32>,
}

/// The fuzzifier of the uncertainty an evaluation reports (fuzzy c-means' usual `m = 2`).
pub const UNCERTAINTY_FUZZIFIER: f32 = 2.0;

fn argmax_rows(values: &[f32], k: usize) -> Vec<usize> {
    values
        .chunks_exact(k.max(1))
        .map(|r| {
            r.iter().enumerate().fold((0usize, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
        })
        .collect()
}

/// The views of some dataset rows as tensors on `device` (`rows.len()` × `d_v` each).
pub fn gather(ds: &MultiViewDataset, rows: &[usize], device: &Device) -> Vec<Tensor<2>> {
    ds.views
        .iter()
        .map(|v| Tensor::<2>::from_data(TensorData::new(v.data.gather_rows(rows), [rows.len(), v.data.cols()]), device))
        .collect()
}

/// Which readings an evaluation computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readings {
    /// Every reading.
    All,
    /// All but the VCF head's: [`Evaluation::t`] and [`Evaluation::pred_vcf`] are left empty. A
    /// pseudo-label refresh reads nothing of the VCF head, and running it over every sample costs
    /// as much as the encoders (docs/BENCHMARKS.md, session 36).
    WithoutVcf,
}

/// Evaluates `model` (a `valid()` copy on the plain `device`) over `rows` of `ds`.
pub fn evaluate_rows(
    model: &Cvc,
    ds: &MultiViewDataset,
    rows: &[usize],
    device: &Device,
    batch: usize,
) -> Result<Evaluation, String> {
    evaluate_rows_with(model, ds, rows, device, batch, Readings::All)
}

/// [`evaluate_rows`] with only the given readings.
pub fn evaluate_rows_with(
    model: &Cvc,
    ds: &MultiViewDataset,
    rows: &[usize],
    device: &Device,
    batch: usize,
    readings: Readings,
) -> Result<Evaluation, String> {
    let projected = projections(model, ds, rows, device, batch)?;
    evaluate_projected(model, rows, &projected, device, batch, readings)
}

/// Each view's projection `W z_v + b` of `rows` of `ds` (before centring and normalisation),
/// row-major `rows × H` per view, from a `valid()` network on the plain `device`. Per batch of
/// `batch` rows the views run in parallel, as in training (one view's matrix products of a
/// 256-row batch split poorly across cores).
pub fn projections(
    model: &Cvc,
    ds: &MultiViewDataset,
    rows: &[usize],
    device: &Device,
    batch: usize,
) -> Result<Vec<Vec<f32>>, String> {
    let v = model.n_views();
    if ds.n_views() != v {
        return Err(format!("the model has {v} views but the dataset has {}", ds.n_views()));
    }
    if rows.is_empty() {
        return Err("there are no samples to evaluate".into());
    }
    if let Some(&bad) = rows.iter().find(|&&r| r >= ds.n_samples()) {
        return Err(format!("sample index {bad} is out of range: the dataset has {} samples", ds.n_samples()));
    }
    let h_dim = model.projection.weight.val().dims()[1];
    let mut projected: Vec<Vec<f32>> = vec![Vec::with_capacity(rows.len() * h_dim); v];
    for chunk in rows.chunks(batch.max(1)) {
        let per_view: Vec<Result<Vec<f32>, String>> = model
            .views
            .par_iter()
            .zip(gather(ds, chunk, device).into_par_iter())
            .map(|(ae, x)| to_host(model.projection.forward(ae.encode(x))))
            .collect();
        for (p, values) in projected.iter_mut().zip(per_view) {
            p.extend(values?);
        }
    }
    Ok(projected)
}

/// Evaluates `model` (a `valid()` copy on the plain `device`) over `rows` from their views'
/// projections ([`projections`], which the same network's encoders and projection gave; the
/// centring and everything after it are read from `model`).
pub fn evaluate_projected(
    model: &Cvc,
    rows: &[usize],
    projected: &[Vec<f32>],
    device: &Device,
    batch: usize,
    readings: Readings,
) -> Result<Evaluation, String> {
    let v = model.n_views();
    let batch = batch.max(1);
    let n = rows.len();
    let k = model.dec.centers.val().dims()[0];
    let h_dim = model.projection.weight.val().dims()[1];
    if n == 0 {
        return Err("there are no samples to evaluate".into());
    }
    if projected.len() != v || projected.iter().any(|p| p.len() != n * h_dim) {
        return Err(format!("the projections do not match {n} rows of {v} views of {h_dim} features"));
    }
    let mut h: Vec<Vec<f32>> = vec![Vec::with_capacity(n * h_dim); v];
    let mut q_views: Vec<Vec<f32>> = vec![Vec::with_capacity(n * k); v];
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        for (i, p) in projected.iter().enumerate() {
            let p = Tensor::from_data(
                TensorData::new(p[start * h_dim..end * h_dim].to_vec(), [end - start, h_dim]),
                device,
            );
            let hv = model.features_from_projection(i, p);
            q_views[i].extend(to_host(model.dec.forward(hv.clone()))?);
            h[i].extend(to_host(hv)?);
        }
    }
    // AFW weights from the summaries of all rows.
    let mut summaries = vec![0f32; v * h_dim];
    for (i, hv) in h.iter().enumerate() {
        for row in hv.chunks_exact(h_dim) {
            for (s, x) in summaries[i * h_dim..(i + 1) * h_dim].iter_mut().zip(row) {
                *s += x;
            }
        }
    }
    summaries.iter_mut().for_each(|s| *s /= n as f32);
    let weights_t = model.afw.forward(Tensor::from_data(TensorData::new(summaries, [v, h_dim]), device));
    let view_weights = to_host(weights_t.clone())?;
    let z_dim = h_dim * v;
    let mut z = Vec::with_capacity(n * z_dim);
    let mut t = Vec::with_capacity(n * k);
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let hs: Vec<Tensor<2>> = h
            .iter()
            .map(|hv| {
                Tensor::from_data(
                    TensorData::new(hv[start * h_dim..end * h_dim].to_vec(), [end - start, h_dim]),
                    device,
                )
            })
            .collect();
        let fused = Cvc::fuse(&hs, &weights_t);
        if readings == Readings::All {
            t.extend(to_host(model.vcf.forward(fused.clone()))?);
        }
        z.extend(to_host(fused)?);
    }
    let centres = to_host(model.dec.centers.val())?;
    let (consensus_q, uncertainty) = consensus_assignment(model, &h, &view_weights, &centres, batch, device)?;
    let q_mean = if model.afw.residual {
        consensus_q
    } else {
        // Networks from before issue 13: the plain mean of the views' `q`, as they were read then.
        let mut q_mean = vec![0f32; n * k];
        for qv in &q_views {
            for (m, x) in q_mean.iter_mut().zip(qv) {
                *m += x / v as f32;
            }
        }
        q_mean
    };
    let pred_mean = argmax_rows(&q_mean, k);
    let confidence = q_mean.chunks_exact(k).map(|r| r.iter().copied().fold(f32::NEG_INFINITY, f32::max)).collect();
    let pred_views = q_views.iter().map(|q| argmax_rows(q, k)).collect();
    let pred_vcf = argmax_rows(&t, k);
    Ok(Evaluation {
        rows: rows.to_vec(),
        k,
        h_dim,
        h,
        q_views,
        q_mean,
        t,
        z,
        z_dim,
        view_weights,
        pred_mean,
        pred_views,
        pred_vcf,
        confidence,
        uncertainty,
    })
}

/// The DEC head's assignment of the weighted consensus feature `normalize(Σ_v w_v h_v)`, row-major
/// `rows × k`: the primary reading of networks since issue 13. The refreshed centres are the
/// cluster means of this same feature, and a down-weighted view moves it only by its weight
/// (averaging the views' flat `q` instead let a noise view at weight 0.1 flip the argmax).
/// Also each row's uncertainty from its distances to the `centres` (row-major `k × h_dim`).
fn consensus_assignment(
    model: &Cvc,
    h: &[Vec<f32>],
    weights: &[f32],
    centres: &[f32],
    batch: usize,
    device: &Device,
) -> Result<(Vec<f32>, Vec<f32>), String> {
    let h_dim = model.projection.weight.val().dims()[1];
    let n = h.first().map_or(0, |hv| hv.len() / h_dim.max(1));
    let k = centres.len() / h_dim.max(1);
    let (mut out, mut uncertainty) = (Vec::with_capacity(n * k), Vec::with_capacity(n));
    for start in (0..n).step_by(batch.max(1)) {
        let end = (start + batch.max(1)).min(n);
        let mut c = vec![0f32; (end - start) * h_dim];
        for (hv, &w) in h.iter().zip(weights) {
            for (o, x) in c.iter_mut().zip(&hv[start * h_dim..end * h_dim]) {
                *o += w * x;
            }
        }
        let feature =
            crate::model::l2_normalize(Tensor::<2>::from_data(TensorData::new(c, [end - start, h_dim]), device));
        let rows = to_host(feature.clone())?;
        for row in rows.chunks_exact(h_dim) {
            let d: Vec<f32> = centres
                .chunks_exact(h_dim)
                .map(|mu| row.iter().zip(mu).map(|(a, b)| (a - b) * (a - b)).sum())
                .collect();
            uncertainty.push(crate::pseudo::fuzzy_uncertainty(&d, UNCERTAINTY_FUZZIFIER));
        }
        out.extend(to_host(model.dec.forward(feature))?);
    }
    Ok((out, uncertainty))
}

/// Evaluates the whole dataset.
pub fn evaluate(model: &Cvc, ds: &MultiViewDataset, device: &Device, batch: usize) -> Result<Evaluation, String> {
    let rows: Vec<usize> = (0..ds.n_samples()).collect();
    evaluate_rows(model, ds, &rows, device, batch)
}

pub(crate) fn to_scores(s: metrics::ClusterScores) -> Scores {
    Scores { acc: s.acc, nmi: s.nmi, ari: s.ari, purity: s.purity }
}

/// Restarts of the "k-means on `Z`" reading.
pub const KMEANS_Z_RESTARTS: usize = 10;

/// The three readings' scores and per-view ACC, against `truth` (label ids of `eval.rows`).
pub fn metrics_report(
    eval: &Evaluation,
    truth: &[usize],
    global_epoch: usize,
    seed: u64,
) -> Result<MetricsReport, String> {
    metrics_and_kmeans_z(eval, truth, global_epoch, seed).map(|(m, _)| m)
}

/// [`metrics_report`] and the "k-means on `Z`" reading's labels it scored (cluster ids of
/// `eval.rows`), for a confusion matrix of that reading.
pub fn metrics_and_kmeans_z(
    eval: &Evaluation,
    truth: &[usize],
    global_epoch: usize,
    seed: u64,
) -> Result<(MetricsReport, Vec<usize>), String> {
    let n = eval.rows.len();
    // Ten restarts, as scikit-learn's classic default and as SCMVC / GCFAggMVC report this reading
    // (three restarts let an unlucky seeding show as a worse model).
    let params = KMeansParams { n_init: KMEANS_Z_RESTARTS, ..KMeansParams::new(eval.k, seed) };
    let km = kmeans(&eval.z, n, eval.z_dim, &params).map_err(|e| e.to_string())?;
    // Each view's own features clustered alone (fewer restarts: one k-means per view per evaluation).
    let view_params = KMeansParams { n_init: SNAPSHOT_KMEANS_RESTARTS, ..KMeansParams::new(eval.k, seed) };
    let per_view_kmeans = eval
        .h
        .iter()
        .map(|hv| kmeans(hv, n, eval.h_dim, &view_params).map(|km| to_scores(metrics::scores(&km.labels, truth))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let report = MetricsReport {
        global_epoch,
        mean_q: to_scores(metrics::scores(&eval.pred_mean, truth)),
        vcf: to_scores(metrics::scores(&eval.pred_vcf, truth)),
        kmeans_z: to_scores(metrics::scores(&km.labels, truth)),
        per_view_acc: eval.pred_views.iter().map(|p| metrics::accuracy(p, truth)).collect(),
        per_view: eval.pred_views.iter().map(|p| to_scores(metrics::scores(p, truth))).collect(),
        view_agreement: crate::analysis::agreement_matrix(&eval.pred_views),
        per_view_kmeans,
        triplet: None,
    };
    Ok((report, km.labels))
}

/// Label ids of the given rows, when the dataset is labelled.
pub fn truth_of(ds: &MultiViewDataset, rows: &[usize]) -> Option<Vec<usize>> {
    ds.label_ids().map(|ids| rows.iter().map(|&r| ids[r]).collect())
}

/// A capped sample of `n` rows, stratified by label when labels exist
/// (each class keeps its share), drawn with `seed`; sorted.
pub fn stratified_sample(labels: Option<&[usize]>, n: usize, cap: usize, seed: u64) -> Vec<usize> {
    if n <= cap {
        return (0..n).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5a17_c0de);
    let mut out = Vec::with_capacity(cap);
    match labels {
        Some(ids) if ids.len() == n => {
            let k = ids.iter().copied().max().map_or(0, |m| m + 1);
            let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
            for (i, &c) in ids.iter().enumerate() {
                by_class[c].push(i);
            }
            for members in by_class.iter_mut() {
                members.shuffle(&mut rng);
                let take = ((members.len() as f64 * cap as f64 / n as f64).round() as usize).max(1).min(members.len());
                out.extend_from_slice(&members[..take]);
            }
        }
        _ => {
            let mut all: Vec<usize> = (0..n).collect();
            all.shuffle(&mut rng);
            out.extend_from_slice(&all[..cap]);
        }
    }
    out.sort_unstable();
    out
}

/// An embedding snapshot from an evaluation of some rows.
pub fn snapshot_from(eval: &Evaluation, ds: &MultiViewDataset, global_epoch: usize) -> EmbeddingSnapshot {
    let labels = truth_of(ds, &eval.rows);
    // The "k-means on Z" reading of these same points, for the confusion matrix of any reading.
    let params = KMeansParams { n_init: SNAPSHOT_KMEANS_RESTARTS, ..KMeansParams::new(eval.k, 0) };
    let predicted_kmeans_z = kmeans(&eval.z, eval.rows.len(), eval.z_dim, &params).ok().map(|km| km.labels);
    let predicted_aligned = labels.as_ref().map(|t| {
        let map = metrics::align_clusters(&eval.pred_mean, t);
        eval.pred_mean.iter().map(|&p| map.get(p).copied().unwrap_or(p)).collect()
    });
    EmbeddingSnapshot {
        global_epoch,
        indices: eval.rows.clone(),
        z: eval.z.clone(),
        z_dim: eval.z_dim,
        h: eval.h.clone(),
        h_dim: eval.h_dim,
        q_mean: eval.q_mean.clone(),
        q_views: eval.q_views.clone(),
        k: eval.k,
        predicted: eval.pred_mean.clone(),
        predicted_aligned,
        confidence: eval.confidence.clone(),
        labels,
        view_weights: eval.view_weights.clone(),
        predicted_vcf: Some(eval.pred_vcf.clone()),
        predicted_kmeans_z,
        uncertainty: eval.uncertainty.clone(),
    }
}

/// Restarts of the k-means on a snapshot's `Z` (fewer than the metrics' reading: a snapshot is
/// taken often, and its confusion matrix is a picture, not a reported number).
pub const SNAPSHOT_KMEANS_RESTARTS: usize = 3;

/// One tenth of the samples ranked by uncertainty, and how often the primary reading is wrong there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UncertaintyDecile {
    /// 1 = the most certain tenth, 10 = the most uncertain.
    pub decile: usize,
    /// The decile's range of uncertainty.
    pub from: f32,
    pub to: f32,
    pub samples: usize,
    /// Fraction of the decile's samples whose (Hungarian-aligned) prediction differs from the label.
    pub error_rate: f64,
}

/// The primary reading's error rate in each tenth of the samples ranked by uncertainty (seed 003's
/// claim that the uncertain samples are the wrong ones, made measurable).
pub fn uncertainty_deciles(eval: &Evaluation, truth: &[usize]) -> Vec<UncertaintyDecile> {
    let n = eval.rows.len().min(truth.len()).min(eval.uncertainty.len());
    if n == 0 {
        return Vec::new();
    }
    let map = metrics::align_clusters(&eval.pred_mean, truth);
    let wrong: Vec<bool> =
        (0..n).map(|i| map.get(eval.pred_mean[i]).copied().unwrap_or(eval.pred_mean[i]) != truth[i]).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eval.uncertainty[a].total_cmp(&eval.uncertainty[b]));
    (0..10)
        .filter_map(|d| {
            let part = &order[d * n / 10..(d + 1) * n / 10];
            let (first, last) = (part.first()?, part.last()?);
            Some(UncertaintyDecile {
                decile: d + 1,
                from: eval.uncertainty[*first],
                to: eval.uncertainty[*last],
                samples: part.len(),
                error_rate: part.iter().filter(|&&i| wrong[i]).count() as f64 / part.len() as f64,
            })
        })
        .collect()
}

/// The answer for one sample (the seed's `/predict`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub data_index: usize,
    /// Mean soft assignment over the views, in model cluster order.
    pub cluster_probabilities: Vec<f32>,
    /// Predicted cluster mapped to a label id (Hungarian matching over the whole dataset);
    /// the model's own cluster id when the data is unlabelled.
    pub cluster_assignment: usize,
    /// The model's own cluster id (argmax of `cluster_probabilities`).
    pub model_cluster: usize,
    pub ground_truth_label: Option<usize>,
    /// The class name (or raw value) of the ground truth, when labelled.
    pub ground_truth_name: Option<String>,
    pub is_correct: Option<bool>,
    /// Each view's own assignment, aligned the same way.
    pub per_view_assignment: Vec<usize>,
    /// max of `cluster_probabilities`.
    pub confidence: f32,
    /// The pseudo label's uncertainty in [0, 1] (`Evaluation::uncertainty`).
    pub uncertainty: f32,
}

/// A checkpoint's network on `device` and its evaluation of the whole of `ds` (which the caller
/// has checked against the checkpoint): `eval`, `predict`, `serve`'s trained model and the app's
/// inspector of a finished or stored run.
pub fn evaluate_checkpoint(
    ck: &Checkpoint,
    ds: &MultiViewDataset,
    device: &Device,
) -> Result<(Cvc, Evaluation), String> {
    let network = ck.model(device).map_err(|e| e.to_string())?;
    let eval = evaluate(&network, ds, device, ck.config.batch_size)?;
    Ok((network, eval))
}

/// Answers for sample `index` from a whole-dataset evaluation.
pub fn predict_index(eval: &Evaluation, ds: &MultiViewDataset, index: usize) -> Result<Prediction, String> {
    let Some(pos) = eval.rows.iter().position(|&r| r == index) else {
        return Err(format!("sample index {index} is out of range: the dataset has {} samples", ds.n_samples()));
    };
    let k = eval.k;
    let truth = truth_of(ds, &eval.rows);
    let map = truth.as_ref().map(|t| metrics::align_clusters(&eval.pred_mean, t));
    let align = |p: usize| map.as_ref().and_then(|m| m.get(p).copied()).unwrap_or(p);
    let model_cluster = eval.pred_mean[pos];
    let cluster_assignment = align(model_cluster);
    let ground_truth_label = truth.as_ref().map(|t| t[pos]);
    let ground_truth_name = ds.labels.as_ref().zip(ground_truth_label).map(|(l, id)| l.class_name(id));
    Ok(Prediction {
        data_index: index,
        cluster_probabilities: eval.q_mean[pos * k..(pos + 1) * k].to_vec(),
        cluster_assignment,
        model_cluster,
        ground_truth_label,
        ground_truth_name,
        is_correct: ground_truth_label.map(|g| g == cluster_assignment),
        per_view_assignment: eval.pred_views.iter().map(|p| align(p[pos])).collect(),
        confidence: eval.confidence[pos],
        uncertainty: eval.uncertainty[pos],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_sample_keeps_class_shares() {
        let labels: Vec<usize> = (0..1000).map(|i| if i < 800 { 0 } else { 1 }).collect();
        let s = stratified_sample(Some(&labels), 1000, 100, 3);
        let ones = s.iter().filter(|&&i| labels[i] == 1).count();
        assert_eq!(s.len(), 100);
        assert_eq!(ones, 20);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(stratified_sample(None, 10, 100, 0), (0..10).collect::<Vec<_>>());
    }
}
