//! Online updates of a trained CVC-AFWM checkpoint on new data (issue 15, the seed's
//! `online_update` made to work).
//!
//! The encoders, the projection, the view centring and the AFW are frozen (their weights are
//! written back bit for bit); only the shared DEC centres move. The update:
//!
//! 1. reads the network's features of the new data (and of the old data when it is given), the
//!    primary reading's input ([`centres::Features`]);
//! 2. expands the centres where new data lies farther than `threshold × r` from every centre, `r`
//!    the typical within-cluster distance (the median distance of the old data to its nearest
//!    centre, stored in the checkpoint at training time): the seed's rule (every far sample a
//!    centre) or the robust rule (far samples grouped by k-means, a centre per group of at least
//!    `min_size`, then moved by Lloyd steps on the new data with the old centres fixed, from the
//!    far edge of its class toward the middle of the samples nearest to it, as long as no more of
//!    the old data becomes nearest to a new centre);
//! 3. trains the centres for `iterations` passes over the new data in batches: SGD with momentum on
//!    `KL(P‖q)` (DEC's target `P`, refreshed from the whole new data before each pass), the old
//!    centres' gradient damped by `damping`, then the EWC penalty `λ Σ F (c − c_old)²` as an exact
//!    proximal step (`F`: the diagonal Fisher of the old centres, normalised to mean 1, stored at
//!    training time or estimated from the old data now);
//! 4. builds the new network: the DEC head with K' ≥ K centres; the VCF head's classifier gets K'
//!    outputs, the new ones with zero weights and a bias of −30, so the VCF reading of every
//!    sample is the old one (it knows only the old clusters: the update does not train it, and
//!    the primary reading, the DEC head's, is what the update reports);
//! 5. measures: drift (the fraction of the old data whose primary cluster changed), ACC/NMI on the
//!    old data before and after and on the new data, and each new cluster's size and purity.
//!
//! Writing the new checkpoint and recording the update as a run are the caller's (`runs::update`);
//! this module never touches the parent checkpoint.

pub mod centres;
pub mod expansion;
pub mod novelty;

use std::time::Instant;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::MultiViewDataset;
use crate::engine::checkpoint::Checkpoint;
use crate::engine::predict::{Evaluation, evaluate, evaluate_rows, stratified_sample, to_host, truth_of};
use crate::metrics;
use crate::model::{Cvc, ModelConfig};
use centres::Features;
use novelty::{Clusters, NoveltySpace};

/// How new clusters are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expansion {
    /// No new clusters.
    Off,
    /// The seed's rule: every new sample farther than the threshold from every centre becomes a
    /// centre of its own.
    Seed,
    /// Far samples are buffered and grouped by k-means; a group of at least `min_size` becomes
    /// one new centre.
    #[default]
    Robust,
}

impl std::str::FromStr for Expansion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" | "none" => Ok(Self::Off),
            "seed" => Ok(Self::Seed),
            "robust" => Ok(Self::Robust),
            o => Err(format!("unknown expansion rule {o:?}; use seed, robust or off")),
        }
    }
}

impl Expansion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Seed => "seed",
            Self::Robust => "robust",
        }
    }
}

/// An update's settings. Defaults: the seed's (`lr` 0.01, momentum 0.9, 50 passes, batches of
/// 256, damping 0.3), the robust rule at 1.5 × the typical within-cluster distance with groups of
/// at least 20, λ = 1 on the Fisher normalised to mean 1. (At 2 × no gauss3-noise sample of the
/// unseen class was far enough on the measured model; docs/RESULTS.md, issue 15.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateSettings {
    /// Passes over the new data.
    pub iterations: usize,
    pub learning_rate: f64,
    pub momentum: f64,
    pub batch_size: usize,
    /// λ of the EWC penalty (0: no anchoring).
    pub ewc_lambda: f64,
    /// Factor on the old centres' KL gradient (1: none; the seed's 0.3).
    pub damping: f64,
    pub expand: Expansion,
    /// The expansion threshold, in units of the typical within-cluster distance.
    pub threshold: f64,
    /// The robust rule's smallest group.
    pub min_size: usize,
    pub seed: u64,
}

impl Default for UpdateSettings {
    fn default() -> Self {
        UpdateSettings {
            iterations: 50,
            learning_rate: 0.01,
            momentum: 0.9,
            batch_size: 256,
            ewc_lambda: 1.0,
            damping: 0.3,
            expand: Expansion::Robust,
            threshold: 1.5,
            min_size: 20,
            seed: 0,
        }
    }
}

impl UpdateSettings {
    /// Checks every field; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_size == 0 {
            return Err("batch_size must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!("the learning rate must be a positive number, got {}", self.learning_rate));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(format!("momentum must lie in [0, 1), got {}", self.momentum));
        }
        if !(self.ewc_lambda.is_finite() && self.ewc_lambda >= 0.0) {
            return Err(format!("the EWC lambda must be a number ≥ 0, got {}", self.ewc_lambda));
        }
        if !(0.0..=1.0).contains(&self.damping) {
            return Err(format!("damping must lie in [0, 1], got {}", self.damping));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(format!("the expansion threshold must be a positive number, got {}", self.threshold));
        }
        if self.min_size == 0 {
            return Err("min_size must be at least 1".into());
        }
        Ok(())
    }
}

/// What a checkpoint keeps about its centres for later updates, measured on its training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CentreStats {
    /// Diagonal Fisher of the centres, row-major `k × dim`, not normalised.
    pub fisher: Vec<f32>,
    pub k: usize,
    pub dim: usize,
    /// Median distance of the training samples to their nearest centre.
    pub within_distance: f64,
    /// Samples it was measured on (a stratified sample of at most [`STATS_SAMPLES`]).
    pub samples: usize,
}

/// The most samples [`centre_stats`] measures.
pub const STATS_SAMPLES: usize = 2000;

/// The features of an evaluation that the primary reading assigns: the consensus
/// `normalize(Σ_v w_v h_v)` for networks since issue 13, each view's `h_v` before.
pub fn features(eval: &Evaluation, residual: bool) -> Features {
    let n = eval.rows.len();
    let dim = eval.h_dim;
    if !residual {
        return Features { sets: eval.h.clone(), n, dim };
    }
    let mut c = vec![0f32; n * dim];
    for (hv, &w) in eval.h.iter().zip(&eval.view_weights) {
        for (o, x) in c.iter_mut().zip(hv) {
            *o += w * x;
        }
    }
    for row in c.chunks_exact_mut(dim.max(1)) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|x| *x /= norm);
    }
    Features { sets: vec![c], n, dim }
}

fn centres_of(network: &Cvc) -> Result<(Vec<f64>, usize, usize), String> {
    let t = network.dec.centers.val();
    let [k, dim] = t.dims();
    Ok((to_host(t)?.into_iter().map(f64::from).collect(), k, dim))
}

/// The Fisher and the within-cluster distance of a network's centres on (a stratified sample of
/// at most [`STATS_SAMPLES`] of) a dataset: what a checkpoint stores for its updates.
pub fn centre_stats(
    network: &Cvc,
    ds: &MultiViewDataset,
    device: &Device,
    batch: usize,
) -> Result<CentreStats, String> {
    let rows = stratified_sample(ds.label_ids(), ds.n_samples(), STATS_SAMPLES, 0);
    let eval = evaluate_rows(network, ds, &rows, device, batch)?;
    let f = features(&eval, network.afw.residual);
    let (c, k, dim) = centres_of(network)?;
    let kappa = f64::from(network.dec.kernel_scale);
    Ok(CentreStats {
        fisher: centres::fisher(&f, &c, k, kappa).into_iter().map(|v| v as f32).collect(),
        k,
        dim,
        within_distance: centres::within_distance(&f.points(), dim, &c, k),
        samples: rows.len(),
    })
}

/// A cluster the update added, measured on the new data after the update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCluster {
    /// Its index among the model's clusters (≥ the old K).
    pub cluster: usize,
    /// New samples assigned to it.
    pub size: usize,
    /// Fraction of them in its majority class (`None` when it is empty or the data unlabelled).
    pub purity: Option<f64>,
    /// That class's name.
    pub majority: Option<String>,
}

/// One pass of the update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdatePoint {
    pub iteration: usize,
    /// Mean `KL(P‖q)` over the new data during the pass.
    pub kl: f64,
    /// The EWC penalty at the end of the pass.
    pub ewc: f64,
    /// The largest distance an old centre has moved from where it was.
    pub old_shift: f64,
}

/// Everything an update measured (`update --json` prints its headline fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateReport {
    /// Fraction of the old data whose primary cluster changed (`None` without old data).
    pub drift_old: Option<f64>,
    pub acc_old_before: Option<f64>,
    pub acc_old_after: Option<f64>,
    pub nmi_old_before: Option<f64>,
    pub nmi_old_after: Option<f64>,
    /// On the new data, after the update (`None` when it is unlabelled).
    pub acc_new: Option<f64>,
    pub nmi_new: Option<f64>,
    pub acc_new_before: Option<f64>,
    pub clusters_before: usize,
    pub clusters_after: usize,
    pub new_clusters: Vec<NewCluster>,
    pub n_new: usize,
    pub n_old: Option<usize>,
    /// New samples farther than the threshold from every centre before the update.
    pub far_samples: usize,
    /// The typical within-cluster distance `r` and the threshold distance `threshold × r` (in the
    /// centred space: the distance within which far samples are grouped, `threshold ×` the widest
    /// cluster's radius).
    pub within_distance: f64,
    pub threshold_distance: f64,
    /// Where novelty was measured (reports from before it existed: the heads').
    #[serde(default)]
    pub novelty_space: NoveltySpace,
    /// In the centred space, each old cluster's radius (empty in the heads' space).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_radii: Vec<f64>,
    /// Where the Fisher came from: `checkpoint`, `old data` (estimated now) or `none`.
    pub fisher_source: String,
    /// The largest distance an old centre moved.
    pub old_shift: f64,
    pub curve: Vec<UpdatePoint>,
    pub secs: f64,
    pub settings: UpdateSettings,
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.4}"))
}

impl UpdateReport {
    /// The report as a few lines of plain text (the `update` command and the app).
    pub fn summary_lines(&self) -> Vec<String> {
        let headline = match self.novelty_space {
            NoveltySpace::Heads => format!(
                "clusters: {} -> {} ({} new sample(s) beyond {:.3} = {} x the typical within-cluster distance {:.3})",
                self.clusters_before,
                self.clusters_after,
                self.far_samples,
                self.threshold_distance,
                self.settings.threshold,
                self.within_distance
            ),
            NoveltySpace::Centred => format!(
                "clusters: {} -> {} ({} new sample(s) beyond {} x every old cluster's radius in the centred contrast \
                 space; radii {})",
                self.clusters_before,
                self.clusters_after,
                self.far_samples,
                self.settings.threshold,
                self.cluster_radii.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", ")
            ),
        };
        let mut out = vec![
            headline,
            format!(
                "old data: drift {}, ACC {} -> {}, NMI {} -> {}",
                opt(self.drift_old),
                opt(self.acc_old_before),
                opt(self.acc_old_after),
                opt(self.nmi_old_before),
                opt(self.nmi_old_after)
            ),
            format!(
                "new data ({} samples): ACC {} -> {}, NMI {}",
                self.n_new,
                opt(self.acc_new_before),
                opt(self.acc_new),
                opt(self.nmi_new)
            ),
        ];
        for c in &self.new_clusters {
            out.push(format!(
                "new cluster {}: {} samples, purity {}{}",
                c.cluster,
                c.size,
                opt(c.purity),
                c.majority.as_ref().map(|m| format!(" (mostly {m})")).unwrap_or_default()
            ));
        }
        out.push(format!(
            "EWC: lambda {} (Fisher from the {}), largest old-centre shift {:.4}; {} pass(es) in {:.2} s",
            self.settings.ewc_lambda, self.fisher_source, self.old_shift, self.settings.iterations, self.secs
        ));
        out
    }
}

/// Why an update could not run.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("invalid update setting: {0}")]
    Settings(String),
    #[error("the new data does not fit the checkpoint {path}: {}", why.join("; "))]
    Shape { path: std::path::PathBuf, why: Vec<String> },
    #[error("the old data does not fit the checkpoint {path}: {}", why.join("; "))]
    OldShape { path: std::path::PathBuf, why: Vec<String> },
    #[error(transparent)]
    Checkpoint(#[from] crate::engine::checkpoint::CheckpointError),
    #[error("evaluating the network failed: {0}")]
    Evaluation(String),
}

/// The updated network and what the update measured.
#[derive(Debug)]
pub struct Updated {
    pub network: Cvc,
    pub model: ModelConfig,
    pub report: UpdateReport,
    /// The new checkpoint's stats, measured on the old and new data together.
    pub stats: CentreStats,
    /// The updated network's evaluation of the new data.
    pub new_eval: Evaluation,
}

/// Runs an update of `ck`'s network (`network`, loaded on `device`) on `new` data, with the old
/// data when known. Nothing is written.
pub fn update_network(
    ck: &Checkpoint,
    network: Cvc,
    new: &MultiViewDataset,
    old: Option<&MultiViewDataset>,
    s: &UpdateSettings,
    device: &Device,
) -> Result<Updated, UpdateError> {
    let start = Instant::now();
    s.validate().map_err(UpdateError::Settings)?;
    let (hard, _) = ck.differences(new);
    if !hard.is_empty() {
        return Err(UpdateError::Shape { path: ck.dir.clone(), why: hard });
    }
    if let Some(o) = old {
        let (hard, _) = ck.differences(o);
        if !hard.is_empty() {
            return Err(UpdateError::OldShape { path: ck.dir.clone(), why: hard });
        }
    }
    let batch = ck.config.batch_size.max(1);
    let residual = network.afw.residual;
    let kappa = f64::from(network.dec.kernel_scale);
    let ev = UpdateError::Evaluation;
    let new_before = evaluate(&network, new, device, batch).map_err(ev)?;
    let old_before = old.map(|o| evaluate(&network, o, device, batch)).transpose().map_err(ev)?;
    let f_new = features(&new_before, residual);
    let f_old = old_before.as_ref().map(|e| features(e, residual));
    let (c_old, k, dim) = centres_of(&network).map_err(ev)?;

    // The Fisher and the typical within-cluster distance of the old centres.
    let stored = ck.meta.centre_stats.as_ref().filter(|st| st.k == k && st.dim == dim && st.fisher.len() == k * dim);
    let (fisher_raw, within, fisher_source) = match (stored, &f_old) {
        (Some(st), _) => (st.fisher.iter().map(|&v| f64::from(v)).collect(), st.within_distance, "checkpoint"),
        (None, Some(fo)) => {
            (centres::fisher(fo, &c_old, k, kappa), centres::within_distance(&fo.points(), dim, &c_old, k), "old data")
        }
        (None, None) => (vec![0.0; k * dim], centres::within_distance(&f_new.points(), dim, &c_old, k), "none"),
    };
    let mean_f = fisher_raw.iter().sum::<f64>() / fisher_raw.len().max(1) as f64;
    let fisher: Vec<f64> = fisher_raw.iter().map(|v| if mean_f > 0.0 { v / mean_f } else { 0.0 }).collect();

    // Expansion: the far samples are found in the novelty space; the new centres are placed at
    // their points in the heads' space (where the primary reading assigns).
    let points = f_new.points();
    let space = NoveltySpace::of(&network);
    let centred;
    let (far, novelty_points, old_means, limit, radii): (Vec<usize>, &[f32], Vec<f64>, f64, Vec<f64>) = match space {
        NoveltySpace::Heads => {
            let limit = s.threshold * within;
            (expansion::far_samples(&points, dim, &c_old, k, limit), &points, c_old.clone(), limit, Vec::new())
        }
        NoveltySpace::Centred => {
            // The old clusters measured on the old data (the new data's own assignment without it),
            // with the training-time view weights.
            let reference = old_before.as_ref().unwrap_or(&new_before);
            let weights = &reference.view_weights;
            centred = novelty::centred_points(&network, new, weights, device, batch).map_err(ev)?;
            let clusters = match old {
                Some(o) => {
                    let old_points = novelty::centred_points(&network, o, weights, device, batch).map_err(ev)?;
                    Clusters::measure(&old_points, dim, &reference.pred_mean, k)
                }
                None => Clusters::measure(&centred, dim, &reference.pred_mean, k),
            };
            // A new class as spread as the widest old cluster is still one group.
            let far = clusters.far(&centred, s.threshold);
            (far, &centred, clusters.means(), s.threshold * clusters.widest(), clusters.radii())
        }
    };
    let groups = match s.expand {
        Expansion::Robust => expansion::robust_groups(novelty_points, dim, &far, &old_means, limit, s.min_size, s.seed),
        _ => Vec::new(),
    };
    let added = match s.expand {
        Expansion::Off => Vec::new(),
        Expansion::Seed => expansion::seed_rule(&points, dim, &far),
        Expansion::Robust => groups.iter().map(|g| centres::mean_of(&points, dim, g)).collect(),
    };
    let k_new = k + added.len();
    let mut c: Vec<f64> = c_old.iter().copied().chain(added.into_iter().flatten()).collect();
    if s.expand == Expansion::Robust && k_new > k {
        let guard = f_old.as_ref().map(Features::points).unwrap_or_default();
        expansion::keep_off_old(&points, &far, &guard, dim, &mut c, k);
        expansion::refine_new(&points, &guard, dim, &mut c, k, 20);
    }

    // Training the centres.
    let mut velocity = vec![0f64; c.len()];
    let mut order: Vec<usize> = (0..f_new.n).collect();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(s.seed ^ 0x0417_u64);
    let mut curve = Vec::with_capacity(s.iterations);
    let old_len = k * dim;
    for iteration in 1..=s.iterations {
        let p_all = centres::target(&centres::assign(&f_new, &c, k_new, kappa), k_new);
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
        let mut kl_sum = 0.0;
        for rows in order.chunks(s.batch_size) {
            let p: Vec<f64> = rows.iter().flat_map(|&i| p_all[i * k_new..(i + 1) * k_new].iter().copied()).collect();
            let (kl, mut g) = centres::kl_gradient(&f_new, rows, &p, &c, k_new, kappa);
            kl_sum += kl;
            let scale = 1.0 / rows.len() as f64;
            for (idx, gv) in g.iter_mut().enumerate() {
                *gv *= scale;
                if idx < old_len {
                    *gv *= s.damping;
                }
            }
            for ((cv, vv), gv) in c.iter_mut().zip(velocity.iter_mut()).zip(&g) {
                *vv = s.momentum * *vv + gv;
                *cv -= s.learning_rate * *vv;
            }
            if s.ewc_lambda > 0.0 {
                centres::ewc_prox(&mut c[..old_len], &c_old, &fisher, s.ewc_lambda, s.learning_rate);
            }
        }
        curve.push(UpdatePoint {
            iteration,
            kl: kl_sum / f_new.n.max(1) as f64,
            ewc: centres::ewc_penalty(&c[..old_len], &c_old, &fisher, s.ewc_lambda),
            old_shift: max_shift(&c[..old_len], &c_old, dim),
        });
    }

    // A new centre that wins none of the new data is no class.
    let (c, k_new) = expansion::drop_empty_new(&f_new, c, k, k_new, kappa);

    // The new network.
    let values: Vec<f32> = c.iter().map(|&v| v as f32).collect();
    let mut network = network;
    network.dec = network.dec.with_centers(values, k_new, dim, device);
    if k_new > k {
        network.vcf.cluster = expand_classifier(network.vcf.cluster, k, k_new, device).map_err(ev)?;
    }
    let model = ModelConfig { n_clusters: k_new, ..ck.meta.model.clone() };

    // Measurements, from the new network's own evaluation.
    let new_after = evaluate(&network, new, device, batch).map_err(ev)?;
    let old_after = old.map(|o| evaluate(&network, o, device, batch)).transpose().map_err(ev)?;
    let truth_new = truth_of(new, &new_after.rows);
    let score = |e: &Evaluation, t: &Option<Vec<usize>>| t.as_ref().map(|t| metrics::scores(&e.pred_mean, t));
    let (before_new, after_new) = (score(&new_before, &truth_new), score(&new_after, &truth_new));
    let (mut acc_old_before, mut acc_old_after, mut nmi_old_before, mut nmi_old_after, mut drift) =
        (None, None, None, None, None);
    if let (Some(o), Some(b), Some(a)) = (old, &old_before, &old_after) {
        let changed = b.pred_mean.iter().zip(&a.pred_mean).filter(|(x, y)| x != y).count();
        drift = Some(changed as f64 / b.pred_mean.len().max(1) as f64);
        let t = truth_of(o, &b.rows);
        if let (Some(sb), Some(sa)) = (score(b, &t), score(a, &t)) {
            (acc_old_before, nmi_old_before, acc_old_after, nmi_old_after) =
                (Some(sb.acc), Some(sb.nmi), Some(sa.acc), Some(sa.nmi));
        }
    }
    let new_clusters = (k..k_new)
        .map(|j| {
            let members: Vec<usize> =
                new_after.pred_mean.iter().enumerate().filter(|(_, p)| **p == j).map(|(i, _)| i).collect();
            let (purity, majority) = match (&truth_new, members.is_empty()) {
                (Some(t), false) => {
                    let mut counts = std::collections::BTreeMap::<usize, usize>::new();
                    for &i in &members {
                        *counts.entry(t[i]).or_default() += 1;
                    }
                    let (&cls, &cnt) = counts.iter().max_by_key(|(_, c)| **c).unwrap_or((&0, &0));
                    (Some(cnt as f64 / members.len() as f64), new.labels.as_ref().map(|l| l.class_name(cls)))
                }
                _ => (None, None),
            };
            NewCluster { cluster: j, size: members.len(), purity, majority }
        })
        .collect();

    // The new checkpoint's stats, on everything it has seen.
    let mut f_all = features(&new_after, residual);
    if let Some(oa) = &old_after {
        let fo = features(oa, residual);
        for (s_all, s_old) in f_all.sets.iter_mut().zip(fo.sets) {
            s_all.extend(s_old);
        }
        f_all.n += fo.n;
    }
    let stats = CentreStats {
        fisher: centres::fisher(&f_all, &c, k_new, kappa).into_iter().map(|v| v as f32).collect(),
        k: k_new,
        dim,
        within_distance: within,
        samples: f_all.n,
    };
    let report = UpdateReport {
        drift_old: drift,
        acc_old_before,
        acc_old_after,
        nmi_old_before,
        nmi_old_after,
        acc_new: after_new.map(|x| x.acc),
        nmi_new: after_new.map(|x| x.nmi),
        acc_new_before: before_new.map(|x| x.acc),
        clusters_before: k,
        clusters_after: k_new,
        new_clusters,
        n_new: new.n_samples(),
        n_old: old.map(MultiViewDataset::n_samples),
        far_samples: far.len(),
        within_distance: within,
        threshold_distance: limit,
        novelty_space: space,
        cluster_radii: radii,
        fisher_source: fisher_source.into(),
        old_shift: max_shift(&c[..old_len], &c_old, dim),
        curve,
        secs: start.elapsed().as_secs_f64(),
        settings: s.clone(),
    };
    Ok(Updated { network, model, report, stats, new_eval: new_after })
}

fn max_shift(c: &[f64], old: &[f64], dim: usize) -> f64 {
    c.chunks_exact(dim)
        .zip(old.chunks_exact(dim))
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt())
        .fold(0.0, f64::max)
}

/// The VCF classifier with `k_new − k` more outputs: zero weights and a bias of −30 (softmax
/// weight e⁻³⁰ against the old outputs), so the old outputs' probabilities are unchanged.
fn expand_classifier(
    linear: burn::nn::Linear,
    k: usize,
    k_new: usize,
    device: &Device,
) -> Result<burn::nn::Linear, String> {
    let w = linear.weight.val();
    let [a, b] = w.dims();
    let extra = k_new - k;
    let weight = if b == k {
        Tensor::cat(vec![w, Tensor::<2>::zeros([a, extra], device)], 1)
    } else if a == k {
        Tensor::cat(vec![w, Tensor::<2>::zeros([extra, b], device)], 0)
    } else {
        return Err(format!("the VCF classifier is {a}x{b}, neither side is the {k} clusters"));
    };
    let bias = match linear.bias {
        Some(bias) => {
            let mut values = to_host(bias.val())?;
            values.extend(std::iter::repeat_n(-30.0f32, extra));
            Some(Param::from_tensor(Tensor::<1>::from_data(TensorData::new(values, [k_new]), device)))
        }
        None => None,
    };
    Ok(burn::nn::Linear { weight: Param::from_tensor(weight), bias })
}
