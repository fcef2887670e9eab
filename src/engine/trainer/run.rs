//! One training run: its state, the two phases in order, and how it ends (summary, checkpoint).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use crossbeam_channel::{Receiver, Sender};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{adam, sgd};
use crate::data::MultiViewDataset;
use crate::engine::adaptive::{PseudoLabels, ViewTarget};
use crate::engine::checkpoint::{self, CheckpointMeta};
use crate::engine::config::{CentroidInit, ModelFamily, OptimizerKind, PseudoSource, TrainConfig};
use crate::engine::control::Control;
use crate::engine::device::{ResolvedDevice, resolve};
use crate::engine::error::TrainError;
use crate::engine::predict::{evaluate, evaluate_rows, metrics_report, snapshot_from, stratified_sample, truth_of};
use crate::engine::protocol::{
    AdaptiveReport, Command, Convergence, EpochReport, Event, LiveParams, Losses, MetricsReport, Phase, RunSummary,
};
use crate::loss::LossParams;
use crate::model::{Cvc, ModelConfig};

/// Minimum time between two `Progress` events.
pub(super) const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The state of one training run.
pub(super) struct Run<'a> {
    pub(super) ds: Arc<MultiViewDataset>,
    pub(super) cfg: TrainConfig,
    pub(super) out_dir: Option<PathBuf>,
    /// Commands in, events out; pause, stop and snapshot requests.
    pub(super) ctl: Control<'a>,
    pub(super) lr: f64,
    pub(super) params: LossParams,
    pub(super) epochs: Vec<EpochReport>,
    pub(super) metrics: Vec<MetricsReport>,
    pub(super) last_checkpoint: Option<PathBuf>,
    pub(super) last_progress: Instant,
    /// Mean seconds per batch of each phase so far (for the ETA).
    pub(super) batch_secs: [Option<f64>; 2],
    pub(super) device_name: String,
    /// The smoothed view discrepancies behind `w*`.
    pub(super) view_target: ViewTarget,
    /// The refreshed pseudo labels (none before the first refresh or with the refresh off).
    pub(super) pseudo: Option<PseudoLabels>,
    /// Fraction of pseudo labels the last refresh changed, until the epoch reports it.
    pub(super) pseudo_changed: Option<f64>,
    /// The share of samples whose heads' assignment changed at the last pseudo-label refresh,
    /// and that assignment (in sample order) for the next one to compare with.
    pub(super) heads_changed: Option<f64>,
    pub(super) heads_labels: Option<Vec<usize>>,
    /// The source of the last refresh's labels, until the epoch's report takes it.
    pub(super) pseudo_source_used: Option<PseudoSource>,
    /// The warm-started k-means of the last refresh (`pseudo_warm_start`), reported with the epoch.
    pub(super) warm_start_used: Option<crate::engine::adaptive::WarmStart>,
    /// Clusters the last refresh re-seeded (`min_cluster_share`), for the epoch's report.
    pub(super) reseeded: Option<usize>,
    /// DEC's target `P` held fixed between refreshes (`target_refresh` > 0).
    pub(super) fixed_target: Option<FixedTarget>,
    /// Set when the fixed target's refresh found the clusters settled (`stop_tolerance`).
    pub(super) converged: Option<Convergence>,
    /// Seconds of each pseudo-label refresh so far ([`RunSummary::refresh_secs`]).
    pub(super) refresh_secs: Vec<f64>,
}

/// DEC's target over every sample, recomputed every `target_refresh` contrastive epochs.
pub(super) struct FixedTarget {
    /// Row-major `n × k`, indexed by dataset row.
    pub(super) p: Vec<f32>,
    pub(super) k: usize,
    /// The assignment (argmax of the consensus `q`) when it was computed.
    pub(super) labels: Vec<usize>,
}

/// What the batch loop of an epoch ended with.
pub(super) enum EpochEnd {
    Done { losses: Losses, view_weights: Vec<f32>, secs: f64, lr: f64, positive_pairs: f64 },
    Stopped,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        ds: Arc<MultiViewDataset>,
        cfg: TrainConfig,
        out_dir: Option<PathBuf>,
        cmd_rx: &'a Receiver<Command>,
        ev_tx: &'a Sender<Event>,
    ) -> Self {
        let params = LossParams {
            weights: cfg.loss,
            temperature_f: cfg.temperature_f,
            temperature_l: cfg.temperature_l,
            threshold: cfg.threshold,
            confidence: cfg.confidence,
            target: cfg.target_source,
            sinkhorn_iters: cfg.sinkhorn_iters,
            pairing: cfg.contrast_pairing,
            contrast_scale: cfg.contrast_scale,
        };
        Run {
            lr: cfg.learning_rate,
            params,
            ds,
            cfg,
            out_dir,
            ctl: Control::new(cmd_rx, ev_tx),
            epochs: Vec::new(),
            metrics: Vec::new(),
            last_checkpoint: None,
            last_progress: Instant::now() - PROGRESS_EVERY,
            batch_secs: [None, None],
            device_name: String::new(),
            view_target: ViewTarget::new(0),
            pseudo: None,
            pseudo_changed: None,
            heads_changed: None,
            heads_labels: None,
            pseudo_source_used: None,
            warm_start_used: None,
            reseeded: None,
            fixed_target: None,
            converged: None,
            refresh_secs: Vec::new(),
        }
    }

    pub(super) fn send(&self, e: Event) {
        self.ctl.send(e);
    }

    /// Applies a live-parameter update and answers it.
    fn live(&mut self, p: LiveParams) {
        match self.apply_live(&p) {
            Ok(()) => self.send(Event::ParamsApplied(p)),
            Err(why) => self.send(Event::Warning(format!("live parameters not applied: {why}"))),
        }
    }

    fn apply_live(&mut self, p: &LiveParams) -> Result<(), String> {
        let mut check = self.cfg.clone();
        if let Some(lr) = p.learning_rate {
            check.learning_rate = lr;
        }
        if let Some(t) = p.threshold {
            check.threshold = t;
        }
        if let Some(t) = p.temperature_f {
            check.temperature_f = t;
        }
        if let Some(t) = p.temperature_l {
            check.temperature_l = t;
        }
        if let Some(g) = p.weight_temperature {
            check.weight_temperature = g;
        }
        if let Some(w) = p.knn_weight {
            check.knn_weight = w;
        }
        if let Some(l) = p.loss {
            check.loss = l;
        }
        check.validate()?;
        self.cfg = check;
        if p.learning_rate.is_some() {
            // The rate of the phase now running (pre-training may have its own, `pretrain_learning_rate`).
            self.lr = self.cfg.learning_rate;
        }
        self.params.threshold = self.cfg.threshold;
        self.params.temperature_f = self.cfg.temperature_f;
        self.params.temperature_l = self.cfg.temperature_l;
        self.params.weights = self.cfg.loss;
        Ok(())
    }

    /// Drains pending commands; while paused, waits here (serving snapshots).
    pub(super) fn control(&mut self, model: &Cvc, device: &Device, global_epoch: usize) {
        loop {
            for p in self.ctl.drain() {
                self.live(p);
            }
            if std::mem::take(&mut self.ctl.snapshot_requested) {
                self.send_snapshot(model, device, global_epoch);
            }
            if !self.ctl.holding() {
                return;
            }
            if let Some(p) = self.ctl.wait() {
                self.live(p);
            }
        }
    }

    pub(super) fn send_snapshot(&self, model: &Cvc, device: &Device, global_epoch: usize) {
        let rows =
            stratified_sample(self.ds.label_ids(), self.ds.n_samples(), self.cfg.snapshot_points.max(1), self.cfg.seed);
        match evaluate_rows(&model.valid(), &self.ds, &rows, device, self.cfg.batch_size) {
            Ok(eval) => self.send(Event::Snapshot(Box::new(snapshot_from(&eval, &self.ds, global_epoch)))),
            Err(why) => self.send(Event::Warning(format!("the embedding snapshot failed: {why}"))),
        }
    }

    pub(super) fn execute(&mut self) -> Result<RunSummary, TrainError> {
        self.cfg.validate().map_err(TrainError::settings)?;
        if let Some(names) = &self.cfg.views {
            let selected = self.ds.select_views(names).map_err(|e| TrainError::data(e.to_string()))?;
            self.ds = Arc::new(selected);
        }
        if self.cfg.model == ModelFamily::Dec && self.ds.n_views() != 1 {
            return Err(TrainError::settings(format!(
                "the DEC model trains on one view, and {} has {} ({}); choose one (train --views {}, or the \
                 training panel's View)",
                self.ds.name,
                self.ds.n_views(),
                self.ds.views.iter().map(|v| v.source.as_str()).collect::<Vec<_>>().join(", "),
                self.ds.views.first().map_or("X1", |v| v.source.as_str())
            )));
        }
        let k = check_data(&self.ds, self.cfg.n_clusters)?;
        let ResolvedDevice { device, description, note, .. } = resolve(self.cfg.device).map_err(TrainError::device)?;
        self.device_name = description.clone();
        let ad = device.clone().autodiff();
        let mut model_cfg = self.cfg.model_config(self.ds.view_dims(), k);
        model_cfg.validate().map_err(TrainError::settings)?;
        let (mut model, centres_trained) = match self.cfg.init_from.clone() {
            Some(dir) => self.initial_weights(&dir, &mut model_cfg, &ad)?,
            None => (model_cfg.init_seeded(&ad, self.cfg.seed), false),
        };
        self.view_target = ViewTarget::new(self.ds.n_views());
        let mut optim = adam(&self.cfg);
        self.lr = self.cfg.pretrain_learning_rate.unwrap_or(self.cfg.learning_rate);
        let total_epochs = self.cfg.mse_epochs + self.cfg.con_epochs;
        self.send(Event::Started {
            device: description,
            device_note: note,
            n_params: model.num_params(),
            total_epochs,
        });

        let labelled = self.labelled_subset();
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        let mut global_epoch = 0usize;
        let mut last_weights = vec![1.0 / self.ds.n_views() as f32; self.ds.n_views()];

        if self.cfg.mse_epochs > 0 {
            self.send(Event::Phase(Phase::Pretrain));
        }
        for epoch in 1..=self.cfg.mse_epochs {
            global_epoch += 1;
            let (trained, end) =
                self.epoch(model, &mut optim, &ad, &device, Phase::Pretrain, epoch, global_epoch, &mut rng, &labelled)?;
            model = trained;
            match end {
                EpochEnd::Stopped => {
                    return self.finish(&model, &device, &model_cfg, global_epoch - 1, last_weights, true);
                }
                EpochEnd::Done { losses, view_weights, secs, lr, .. } => {
                    let timing = (secs, lr);
                    self.record_epoch(Phase::Pretrain, epoch, global_epoch, losses, view_weights.clone(), timing, None);
                    last_weights = view_weights;
                }
            }
        }
        if self.cfg.con_epochs == 0 {
            return self.finish(&model, &device, &model_cfg, global_epoch, last_weights, false);
        }
        let init_centres = self.cfg.centroid_init == CentroidInit::KmeansPlusPlus && !centres_trained;
        if init_centres || self.cfg.pseudo_refresh > 0 || (model.centring.is_some() && !centres_trained) {
            // Untrained heads have nothing to give: their first labels and centres come from k-means.
            let source = if init_centres { PseudoSource::Kmeans } else { self.cfg.pseudo_source };
            model = self.refresh_pseudo(model, &ad, &device, init_centres, source, init_centres)?;
            self.hold_pseudo_labels(1);
        }
        self.lr = self.cfg.learning_rate;
        if self.cfg.con_optimizer == OptimizerKind::Sgd {
            optim = sgd(&self.cfg);
        } else if self.cfg.fresh_optimizer {
            optim = adam(&self.cfg);
        }
        self.send(Event::Phase(Phase::Contrastive));
        for epoch in 1..=self.cfg.con_epochs {
            global_epoch += 1;
            let every = self.cfg.pseudo_refresh;
            // The network as the last epoch left it: a stop below ends the run with it, not with the
            // centres a pseudo-label refresh has just moved (the readings every `eval_every` epochs
            // are taken before the refreshes too, so the final one continues their series).
            let mut trained = None;
            // The share of samples a refresh at this epoch found in another cluster than the
            // previous refresh did: DEC's (and seed 004's) `tol` reads it, label-free.
            let mut changed = None;
            if every > 0 && epoch > 1 && (epoch - 1).is_multiple_of(every) {
                if self.cfg.stop_tolerance > 0.0 {
                    trained = Some(model.clone());
                }
                model =
                    self.refresh_pseudo(model, &ad, &device, self.cfg.refresh_centres, self.cfg.pseudo_source, false)?;
                self.hold_pseudo_labels(epoch);
                // Both the pseudo labels and the heads' own assignment must have settled (on an
                // easy set the k-means labels hold from the start while the heads still catch up).
                changed = self.pseudo_changed.zip(self.heads_changed).map(|(p, h)| p.max(h));
            }
            let every = self.cfg.target_refresh;
            if every > 0 && (epoch - 1).is_multiple_of(every) {
                self.refresh_fixed_target(&model, &device)?;
                changed = self.pseudo_changed.filter(|_| epoch > 1);
            }
            // The phase ends before this epoch trains.
            if let Some(changed) = changed
                && changed < self.cfg.stop_tolerance
            {
                self.pseudo_changed = None;
                self.heads_changed = None;
                self.converged = Some(Convergence { epoch, changed });
                let model = trained.unwrap_or(model);
                return self.finish(&model, &device, &model_cfg, global_epoch - 1, last_weights, false);
            }
            let (trained, end) = self.epoch(
                model,
                &mut optim,
                &ad,
                &device,
                Phase::Contrastive,
                epoch,
                global_epoch,
                &mut rng,
                &labelled,
            )?;
            model = trained;
            match end {
                EpochEnd::Stopped => {
                    return self.finish(&model, &device, &model_cfg, global_epoch - 1, last_weights, true);
                }
                EpochEnd::Done { losses, view_weights, secs, lr, positive_pairs } => {
                    let adaptive = self.adaptive_report(k, positive_pairs);
                    self.record_epoch(
                        Phase::Contrastive,
                        epoch,
                        global_epoch,
                        losses,
                        view_weights.clone(),
                        (secs, lr),
                        Some(adaptive),
                    );
                    last_weights = view_weights;
                }
            }
            let last = epoch == self.cfg.con_epochs;
            if !last && epoch % self.cfg.eval_every == 0 {
                let m = self.evaluate_metrics(&model, &device, global_epoch)?;
                if let Some(m) = &m {
                    self.metrics.push(m.clone());
                    self.send(Event::Metrics(m.clone()));
                }
                self.save_checkpoint(&model, &model_cfg, global_epoch, m, &last_weights, None);
            }
            if !last && self.cfg.snapshot_every > 0 && epoch % self.cfg.snapshot_every == 0 {
                self.send_snapshot(&model, &device, global_epoch);
            }
        }
        self.finish(&model, &device, &model_cfg, global_epoch, last_weights, false)
    }

    /// The weights of the checkpoint in `dir` (`init_from`), checked against this run's network
    /// and data, and whether its cluster centres were already trained (the checkpoint went past
    /// its pre-training), in which case they are kept instead of re-initialised.
    fn initial_weights(
        &self,
        dir: &std::path::Path,
        model_cfg: &mut ModelConfig,
        ad: &Device,
    ) -> Result<(Cvc, bool), TrainError> {
        let ck = checkpoint::load(dir).map_err(TrainError::checkpoint)?;
        ck.check_dataset(&self.ds, false).map_err(TrainError::checkpoint)?;
        let heads_trained = ck.meta.global_epoch > ck.config.mse_epochs;
        // The network's revision (the AFW's form) is the checkpoint's: a network saved before
        // issue 13 continues in its own form. So is its latent centring once its contrastive
        // phase has run; a pre-training alone has learnt nothing of it (the centres `c_v` are
        // estimated when the contrastive phase starts), so it takes this run's `view_centring`.
        model_cfg.afw_residual = ck.meta.model.afw_residual;
        if heads_trained {
            if ck.meta.model.view_centring && !model_cfg.view_centring {
                return Err(TrainError::checkpoint(format!(
                    "{}: its network was trained with view centring ({} contrastive epochs), so \
                     view_centring = false cannot apply to it; continue it with centring, or start from \
                     a checkpoint of its pre-training (or from scratch)",
                    dir.display(),
                    ck.meta.global_epoch - ck.config.mse_epochs
                )));
            }
            model_cfg.view_centring = ck.meta.model.view_centring;
        }
        let model_cfg = &*model_cfg;
        let theirs = ModelConfig {
            kernel_scale: model_cfg.kernel_scale,
            centre_heads: model_cfg.centre_heads,
            view_centring: model_cfg.view_centring,
            ..ck.meta.model.clone()
        };
        if &theirs != model_cfg {
            let (a, b) = (&ck.meta.model, model_cfg);
            let fields = [
                ("view_dims", format!("{:?}", a.view_dims), format!("{:?}", b.view_dims)),
                ("n_clusters", a.n_clusters.to_string(), b.n_clusters.to_string()),
                ("encoder_hidden", format!("{:?}", a.encoder_hidden), format!("{:?}", b.encoder_hidden)),
                ("feature_dim", a.feature_dim.to_string(), b.feature_dim.to_string()),
                ("high_feature_dim", a.high_feature_dim.to_string(), b.high_feature_dim.to_string()),
                ("vcf_ff_dim", a.vcf_ff_dim.to_string(), b.vcf_ff_dim.to_string()),
                ("afw_heads", a.afw_heads.to_string(), b.afw_heads.to_string()),
                ("afw_ffn_hidden", a.afw_ffn_hidden.to_string(), b.afw_ffn_hidden.to_string()),
            ];
            let diffs: Vec<String> = fields
                .iter()
                .filter(|(_, theirs, ours)| theirs != ours)
                .map(|(name, theirs, ours)| format!("{name} {theirs}, this run has {ours}"))
                .collect();
            return Err(TrainError::checkpoint(format!(
                "{}: its network differs from this run's: {} \
                 (use that run's architecture settings, or train without init_from)",
                dir.display(),
                diffs.join("; ")
            )));
        }
        let mut model = ck.model(ad).map_err(TrainError::checkpoint)?;
        model.dec.kernel_scale = model_cfg.kernel_scale;
        model.centre_heads = model_cfg.centre_heads;
        if model.centring.is_some() != model_cfg.view_centring {
            // A pre-training continued with the other choice of centring (estimated at the phase start).
            model.centring = model_cfg
                .view_centring
                .then(|| Param::from_tensor(Tensor::<2>::zeros([model_cfg.n_views(), model_cfg.high_feature_dim], ad)));
        }
        Ok((model, heads_trained))
    }

    /// Rows whose true label supervises `L_Q`, drawn with the run's seed.
    fn labelled_subset(&self) -> Vec<Option<usize>> {
        let n = self.ds.n_samples();
        let mut out = vec![None; n];
        if self.cfg.labelled_fraction <= 0.0 {
            return out;
        }
        let Some(ids) = self.ds.label_ids() else {
            self.send(Event::Warning(
                "labelled_fraction is set but the dataset has no labels; L_Q uses pseudo labels".into(),
            ));
            return out;
        };
        let mut rows: Vec<usize> = (0..n).collect();
        rows.shuffle(&mut ChaCha8Rng::seed_from_u64(self.cfg.seed ^ 0x1abe_11ed));
        let take = ((n as f64 * self.cfg.labelled_fraction as f64).round() as usize).min(n);
        for &r in &rows[..take] {
            out[r] = Some(ids[r]);
        }
        out
    }

    #[expect(clippy::too_many_arguments, reason = "the fields of one epoch report")]
    fn record_epoch(
        &mut self,
        phase: Phase,
        epoch: usize,
        global_epoch: usize,
        losses: Losses,
        view_weights: Vec<f32>,
        (secs, lr): (f64, f64),
        adaptive: Option<AdaptiveReport>,
    ) {
        let report = EpochReport { phase, epoch, global_epoch, losses, view_weights, secs, lr, adaptive };
        self.epochs.push(report.clone());
        self.send(Event::Epoch(report));
    }

    pub(super) fn evaluate_metrics(
        &self,
        model: &Cvc,
        device: &Device,
        global_epoch: usize,
    ) -> Result<Option<MetricsReport>, TrainError> {
        if self.ds.labels.is_none() {
            return Ok(None);
        }
        let eval = evaluate(&model.valid(), &self.ds, device, self.cfg.batch_size).map_err(TrainError::evaluation)?;
        let Some(truth) = truth_of(&self.ds, &eval.rows) else { return Ok(None) };
        metrics_report(&eval, &truth, global_epoch, self.cfg.seed).map(Some).map_err(TrainError::evaluation)
    }

    fn save_checkpoint(
        &mut self,
        model: &Cvc,
        model_cfg: &ModelConfig,
        global_epoch: usize,
        metrics: Option<MetricsReport>,
        weights: &[f32],
        stats_on: Option<&Device>,
    ) {
        let Some(out) = self.out_dir.clone() else { return };
        // The final checkpoint keeps the centres' Fisher and within-cluster distance on the
        // training data, so that an update needs no old data for its EWC anchor (issue 15).
        let centre_stats = stats_on.and_then(|device| {
            match crate::engine::update::centre_stats(&model.valid(), &self.ds, device, self.cfg.batch_size) {
                Ok(st) => Some(st),
                Err(why) => {
                    self.send(Event::Warning(format!("the centres' Fisher could not be estimated: {why}")));
                    None
                }
            }
        });
        let meta = CheckpointMeta {
            format_version: 1,
            model: model_cfg.clone(),
            dataset_name: self.ds.name.clone(),
            dataset_fingerprint: self.ds.fingerprint(),
            n_samples: self.ds.n_samples(),
            seed: self.cfg.seed,
            global_epoch,
            metrics,
            view_weights: weights.to_vec(),
            device: self.device_name.clone(),
            created_unix: checkpoint::now_unix(),
            centre_stats,
            lineage: None,
        };
        match checkpoint::save(&out.join("checkpoint"), model, &self.cfg, &meta) {
            Ok(path) => {
                self.last_checkpoint = Some(path.clone());
                self.send(Event::CheckpointSaved(path));
            }
            Err(e) => self.send(Event::Warning(format!("the checkpoint could not be saved: {e}"))),
        }
    }

    fn finish(
        &mut self,
        model: &Cvc,
        device: &Device,
        model_cfg: &ModelConfig,
        global_epoch: usize,
        weights: Vec<f32>,
        stopped: bool,
    ) -> Result<RunSummary, TrainError> {
        // A stopped run keeps the results so far and skips the (possibly long) final evaluation.
        let final_metrics = if stopped {
            self.metrics.last().cloned()
        } else if let Some(last) = self.metrics.last().filter(|m| m.global_epoch == global_epoch) {
            // An early end right after an evaluation (the clusters settled at a refresh): that
            // evaluation is of this very network.
            let m = Some(last.clone());
            if self.cfg.snapshot_every > 0 || self.ctl.snapshot_requested {
                self.send_snapshot(model, device, global_epoch);
            }
            m
        } else {
            let m = self.evaluate_metrics(model, device, global_epoch)?;
            if let Some(m) = &m {
                self.metrics.push(m.clone());
                self.send(Event::Metrics(m.clone()));
            }
            if self.cfg.snapshot_every > 0 || self.ctl.snapshot_requested {
                self.send_snapshot(model, device, global_epoch);
            }
            m
        };
        self.save_checkpoint(model, model_cfg, global_epoch, final_metrics.clone(), &weights, Some(device));
        let mean = |phase: Phase| {
            let s: Vec<f64> = self.epochs.iter().filter(|e| e.phase == phase).map(|e| e.secs).collect();
            if s.is_empty() { 0.0 } else { s.iter().sum::<f64>() / s.len() as f64 }
        };
        Ok(RunSummary {
            stopped,
            epochs: self.epochs.clone(),
            metrics: self.metrics.clone(),
            final_metrics,
            checkpoint: self.last_checkpoint.clone(),
            secs_per_epoch_pretrain: mean(Phase::Pretrain),
            secs_per_epoch_contrastive: mean(Phase::Contrastive),
            device: self.device_name.clone(),
            config: self.cfg.clone(),
            dataset_fingerprint: self.ds.fingerprint(),
            converged: self.converged,
            refresh_secs: self.refresh_secs.clone(),
        })
    }
}

/// The checks every run makes of its data before training: views present, of equal length,
/// with features and finite values; the cluster count `n_clusters` asks for (or the labels').
pub(crate) fn check_data(ds: &MultiViewDataset, n_clusters: Option<usize>) -> Result<usize, TrainError> {
    check_views(ds)?;
    Ok(ds.clusters_for(n_clusters)?)
}

/// [`check_data`] without the cluster count.
pub(crate) fn check_views(ds: &MultiViewDataset) -> Result<(), TrainError> {
    if ds.n_views() == 0 {
        return Err(TrainError::data("the dataset has no views"));
    }
    let n = ds.n_samples();
    if n < 2 {
        return Err(TrainError::data(format!("the dataset has {n} samples; training needs at least 2")));
    }
    for (i, v) in ds.views.iter().enumerate() {
        if v.data.rows() != n {
            return Err(TrainError::data(format!(
                "view {} ({}) has {} samples, view 1 has {n}",
                i + 1,
                v.name,
                v.data.rows()
            )));
        }
        if v.data.cols() == 0 {
            return Err(TrainError::data(format!("view {} ({}) has no features", i + 1, v.name)));
        }
        if v.data.stats().non_finite > 0 {
            return Err(TrainError::data(format!(
                "view {} ({}) contains NaN or infinite values; load it with a non-finite policy (zero or mean) first",
                i + 1,
                v.name
            )));
        }
    }
    Ok(())
}
