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
//! - `L_Q`: cross-entropy against labels: of `t` and each `q_v` against the
//!   true labels of the labelled subset when one is given, else of each `q_v`
//!   against the confident pseudo labels `argmax P` where `max P ≥ confidence`
//!   (not of `t`, which made them: that self-loop collapses the head).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};

use crate::engine::config::{LossWeights, TargetSource};
use crate::model::{Forward, l2_normalize};

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
}

/// Supervision of `L_Q` for one batch.
#[derive(Debug, Clone)]
pub enum LabelTargets {
    /// Confident pseudo labels from `P` (no labelled subset).
    Pseudo,
    /// One-hot true labels `[B, K]` and a `[B, 1]` mask of the labelled rows.
    Labelled { onehot: Box<Tensor<2>>, mask: Box<Tensor<2>> },
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
}

/// The objective of one batch.
#[derive(Debug, Clone)]
pub struct Objective {
    /// The weighted sum to differentiate, `[1]`.
    pub total: Tensor<1>,
    /// Detached unweighted terms and the total, `[6]`: rec, cluster, local, kl, label, total.
    pub parts: Tensor<1>,
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
    let [_, k] = qi.dims();
    let device = qi.device();
    let entropy = marginal_negentropy(qi.clone()) + marginal_negentropy(qj.clone());
    let n = 2 * k;
    let cols = l2_normalize(Tensor::cat(vec![qi.transpose(), qj.transpose()], 0)); // [2K, B]
    let sim = cols.clone().matmul(cols.transpose()).div_scalar(temperature_l); // [2K, 2K]
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
    let [b, _] = hv.dims();
    let device = hv.device();
    let log_s = log_softmax(hv.matmul(hw.transpose()).div_scalar(temperature_f), 1); // [B, B]
    let eye = Tensor::<2>::eye(b, &device);
    let q = qv.matmul(qw.transpose()).detach(); // [B, B]
    let q = q * eye.clone().neg().add_scalar(1.0) + eye; // unit diagonal
    let q = q.clone() * q.greater_equal_elem(threshold).float();
    let q = q.clone() / q.sum_dim(1).clamp_min(LOG_EPS); // rows normalised (≥ 1 before)
    (q * log_s).sum_dim(1).mean().neg()
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

/// `KL(P ‖ q)` averaged over the batch.
pub fn kl_divergence(p: Tensor<2>, q: Tensor<2>) -> Tensor<1> {
    let [b, _] = p.dims();
    (p.clone() * (p.clamp_min(LOG_EPS).log() - q.clamp_min(LOG_EPS).log())).sum().div_scalar(b as f32)
}

/// Masked cross-entropy of probabilities `x` (`[B, K]`) against one-hot targets.
fn masked_ce(x: Tensor<2>, onehot: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    let count = mask.clone().sum().clamp_min(1.0);
    (x.clamp_min(LOG_EPS).log() * onehot * mask).sum().neg() / count
}

/// The whole objective of a contrastive-phase batch.
pub fn objective(xs: &[Tensor<2>], fwd: &Forward, params: &LossParams, labels: &LabelTargets) -> Objective {
    let device = fwd.t.device();
    let zero = || Tensor::<1>::zeros([1], &device);
    let w = &params.weights;
    let views = fwd.h.len();

    let rec = if w.rec.factor() > 0.0 { reconstruction(xs, &fwd.xr, &device) } else { zero() };
    let mut cluster = zero();
    let mut local = zero();
    for v in 0..views {
        for u in v + 1..views {
            if w.cluster.factor() > 0.0 {
                cluster = cluster + cluster_contrastive(fwd.q[v].clone(), fwd.q[u].clone(), params.temperature_l);
            }
            if w.local.factor() > 0.0 {
                local = local
                    + local_contrast(
                        fwd.h[v].clone(),
                        fwd.h[u].clone(),
                        fwd.q[v].clone(),
                        fwd.q[u].clone(),
                        params.temperature_f,
                        params.threshold,
                    );
            }
        }
    }
    let needs_p = w.kl.factor() > 0.0 || (w.label.factor() > 0.0 && matches!(labels, LabelTargets::Pseudo));
    let p = needs_p.then(|| {
        let source = match params.target {
            TargetSource::Vcf => fwd.t.clone(),
            TargetSource::Views => mean_assignment(&fwd.q).unwrap_or_else(|| fwd.t.clone()),
        };
        balance(target_distribution(source), params.sinkhorn_iters)
    });
    let mut kl = zero();
    if let Some(p) = p.as_ref().filter(|_| w.kl.factor() > 0.0) {
        kl = kl_divergence(p.clone(), fwd.t.clone());
        for q in &fwd.q {
            kl = kl + kl_divergence(p.clone(), q.clone());
        }
    }
    let mut label = zero();
    if w.label.factor() > 0.0 {
        let (onehot, mask) = match (labels, p.as_ref()) {
            (LabelTargets::Labelled { onehot, mask }, _) => ((**onehot).clone(), (**mask).clone()),
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
    let total = rec.clone().mul_scalar(w.rec.factor())
        + cluster.clone().mul_scalar(w.cluster.factor())
        + local.clone().mul_scalar(w.local.factor())
        + kl.clone().mul_scalar(w.kl.factor())
        + label.clone().mul_scalar(w.label.factor());
    let parts = Tensor::cat(vec![rec, cluster, local, kl, label, total.clone()], 0).detach();
    Objective { total, parts }
}

/// The pre-training objective: reconstruction only.
pub fn pretrain_objective(xs: &[Tensor<2>], xr: &[Tensor<2>], device: &Device) -> Objective {
    let rec = reconstruction(xs, xr, device);
    let z = Tensor::<1>::zeros([1], device);
    let parts = Tensor::cat(vec![rec.clone(), z.clone(), z.clone(), z.clone(), z, rec.clone()], 0).detach();
    Objective { total: rec, parts }
}
