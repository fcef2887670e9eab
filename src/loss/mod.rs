//! The CVC-AFWM objective, every term switchable and weighted:
//!
//! `L = r·L_R + c·(L_C,cluster + L_C,local) + a·L_A + l·L_Q`
//!
//! - `L_R`: reconstruction MSE, summed over views.
//! - `L_C,cluster`: for every view pair, the cluster-level contrastive loss of
//!   the MFLVC family between the columns of `q_v` and `q_w` (cosine
//!   similarity / `temperature_l`, positives are the same cluster in the other
//!   view) plus the entropy term `log K + Σ p log p` of each view's cluster
//!   marginal, which keeps clusters from collapsing.
//!   With [`ContrastPairing::Consensus`] both contrastive terms pair each view with the views'
//!   weighted consensus instead (detached: `Σ_u w_u q_u` for the cluster term,
//!   `normalize(Σ_u w_u h_u)` for the local one), `V` terms instead of `V(V − 1)/2`; with
//!   [`ContrastPairing::Others`] each view's partner is the consensus of the other views.
//!   [`ContrastScale::PerView`] multiplies those `V` terms by `V − 1` in `L`, the number of
//!   pairwise terms each view sits in, so a view's contrast keeps its pairwise size.
//! - `L_C,local`: for every view pair, `S = softmax_rows(h_v h_wᵀ / temperature_f)`,
//!   pseudo matrix `Q = q_v q_wᵀ` with a unit diagonal, kept where `Q ≥ threshold`,
//!   rows normalised; `−Σ Q log S` averaged over rows. `Q` is a target and is
//!   detached (the seed computes this term but forgets to add it).
//! - `L_A`: `Σ_v KL(P ‖ q_v)` with the DEC target `P` of the VCF output `t`
//!   (`t² / Σ_batch t`, rows normalised), detached, plus `KL(P ‖ t)`: DEC's
//!   own self-training of the head that makes the target. Without that term
//!   `t` (and through the fused feature `Z`, the AFW weights) receives no
//!   gradient until `max P` passes `confidence` for some sample, which a
//!   freshly initialised VCF head never does — the weights would not learn.
//!   With [`TargetSource::Views`], `P` sharpens the views' consensus
//!   `mean_v q_v` instead, and the same two sums train the views on it and
//!   `t` to follow it. `sinkhorn_iters > 0` balances `P`'s cluster marginal
//!   (see [`balance`]).
//!   With the trainer's view weights `w*` ([`view_target_weights`]), `P` sharpens
//!   `Σ_v w*_v q_v` and `L_A` gains `KL(w* ‖ w)`, which trains the AFW toward them.
//! - `L_Q`: cross-entropy against labels: of `t` and each `q_v` against the
//!   true labels of the labelled subset when one is given; else of each `q_v`
//!   against the trainer's refreshed pseudo labels (k-means on `Z`, confident
//!   rows only; [`LabelTargets::Refreshed`]), which also give the local contrast
//!   its positives; else against `argmax P` where `max P ≥ confidence`
//!   (not of `t`, which made them: that self-loop collapses the head).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};

use crate::model::{Forward, l2_normalize};

pub mod mining;
pub mod triplet;
mod weights;
pub use weights::{ContrastPairing, ContrastScale, LossWeights, TargetSource, Term};

/// Values of the live-tunable loss parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossParams {
    pub weights: LossWeights,
    pub temperature_f: f32,
    pub temperature_l: f32,
    pub threshold: f32,
    pub confidence: f32,
    /// Where `P` comes from (the VCF head or the views' consensus).
    pub target: TargetSource,
    /// Sinkhorn–Knopp rounds that balance `P`'s cluster marginal after DEC's sharpening (0 = DEC's target).
    pub sinkhorn_iters: usize,
    /// Every view pair, or each view against the consensus, in the two contrastive terms.
    pub pairing: ContrastPairing,
    /// Each contrastive term once, or the consensus terms at a view's pairwise size (`V − 1`).
    pub contrast_scale: ContrastScale,
}

/// Supervision of `L_Q` for one batch.
#[derive(Debug, Clone)]
pub enum LabelTargets {
    /// Confident pseudo labels from `P` (`max P ≥ confidence`; no labelled subset and no k-means
    /// refresh). On unit-norm features the Student-t kernel keeps `max P` below 0.9 for K ≥ 3,
    /// so with the default confidence this rule rarely fires.
    Pseudo,
    /// One-hot true labels `[B, K]` and a `[B, 1]` mask of the labelled rows.
    Labelled { onehot: Box<Tensor<2>>, mask: Box<Tensor<2>> },
    /// The trainer's refreshed pseudo labels (k-means on `Z`, matched to the heads' clusters) and
    /// what else the refresh measured. They supervise each `q_v` (not `t`) and give the local
    /// contrast its positives (same label, both confident).
    Refreshed(Box<Refreshed>),
}

/// One batch's share of a pseudo-label refresh ([`LabelTargets::Refreshed`]).
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// One-hot pseudo labels `[B, K]`.
    pub onehot: Tensor<2>,
    /// `[B, 1]`: 1 for the confident rows.
    pub mask: Tensor<2>,
    /// `[B, 1]` per-row weights of `L_Q` and `L_A`: `1 − uncertainty` with uncertainty weighting
    /// (seed 003; `crate::pseudo::fuzzy_uncertainty`), else 1.
    pub weight: Tensor<2>,
    /// `[B, K]`: each row's neighbours' mean assignment (kNN soft labels, seed 002 / TSD), mixed
    /// into the DEC target `P` with weight `knn_weight`.
    pub neighbours: Option<Tensor<2>>,
    /// `[K]`: each cluster's temperature in the cluster-level contrast (PCL's density-scaled
    /// concentration, seed 002), replacing `temperature_l`.
    pub cluster_temperature: Option<Tensor<1>>,
    /// The weight of `neighbours` in `P`.
    pub knn_weight: f32,
}

impl LabelTargets {
    /// Builds the labelled targets of a batch: `labels[i]` is `Some(id)` for a labelled row.
    pub fn labelled(labels: &[Option<usize>], k: usize, device: &Device) -> Self {
        let b = labels.len();
        let mut onehot = vec![0f32; b * k];
        let mut mask = vec![0f32; b];
        for (i, l) in labels.iter().enumerate() {
            if let Some(c) = l
                && *c < k
            {
                onehot[i * k + c] = 1.0;
                mask[i] = 1.0;
            }
        }
        LabelTargets::Labelled {
            onehot: Box::new(Tensor::from_data(TensorData::new(onehot, [b, k]), device)),
            mask: Box::new(Tensor::from_data(TensorData::new(mask, [b, 1]), device)),
        }
    }

    /// Builds refreshed pseudo-label targets: `labels[i]` is `Some(cluster)` for a confident row;
    /// unit weights, no neighbour targets, the common temperature.
    pub fn refreshed(labels: &[Option<usize>], k: usize, device: &Device) -> Self {
        let LabelTargets::Labelled { onehot, mask } = Self::labelled(labels, k, device) else {
            unreachable!("`labelled` builds `Labelled`")
        };
        LabelTargets::Refreshed(Box::new(Refreshed {
            weight: mask.ones_like(),
            onehot: *onehot,
            mask: *mask,
            neighbours: None,
            cluster_temperature: None,
            knn_weight: 0.0,
        }))
    }

    /// With per-row weights (`[B]`, in [0, 1]) on `L_Q` and `L_A` (refreshed targets only).
    pub fn with_row_weights(mut self, weights: &[f32], device: &Device) -> Self {
        if let LabelTargets::Refreshed(r) = &mut self {
            r.weight = Tensor::from_data(TensorData::new(weights.to_vec(), [weights.len(), 1]), device);
        }
        self
    }

    /// With neighbour targets (`[B, K]` row-major) mixed into `P` with `weight` (refreshed only).
    pub fn with_neighbours(mut self, targets: &[f32], k: usize, weight: f32, device: &Device) -> Self {
        if let LabelTargets::Refreshed(r) = &mut self {
            let b = targets.len() / k.max(1);
            r.neighbours = Some(Tensor::from_data(TensorData::new(targets.to_vec(), [b, k]), device));
            r.knn_weight = weight;
        }
        self
    }

    /// With per-cluster temperatures (`[K]`) in the cluster-level contrast (refreshed only).
    pub fn with_cluster_temperature(mut self, temperature: &[f32], device: &Device) -> Self {
        if let LabelTargets::Refreshed(r) = &mut self {
            let t = TensorData::new(temperature.to_vec(), [temperature.len()]);
            r.cluster_temperature = Some(Tensor::from_data(t, device));
        }
        self
    }
}

/// The objective of one batch.
#[derive(Debug, Clone)]
pub struct Objective {
    /// The weighted sum to differentiate, `[1]`.
    pub total: Tensor<1>,
    /// Detached unweighted terms and the total, `[6]`, in `engine::protocol::LossTerm::OBJECTIVE`'s
    /// order: rec, cluster, local, kl, label, total (`Losses::from_parts` reads them).
    pub parts: Tensor<1>,
    /// Detached discrepancy `D_v` of each view from the other views' consensus, `[V]`
    /// ([`view_discrepancy`]; zeros when `L_A` is off): what the weights `w*` are computed from.
    pub view_kl: Tensor<1>,
}

const LOG_EPS: f32 = 1e-10;

/// Mean squared error of one view's reconstruction (`[1]`).
pub fn view_reconstruction(x: Tensor<2>, r: Tensor<2>) -> Tensor<1> {
    (x - r).powi_scalar(2).mean()
}

/// Mean squared error of each view, summed (`[1]`; zero without views).
pub fn reconstruction(xs: &[Tensor<2>], xr: &[Tensor<2>], device: &Device) -> Tensor<1> {
    xs.iter()
        .zip(xr)
        .map(|(x, r)| view_reconstruction(x.clone(), r.clone()))
        .reduce(|a, b| a + b)
        .unwrap_or_else(|| Tensor::zeros([1], device))
}

/// `log K + Σ_k p_k log p_k` of the cluster marginal of `q` (`[B, K]`).
fn marginal_negentropy(q: Tensor<2>) -> Tensor<1> {
    let [_, k] = q.dims();
    let p = q.sum_dim(0); // [1, K]
    let p = p.clone() / p.sum_dim(1); // [1, K]
    (p.clone() * p.clamp_min(LOG_EPS).log()).sum().add_scalar((k as f32).ln())
}

/// The MFLVC cluster-level contrastive loss of one view pair (with its entropy term).
///
/// # Shapes
/// - qi, qj: `[B, K]` → `[1]`
pub fn cluster_contrastive(qi: Tensor<2>, qj: Tensor<2>, temperature_l: f32) -> Tensor<1> {
    cluster_contrastive_with(qi, qj, Temperature::Common(temperature_l))
}

/// The temperature of the cluster-level contrast.
#[derive(Debug, Clone)]
pub enum Temperature {
    /// One for every cluster (`temperature_l`).
    Common(f32),
    /// One per cluster (`[K]`): row `a` of each view's columns is divided by `τ_a` (PCL).
    PerCluster(Box<Tensor<1>>),
}

/// [`cluster_contrastive`] with a common or a per-cluster temperature.
pub fn cluster_contrastive_with(qi: Tensor<2>, qj: Tensor<2>, temperature: Temperature) -> Tensor<1> {
    let [_, k] = qi.dims();
    let device = qi.device();
    let entropy = marginal_negentropy(qi.clone()) + marginal_negentropy(qj.clone());
    let n = 2 * k;
    let cols = l2_normalize(Tensor::cat(vec![qi.transpose(), qj.transpose()], 0)); // [2K, B]
    let sim = cols.clone().matmul(cols.transpose()); // [2K, 2K]
    let sim = match temperature {
        Temperature::Common(t) => sim.div_scalar(t),
        Temperature::PerCluster(t) => {
            let rows = Tensor::cat(vec![(*t).clone(), *t], 0).reshape([n, 1]).detach(); // [2K, 1]
            sim / rows
        }
    };
    // Exclude self-similarity from the softmax.
    let sim = sim - Tensor::<2>::eye(n, &device).mul_scalar(1e9);
    let mut pos = vec![0f32; n * n];
    for a in 0..k {
        pos[a * n + a + k] = 1.0;
        pos[(a + k) * n + a] = 1.0;
    }
    let pos = Tensor::<2>::from_data(TensorData::new(pos, [n, n]), &device);
    let ce = (log_softmax(sim, 1) * pos).sum().neg().div_scalar(n as f32);
    ce + entropy
}

/// The local pseudo-label contrast of one view pair.
///
/// # Shapes
/// - hv, hw: `[B, H]`; qv, qw: `[B, K]` → `[1]`
pub fn local_contrast(
    hv: Tensor<2>,
    hw: Tensor<2>,
    qv: Tensor<2>,
    qw: Tensor<2>,
    temperature_f: f32,
    threshold: f32,
) -> Tensor<1> {
    let q = qv.matmul(qw.transpose()).detach(); // [B, B]
    let q = q.clone() * q.greater_equal_elem(threshold).float();
    local_contrast_with(hv, hw, q, temperature_f)
}

/// The local contrast with given positive weights `q` (`[B, B]`, detached; the diagonal is set
/// to 1, rows are normalised): `−Σ_j Q_ij log softmax_j(h_v,i · h_w,j / τ_F)`, averaged over rows.
pub fn local_contrast_with(hv: Tensor<2>, hw: Tensor<2>, q: Tensor<2>, temperature_f: f32) -> Tensor<1> {
    let [b, _] = hv.dims();
    let device = hv.device();
    let log_s = log_softmax(hv.matmul(hw.transpose()).div_scalar(temperature_f), 1); // [B, B]
    let eye = Tensor::<2>::eye(b, &device);
    let q = q.detach() * eye.clone().neg().add_scalar(1.0) + eye; // unit diagonal
    let q = q.clone() / q.sum_dim(1).clamp_min(LOG_EPS); // rows normalised (≥ 1 before)
    (q * log_s).sum_dim(1).mean().neg()
}

/// The positives of the local contrast from refreshed pseudo labels: `Q_ij = 1` where rows i
/// and j are both confident and share a label (`[B, B]`).
pub fn pseudo_positives(onehot: Tensor<2>, mask: Tensor<2>) -> Tensor<2> {
    let m = onehot * mask; // [B, K], zero rows for the unconfident
    m.clone().matmul(m.transpose())
}

/// The chance values of the two cross-view contrastive terms for `views` views, `k` clusters
/// and batch size `b`: what they equal when the features carry no information (`(cluster, local)`).
/// The cluster term is `terms · ln(2K − 1)` (each column against the 2K − 1 others, the entropy
/// term at its minimum 0), the local term `terms · ln B` (uniform similarities); `terms` is the
/// number of view pairs, or of views against the consensus ([`ContrastPairing::terms`]).
pub fn contrast_chance(views: usize, k: usize, b: usize, pairing: ContrastPairing) -> (f64, f64) {
    let pairs = pairing.terms(views) as f64;
    (pairs * ((2 * k).saturating_sub(1).max(1) as f64).ln(), pairs * (b.max(1) as f64).ln())
}

/// The smallest mean discrepancy (nats) that [`view_target_weights`] divides by. Below it the
/// views' differences from the consensus are the heads' noise, not disagreement: on Prokaryotic
/// (preset learning rate 1e-5) the heads stay flat (`L_Q` at its chance value all run) and the
/// smoothed `D_v` sit at 1e-7 – 1e-6, which dividing by their mean turned into weights such as
/// .85 / .07 / .08 that swung from epoch to epoch; every other shared set measured starts at
/// 1.8e-4 – 1e-2 and reaches 4e-2 – 2e-1 within its first half.
pub const DISCREPANCY_FLOOR: f64 = 1e-3;

/// The closed-form view weights `w*_v = softmax_v(−(D_v / max(mean_u D_u, D₀)) / γ)` of the
/// views' discrepancies `D_v` from the consensus: a view that disagrees with the others more
/// than the average gets less weight; equal discrepancies give equal weights. Dividing by the
/// mean makes γ independent of the scale of `D` (which changes with K and the kernel); the floor
/// `D₀` ([`DISCREPANCY_FLOOR`]) keeps discrepancies too small to mean anything from being blown
/// up into weights (they give near-uniform ones).
pub fn view_target_weights(discrepancy: &[f64], gamma: f32) -> Vec<f32> {
    let n = discrepancy.len();
    if n == 0 {
        return Vec::new();
    }
    let mean = discrepancy.iter().sum::<f64>() / n as f64;
    if !(mean.is_finite() && mean > 0.0) {
        return vec![1.0 / n as f32; n];
    }
    let scale = mean.max(DISCREPANCY_FLOOR);
    let logits: Vec<f64> = discrepancy.iter().map(|d| -(d / scale) / gamma.max(1e-6) as f64).collect();
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| (x / s) as f32).collect()
}

/// DEC target distribution `P` of `t` (`[B, K]`), detached.
pub fn target_distribution(t: Tensor<2>) -> Tensor<2> {
    let t = t.detach();
    let w = t.clone().powi_scalar(2) / t.sum_dim(0).clamp_min(LOG_EPS); // [B, K]
    (w.clone() / w.sum_dim(1).clamp_min(LOG_EPS)).detach()
}

/// `iters` Sinkhorn–Knopp rounds on a target `p` (`[B, K]`, rows summing to 1): divide each
/// column by its sum (every cluster gets the same mass), then each row by its sum. DEC's target is
/// one such round on `t²` with the columns divided by `Σ t` instead; more rounds move the
/// target's cluster marginal towards uniform (SwAV's balanced assignment), so a cluster that
/// starts to take two classes' samples gets pushed back and an emptying one revived.
pub fn balance(p: Tensor<2>, iters: usize) -> Tensor<2> {
    let mut p = p.detach();
    for _ in 0..iters {
        p = p.clone() / p.sum_dim(0).clamp_min(LOG_EPS);
        p = p.clone() / p.sum_dim(1).clamp_min(LOG_EPS);
    }
    p
}

/// The views' consensus `mean_v q_v` (`[B, K]`; `None` without views).
pub fn mean_assignment(q: &[Tensor<2>]) -> Option<Tensor<2>> {
    let n = q.len();
    q.iter().cloned().reduce(|a, b| a + b).map(|s| s.div_scalar(n as f32))
}

/// The weighted consensus `Σ_v w_v q_v` (`[B, K]`; `None` without views). `weights` sum to 1.
pub fn weighted_assignment(q: &[Tensor<2>], weights: &[f32]) -> Option<Tensor<2>> {
    q.iter().zip(weights).map(|(q, &w)| q.clone().mul_scalar(w)).reduce(|a, b| a + b)
}

/// The discrepancy `D_v` of view `v` from the views' unweighted consensus, detached (`[1]`):
/// `KL(P̄ ‖ q_v)` with `P̄` the DEC target of the plain mean `mean_u q_u`.
///
/// The consensus is unweighted on purpose: against the `w*`-weighted target a view that gets more
/// weight agrees better with it, so its weight grows further (on Prokaryotic that gave the view with
/// the worst ACC 85% of the weight). Leaving the view out altogether made `w*` swing with every
/// view whose head flattened (gauss3-noise: the noise view reached .55).
pub fn view_discrepancy(q: &[Tensor<2>], v: usize) -> Tensor<1> {
    match (mean_assignment(q), q.get(v)) {
        (Some(m), Some(qv)) => kl_divergence(target_distribution(m), qv.clone()).detach(),
        (_, Some(qv)) => Tensor::zeros([1], &qv.device()),
        _ => Tensor::zeros([1], &Device::default()),
    }
}

/// `KL(P ‖ q)` averaged over the batch.
pub fn kl_divergence(p: Tensor<2>, q: Tensor<2>) -> Tensor<1> {
    let [b, _] = p.dims();
    (p.clone() * (p.clamp_min(LOG_EPS).log() - q.clamp_min(LOG_EPS).log())).sum().div_scalar(b as f32)
}

/// `KL(P ‖ q)` with per-row weights `[B, 1]` (a weighted mean over the rows; the plain mean
/// without weights).
pub fn weighted_kl(p: Tensor<2>, q: Tensor<2>, weight: Option<Tensor<2>>) -> Tensor<1> {
    let Some(w) = weight else { return kl_divergence(p, q) };
    let rows = (p.clone() * (p.clamp_min(LOG_EPS).log() - q.clamp_min(LOG_EPS).log())).sum_dim(1); // [B, 1]
    (rows * w.clone()).sum() / w.sum().clamp_min(LOG_EPS)
}

/// Masked cross-entropy of probabilities `x` (`[B, K]`) against one-hot targets.
fn masked_ce(x: Tensor<2>, onehot: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    let count = mask.clone().sum().clamp_min(1.0);
    (x.clamp_min(LOG_EPS).log() * onehot * mask).sum().neg() / count
}

/// The whole objective of a contrastive-phase batch.
///
/// `view_target` holds the closed-form view weights `w*` ([`view_target_weights`]) when the
/// trainer estimates them: the consensus target `P` is then `sharpen(Σ_v w*_v q_v)` instead of the
/// plain mean, and `L_A` gains `KL(w* ‖ w)`, which trains the AFW's weights `w` toward `w*`.
pub fn objective(
    xs: &[Tensor<2>],
    fwd: &Forward,
    params: &LossParams,
    labels: &LabelTargets,
    view_target: Option<&[f32]>,
) -> Objective {
    objective_with(xs, fwd, params, labels, view_target, None)
}

/// [`objective`] with DEC's target `P` given (`[B, K]`, the batch's rows of a target held fixed
/// over every sample between refreshes, seed 004 and the original DEC) instead of computed from
/// the batch.
pub fn objective_with(
    xs: &[Tensor<2>],
    fwd: &Forward,
    params: &LossParams,
    labels: &LabelTargets,
    view_target: Option<&[f32]>,
    fixed_target: Option<Tensor<2>>,
) -> Objective {
    let device = fwd.t.device();
    let zero = || Tensor::<1>::zeros([1], &device);
    let w = &params.weights;
    let views = fwd.h.len();

    let rec = if w.rec.factor() > 0.0 { reconstruction(xs, &fwd.xr, &device) } else { zero() };
    let refreshed = match labels {
        LabelTargets::Refreshed(r) => Some(&**r),
        _ => None,
    };
    let temperature = match refreshed.and_then(|r| r.cluster_temperature.clone()) {
        Some(t) => Temperature::PerCluster(Box::new(t)),
        None => Temperature::Common(params.temperature_l),
    };
    let mut cluster = zero();
    let mut local = zero();
    // The partners of each view's contrast: every other view (pairs), or a detached consensus of
    // all the views or of the others (one `(q, h)` per view).
    let wt: Vec<f32> = match view_target.filter(|wt| wt.len() == views) {
        Some(wt) => wt.to_vec(),
        None => vec![1.0 / views as f32; views],
    };
    let consensus_of = |members: &[usize]| {
        let total: f32 = members.iter().map(|&u| wt[u]).sum::<f32>().max(f32::MIN_POSITIVE);
        let q = members.iter().map(|&u| fwd.q[u].clone().mul_scalar(wt[u] / total)).reduce(|a, b| a + b)?;
        let h = members.iter().map(|&u| fwd.h_contrast[u].clone().mul_scalar(wt[u])).reduce(|a, b| a + b)?;
        Some((q.detach(), l2_normalize(h).detach()))
    };
    let partners: Vec<(Tensor<2>, Tensor<2>)> = match params.pairing {
        _ if views < 2 => Vec::new(),
        ContrastPairing::Pairs => Vec::new(),
        ContrastPairing::Consensus => {
            let all: Vec<usize> = (0..views).collect();
            consensus_of(&all).map(|c| vec![c; views]).unwrap_or_default()
        }
        ContrastPairing::Others => {
            (0..views).filter_map(|v| consensus_of(&(0..views).filter(|&u| u != v).collect::<Vec<_>>())).collect()
        }
    };
    for (v, (cq, ch)) in partners.into_iter().enumerate() {
        if w.cluster.factor() > 0.0 {
            cluster = cluster + cluster_contrastive_with(fwd.q[v].clone(), cq.clone(), temperature.clone());
        }
        if w.local.factor() > 0.0 {
            let positives = match labels {
                LabelTargets::Refreshed(r) => pseudo_positives(r.onehot.clone(), r.mask.clone()),
                _ => {
                    let q = fwd.q[v].clone().matmul(cq.transpose()).detach();
                    q.clone() * q.greater_equal_elem(params.threshold).float()
                }
            };
            local = local + local_contrast_with(fwd.h_contrast[v].clone(), ch, positives, params.temperature_f);
        }
    }
    let pairs = if params.pairing == ContrastPairing::Pairs { views } else { 0 };
    for v in 0..pairs {
        for u in v + 1..views {
            if w.cluster.factor() > 0.0 {
                cluster = cluster + cluster_contrastive_with(fwd.q[v].clone(), fwd.q[u].clone(), temperature.clone());
            }
            if w.local.factor() > 0.0 {
                local = local
                    + match labels {
                        LabelTargets::Refreshed(r) => local_contrast_with(
                            fwd.h_contrast[v].clone(),
                            fwd.h_contrast[u].clone(),
                            pseudo_positives(r.onehot.clone(), r.mask.clone()),
                            params.temperature_f,
                        ),
                        _ => local_contrast(
                            fwd.h_contrast[v].clone(),
                            fwd.h_contrast[u].clone(),
                            fwd.q[v].clone(),
                            fwd.q[u].clone(),
                            params.temperature_f,
                            params.threshold,
                        ),
                    };
            }
        }
    }
    let needs_p = w.kl.factor() > 0.0 || (w.label.factor() > 0.0 && matches!(labels, LabelTargets::Pseudo));
    let p = needs_p.then(|| {
        if let Some(p) = fixed_target {
            return p.detach();
        }
        let source = match params.target {
            TargetSource::Vcf => fwd.t.clone(),
            TargetSource::Views => match view_target.filter(|wt| wt.len() == views) {
                Some(wt) => weighted_assignment(&fwd.q, wt),
                None => mean_assignment(&fwd.q),
            }
            .unwrap_or_else(|| fwd.t.clone()),
        };
        let p = balance(target_distribution(source), params.sinkhorn_iters);
        match refreshed.and_then(|r| r.neighbours.clone().map(|n| (n, r.knn_weight))) {
            Some((n, beta)) if beta > 0.0 => (p.mul_scalar(1.0 - beta) + n.mul_scalar(beta)).detach(),
            _ => p,
        }
    });
    let row_weight = refreshed.map(|r| r.weight.clone());
    let mut kl = zero();
    let mut view_kl = vec![zero(); views];
    if let Some(p) = p.as_ref().filter(|_| w.kl.factor() > 0.0) {
        kl = weighted_kl(p.clone(), fwd.t.clone(), row_weight.clone());
        for q in &fwd.q {
            kl = kl + weighted_kl(p.clone(), q.clone(), row_weight.clone());
        }
        for (v, d) in view_kl.iter_mut().enumerate() {
            *d = view_discrepancy(&fwd.q, v);
        }
        if let Some(wt) = view_target.filter(|wt| wt.len() == views) {
            let target = Tensor::<1>::from_data(TensorData::new(wt.to_vec(), [views]), &device);
            let afw = (target.clone()
                * (target.clamp_min(LOG_EPS).log() - fwd.weights.clone().clamp_min(LOG_EPS).log()))
            .sum();
            kl = kl + afw;
        }
    }
    let view_kl = if views == 0 { Tensor::zeros([0], &device) } else { Tensor::cat(view_kl, 0) };
    let mut label = zero();
    if w.label.factor() > 0.0 {
        let (onehot, mask) = match (labels, p.as_ref()) {
            (LabelTargets::Labelled { onehot, mask }, _) => ((**onehot).clone(), (**mask).clone()),
            (LabelTargets::Refreshed(r), _) => (r.onehot.clone(), r.mask.clone() * r.weight.clone()),
            (LabelTargets::Pseudo, Some(p)) => {
                let max = p.clone().max_dim(1); // [B, 1]
                let onehot = (p.clone() - max.clone()).greater_equal_elem(0.0).float();
                let mask = max.greater_equal_elem(params.confidence).float();
                (onehot, mask)
            }
            (LabelTargets::Pseudo, None) => (fwd.t.zeros_like(), Tensor::zeros([fwd.t.dims()[0], 1], &device)),
        };
        // True labels supervise the VCF head too; pseudo labels come from the head itself
        // (argmax P), and training the head on its own confident argmax is an unbalanced
        // self-loop that collapses it onto one cluster (measured on gauss3-noise: ACC 0.25 with
        // it, 1.0 without). The head learns from KL(P ‖ t) instead, whose target is
        // frequency-normalised.
        if matches!(labels, LabelTargets::Labelled { .. }) {
            label = masked_ce(fwd.t.clone(), onehot.clone(), mask.clone());
        }
        for q in &fwd.q {
            label = label + masked_ce(q.clone(), onehot.clone(), mask.clone());
        }
    }
    let scale = params.contrast_scale.factor(params.pairing, views);
    let total = rec.clone().mul_scalar(w.rec.factor())
        + cluster.clone().mul_scalar(w.cluster.factor() * scale)
        + local.clone().mul_scalar(w.local.factor() * scale)
        + kl.clone().mul_scalar(w.kl.factor())
        + label.clone().mul_scalar(w.label.factor());
    let parts = Tensor::cat(vec![rec, cluster, local, kl, label, total.clone()], 0).detach();
    Objective { total, parts, view_kl }
}

/// The pre-training objective: reconstruction only.
pub fn pretrain_objective(xs: &[Tensor<2>], xr: &[Tensor<2>], device: &Device) -> Objective {
    let rec = reconstruction(xs, xr, device);
    let z = Tensor::<1>::zeros([1], device);
    let parts = Tensor::cat(vec![rec.clone(), z.clone(), z.clone(), z.clone(), z, rec.clone()], 0).detach();
    Objective { total: rec, parts, view_kl: Tensor::zeros([xr.len()], device) }
}
