//! Seed 001's metric-learning baseline as a run of the trainer thread: the same commands, events,
//! run store and front ends as CVC-AFWM, a different network (`model::triplet`) and objective
//! (`loss::triplet`, `loss::mining`).
//!
//! A run: a stratified train / test split ([`split`]), one phase of `con_epochs` epochs (reported
//! as [`Phase::Contrastive`]; a baseline has no pre-training) of Adam on the mean triplet loss of
//! each batch, an evaluation of the test split every `eval_every` epochs and at the end
//! ([`evaluate`]), and a checkpoint (`weights.bpk`, `config.json`, `baseline.json`).

mod batch;
pub mod evaluate;
pub mod split;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use crossbeam_channel::{Receiver, Sender};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::MultiViewDataset;
use crate::engine::checkpoint::{self, BASELINE_FILE, CONFIG_FILE, WEIGHTS_FILE, write_dir_atomic, write_json};
use crate::engine::config::{ImageShape, Positives, TrainConfig};
use crate::engine::control::Control;
use crate::engine::device::{ResolvedDevice, resolve};
use crate::engine::error::TrainError;
use crate::engine::protocol::LiveParams;
use crate::engine::protocol::{
    Command, EpochReport, Event, LossTerm, Losses, MetricsReport, Phase, Progress, RunSummary,
};
use crate::engine::trainer::{adam, check_views};
use crate::model::triplet::{TripletNet, TripletNetConfig};

use split::Split;

/// What a baseline's checkpoint says besides its weights and config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineMeta {
    pub network: TripletNetConfig,
    pub dataset_name: String,
    pub dataset_fingerprint: String,
    pub seed: u64,
    pub global_epoch: usize,
    pub n_train: usize,
    pub n_test: usize,
    pub metrics: Option<MetricsReport>,
    pub device: String,
    pub created_unix: u64,
}

/// Minimum time between two `Progress` events.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// One baseline run on the trainer thread.
pub(crate) struct BaselineRun<'a> {
    ds: Arc<MultiViewDataset>,
    cfg: TrainConfig,
    out_dir: Option<PathBuf>,
    /// Commands in, events out; pause, stop and snapshot requests.
    pub(crate) ctl: Control<'a>,
    lr: f64,
    epochs: Vec<EpochReport>,
    metrics: Vec<MetricsReport>,
    pub(crate) last_checkpoint: Option<PathBuf>,
    device_name: String,
    /// Clusters of the k-means reading (`n_clusters`, else the label count).
    k: usize,
}

/// Each view's image shape: the configured one (a view it does not fit is refused by the
/// network's check, naming the view), else 28 × 28 / 16 × 16 for 784 / 256 features (with a
/// note), else none (refused the same way).
fn view_images(ds: &MultiViewDataset, cfg: &TrainConfig, notes: &mut Vec<String>) -> Vec<Option<ImageShape>> {
    if !cfg.model.is_conv() {
        return vec![None; ds.n_views()];
    }
    ds.views
        .iter()
        .enumerate()
        .map(|(v, view)| {
            let d = view.data.cols();
            cfg.image.or_else(|| {
                let guess = ImageShape::guess(d);
                if let Some(g) = guess {
                    notes.push(format!(
                        "view {} ({}) has {d} features: read as a {g} image (set the image shape to change it)",
                        v + 1,
                        view.name
                    ));
                }
                guess
            })
        })
        .collect()
}

impl<'a> BaselineRun<'a> {
    pub(crate) fn new(
        ds: Arc<MultiViewDataset>,
        cfg: TrainConfig,
        out_dir: Option<PathBuf>,
        cmd_rx: &'a Receiver<Command>,
        ev_tx: &'a Sender<Event>,
    ) -> Self {
        BaselineRun {
            lr: cfg.learning_rate,
            ds,
            cfg,
            out_dir,
            ctl: Control::new(cmd_rx, ev_tx),
            epochs: Vec::new(),
            metrics: Vec::new(),
            last_checkpoint: None,
            device_name: String::new(),
            k: 2,
        }
    }

    fn send(&self, e: Event) {
        self.ctl.send(e);
    }

    /// A live-parameter update: a baseline has only its learning rate live.
    fn live(&mut self, p: LiveParams) {
        match p.learning_rate {
            Some(lr) if lr.is_finite() && lr > 0.0 => {
                self.lr = lr;
                self.cfg.learning_rate = lr;
                self.send(Event::ParamsApplied(LiveParams { learning_rate: Some(lr), ..LiveParams::default() }));
            }
            Some(lr) => self.send(Event::Warning(format!(
                "live parameters not applied: learning_rate must be a positive number, got {lr}"
            ))),
            None => self.send(Event::Warning(
                "live parameters not applied: a metric-learning baseline has only the learning rate live".into(),
            )),
        }
    }

    /// Drains pending commands; while paused, waits here (a snapshot request is served after the
    /// epoch, with its evaluation).
    fn control(&mut self) {
        loop {
            for p in self.ctl.drain() {
                self.live(p);
            }
            if !self.ctl.holding() {
                return;
            }
            if let Some(p) = self.ctl.wait() {
                self.live(p);
            }
        }
    }

    pub(crate) fn execute(&mut self) -> Result<RunSummary, TrainError> {
        self.cfg.validate().map_err(TrainError::settings)?;
        check_views(&self.ds)?;
        let labels = self.ds.label_ids().map(<[usize]>::to_vec);
        // The k-means reading's clusters; an unlabelled cross-view run has no readings.
        if labels.is_some() || self.cfg.n_clusters.is_some() {
            self.k = self.ds.clusters_for(self.cfg.n_clusters)?;
        }
        if self.cfg.positives == Positives::Labels && labels.is_none() {
            return Err(TrainError::data(
                "the dataset has no labels: a baseline with label positives needs them (use cross-view positives, \
                 which train without labels)",
            ));
        }
        if self.cfg.positives == Positives::CrossView && self.ds.n_views() < 2 {
            return Err(TrainError::settings(format!(
                "cross-view positives need two views or more; {} has one",
                self.ds.name
            )));
        }
        let mut notes = Vec::new();
        let net_cfg = TripletNetConfig {
            family: self.cfg.model,
            view_dims: self.ds.view_dims(),
            images: view_images(&self.ds, &self.cfg, &mut notes),
            hidden: self.cfg.encoder_hidden.clone(),
            mlp_out: self.cfg.feature_dim,
        };
        let names: Vec<String> = self.ds.views.iter().map(|v| v.name.clone()).collect();
        net_cfg.validate(&names).map_err(TrainError::settings)?;
        let split = split::stratified(labels.as_deref(), self.ds.n_samples(), self.cfg.test_fraction, self.cfg.seed);
        if split.train.len() < 2 || split.test.is_empty() {
            return Err(TrainError::data(format!(
                "{} samples leave {} to train on and {} to test on; a baseline needs at least 2 and 1",
                self.ds.n_samples(),
                split.train.len(),
                split.test.len()
            )));
        }
        let ResolvedDevice { device, description, note, .. } = resolve(self.cfg.device).map_err(TrainError::device)?;
        self.device_name = description.clone();
        let ad = device.clone().autodiff();
        let mut net = net_cfg.init_seeded(&ad, self.cfg.seed);
        let mut optim = adam(&self.cfg);
        let total = self.cfg.con_epochs;
        self.send(Event::Started {
            device: description,
            device_note: note,
            n_params: net.num_params(),
            total_epochs: total,
        });
        for n in notes {
            self.send(Event::Warning(n));
        }
        self.send(Event::Phase(Phase::Contrastive));
        let by_class = labels.as_ref().map(|l| split::by_class(&split.train, l));
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        let started = Instant::now();
        let mut last_progress = Instant::now() - PROGRESS_EVERY;
        let mut done = 0;
        for epoch in 1..=total {
            let t0 = Instant::now();
            let mut order = split.train.clone();
            order.shuffle(&mut rng);
            let b = self.cfg.batch_size.min(order.len()).max(2);
            let n_batches = order.len().div_ceil(b);
            let (mut sum, mut counted, mut lr_sum) = (0.0f64, 0usize, 0.0f64);
            for (bi, rows) in order.chunks(b).enumerate() {
                self.control();
                if self.ctl.stop {
                    return self.finish(&net, &net_cfg, &device, &split, done, true);
                }
                let Some(loss) = self.batch_loss(&net, rows, labels.as_deref(), by_class.as_deref(), &ad, &mut rng)?
                else {
                    continue;
                };
                let value: f32 = loss.clone().into_scalar();
                if !value.is_finite() {
                    return Err(TrainError::Diverged {
                        term: LossTerm::Triplet,
                        value,
                        phase: Phase::Contrastive,
                        epoch,
                        batch: bi + 1,
                        n_batches,
                        lr: self.lr,
                    });
                }
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(self.lr, net, grads);
                sum += value as f64;
                counted += 1;
                lr_sum += self.lr;
                if last_progress.elapsed() >= PROGRESS_EVERY || bi + 1 == n_batches {
                    last_progress = Instant::now();
                    let elapsed = started.elapsed().as_secs_f64();
                    let fraction = ((epoch - 1) as f64 + (bi + 1) as f64 / n_batches as f64) / total as f64;
                    self.send(Event::Progress(Progress {
                        phase: Phase::Contrastive,
                        epoch,
                        global_epoch: epoch,
                        total_epochs: total,
                        batch: bi + 1,
                        n_batches,
                        eta_secs: if fraction > 0.0 { elapsed / fraction - elapsed } else { 0.0 },
                    }));
                }
            }
            let mean = if counted > 0 { sum / counted as f64 } else { 0.0 };
            let report = EpochReport {
                phase: Phase::Contrastive,
                epoch,
                global_epoch: epoch,
                losses: Losses { triplet: mean, total: mean, ..Losses::default() },
                view_weights: vec![1.0 / self.ds.n_views() as f32; self.ds.n_views()],
                secs: t0.elapsed().as_secs_f64(),
                lr: if counted > 0 { lr_sum / counted as f64 } else { self.lr },
                adaptive: None,
            };
            self.epochs.push(report.clone());
            self.send(Event::Epoch(report));
            done = epoch;
            let requested = std::mem::take(&mut self.ctl.snapshot_requested);
            if epoch < total && (epoch % self.cfg.eval_every == 0 || requested) {
                let m = self.evaluate(&net, &device, &split, epoch)?;
                self.save(&net, &net_cfg, &split, epoch, m);
            }
        }
        self.finish(&net, &net_cfg, &device, &split, done, false)
    }

    fn evaluate(
        &mut self,
        net: &TripletNet,
        device: &Device,
        split: &Split,
        global_epoch: usize,
    ) -> Result<Option<MetricsReport>, TrainError> {
        let params = evaluate::EvalParams {
            positives: self.cfg.positives,
            knn_k: self.cfg.knn_k,
            margin: self.cfg.margin,
            k: self.k,
            batch: self.cfg.batch_size,
            seed: self.cfg.seed,
            snapshot_points: self.cfg.snapshot_points,
        };
        let eval =
            evaluate::evaluate(net, &self.ds, split, params, device, global_epoch).map_err(TrainError::evaluation)?;
        Ok(eval.map(|e| {
            self.metrics.push(e.metrics.clone());
            self.send(Event::Metrics(e.metrics.clone()));
            self.send(Event::Snapshot(Box::new(e.snapshot)));
            e.metrics
        }))
    }

    fn save(
        &mut self,
        net: &TripletNet,
        net_cfg: &TripletNetConfig,
        split: &Split,
        global_epoch: usize,
        metrics: Option<MetricsReport>,
    ) {
        let Some(out) = self.out_dir.clone() else { return };
        let meta = BaselineMeta {
            network: net_cfg.clone(),
            dataset_name: self.ds.name.clone(),
            dataset_fingerprint: self.ds.fingerprint(),
            seed: self.cfg.seed,
            global_epoch,
            n_train: split.train.len(),
            n_test: split.test.len(),
            metrics,
            device: self.device_name.clone(),
            created_unix: checkpoint::now_unix(),
        };
        let saved = write_dir_atomic(&out.join(checkpoint::RUN_CHECKPOINT_DIR), |tmp| {
            net.clone().save_file(tmp.join(WEIGHTS_FILE)).map_err(|e| checkpoint::CheckpointError::Invalid {
                path: tmp.join(WEIGHTS_FILE),
                why: format!("cannot write the weights: {e}"),
            })?;
            write_json(tmp, CONFIG_FILE, &self.cfg, "cannot write the config")?;
            write_json(tmp, BASELINE_FILE, &meta, "cannot write the baseline's metadata")
        });
        match saved {
            Ok(path) => {
                self.last_checkpoint = Some(path.clone());
                self.send(Event::CheckpointSaved(path));
            }
            Err(e) => self.send(Event::Warning(format!("the checkpoint could not be saved: {e}"))),
        }
    }

    fn finish(
        &mut self,
        net: &TripletNet,
        net_cfg: &TripletNetConfig,
        device: &Device,
        split: &Split,
        global_epoch: usize,
        stopped: bool,
    ) -> Result<RunSummary, TrainError> {
        let final_metrics = if stopped || global_epoch == 0 {
            self.metrics.last().cloned()
        } else {
            self.evaluate(net, device, split, global_epoch)?
        };
        self.save(net, net_cfg, split, global_epoch, final_metrics.clone());
        let secs: Vec<f64> = self.epochs.iter().map(|e| e.secs).collect();
        Ok(RunSummary {
            stopped,
            epochs: self.epochs.clone(),
            metrics: self.metrics.clone(),
            final_metrics,
            checkpoint: self.last_checkpoint.clone(),
            secs_per_epoch_pretrain: 0.0,
            secs_per_epoch_contrastive: if secs.is_empty() {
                0.0
            } else {
                secs.iter().sum::<f64>() / secs.len() as f64
            },
            device: self.device_name.clone(),
            config: self.cfg.clone(),
            converged: None,
            refresh_secs: Vec::new(),
            dataset_fingerprint: self.ds.fingerprint(),
        })
    }
}
