//! The trainer thread: owns the model and its device, runs the two phases,
//! and speaks the protocol of [`crate::engine::protocol`].
//!
//! Commands are read between batches, so pause, stop and live parameter
//! changes take effect at the next batch. Events go out with `try_send`
//! (high-rate ones are coalesced and may be dropped; epoch-level ones are
//! also kept in the run's history), terminal events with a bounded wait: a
//! slow or absent receiver never stalls training.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::MultiViewDataset;
use crate::engine::adaptive::{self, PseudoLabels, ViewTarget};
use crate::engine::checkpoint::{self, CheckpointMeta};
use crate::engine::config::{CentroidInit, TrainConfig};
use crate::engine::device::{ResolvedDevice, resolve};
use crate::engine::predict::{
    evaluate, evaluate_rows, metrics_report, snapshot_from, stratified_sample, to_host, truth_of,
};
use crate::engine::protocol::{
    AdaptiveReport, COMMAND_CAPACITY, Command, EVENT_CAPACITY, EpochReport, Event, LiveParams, Losses, MetricsReport,
    Phase, Progress, RunSummary,
};
use crate::engine::step::{BatchGradients, StepKind, batch_gradients};
use crate::loss::{LabelTargets, LossParams, contrast_chance};
use crate::model::{Cvc, ModelConfig};

/// The caller's side of a trainer thread.
pub struct TrainerHandle {
    pub commands: Sender<Command>,
    pub events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
}

impl TrainerHandle {
    /// A handle over a thread started elsewhere that speaks the same protocol
    /// (test doubles, e.g. a trainer that dies without a word).
    #[doc(hidden)]
    pub fn from_parts(commands: Sender<Command>, events: Receiver<Event>, thread: Option<JoinHandle<()>>) -> Self {
        Self { commands, events, thread }
    }

    /// For a thread that has ended (its event channel disconnected): the message of
    /// the panic that ended it, if one did. Waits at most `wait` for the thread to
    /// finish, then joins it; `None` if it returned normally or is still running.
    pub fn panic_message(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        while !self.thread.as_ref()?.is_finished() {
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let payload = self.thread.take()?.join().err()?;
        Some(crate::panic::message(payload.as_ref()))
    }

    /// Asks the thread to exit and waits for it (at most one batch).
    pub fn shutdown(mut self) {
        self.commands.send_timeout(Command::Shutdown, Duration::from_secs(1)).ok();
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

impl Drop for TrainerHandle {
    fn drop(&mut self) {
        // Do not block a UI on drop: ask the thread to end; it exits after the current batch.
        self.commands.try_send(Command::Shutdown).ok();
    }
}

/// Starts the `mvc-trainer` thread. Fails only if the OS cannot create a thread.
pub fn try_spawn_trainer() -> std::io::Result<TrainerHandle> {
    let (cmd_tx, cmd_rx) = bounded::<Command>(COMMAND_CAPACITY);
    let (ev_tx, ev_rx) = bounded::<Event>(EVENT_CAPACITY);
    let thread = std::thread::Builder::new().name("mvc-trainer".into()).spawn(move || worker(&cmd_rx, &ev_tx))?;
    Ok(TrainerHandle { commands: cmd_tx, events: ev_rx, thread: Some(thread) })
}

/// Starts the `mvc-trainer` thread.
///
/// # Panics
/// Only if the operating system refuses to create a thread.
pub fn spawn_trainer() -> TrainerHandle {
    #[allow(clippy::expect_used, reason = "the panic is documented; `try_spawn_trainer` is the fallible form")]
    try_spawn_trainer().expect("the operating system could not start the trainer thread")
}

fn worker(cmd_rx: &Receiver<Command>, ev_tx: &Sender<Event>) {
    loop {
        let Ok(cmd) = cmd_rx.recv() else { return };
        match cmd {
            Command::Shutdown => return,
            Command::Start { dataset, config, out_dir } => {
                let mut run = Run::new(dataset, *config, out_dir, cmd_rx, ev_tx);
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run.execute()));
                let event = match outcome {
                    Ok(Ok(summary)) => Event::Finished(Box::new(summary)),
                    Ok(Err(reason)) => {
                        Event::Failed { reason, last_checkpoint: run.last_checkpoint.clone(), internal: false }
                    }
                    Err(panic) => {
                        let what = crate::panic::message(panic.as_ref());
                        Event::Failed {
                            reason: format!("the trainer hit an internal error: {what}"),
                            last_checkpoint: run.last_checkpoint.clone(),
                            internal: true,
                        }
                    }
                };
                ev_tx.send_timeout(event, Duration::from_secs(5)).ok();
                if run.shutdown {
                    return;
                }
            }
            Command::Pause | Command::Resume | Command::Stop => {}
            Command::Update(_) => {
                ev_tx
                    .try_send(Event::Warning("no run is active: live parameters apply to a running training".into()))
                    .ok();
            }
            Command::Snapshot => {
                ev_tx.try_send(Event::Warning("no run is active: there is no embedding to snapshot".into())).ok();
            }
        }
    }
}

/// Minimum time between two `Progress` events.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The state of one training run.
struct Run<'a> {
    ds: Arc<MultiViewDataset>,
    cfg: TrainConfig,
    out_dir: Option<PathBuf>,
    cmd_rx: &'a Receiver<Command>,
    ev_tx: &'a Sender<Event>,
    lr: f64,
    params: LossParams,
    paused: bool,
    stop: bool,
    shutdown: bool,
    snapshot_requested: bool,
    epochs: Vec<EpochReport>,
    metrics: Vec<MetricsReport>,
    last_checkpoint: Option<PathBuf>,
    last_progress: Instant,
    /// Mean seconds per batch of each phase so far (for the ETA).
    batch_secs: [Option<f64>; 2],
    device_name: String,
    /// The smoothed view discrepancies behind `w*`.
    view_target: ViewTarget,
    /// The refreshed pseudo labels (none before the first refresh or with the refresh off).
    pseudo: Option<PseudoLabels>,
    /// Fraction of pseudo labels the last refresh changed, until the epoch reports it.
    pseudo_changed: Option<f64>,
}

/// What the batch loop of an epoch ended with.
enum EpochEnd {
    Done { losses: Losses, view_weights: Vec<f32>, secs: f64, positive_pairs: f64 },
    Stopped,
}

impl<'a> Run<'a> {
    fn new(
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
        };
        Run {
            lr: cfg.learning_rate,
            params,
            ds,
            cfg,
            out_dir,
            cmd_rx,
            ev_tx,
            paused: false,
            stop: false,
            shutdown: false,
            snapshot_requested: false,
            epochs: Vec::new(),
            metrics: Vec::new(),
            last_checkpoint: None,
            last_progress: Instant::now() - PROGRESS_EVERY,
            batch_secs: [None, None],
            device_name: String::new(),
            view_target: ViewTarget::new(0),
            pseudo: None,
            pseudo_changed: None,
        }
    }

    fn send(&self, e: Event) {
        match self.ev_tx.try_send(e) {
            Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Start { .. } => {
                self.send(Event::Warning("a run is already active; stop it before starting another".into()))
            }
            Command::Pause => {
                if !self.paused {
                    self.paused = true;
                    self.send(Event::Paused);
                }
            }
            Command::Resume => {
                if self.paused {
                    self.paused = false;
                    self.send(Event::Resumed);
                }
            }
            Command::Stop => self.stop = true,
            Command::Shutdown => {
                self.stop = true;
                self.shutdown = true;
            }
            Command::Update(p) => match self.apply_live(&p) {
                Ok(()) => self.send(Event::ParamsApplied(p)),
                Err(why) => self.send(Event::Warning(format!("live parameters not applied: {why}"))),
            },
            Command::Snapshot => self.snapshot_requested = true,
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
        if let Some(l) = p.loss {
            check.loss = l;
        }
        check.validate()?;
        self.cfg = check;
        self.lr = self.cfg.learning_rate;
        self.params.threshold = self.cfg.threshold;
        self.params.temperature_f = self.cfg.temperature_f;
        self.params.temperature_l = self.cfg.temperature_l;
        self.params.weights = self.cfg.loss;
        Ok(())
    }

    /// Drains pending commands; while paused, waits here (serving snapshots).
    fn control(&mut self, model: &Cvc, device: &Device, global_epoch: usize) {
        loop {
            while let Ok(cmd) = self.cmd_rx.try_recv() {
                self.handle(cmd);
            }
            if self.snapshot_requested {
                self.snapshot_requested = false;
                self.send_snapshot(model, device, global_epoch);
            }
            if self.stop || !self.paused {
                return;
            }
            match self.cmd_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(cmd) => self.handle(cmd),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.stop = true;
                    self.shutdown = true;
                }
            }
        }
    }

    fn send_snapshot(&self, model: &Cvc, device: &Device, global_epoch: usize) {
        let rows =
            stratified_sample(self.ds.label_ids(), self.ds.n_samples(), self.cfg.snapshot_points.max(1), self.cfg.seed);
        match evaluate_rows(&model.valid(), &self.ds, &rows, device, self.cfg.batch_size) {
            Ok(eval) => self.send(Event::Snapshot(Box::new(snapshot_from(&eval, &self.ds, global_epoch)))),
            Err(why) => self.send(Event::Warning(format!("the embedding snapshot failed: {why}"))),
        }
    }

    fn check_data(&self) -> Result<usize, String> {
        let ds = &self.ds;
        if ds.n_views() == 0 {
            return Err("the dataset has no views".into());
        }
        let n = ds.n_samples();
        if n < 2 {
            return Err(format!("the dataset has {n} samples; training needs at least 2"));
        }
        for (i, v) in ds.views.iter().enumerate() {
            if v.data.rows() != n {
                return Err(format!("view {} ({}) has {} samples, view 1 has {n}", i + 1, v.name, v.data.rows()));
            }
            if v.data.cols() == 0 {
                return Err(format!("view {} ({}) has no features", i + 1, v.name));
            }
            if v.data.stats().non_finite > 0 {
                return Err(format!(
                    "view {} ({}) contains NaN or infinite values; load it with a non-finite policy (zero or mean) first",
                    i + 1,
                    v.name
                ));
            }
        }
        let k = match (self.cfg.n_clusters, ds.n_clusters()) {
            (Some(k), _) => k,
            (None, Some(k)) => k,
            (None, None) => {
                return Err("the dataset has no labels, so the number of clusters must be set (n_clusters)".into());
            }
        };
        if k < 2 {
            return Err(format!("clustering needs at least 2 clusters, the labels give {k}"));
        }
        if k > n {
            return Err(format!("there are more clusters ({k}) than samples ({n})"));
        }
        Ok(k)
    }

    fn execute(&mut self) -> Result<RunSummary, String> {
        self.cfg.validate()?;
        let k = self.check_data()?;
        let ResolvedDevice { device, description, note, .. } = resolve(self.cfg.device)?;
        self.device_name = description.clone();
        let ad = device.clone().autodiff();
        let mut model_cfg = ModelConfig::from_train(&self.cfg, self.ds.view_dims(), k);
        model_cfg.validate()?;
        let (mut model, centres_trained) = match self.cfg.init_from.clone() {
            Some(dir) => self.initial_weights(&dir, &mut model_cfg, &ad)?,
            None => (model_cfg.init_seeded(&ad, self.cfg.seed), false),
        };
        self.view_target = ViewTarget::new(self.ds.n_views());
        let mut optim = adam(&self.cfg);
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
                EpochEnd::Done { losses, view_weights, secs, .. } => {
                    self.record_epoch(Phase::Pretrain, epoch, global_epoch, losses, view_weights.clone(), secs, None);
                    last_weights = view_weights;
                }
            }
        }
        if self.cfg.con_epochs == 0 {
            return self.finish(&model, &device, &model_cfg, global_epoch, last_weights, false);
        }
        let init_centres = self.cfg.centroid_init == CentroidInit::KmeansPlusPlus && !centres_trained;
        if init_centres || self.cfg.pseudo_refresh > 0 || (model.centring.is_some() && !centres_trained) {
            model = self.refresh_pseudo(model, &ad, &device, init_centres)?;
        }
        self.send(Event::Phase(Phase::Contrastive));
        for epoch in 1..=self.cfg.con_epochs {
            global_epoch += 1;
            let every = self.cfg.pseudo_refresh;
            if every > 0 && epoch > 1 && (epoch - 1).is_multiple_of(every) {
                model = self.refresh_pseudo(model, &ad, &device, self.cfg.refresh_centres)?;
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
                EpochEnd::Done { losses, view_weights, secs, positive_pairs } => {
                    let adaptive = self.adaptive_report(k, positive_pairs);
                    self.record_epoch(
                        Phase::Contrastive,
                        epoch,
                        global_epoch,
                        losses,
                        view_weights.clone(),
                        secs,
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
                self.save_checkpoint(&model, &model_cfg, global_epoch, m, &last_weights);
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
    ) -> Result<(Cvc, bool), String> {
        let why = |e: checkpoint::CheckpointError| format!("cannot start from the checkpoint: {e}");
        let ck = checkpoint::load(dir).map_err(why)?;
        ck.check_dataset(&self.ds, false).map_err(why)?;
        // The network's revision (latent centring, the AFW's form) is the checkpoint's: a network
        // saved before issue 13 continues in its own form.
        model_cfg.view_centring = ck.meta.model.view_centring;
        model_cfg.afw_residual = ck.meta.model.afw_residual;
        let model_cfg = &*model_cfg;
        let theirs = ModelConfig { kernel_scale: model_cfg.kernel_scale, ..ck.meta.model.clone() };
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
            return Err(format!(
                "cannot start from the checkpoint {}: its network differs from this run's: {} \
                 (use that run's architecture settings, or train without init_from)",
                dir.display(),
                diffs.join("; ")
            ));
        }
        let mut model = ck.model(ad).map_err(why)?;
        model.dec.kernel_scale = model_cfg.kernel_scale;
        Ok((model, ck.meta.global_epoch > ck.config.mse_epochs))
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
        secs: f64,
        adaptive: Option<AdaptiveReport>,
    ) {
        let report = EpochReport { phase, epoch, global_epoch, losses, view_weights, secs, adaptive };
        self.epochs.push(report.clone());
        self.send(Event::Epoch(report));
    }

    /// The adaptive parts' state at the end of a contrastive epoch.
    fn adaptive_report(&mut self, k: usize, positive_pairs: f64) -> AdaptiveReport {
        let b = self.cfg.batch_size.min(self.ds.n_samples());
        let (cluster_chance, local_chance) = contrast_chance(self.ds.n_views(), k, b);
        AdaptiveReport {
            view_target: self.current_view_target(),
            discrepancy: self.view_target.discrepancy().to_vec(),
            pseudo_fraction: self.pseudo.as_ref().map_or(0.0, PseudoLabels::confident_fraction),
            positive_pairs,
            pseudo_changed: self.pseudo_changed.take(),
            cluster_chance,
            local_chance,
        }
    }

    /// `w*` now (uniform with `adaptive_weights` off).
    fn current_view_target(&self) -> Vec<f32> {
        let v = self.ds.n_views();
        if self.cfg.adaptive_weights {
            self.view_target.weights(self.cfg.weight_temperature)
        } else {
            vec![1.0 / v.max(1) as f32; v]
        }
    }

    /// Refreshes the pseudo labels from k-means on the weighted fused features and, with
    /// `move_centres`, moves the DEC centres to the refreshed clusters (see `engine::adaptive`).
    /// With `pseudo_refresh` = 0 only the centres are set (the phase's start) and no labels kept.
    fn refresh_pseudo(&mut self, model: Cvc, ad: &Device, device: &Device, move_centres: bool) -> Result<Cvc, String> {
        let mut model = model;
        if model.centring.is_some() {
            let means = adaptive::projection_means(&model.valid(), &self.ds, device, self.cfg.batch_size)?;
            model = model.with_centring(&means, ad);
        }
        let eval = evaluate(&model.valid(), &self.ds, device, self.cfg.batch_size)?;
        let weights = self.current_view_target();
        let seed = self.cfg.seed ^ (self.epochs.len() as u64).wrapping_mul(0x9e37_79b9);
        let fresh = adaptive::refresh(&eval, &weights, &eval.pred_mean, self.cfg.pseudo_fraction, seed)?;
        if move_centres {
            let (k, d) = (eval.k, eval.h_dim);
            let mut centres = to_host(model.dec.centers.val())?;
            for (j, c) in fresh.centres.iter().enumerate() {
                if let Some(c) = c {
                    centres[j * d..(j + 1) * d].copy_from_slice(c);
                }
            }
            model.dec = model.dec.with_centers(centres, k, d, ad);
        }
        if self.cfg.pseudo_refresh > 0 {
            self.pseudo_changed = self.pseudo.as_ref().map(|old| {
                let changed = old.labels.iter().zip(&fresh.pseudo.labels).filter(|(a, b)| a != b).count();
                changed as f64 / old.labels.len().max(1) as f64
            });
            self.pseudo = Some(fresh.pseudo);
        }
        Ok(model)
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
    fn epoch(
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
    ) -> Result<(Cvc, EpochEnd), String> {
        let start = Instant::now();
        let n = self.ds.n_samples();
        let b = self.cfg.batch_size.min(n);
        let n_batches = n / b; // the seed drops the last partial batch
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let views = self.ds.n_views();
        let mut sums = [0f64; 6];
        let mut weight_sums = vec![0f64; views];
        let (mut positive_pairs, mut all_pairs) = (0f64, 0f64);
        let k = model.dec.centers.val().dims()[0];
        let phase_ix = usize::from(phase == Phase::Contrastive);
        for bi in 0..n_batches {
            self.control(&model, device, global_epoch.saturating_sub(1));
            if self.stop {
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
                        let t = pseudo.targets(rows);
                        let mut per = vec![0f64; k];
                        t.iter().flatten().for_each(|&c| per[c] += 1.0);
                        positive_pairs += per.iter().map(|c| c * (c - 1.0)).sum::<f64>();
                        all_pairs += (b * (b - 1)) as f64;
                        LabelTargets::refreshed(&t, k, ad)
                    } else {
                        LabelTargets::Pseudo
                    };
                    let params = self.ramped_params(epoch);
                    let view_target = self.cfg.adaptive_weights.then(|| self.current_view_target());
                    batch_gradients(
                        &model,
                        &xs,
                        StepKind::Contrastive {
                            params: &params,
                            labels: &targets,
                            view_target: view_target.as_deref(),
                        },
                        ad,
                    )
                }
            };
            let BatchGradients { grads, objective: obj, weights } = step;
            let parts = to_host(obj.parts)?;
            if phase == Phase::Contrastive && self.params.weights.kl.factor() > 0.0 {
                self.view_target.observe(&to_host(obj.view_kl)?);
            }
            if let Some(bad) = parts.iter().position(|x| !x.is_finite()) {
                let term =
                    ["reconstruction", "cluster contrastive", "local contrastive", "KL", "label", "total"][bad.min(5)];
                return Err(format!(
                    "training diverged: the {term} loss became {} in {} epoch {epoch}, batch {} of {n_batches}; lower the learning rate (now {}) or check the data's scaling",
                    parts[bad],
                    phase_name(phase),
                    bi + 1,
                    self.lr
                ));
            }
            let lr = if phase == Phase::Contrastive && self.cfg.lr_cosine {
                let per_epoch = n_batches.max(1);
                self.lr * cosine_factor((epoch - 1) * per_epoch + bi, self.cfg.con_epochs * per_epoch)
            } else {
                self.lr
            };
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
                    for (s, x) in weight_sums.iter_mut().zip(to_host(w)?) {
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
        let losses = Losses {
            rec: sums[0] / nb,
            cluster: sums[1] / nb,
            local: sums[2] / nb,
            kl: sums[3] / nb,
            label: sums[4] / nb,
            total: sums[5] / nb,
        };
        let view_weights = weight_sums.iter().map(|s| (s / nb) as f32).collect();
        let positive_pairs = if all_pairs > 0.0 { positive_pairs / all_pairs } else { 0.0 };
        Ok((model, EpochEnd::Done { losses, view_weights, secs: start.elapsed().as_secs_f64(), positive_pairs }))
    }

    fn evaluate_metrics(
        &self,
        model: &Cvc,
        device: &Device,
        global_epoch: usize,
    ) -> Result<Option<MetricsReport>, String> {
        if self.ds.labels.is_none() {
            return Ok(None);
        }
        let eval = evaluate(&model.valid(), &self.ds, device, self.cfg.batch_size)?;
        let Some(truth) = truth_of(&self.ds, &eval.rows) else { return Ok(None) };
        metrics_report(&eval, &truth, global_epoch, self.cfg.seed).map(Some)
    }

    fn save_checkpoint(
        &mut self,
        model: &Cvc,
        model_cfg: &ModelConfig,
        global_epoch: usize,
        metrics: Option<MetricsReport>,
        weights: &[f32],
    ) {
        let Some(out) = &self.out_dir else { return };
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
    ) -> Result<RunSummary, String> {
        // A stopped run keeps the results so far and skips the (possibly long) final evaluation.
        let final_metrics = if stopped {
            self.metrics.last().cloned()
        } else {
            let m = self.evaluate_metrics(model, device, global_epoch)?;
            if let Some(m) = &m {
                self.metrics.push(m.clone());
                self.send(Event::Metrics(m.clone()));
            }
            if self.cfg.snapshot_every > 0 || self.snapshot_requested {
                self.send_snapshot(model, device, global_epoch);
            }
            m
        };
        self.save_checkpoint(model, model_cfg, global_epoch, final_metrics.clone(), &weights);
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
        })
    }
}

/// The half-cosine learning-rate factor of step `step` (0-based) of `total`:
/// `(1 + cos(π · step / total)) / 2`, 1 at the first step and falling to 0 at the end.
pub fn cosine_factor(step: usize, total: usize) -> f64 {
    if total == 0 {
        return 1.0;
    }
    let x = (step as f64 / total as f64).min(1.0);
    0.5 * (1.0 + (std::f64::consts::PI * x).cos())
}

/// `min(1, epoch / warmup)` for the 1-based contrastive `epoch` (1 when `warmup` is 0).
pub fn warmup_factor(epoch: usize, warmup: usize) -> f32 {
    if warmup == 0 { 1.0 } else { (epoch as f32 / warmup as f32).min(1.0) }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Pretrain => "pre-training",
        Phase::Contrastive => "contrastive",
    }
}

/// Adam as the seed configures it (PyTorch's epsilon, optional weight decay).
pub fn adam(cfg: &TrainConfig) -> ModuleOptimizer {
    let decay = (cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32));
    AdamConfig::new().with_epsilon(1e-8).with_weight_decay(decay).init()
}
