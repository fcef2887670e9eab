//! One epoch's batch loop (gradients, optimiser step, divergence check, progress) and the
//! contrastive phase's adaptive steps around it (`w*`, pseudo-label refresh, ramps).

use std::time::Instant;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::run::FixedTarget;
use super::run::{EpochEnd, PROGRESS_EVERY, Run};
use super::{cosine_factor, lr_warmup_factor, step_factor, warmup_factor};
use crate::engine::adaptive::{self, PseudoLabels, RefreshParams};
use crate::engine::config::{ClusterSpace, PseudoSource};
use crate::engine::error::TrainError;
use crate::engine::predict::{Readings, evaluate_projected, evaluate_rows_with, projections, to_host};
use crate::engine::protocol::{AdaptiveReport, Event, LossTerm, Losses, Phase, Progress};
use crate::engine::step::{BatchGradients, StepKind, batch_gradients};
use crate::loss::{LabelTargets, LossParams, contrast_chance};
use crate::model::Cvc;

impl Run<'_> {
    /// The adaptive parts' state at the end of a contrastive epoch.
    pub(super) fn adaptive_report(&mut self, k: usize, positive_pairs: f64) -> AdaptiveReport {
        let b = self.cfg.batch_size.min(self.ds.n_samples());
        let (cluster_chance, local_chance) = contrast_chance(self.ds.n_views(), k, b, self.params.pairing);
        AdaptiveReport {
            view_target: self.current_view_target(),
            discrepancy: self.view_target.discrepancy().to_vec(),
            pseudo_fraction: self.pseudo.as_ref().map_or(0.0, PseudoLabels::confident_fraction),
            positive_pairs,
            pseudo_changed: self.pseudo_changed.take(),
            heads_changed: self.heads_changed.take(),
            pseudo_source: self.pseudo_source_used.take(),
            warm_start: self.warm_start_used.take(),
            clusters_reseeded: self.reseeded.take(),
            cluster_chance,
            local_chance,
        }
    }

    /// `w*` now (uniform with `adaptive_weights` off).
    pub(super) fn current_view_target(&self) -> Vec<f32> {
        let v = self.ds.n_views();
        if self.cfg.adaptive_weights {
            self.view_target.weights(self.cfg.weight_temperature)
        } else {
            vec![1.0 / v.max(1) as f32; v]
        }
    }

    /// Refreshes the pseudo labels (k-means on the weighted fused features, the heads' own
    /// assignment, or the more balanced of the two: `source`) and, with
    /// `move_centres`, moves the DEC centres to the refreshed clusters (see `engine::adaptive`).
    /// `untrained_heads` (the refresh that first places the centres): no k-means warm start.
    /// With `pseudo_refresh` = 0 only the centres are set (the phase's start) and no labels kept.
    pub(super) fn refresh_pseudo(
        &mut self,
        model: Cvc,
        ad: &Device,
        device: &Device,
        move_centres: bool,
        source: PseudoSource,
        untrained_heads: bool,
    ) -> Result<Cvc, TrainError> {
        let started = std::time::Instant::now();
        let mut model = model;
        // One pass of the encoders serves the centring's means and the evaluation.
        let rows: Vec<usize> = (0..self.ds.n_samples()).collect();
        let projected = projections(&model.valid(), &self.ds, &rows, device, self.cfg.batch_size)
            .map_err(TrainError::evaluation)?;
        if model.centring.is_some() {
            let means = adaptive::projection_means(&projected, model.projection.weight.val().dims()[1]);
            model = model.with_centring(&means, ad);
        }
        let eval =
            evaluate_projected(&model.valid(), &rows, &projected, device, self.cfg.batch_size, Readings::WithoutVcf)
                .map_err(TrainError::evaluation)?;
        let weights = self.current_view_target();
        let seed = self.cfg.seed ^ (self.epochs.len() as u64).wrapping_mul(0x9e37_79b9);
        let latents = match self.cfg.cluster_space {
            ClusterSpace::Zh => Some(
                adaptive::latents(&model.valid(), &self.ds, device, self.cfg.batch_size)
                    .map_err(TrainError::evaluation)?,
            ),
            _ => None,
        };
        let mut params = RefreshParams { source, ..RefreshParams::of(&self.cfg) };
        if untrained_heads {
            // Heads whose centres this refresh places have no partition worth starting k-means from.
            params.warm_start = None;
        }
        let fresh = adaptive::refresh(&eval, &weights, &eval.pred_mean, latents.as_deref(), &params, seed)
            .map_err(TrainError::evaluation)?;
        // The balanced rule moves the centres only with the k-means partition: the heads' own is
        // the centres' already, and moving them to its means is a Lloyd step on the heads, which
        // merged two of handwritten's digits where k-means alone did not (docs/RESULTS.md, session 23).
        // A partition with re-seeded clusters is no longer the heads' own, and moves them.
        let own_partition =
            source == PseudoSource::Balanced && fresh.source == PseudoSource::Heads && fresh.reseeded == 0;
        if move_centres && !own_partition {
            let (k, d) = (eval.k, eval.h_dim);
            let mut centres = to_host(model.dec.centers.val()).map_err(TrainError::device)?;
            for (j, c) in fresh.centres.iter().enumerate() {
                if let Some(c) = c {
                    centres[j * d..(j + 1) * d].copy_from_slice(c);
                }
            }
            model.dec = model.dec.with_centers(centres, k, d, ad);
        }
        if self.cfg.pseudo_refresh > 0 {
            let share = |old: &[usize], new: &[usize]| {
                old.iter().zip(new).filter(|(a, b)| a != b).count() as f64 / old.len().max(1) as f64
            };
            self.pseudo_changed = self.pseudo.as_ref().map(|old| share(&old.labels, &fresh.pseudo.labels));
            // The heads as the last epoch left them (before this refresh moves their centres);
            // centres keep their identities across refreshes, so the ids compare directly.
            let mut heads = vec![0; eval.rows.len()];
            for (&row, &cluster) in eval.rows.iter().zip(&eval.pred_mean) {
                heads[row] = cluster;
            }
            self.heads_changed = self.heads_labels.as_deref().map(|old| share(old, &heads));
            self.heads_labels = Some(heads);
            self.pseudo = Some(fresh.pseudo);
            self.pseudo_source_used = Some(fresh.source);
            self.warm_start_used = fresh.warm_start;
            self.reseeded = (self.cfg.min_cluster_share > 0.0).then_some(fresh.reseeded);
        }
        self.refresh_secs.push(started.elapsed().as_secs_f64());
        Ok(model)
    }

    /// Drops the labels a refresh before contrastive epoch `epoch` has just taken while the phase
    /// is still inside its `pseudo_delay`: features that have trained for fewer epochs give no
    /// labels. The refresh itself stands (centres, readings); the next refresh after the delay
    /// keeps its labels, and the stop compares labels from there on.
    pub(super) fn hold_pseudo_labels(&mut self, epoch: usize) {
        if epoch - 1 < self.cfg.pseudo_delay {
            self.pseudo = None;
            self.pseudo_changed = None;
        }
    }

    /// Recomputes DEC's fixed target `P` over every sample from the views' consensus `q`
    /// (`target_refresh`; seed 004's `update_interval`) and records the fraction of samples whose
    /// cluster changed since the previous one in `pseudo_changed`.
    pub(super) fn refresh_fixed_target(&mut self, model: &Cvc, device: &Device) -> Result<(), TrainError> {
        let rows: Vec<usize> = (0..self.ds.n_samples()).collect();
        let eval =
            evaluate_rows_with(&model.valid(), &self.ds, &rows, device, self.cfg.batch_size, Readings::WithoutVcf)
                .map_err(TrainError::evaluation)?;
        let (n, k) = (self.ds.n_samples(), eval.k);
        let weights = self.current_view_target();
        let mut consensus = vec![0f64; n * k];
        for (q, &w) in eval.q_views.iter().zip(&weights) {
            for (pos, &row) in eval.rows.iter().enumerate() {
                for j in 0..k {
                    consensus[row * k + j] += w as f64 * q[pos * k + j] as f64;
                }
            }
        }
        let labels: Vec<usize> = consensus
            .chunks_exact(k)
            .map(|r| r.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (j, &x)| if x > b.1 { (j, x) } else { b }).0)
            .collect();
        let p = crate::engine::update::centres::target(&consensus, k).into_iter().map(|x| x as f32).collect();
        self.pseudo_changed = self
            .fixed_target
            .as_ref()
            .map(|old| old.labels.iter().zip(&labels).filter(|(a, b)| a != b).count() as f64 / n.max(1) as f64);
        self.fixed_target = Some(FixedTarget { p, k, labels });
        Ok(())
    }

    /// The loss parameters of contrastive epoch `epoch` (1-based): `L_A` and `L_Q` ramp in
    /// linearly over the first `kl_warmup` epochs.
    fn ramped_params(&self, epoch: usize) -> LossParams {
        let mut p = self.params;
        let ramp = warmup_factor(epoch, self.cfg.kl_warmup);
        p.weights.kl.weight *= ramp;
        p.weights.label.weight *= ramp;
        p
    }

    fn eta(&self, phase: Phase, global_epoch: usize, batch: usize, n_batches: usize) -> f64 {
        let pre = self.batch_secs[0];
        let con = self.batch_secs[1].or(pre.map(|s| s * 1.6)).unwrap_or(0.0);
        let pre = pre.unwrap_or(0.0);
        let left_in_epoch = (n_batches - batch) as f64;
        let (pre_left, con_left) = match phase {
            Phase::Pretrain => (
                (self.cfg.mse_epochs - global_epoch) as f64 * n_batches as f64 + left_in_epoch,
                (self.cfg.con_epochs * n_batches) as f64,
            ),
            Phase::Contrastive => (
                0.0,
                (self.cfg.mse_epochs + self.cfg.con_epochs - global_epoch) as f64 * n_batches as f64 + left_in_epoch,
            ),
        };
        pre_left * pre + con_left * con
    }

    #[expect(clippy::too_many_arguments, reason = "one epoch's state, passed as is from `execute`'s loop")]
    pub(super) fn epoch(
        &mut self,
        mut model: Cvc,
        optim: &mut ModuleOptimizer,
        ad: &Device,
        device: &Device,
        phase: Phase,
        epoch: usize,
        global_epoch: usize,
        rng: &mut ChaCha8Rng,
        labelled: &[Option<usize>],
    ) -> Result<(Cvc, EpochEnd), TrainError> {
        let start = Instant::now();
        let n = self.ds.n_samples();
        let b = self.cfg.batch_size.min(n);
        let n_batches = n / b; // the seed drops the last partial batch
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let views = self.ds.n_views();
        let mut sums = [0f64; LossTerm::OBJECTIVE.len()];
        let mut weight_sums = vec![0f64; views];
        let (mut positive_pairs, mut all_pairs) = (0f64, 0f64);
        let mut lr_sum = 0f64;
        let k = model.dec.centers.val().dims()[0];
        let phase_ix = usize::from(phase == Phase::Contrastive);
        for bi in 0..n_batches {
            self.control(&model, device, global_epoch.saturating_sub(1));
            if self.ctl.stop {
                return Ok((model, EpochEnd::Stopped));
            }
            let t0 = Instant::now();
            let rows = &order[bi * b..(bi + 1) * b];
            let xs: Vec<Tensor<2>> = self
                .ds
                .views
                .iter()
                .map(|v| Tensor::<2>::from_data(TensorData::new(v.data.gather_rows(rows), [b, v.data.cols()]), ad))
                .collect();
            let step = match phase {
                Phase::Pretrain => batch_gradients(&model, &xs, StepKind::Pretrain, ad),
                Phase::Contrastive => {
                    let targets = if labelled.iter().any(Option::is_some) {
                        LabelTargets::labelled(&rows.iter().map(|&r| labelled[r]).collect::<Vec<_>>(), k, ad)
                    } else if let Some(pseudo) = &self.pseudo {
                        let mut per = vec![0f64; k];
                        pseudo.targets(rows).iter().flatten().for_each(|&c| per[c] += 1.0);
                        positive_pairs += per.iter().map(|c| c * (c - 1.0)).sum::<f64>();
                        all_pairs += (b * (b - 1)) as f64;
                        pseudo.batch_targets(rows, self.cfg.uncertainty_weighting, self.cfg.knn_weight, ad)
                    } else {
                        LabelTargets::Pseudo
                    };
                    let params = self.ramped_params(epoch);
                    let view_target = self.cfg.adaptive_weights.then(|| self.current_view_target());
                    let fixed = self.fixed_target.as_ref().map(|f| {
                        let rows_p: Vec<f32> =
                            rows.iter().flat_map(|&r| f.p[r * f.k..(r + 1) * f.k].iter().copied()).collect();
                        Box::new(Tensor::<2>::from_data(TensorData::new(rows_p, [b, f.k]), ad))
                    });
                    batch_gradients(
                        &model,
                        &xs,
                        StepKind::Contrastive {
                            params: &params,
                            labels: &targets,
                            view_target: view_target.as_deref(),
                            fixed_target: fixed,
                        },
                        ad,
                    )
                }
            };
            let BatchGradients { grads, objective: obj, weights } = step;
            let parts = to_host(obj.parts).map_err(TrainError::device)?;
            if phase == Phase::Contrastive && self.params.weights.kl.factor() > 0.0 {
                self.view_target.observe(&to_host(obj.view_kl).map_err(TrainError::device)?);
            }
            if let Some(bad) = parts.iter().position(|x| !x.is_finite()) {
                return Err(TrainError::Diverged {
                    term: LossTerm::OBJECTIVE[bad.min(LossTerm::OBJECTIVE.len() - 1)],
                    value: parts[bad],
                    phase,
                    epoch,
                    batch: bi + 1,
                    n_batches,
                    lr: self.lr,
                });
            }
            let lr = match phase {
                Phase::Contrastive => {
                    let per_epoch = n_batches.max(1);
                    let step = (epoch - 1) * per_epoch + bi;
                    let cosine =
                        if self.cfg.lr_cosine { cosine_factor(step, self.cfg.con_epochs * per_epoch) } else { 1.0 };
                    let warm = lr_warmup_factor(step, self.cfg.lr_warmup_epochs * per_epoch);
                    self.lr * cosine * warm * step_factor(epoch, self.cfg.lr_step_epochs, self.cfg.lr_step_gamma)
                }
                Phase::Pretrain => self.lr,
            };
            lr_sum += lr;
            model = optim.step(lr, model, grads);
            if phase == Phase::Contrastive && self.cfg.adaptive_weights {
                // The AFW reads the current `w*` as its sampling distribution (`AdaptiveWeighting::prior`).
                let target = self.current_view_target();
                model.afw = model.afw.with_prior(&target, ad);
            }
            for (s, p) in sums.iter_mut().zip(&parts) {
                *s += *p as f64;
            }
            match weights {
                Some(w) => {
                    for (s, x) in weight_sums.iter_mut().zip(to_host(w).map_err(TrainError::device)?) {
                        *s += x as f64;
                    }
                }
                None => weight_sums.iter_mut().for_each(|s| *s += 1.0 / views as f64),
            }
            let dt = t0.elapsed().as_secs_f64();
            let slot = &mut self.batch_secs[phase_ix];
            *slot = Some(slot.map_or(dt, |s| 0.9 * s + 0.1 * dt));
            if self.last_progress.elapsed() >= PROGRESS_EVERY || bi + 1 == n_batches {
                self.last_progress = Instant::now();
                let eta_secs = self.eta(phase, global_epoch, bi + 1, n_batches);
                self.send(Event::Progress(Progress {
                    phase,
                    epoch,
                    global_epoch,
                    total_epochs: self.cfg.mse_epochs + self.cfg.con_epochs,
                    batch: bi + 1,
                    n_batches,
                    eta_secs,
                }));
            }
        }
        let nb = n_batches.max(1) as f64;
        let losses = Losses::from_parts(&sums.map(|s| s / nb));
        let view_weights = weight_sums.iter().map(|s| (s / nb) as f32).collect();
        let positive_pairs = if all_pairs > 0.0 { positive_pairs / all_pairs } else { 0.0 };
        let secs = start.elapsed().as_secs_f64();
        Ok((model, EpochEnd::Done { losses, view_weights, secs, lr: lr_sum / nb, positive_pairs }))
    }
}
