//! `POST /train` as a background job. The request checks its body and settings, finds its
//! dataset (on a blocking thread, bounded by the handler timeout), takes the single run slot,
//! and hands the rest to a spawned task: load and preprocess the dataset (blocking thread,
//! bounded by [`Limits::load_timeout`](super::Limits::load_timeout)), check the settings
//! against it, then give the run to the trainer with a non-blocking `try_send`. The request
//! only awaits the run's outcome, so a client that hangs up (or a timeout) never leaves the
//! slot taken.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;

use super::api::{RunStatus, TrainRequest, TrainResponse};
use super::datasets::resolve_dataset;
use super::error::{ServeError, parse_body};
use super::limits::{MAX_BATCH_SIZE, MAX_EPOCHS, secs};
use super::state::{ActiveRun, RunRecord, ServeState, Shared, lock};
use crate::data::{self, ClusterCountError, LoadOptions, MultiViewDataset, Preprocess};
use crate::engine::config::{DeviceChoice, TrainConfig};
use crate::engine::layers::{Layers, Patch, put};
use crate::engine::presets;
use crate::engine::protocol::Command;
use crate::engine::run_log::RunLog;
use crate::runs::{DatasetInfo, NewRun, RunStore};

/// Refuses settings outside the API's ranges before anything else looks at them.
fn check_ranges(req: &TrainRequest) -> Result<(), ServeError> {
    if let Some(b) = req.batch_size
        && !(1..=MAX_BATCH_SIZE).contains(&b)
    {
        return Err(ServeError::Invalid(format!("/train: batch_size must be between 1 and {MAX_BATCH_SIZE}, got {b}")));
    }
    for (field, value) in [("mse_epochs", req.mse_epochs), ("con_epochs", req.con_epochs)] {
        if let Some(e) = value
            && e > MAX_EPOCHS
        {
            return Err(ServeError::Invalid(format!("/train: {field} must be at most {MAX_EPOCHS}, got {e}")));
        }
    }
    Ok(())
}

/// Builds the run config from a request through the shared layering (`engine::layers`): the
/// seed API's defaults (200 + 300 epochs, seed 25, no snapshots), the preset of the dataset's
/// name where the request is silent, then the request's fields.
pub(crate) fn train_config(req: &TrainRequest, name: &str, device: DeviceChoice) -> Result<TrainConfig, ServeError> {
    check_ranges(req)?;
    let mut user = Patch::new();
    put(&mut user, "batch_size", req.batch_size);
    put(&mut user, "learning_rate", req.learning_rate);
    put(&mut user, "mse_epochs", req.mse_epochs);
    put(&mut user, "con_epochs", req.con_epochs);
    put(&mut user, "seed", req.seed);
    put(&mut user, "threshold", req.threshold);
    put(&mut user, "n_clusters", req.num_cluster);
    put(&mut user, "classes", req.classes.as_ref());
    put(&mut user, "sinkhorn_iters", req.sinkhorn_iters);
    put(&mut user, "uncertainty_weighting", req.uncertainty_weighting);
    put(&mut user, "cluster_space", req.cluster_space);
    put(&mut user, "pseudo_source", req.pseudo_source);
    put(&mut user, "contrast_pairing", req.contrast_pairing);
    put(&mut user, "contrast_scale", req.contrast_scale);
    put(&mut user, "centring_scope", req.centring_scope);
    put(&mut user, "lr_cosine", req.lr_cosine);
    put(&mut user, "fresh_optimizer", req.fresh_optimizer);
    put(&mut user, "lr_warmup_epochs", req.lr_warmup_epochs);
    put(&mut user, "pseudo_delay", req.pseudo_delay);
    put(&mut user, "min_cluster_share", req.min_cluster_share);
    put(&mut user, "pseudo_warm_start", req.pseudo_warm_start);
    put(&mut user, "pseudo_warm_margin", req.pseudo_warm_margin);
    put(&mut user, "pcl_temperature", req.pcl_temperature);
    put(&mut user, "knn_targets", req.knn_targets);
    put(&mut user, "model", req.model);
    put(&mut user, "image", req.image);
    put(&mut user, "mining", req.mining);
    put(&mut user, "positives", req.positives);
    put(&mut user, "margin", req.margin);
    put(&mut user, "test_fraction", req.test_fraction);
    put(&mut user, "knn_k", req.knn_k);
    put(&mut user, "views", req.view_names.as_ref());
    put(&mut user, "target_refresh", req.target_refresh);
    put(&mut user, "stop_tolerance", req.stop_tolerance);
    let layers = Layers {
        defaults: TrainConfig {
            mse_epochs: 200,
            con_epochs: 300,
            seed: 25,
            device,
            snapshot_every: 0,
            ..TrainConfig::default()
        },
        preset: presets::find(name).ok().map(|p| p.name.to_owned()),
        user,
        user_origin: "/train".into(),
        ..Layers::default()
    };
    layers.build().map_err(|why| ServeError::Invalid(format!("/train: {}", api_field_names(&why.to_string()))))
}

/// The engine's field names in a message, as the API spells them.
fn api_field_names(why: &str) -> String {
    why.replace("n_clusters", "num_cluster")
}

/// `POST /train` up to the run's outcome.
pub(super) async fn train(state: &ServeState, body: &Bytes) -> Result<TrainResponse, ServeError> {
    let req: TrainRequest = parse_body(body, "/train")?;
    let shared = Arc::clone(&state.shared);
    let limits = shared.opts.limits;
    let name = req.dataset_name.clone().unwrap_or_else(|| "MNIST-USPS".into());
    let cfg = train_config(&req, &name, shared.opts.device)?;
    let find = tokio::task::spawn_blocking({
        let (name, opts) = (name.clone(), shared.opts.clone());
        move || resolve_dataset(&name, &opts)
    });
    let source = match tokio::time::timeout(limits.handler_timeout, find).await {
        Ok(Ok(found)) => found?,
        Ok(Err(e)) => return Err(ServeError::Internal(format!("finding dataset {name:?} failed: {e}"))),
        Err(_) => {
            return Err(ServeError::Timeout {
                what: format!("finding dataset {name:?}"),
                secs: secs(limits.handler_timeout),
            });
        }
    };
    // Take the single run slot.
    let (id, rx) = {
        let mut inner = lock(&shared.inner);
        if let Some(a) = &inner.active {
            return Err(ServeError::Busy(a.id));
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let (tx, rx) = tokio::sync::oneshot::channel();
        inner.active = Some(ActiveRun { id, dataset: None, done: Some(tx), stop_requested: false, writer: None });
        let status = RunStatus {
            run_id: id,
            status: "loading".into(),
            dataset_name: name.clone(),
            n_samples: 0,
            n_views: 0,
            n_clusters: 0,
            phase: None,
            epoch: 0,
            global_epoch: 0,
            total_epochs: cfg.mse_epochs + cfg.con_epochs,
            batch: 0,
            n_batches: 0,
            eta_secs: None,
            elapsed_secs: 0.0,
            last_losses: None,
            view_weights: Vec::new(),
            metrics: None,
            device: None,
            checkpoint: None,
            error: None,
            warnings: Vec::new(),
        };
        inner.insert_record(id, RunRecord { status, log: RunLog::default(), started: Instant::now(), finished: None });
        (id, rx)
    };
    // The request's scaling, else the preset's (picked by the dataset's name), else min-max.
    let preprocess = presets::scaling(cfg.preset.as_deref(), req.preprocess);
    let job = Job { shared, id, name, source, cfg, views: req.views, preprocess };
    tokio::spawn(job.run());
    match rx.await {
        Ok(outcome) => outcome,
        Err(_) => Err(ServeError::Internal("the run ended without an outcome".into())),
    }
}

/// The part of a `/train` that outlives its request: load, check, start.
struct Job {
    shared: Arc<Shared>,
    id: u64,
    name: String,
    source: String,
    cfg: TrainConfig,
    views: Option<usize>,
    preprocess: Preprocess,
}

impl Job {
    async fn run(self) {
        let (shared, id) = (Arc::clone(&self.shared), self.id);
        if let Err(err) = self.start().await {
            let done = lock(&shared.inner).fail(id, &err);
            if let Some(tx) = done {
                tx.send(Err(err)).ok();
            }
        }
    }

    async fn start(self) -> Result<(), ServeError> {
        let Job { shared, id, name, source, cfg, views, preprocess } = self;
        let limits = shared.opts.limits;
        let classes = cfg.classes.clone();
        let load = tokio::task::spawn_blocking(move || -> Result<(MultiViewDataset, Vec<Preprocess>), String> {
            let mut ds = data::load_named(&source, &LoadOptions::default()).map_err(|e| e.to_string())?;
            let scalings = data::preprocess::apply(&mut ds, preprocess);
            // The class-incremental protocol's filter, after the scaling as `train` applies it.
            match &classes {
                Some(c) => ds.select_classes(c).map(|ds| (ds, scalings)).map_err(|e| format!("classes: {e}")),
                None => Ok((ds, scalings)),
            }
        });
        let (ds, scalings) = match tokio::time::timeout(limits.load_timeout, load).await {
            Ok(Ok(Ok((ds, scalings)))) => (Arc::new(ds), scalings),
            Ok(Ok(Err(why))) => return Err(ServeError::DatasetUnreadable { name, why }),
            Ok(Err(e)) => return Err(ServeError::Internal(format!("loading dataset {name:?} failed: {e}"))),
            Err(_) => {
                return Err(ServeError::Timeout {
                    what: format!("loading dataset {name:?}"),
                    secs: secs(limits.load_timeout),
                });
            }
        };
        let mut warnings = Vec::new();
        if let Some(v) = views
            && v != ds.n_views()
        {
            warnings.push(format!(
                "views is {v} but {name} has {} views; all of the dataset's views are used",
                ds.n_views()
            ));
        }
        let k = ds.clusters_for(cfg.n_clusters).map_err(|e| match e {
            ClusterCountError::Unlabelled => {
                ServeError::Invalid(format!("/train: {name} has no labels, so num_cluster must be given"))
            }
            ClusterCountError::MoreThanSamples { k, n } => {
                ServeError::Invalid(format!("/train: num_cluster is {k} but {name} has only {n} samples"))
            }
            other => ServeError::Invalid(format!("/train: {name}: {other} (num_cluster)")),
        })?;
        let (n_samples, n_views) = (ds.n_samples(), ds.n_views());
        let record = NewRun {
            name: format!("{} (serve run {id})", ds.name),
            tags: Vec::new(),
            front_end: "serve".into(),
            dataset: DatasetInfo::of(&ds, &name, preprocess.as_str()).with_scalings(&scalings),
            config: cfg.clone(),
            sweep_cell: None,
        };
        let writer = RunStore::open(&shared.opts.runs_dir)
            .and_then(|store| store.create(record))
            .map_err(|e| ServeError::Internal(format!("cannot record the run: {e}")))?;
        let out_dir = writer.dir().to_path_buf();
        let start = Command::Start { dataset: Arc::clone(&ds), config: Box::new(cfg), out_dir: Some(out_dir) };
        // Under the lock, so that a stop asked for meanwhile is either seen here or sent after
        // the start (the stop route sends under the same lock); `try_send` never blocks.
        let mut inner = lock(&shared.inner);
        let stop_requested = inner.active.as_ref().is_some_and(|a| a.stop_requested);
        if let Some(a) = inner.active.as_mut() {
            a.dataset = Some(ds);
            a.writer = Some(writer);
        }
        if let Some(rec) = inner.runs.get_mut(&id) {
            rec.status.n_samples = n_samples;
            rec.status.n_views = n_views;
            rec.status.n_clusters = k;
            rec.log.warnings.extend(warnings.iter().cloned());
            rec.status.warnings.extend(warnings);
        }
        shared.commands.try_send(start).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => {
                ServeError::Unavailable("the trainer's command queue is full; try again in a moment".into())
            }
            crossbeam_channel::TrySendError::Disconnected(_) => {
                ServeError::Internal("the trainer thread has ended; restart the server".into())
            }
        })?;
        if stop_requested {
            shared.commands.try_send(Command::Stop).ok();
        }
        drop(inner);
        Ok(())
    }
}
