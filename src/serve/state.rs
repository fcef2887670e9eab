//! The server's shared state: the trainer thread, the run records, the trained model, and the
//! `mvc-serve-events` thread that follows the trainer's events.
//!
//! Locks are `std` mutexes held for a few field updates only, never across an `.await`, a
//! channel operation or model work. Loading a finished run's checkpoint and evaluating the
//! dataset happens on `mvc-serve-events`, not on the async runtime.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use crossbeam_channel::{Receiver, Sender};

use super::ServeOptions;
use super::api::{ApiMetrics, PredictResponse, RunStatus, TrainResponse};
use super::error::ServeError;
use crate::data::MultiViewDataset;
use crate::engine::checkpoint;
use crate::engine::config::DeviceChoice;
use crate::engine::device::resolve;
use crate::engine::error::TrainError;
use crate::engine::predict::{Evaluation, evaluate_checkpoint, truth_of};
use crate::engine::protocol::{Command, Event, Phase, RunSummary};
use crate::engine::run_log::{RunLog, RunStatus as EngineStatus};
use crate::engine::trainer::{TrainerHandle, try_spawn_trainer};
use crate::metrics;
use crate::model::Cvc;
use crate::runs::RunWriter;

/// Most run records kept (the oldest ended ones are forgotten beyond this).
const MAX_RECORDS: usize = 1000;
/// Most reconstructions computed at once (each holds the network's lock on a blocking thread).
const RECONSTRUCTIONS_AT_ONCE: usize = 2;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A trained network and its whole-dataset evaluation, ready for `/predict`. Everything a
/// prediction needs beyond the evaluation (the ground truth in evaluation order, the
/// Hungarian alignment) is computed once here, so a request only copies a few numbers.
pub(super) struct TrainedModel {
    pub run_id: u64,
    pub dataset: Arc<MultiViewDataset>,
    pub eval: Evaluation,
    /// Row of `eval` for each dataset row.
    pub position: Vec<usize>,
    /// Label id of each `eval` row, when labelled.
    truth: Option<Vec<usize>>,
    /// Model cluster → label id (Hungarian matching of the whole dataset), when labelled.
    align: Option<Vec<usize>>,
    pub network: Mutex<Cvc>,
    pub device: Device,
}

impl TrainedModel {
    fn aligned(&self, cluster: usize) -> usize {
        self.align.as_ref().and_then(|m| m.get(cluster).copied()).unwrap_or(cluster)
    }

    /// The answer for dataset row `index` (< n_samples), as `engine::predict::predict_index`
    /// gives it, without its per-call matching.
    pub fn predict(&self, index: usize, compare: bool, assignment: bool) -> Option<PredictResponse> {
        let pos = *self.position.get(index)?;
        let k = self.eval.k;
        let cluster_assignment = self.aligned(*self.eval.pred_mean.get(pos)?);
        let ground_truth_label = self.truth.as_ref().and_then(|t| t.get(pos).copied());
        Some(PredictResponse {
            data_index: index,
            status: "success".into(),
            cluster_probabilities: self.eval.q_mean.get(pos * k..(pos + 1) * k)?.to_vec(),
            cluster_assignment: assignment.then_some(cluster_assignment),
            hidden_features: None,
            reconstructed_features: None,
            ground_truth_label: ground_truth_label.filter(|_| compare),
            is_correct: ground_truth_label.map(|g| g == cluster_assignment).filter(|_| compare),
            confidence: self.eval.confidence.get(pos).copied().unwrap_or(0.0),
            uncertainty: self.eval.uncertainty.get(pos).copied().unwrap_or(0.0),
            per_view_assignment: self
                .eval
                .pred_views
                .iter()
                .filter_map(|p| p.get(pos).map(|&c| self.aligned(c)))
                .collect(),
            run_id: self.run_id,
        })
    }

    /// `h` of the first view for dataset row `index`.
    pub fn hidden(&self, index: usize) -> Option<Vec<f32>> {
        let pos = *self.position.get(index)?;
        let h = self.eval.h_dim;
        Some(self.eval.h.first()?.get(pos * h..(pos + 1) * h)?.to_vec())
    }
}

/// What `/train` waits for.
pub(super) type Outcome = Result<TrainResponse, ServeError>;

/// The run that holds the single run slot.
pub(super) struct ActiveRun {
    pub id: u64,
    /// Set once the dataset is loaded (before the trainer is started).
    pub dataset: Option<Arc<MultiViewDataset>>,
    pub done: Option<tokio::sync::oneshot::Sender<Outcome>>,
    /// `POST /runs/{id}/stop` came; a run still loading is stopped as soon as it starts.
    pub stop_requested: bool,
    /// Records the run in the run store (`GET /runs`) once its dataset is loaded.
    pub writer: Option<RunWriter>,
}

pub(super) struct RunRecord {
    pub status: RunStatus,
    /// The engine's run model, folded from the trainer's events; `status` is read off it.
    pub log: RunLog,
    pub started: Instant,
    pub finished: Option<Instant>,
}

/// Most warnings a run's status carries.
const MAX_WARNINGS: usize = 20;

impl RunRecord {
    /// Folds a trainer event into the run's log and refreshes the API status from it.
    pub fn apply(&mut self, event: Event) {
        self.log.apply(event);
        let (s, log) = (&mut self.status, &self.log);
        if matches!(log.status, EngineStatus::Running | EngineStatus::Paused) {
            s.status = "running".into();
        }
        if log.device.is_some() {
            s.device.clone_from(&log.device);
        }
        if log.total_epochs > 0 {
            s.total_epochs = log.total_epochs;
        }
        s.phase = log.phase.map(phase_name);
        if let Some(p) = log.progress {
            s.phase = Some(phase_name(p.phase));
            (s.epoch, s.global_epoch, s.batch, s.n_batches) = (p.epoch, p.global_epoch, p.batch, p.n_batches);
            s.eta_secs = Some(p.eta_secs);
        }
        if let Some(e) = log.epochs.last()
            && e.global_epoch >= s.global_epoch
        {
            (s.epoch, s.global_epoch) = (e.epoch, e.global_epoch);
            s.last_losses = Some(e.losses.into());
            s.view_weights.clone_from(&e.view_weights);
        }
        if let Some(m) = log.metrics.last() {
            s.metrics = Some(api_metrics(m));
        }
        if let Some(c) = &log.checkpoint {
            s.checkpoint = Some(c.display().to_string());
        }
        s.warnings = log.warnings.iter().take(MAX_WARNINGS).cloned().collect();
    }

    pub fn snapshot(&self) -> RunStatus {
        let end = self.finished.unwrap_or_else(Instant::now);
        RunStatus { elapsed_secs: end.duration_since(self.started).as_secs_f64(), ..self.status.clone() }
    }
}

#[derive(Default)]
pub(super) struct Inner {
    pub next_id: u64,
    pub runs: BTreeMap<u64, RunRecord>,
    pub active: Option<ActiveRun>,
}

impl Inner {
    /// Adds a record, forgetting the oldest ended ones beyond [`MAX_RECORDS`].
    pub fn insert_record(&mut self, id: u64, rec: RunRecord) {
        self.runs.insert(id, rec);
        let active = self.active.as_ref().map(|a| a.id);
        while self.runs.len() > MAX_RECORDS {
            let Some(oldest) = self.runs.keys().copied().find(|&k| Some(k) != active) else { break };
            self.runs.remove(&oldest);
        }
    }

    /// Frees the run slot of `id` after a failure before its run started.
    pub fn fail(&mut self, id: u64, err: &ServeError) -> Option<tokio::sync::oneshot::Sender<Outcome>> {
        let done = match self.active.take() {
            Some(mut a) if a.id == id => {
                if let Some(w) = a.writer.as_mut() {
                    w.fail(&err.to_string()).ok();
                }
                a.done
            }
            other => {
                self.active = other;
                None
            }
        };
        if let Some(rec) = self.runs.get_mut(&id) {
            rec.status.status = "failed".into();
            rec.status.error = Some(err.to_string());
            rec.finished = Some(Instant::now());
        }
        done
    }
}

pub(super) struct Shared {
    pub opts: ServeOptions,
    pub commands: Sender<Command>,
    pub inner: Mutex<Inner>,
    pub model: RwLock<Option<Arc<TrainedModel>>>,
    /// Bounds the blocking reconstructions of `/predict`.
    pub reconstructions: tokio::sync::Semaphore,
    /// Keeps the trainer thread alive for the server's lifetime.
    _trainer: Mutex<TrainerHandle>,
}

impl Shared {
    /// The model of the last finished run, if any.
    pub fn model(&self) -> Option<Arc<TrainedModel>> {
        self.model.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// The server's state: one trainer thread and the event thread that follows it.
#[derive(Clone)]
pub struct ServeState {
    pub(super) shared: Arc<Shared>,
}

impl ServeState {
    /// Starts the trainer thread and the event thread.
    pub fn new(opts: ServeOptions) -> std::io::Result<Self> {
        let trainer = try_spawn_trainer()?;
        let commands = trainer.commands.clone();
        let events = trainer.events.clone();
        let shared = Arc::new(Shared {
            opts,
            commands,
            inner: Mutex::new(Inner { next_id: 1, ..Inner::default() }),
            model: RwLock::new(None),
            reconstructions: tokio::sync::Semaphore::new(RECONSTRUCTIONS_AT_ONCE),
            _trainer: Mutex::new(trainer),
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new().name("mvc-serve-events".into()).spawn(move || event_loop(&weak, &events))?;
        Ok(ServeState { shared })
    }

    /// Asks the active run (if any) to stop; used on shutdown. Never blocks.
    pub fn stop_active(&self) {
        let mut inner = lock(&self.shared.inner);
        if let Some(a) = inner.active.as_mut() {
            // Also remembered, for a run whose dataset is still loading: the trainer ignores a
            // Stop before Start, so the job sends another once it has started the run.
            a.stop_requested = true;
            self.shared.commands.try_send(Command::Stop).ok();
        }
    }
}

fn phase_name(p: Phase) -> String {
    match p {
        Phase::Pretrain => "pretrain".into(),
        Phase::Contrastive => "contrastive".into(),
    }
}

/// How a run ended, as the trainer said.
enum Ending {
    Finished(Box<RunSummary>),
    Failed(TrainError),
}

/// Follows the trainer's events until the server is gone.
fn event_loop(shared: &Weak<Shared>, events: &Receiver<Event>) {
    loop {
        let event = match events.recv_timeout(Duration::from_millis(500)) {
            Ok(e) => e,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if shared.strong_count() == 0 {
                    return;
                }
                continue;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        };
        let Some(shared) = shared.upgrade() else { return };
        if let Some(w) = lock(&shared.inner).active.as_mut().and_then(|a| a.writer.as_mut())
            && let Err(e) = w.observe(&event)
        {
            eprintln!("warning: the run store could not record run {}: {e}", w.id());
        }
        match event {
            Event::Finished(summary) => finish_run(&shared, Ending::Finished(summary)),
            Event::Failed { error, .. } => finish_run(&shared, Ending::Failed(error)),
            other => {
                let mut inner = lock(&shared.inner);
                let Some(id) = inner.active.as_ref().map(|a| a.id) else { continue };
                if let Some(rec) = inner.runs.get_mut(&id) {
                    rec.apply(other);
                }
            }
        }
    }
}

/// Ends the active run: loads its model for `/predict`, records the outcome and wakes `/train`.
fn finish_run(shared: &Shared, ending: Ending) {
    let Some(mut active) = lock(&shared.inner).active.take() else { return };
    let outcome: Outcome = match (ending, active.dataset.clone()) {
        (_, None) => Err(ServeError::Internal("the run ended before its dataset was recorded".into())),
        (Ending::Finished(summary), Some(dataset)) => {
            // A panic here (checkpoint load, evaluation) must not take the event thread with it:
            // every later run would then wait for events nobody reads.
            // A metric-learning baseline answers no `/predict` (its results are its test split's
            // readings); the previous run's model is dropped so that nothing answers for it.
            let trained = if summary.config.model.is_baseline() {
                Ok((None, summary.final_metrics.as_ref().map(api_metrics)))
            } else {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    load_trained(active.id, &dataset, &summary, shared.opts.device)
                }))
                .unwrap_or_else(|payload| {
                    Err(format!("evaluating the trained model panicked: {}", crate::panic::message(payload.as_ref())))
                })
                .map(|(model, metrics)| (Some(model), metrics))
            };
            match trained {
                Ok((model, metrics)) => {
                    *shared.model.write().unwrap_or_else(std::sync::PoisonError::into_inner) = model.map(Arc::new);
                    let inner = lock(&shared.inner);
                    let status = inner.runs.get(&active.id).map(RunRecord::snapshot);
                    Ok(TrainResponse {
                        status: if summary.stopped { "stopped".into() } else { "success".into() },
                        run_id: active.id,
                        metrics,
                        dataset_name: status.as_ref().map(|s| s.dataset_name.clone()).unwrap_or_default(),
                        n_samples: dataset.n_samples(),
                        n_clusters: status.as_ref().map_or(0, |s| s.n_clusters),
                        epochs: summary.epochs.len(),
                        device: summary.device.clone(),
                        seconds: status.as_ref().map_or(0.0, |s| s.elapsed_secs),
                        checkpoint: summary.checkpoint.as_ref().map(|p| p.display().to_string()),
                        warnings: status.map(|s| s.warnings).unwrap_or_default(),
                        converged: summary.converged.map(|c| crate::serve::api::ApiConvergence {
                            epoch: c.epoch,
                            changed: c.changed,
                            message: c.sentence(summary.config.stop_tolerance, summary.config.con_epochs),
                        }),
                    })
                }
                Err(why) => Err(ServeError::Internal(why)),
            }
        }
        (Ending::Failed(e), _) if e.is_internal() => Err(ServeError::Internal(e.to_string())),
        (Ending::Failed(e), _) => Err(ServeError::RunFailed(e.to_string())),
    };
    {
        let mut inner = lock(&shared.inner);
        if let Some(rec) = inner.runs.get_mut(&active.id) {
            rec.finished = Some(Instant::now());
            // An ended run keeps its status; its history is in the run store.
            rec.log = RunLog::default();
            match &outcome {
                Ok(r) => {
                    rec.status.status = r.status.clone();
                    rec.status.metrics = r.metrics;
                    rec.status.checkpoint.clone_from(&r.checkpoint);
                    rec.status.eta_secs = Some(0.0);
                }
                Err(e) => {
                    rec.status.status = "failed".into();
                    rec.status.error = Some(e.to_string());
                }
            }
        }
    }
    if let Some(tx) = active.done.take() {
        tx.send(outcome).ok();
    }
}

/// The API's metrics of an evaluation: the primary reading, and a baseline's kNN accuracy.
fn api_metrics(m: &crate::engine::protocol::MetricsReport) -> ApiMetrics {
    let p = m.mean_q;
    ApiMetrics { accuracy: p.acc, nmi: p.nmi, purity: p.purity, ari: p.ari, knn_accuracy: m.triplet.map(|t| t.knn_acc) }
}

/// Loads a finished run's checkpoint and evaluates the whole dataset with it.
fn load_trained(
    run_id: u64,
    ds: &Arc<MultiViewDataset>,
    summary: &RunSummary,
    device: DeviceChoice,
) -> Result<(TrainedModel, Option<ApiMetrics>), String> {
    let Some(dir) = &summary.checkpoint else {
        return Err("the run ended without a checkpoint, so there is no model to predict with".into());
    };
    let ck = checkpoint::load(dir).map_err(|e| e.to_string())?;
    let dev = resolve(device)?;
    // A run on some of the views (a DEC run on one) is read on those views only.
    let ds = match ck.views_of(ds).map_err(|e| e.to_string())? {
        std::borrow::Cow::Borrowed(_) => Arc::clone(ds),
        std::borrow::Cow::Owned(selected) => Arc::new(selected),
    };
    let ds = &ds;
    let (network, eval) = evaluate_checkpoint(&ck, ds, &dev.device)?;
    let truth = truth_of(ds, &eval.rows);
    let metrics = truth.as_ref().map(|truth| {
        let s = metrics::scores(&eval.pred_mean, truth);
        ApiMetrics { accuracy: s.acc, nmi: s.nmi, purity: s.purity, ari: s.ari, knn_accuracy: None }
    });
    let align = truth.as_ref().map(|t| metrics::align_clusters(&eval.pred_mean, t));
    let mut position = vec![0; ds.n_samples()];
    for (pos, &row) in eval.rows.iter().enumerate() {
        if let Some(p) = position.get_mut(row) {
            *p = pos;
        }
    }
    let model = TrainedModel {
        run_id,
        dataset: Arc::clone(ds),
        eval,
        position,
        truth,
        align,
        network: Mutex::new(network),
        device: dev.device,
    };
    Ok((model, metrics))
}
