//! `serve`: the seed system's HTTP API (`POST /train`, `POST /predict`) on the engine.
//!
//! The routes, their bodies and the error rules are described by `GET /openapi.json`
//! (built with `utoipa` from the types below) and, for a person, by the page at `GET /`.
//!
//! - Training runs on the engine's `mvc-trainer` thread, never on a request thread.
//!   `POST /train` answers when the run ends, as the seed's did; meanwhile
//!   `GET /runs/{id}` reports live progress and `POST /runs/{id}/stop` ends the run
//!   (its results so far are kept). One run at a time: a second `/train` gets 409.
//! - A dedicated `mvc-serve-events` thread reads the trainer's events, keeps each run's
//!   record up to date and, when a run ends, loads its checkpoint and evaluates the whole
//!   dataset once; `/predict` then answers from that evaluation (and, for
//!   `return_reconstruction`, from the loaded network).
//! - Every client mistake (malformed JSON, unknown field or dataset, out-of-range index,
//!   predict before any train, unknown run) is a 4xx with a JSON body
//!   `{"status": "error", "code": …, "detail": "…"}`; nothing a client sends can panic the server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use burn::tensor::{Device, Tensor, TensorData};
use crossbeam_channel::{Receiver, Sender};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::data::{self, LoadOptions, MultiViewDataset, Preprocess, builtin};
use crate::engine::checkpoint;
use crate::engine::config::{DeviceChoice, TrainConfig};
use crate::engine::device::resolve;
use crate::engine::predict::{Evaluation, evaluate, predict_index, to_host, truth_of};
use crate::engine::presets;
use crate::engine::protocol::{Command, Event, Losses, Phase, RunSummary};
use crate::engine::trainer::{TrainerHandle, try_spawn_trainer};
use crate::metrics;
use crate::model::Cvc;

/// The address `serve` binds by default (the seed's port, loopback only).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8919";

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Folder whose `.mat` files `dataset_name` may name (besides the built-in datasets).
    pub datasets_dir: Option<PathBuf>,
    /// Folder under which each run's checkpoint is written (`run-<id>-<dataset>/checkpoint`).
    pub runs_dir: PathBuf,
    /// Device of the runs (the request cannot change it).
    pub device: DeviceChoice,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions { datasets_dir: None, runs_dir: PathBuf::from("runs/serve"), device: DeviceChoice::Auto }
    }
}

// ---------------------------------------------------------------------------------------------
// Request and response bodies (the seed's field names, kept so its `curl` examples work).

/// `POST /train`. Every field is optional; a field left out takes the preset of
/// `dataset_name` when one exists (MNIST-USPS, BDGP, …), else the seed API's default.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainRequest {
    /// A built-in dataset (`gauss3-noise`, `rings-moons`) or the name of a `.mat` file in the
    /// server's `--datasets` folder (case, `-` and `_` ignored: `MNIST-USPS` finds `MNIST_USPS.mat`).
    #[schema(example = "gauss3-noise")]
    pub dataset_name: Option<String>,
    /// Mini-batch size (default 256).
    pub batch_size: Option<usize>,
    /// Adam learning rate (default 0.0003).
    pub learning_rate: Option<f64>,
    /// Number of clusters (default: the number of classes of the dataset's labels).
    pub num_cluster: Option<usize>,
    /// Number of views the client expects; the dataset's own views are used, and a warning is
    /// returned when they differ.
    pub views: Option<usize>,
    /// Epochs of reconstruction pre-training (default 200).
    pub mse_epochs: Option<usize>,
    /// Epochs of contrastive training (default 300).
    pub con_epochs: Option<usize>,
    /// Random seed (default 25).
    pub seed: Option<u64>,
    /// Pseudo-label threshold of the local contrast, in [0, 1] (default 0.8).
    pub threshold: Option<f32>,
}

/// Clustering quality of the primary reading (argmax of the mean view assignment).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiMetrics {
    pub accuracy: f64,
    pub nmi: f64,
    pub purity: f64,
    pub ari: f64,
}

/// Answer of `POST /train`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrainResponse {
    /// `success`, or `stopped` when the run was ended by `POST /runs/{id}/stop`.
    pub status: String,
    pub run_id: u64,
    /// Null when the dataset has no labels.
    pub metrics: Option<ApiMetrics>,
    pub dataset_name: String,
    pub n_samples: usize,
    pub n_clusters: usize,
    /// Epochs completed over both phases.
    pub epochs: usize,
    pub device: String,
    pub seconds: f64,
    pub checkpoint: Option<String>,
    /// Things the client should know (e.g. `views` differs from the dataset).
    pub warnings: Vec<String>,
}

/// `POST /predict`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// The sample (0-based row of the dataset of the last run).
    pub data_index: i64,
    #[serde(default = "yes")]
    pub return_cluster_assignment: bool,
    /// Return `h` of the first view (as the seed did).
    #[serde(default)]
    pub return_features: bool,
    /// Return the first view's reconstruction (in the preprocessed, min-max scale).
    #[serde(default)]
    pub return_reconstruction: bool,
    #[serde(default = "yes")]
    pub compare_with_ground_truth: bool,
}

fn yes() -> bool {
    true
}

/// Answer of `POST /predict`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PredictResponse {
    pub data_index: usize,
    pub status: String,
    /// Mean soft assignment over the views, in the model's cluster order.
    pub cluster_probabilities: Vec<f32>,
    /// Predicted cluster, mapped to the label ids by the Hungarian matching of the whole
    /// dataset (the model's own id when the data is unlabelled).
    pub cluster_assignment: Option<usize>,
    pub hidden_features: Option<Vec<f32>>,
    pub reconstructed_features: Option<Vec<f32>>,
    /// The true label id (0-based class index), when labelled and asked for.
    pub ground_truth_label: Option<usize>,
    pub is_correct: Option<bool>,
    /// max of `cluster_probabilities`.
    pub confidence: f32,
    /// Each view's own assignment, aligned like `cluster_assignment`.
    pub per_view_assignment: Vec<usize>,
    /// The run whose model answered.
    pub run_id: u64,
}

/// Mean per-term losses of the last finished epoch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct ApiLosses {
    pub rec: f64,
    pub cluster: f64,
    pub local: f64,
    pub kl: f64,
    pub label: f64,
    pub total: f64,
}

impl From<Losses> for ApiLosses {
    fn from(l: Losses) -> Self {
        ApiLosses { rec: l.rec, cluster: l.cluster, local: l.local, kl: l.kl, label: l.label, total: l.total }
    }
}

/// A run's live state (`GET /runs/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunStatus {
    pub run_id: u64,
    /// `loading`, `running`, `finished`, `stopped` or `failed`.
    pub status: String,
    pub dataset_name: String,
    pub n_samples: usize,
    pub n_views: usize,
    pub n_clusters: usize,
    /// `pretrain` or `contrastive` (null before the first epoch starts).
    pub phase: Option<String>,
    /// Epoch within the phase (1-based) and over both phases.
    pub epoch: usize,
    pub global_epoch: usize,
    pub total_epochs: usize,
    pub batch: usize,
    pub n_batches: usize,
    pub eta_secs: Option<f64>,
    pub elapsed_secs: f64,
    pub last_losses: Option<ApiLosses>,
    pub view_weights: Vec<f32>,
    /// Latest metrics (primary reading), when labelled.
    pub metrics: Option<ApiMetrics>,
    pub device: Option<String>,
    pub checkpoint: Option<String>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

/// Every error: a 4xx for what the client sent, 5xx only for the server's own trouble.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Always `error`.
    pub status: String,
    /// The HTTP status code.
    pub code: u16,
    /// What was wrong, as a sentence.
    pub detail: String,
}

/// `POST /runs/{id}/stop`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StopResponse {
    pub run_id: u64,
    /// `stopping`.
    pub status: String,
}

// ---------------------------------------------------------------------------------------------
// Errors.

/// An error answer: a status and a sentence.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
}

impl ApiError {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError { status, detail: detail.into() }
    }
    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
    fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }
    fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { status: "error".into(), code: self.status.as_u16(), detail: self.detail };
        (self.status, axum::Json(body)).into_response()
    }
}

fn json_response<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => ApiError::internal(format!("the answer could not be encoded as JSON: {e}")).into_response(),
    }
}

/// Parses a JSON body, turning every failure into a 400 that says what was wrong.
fn parse_body<T: DeserializeOwned>(body: &Bytes, route: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!("{route}: the request body is empty; send a JSON object")));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let at = if field == "." || field.is_empty() { String::new() } else { format!("field `{field}`: ") };
        ApiError::bad_request(format!("{route}: the request body is not valid for this route: {at}{inner}"))
    })?;
    de.end().map_err(|e| ApiError::bad_request(format!("{route}: unexpected text after the JSON object: {e}")))?;
    Ok(value)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Shared state.

/// A trained network and its whole-dataset evaluation, ready for `/predict`.
struct TrainedModel {
    run_id: u64,
    dataset: Arc<MultiViewDataset>,
    eval: Evaluation,
    /// Row of `eval` for each dataset row.
    position: Vec<usize>,
    network: Mutex<Cvc>,
    device: Device,
}

/// What `/train` waits for.
type Outcome = Result<TrainResponse, ApiError>;

/// The run the trainer is working on.
struct ActiveRun {
    id: u64,
    /// Set once the dataset is loaded (before the trainer is started).
    dataset: Option<Arc<MultiViewDataset>>,
    done: Option<tokio::sync::oneshot::Sender<Outcome>>,
}

struct RunRecord {
    status: RunStatus,
    started: Instant,
    finished: Option<Instant>,
}

impl RunRecord {
    fn snapshot(&self) -> RunStatus {
        let end = self.finished.unwrap_or_else(Instant::now);
        RunStatus { elapsed_secs: end.duration_since(self.started).as_secs_f64(), ..self.status.clone() }
    }
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    runs: BTreeMap<u64, RunRecord>,
    active: Option<ActiveRun>,
}

struct Shared {
    opts: ServeOptions,
    commands: Sender<Command>,
    inner: Mutex<Inner>,
    model: RwLock<Option<Arc<TrainedModel>>>,
    /// Keeps the trainer thread alive for the server's lifetime.
    _trainer: Mutex<TrainerHandle>,
}

/// The server's state: one trainer thread and the event thread that follows it.
#[derive(Clone)]
pub struct ServeState {
    shared: Arc<Shared>,
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
            _trainer: Mutex::new(trainer),
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new().name("mvc-serve-events".into()).spawn(move || event_loop(&weak, &events))?;
        Ok(ServeState { shared })
    }

    /// Asks the active run (if any) to stop; used on shutdown.
    pub fn stop_active(&self) {
        if lock(&self.shared.inner).active.is_some() {
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

/// Follows the trainer's events until the server is gone.
fn event_loop(shared: &std::sync::Weak<Shared>, events: &Receiver<Event>) {
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
        match event {
            Event::Finished(summary) => finish_run(&shared, Ok(*summary)),
            Event::Failed { reason, .. } => finish_run(&shared, Err(reason)),
            other => {
                let mut inner = lock(&shared.inner);
                let Some(id) = inner.active.as_ref().map(|a| a.id) else { continue };
                let Some(rec) = inner.runs.get_mut(&id) else { continue };
                let s = &mut rec.status;
                match other {
                    Event::Started { device, total_epochs, .. } => {
                        s.status = "running".into();
                        s.device = Some(device);
                        s.total_epochs = total_epochs;
                    }
                    Event::Phase(p) => s.phase = Some(phase_name(p)),
                    Event::Progress(p) => {
                        s.phase = Some(phase_name(p.phase));
                        s.epoch = p.epoch;
                        s.global_epoch = p.global_epoch;
                        s.batch = p.batch;
                        s.n_batches = p.n_batches;
                        s.eta_secs = Some(p.eta_secs);
                    }
                    Event::Epoch(e) => {
                        s.last_losses = Some(e.losses.into());
                        s.view_weights = e.view_weights;
                        s.epoch = e.epoch;
                        s.global_epoch = e.global_epoch;
                    }
                    Event::Metrics(m) => {
                        let p = m.mean_q;
                        s.metrics = Some(ApiMetrics { accuracy: p.acc, nmi: p.nmi, purity: p.purity, ari: p.ari });
                    }
                    Event::CheckpointSaved(path) => s.checkpoint = Some(path.display().to_string()),
                    Event::Warning(w) if s.warnings.len() < 20 => {
                        s.warnings.push(w);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Ends the active run: loads its model for `/predict`, records the outcome and wakes `/train`.
fn finish_run(shared: &Shared, result: Result<RunSummary, String>) {
    let Some(mut active) = lock(&shared.inner).active.take() else { return };
    let outcome: Outcome = match (result, active.dataset.clone()) {
        (_, None) => Err(ApiError::internal("the run ended before its dataset was recorded")),
        (Ok(summary), Some(dataset)) => {
            let loaded = load_trained(active.id, &dataset, &summary, shared.opts.device);
            match loaded {
                Ok((model, metrics)) => {
                    *shared.model.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(model));
                    let inner = lock(&shared.inner);
                    let rec = inner.runs.get(&active.id);
                    let status = rec.map(RunRecord::snapshot);
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
                    })
                }
                Err(why) => Err(ApiError::internal(why)),
            }
        }
        (Err(reason), _) if reason.starts_with("the trainer hit an internal error") => Err(ApiError::internal(reason)),
        (Err(reason), _) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("the run failed: {reason}"))),
    };
    {
        let mut inner = lock(&shared.inner);
        if let Some(rec) = inner.runs.get_mut(&active.id) {
            rec.finished = Some(Instant::now());
            match &outcome {
                Ok(r) => {
                    rec.status.status = r.status.clone();
                    rec.status.metrics = r.metrics;
                    rec.status.checkpoint.clone_from(&r.checkpoint);
                    rec.status.eta_secs = Some(0.0);
                }
                Err(e) => {
                    rec.status.status = "failed".into();
                    rec.status.error = Some(e.detail.clone());
                }
            }
        }
    }
    if let Some(tx) = active.done.take() {
        tx.send(outcome).ok();
    }
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
    let network = ck.model(&dev.device).map_err(|e| e.to_string())?;
    let eval = evaluate(&network, ds, &dev.device, ck.config.batch_size)?;
    let metrics = truth_of(ds, &eval.rows).map(|truth| {
        let s = metrics::scores(&eval.pred_mean, &truth);
        ApiMetrics { accuracy: s.acc, nmi: s.nmi, purity: s.purity, ari: s.ari }
    });
    let mut position = vec![0; ds.n_samples()];
    for (pos, &row) in eval.rows.iter().enumerate() {
        position[row] = pos;
    }
    let model = TrainedModel {
        run_id,
        dataset: Arc::clone(ds),
        eval,
        position,
        network: Mutex::new(network),
        device: dev.device,
    };
    Ok((model, metrics))
}

// ---------------------------------------------------------------------------------------------
// Datasets.

fn normalise(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase()
}

/// The `.mat` files of the datasets folder, by file stem.
fn mat_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("mat")))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p.clone())))
        .collect();
    out.sort();
    out
}

/// Resolves `dataset_name` to a built-in name or a file of the datasets folder; the user's
/// text is only ever compared with listed names, never joined to a path.
fn resolve_dataset(name: &str, opts: &ServeOptions) -> Result<String, ApiError> {
    if builtin::description(name).is_some() {
        return Ok(name.to_string());
    }
    let files = opts.datasets_dir.as_deref().map(mat_files).unwrap_or_default();
    let want = normalise(name.strip_suffix(".mat").unwrap_or(name));
    if let Some((_, path)) = files
        .iter()
        .find(|(stem, _)| stem == name)
        .or_else(|| (!want.is_empty()).then(|| files.iter().find(|(stem, _)| normalise(stem) == want)).flatten())
    {
        return Ok(path.display().to_string());
    }
    let mut known: Vec<String> = builtin::names().iter().map(|s| (*s).to_string()).collect();
    known.extend(files.iter().take(40).map(|(s, _)| s.clone()));
    let folder = match &opts.datasets_dir {
        Some(d) => format!(" and the .mat files in {}", d.display()),
        None => " (start the server with --datasets DIR to serve .mat files)".into(),
    };
    Err(ApiError::not_found(format!(
        "unknown dataset_name {name:?}: the server knows the built-in datasets{folder}: {}",
        known.join(", ")
    )))
}

// ---------------------------------------------------------------------------------------------
// Handlers.

/// Builds the run config from a request: defaults, the seed API's defaults, the preset of
/// the dataset's name where the request is silent, then the request.
fn train_config(req: &TrainRequest, name: &str, device: DeviceChoice) -> Result<TrainConfig, ApiError> {
    let mut cfg =
        TrainConfig { mse_epochs: 200, con_epochs: 300, seed: 25, device, snapshot_every: 0, ..TrainConfig::default() };
    let explicit: Vec<&str> = [
        ("learning_rate", req.learning_rate.is_some()),
        ("mse_epochs", req.mse_epochs.is_some()),
        ("con_epochs", req.con_epochs.is_some()),
        ("seed", req.seed.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(n, _)| *n)
    .collect();
    if let Ok(preset) = presets::find(name) {
        preset.apply(&mut cfg, &explicit);
    }
    if let Some(v) = req.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = req.learning_rate {
        cfg.learning_rate = v;
    }
    if let Some(v) = req.mse_epochs {
        cfg.mse_epochs = v;
    }
    if let Some(v) = req.con_epochs {
        cfg.con_epochs = v;
    }
    if let Some(v) = req.seed {
        cfg.seed = v;
    }
    if let Some(v) = req.threshold {
        cfg.threshold = v;
    }
    cfg.n_clusters = req.num_cluster;
    cfg.validate().map_err(|why| ApiError::bad_request(format!("/train: {}", api_field_names(&why))))?;
    Ok(cfg)
}

/// The engine's field names in a message, as the API spells them.
fn api_field_names(why: &str) -> String {
    why.replace("n_clusters", "num_cluster")
}

#[utoipa::path(post, path = "/train", tag = "training",
    request_body(content = TrainRequest, description = "The dataset and the run's settings (all optional)"),
    responses(
        (status = 200, description = "The run ended (status `success`, or `stopped` after POST /runs/{id}/stop)", body = TrainResponse),
        (status = 400, description = "Malformed JSON, an unknown field, or an invalid value", body = ErrorBody),
        (status = 404, description = "Unknown dataset_name", body = ErrorBody),
        (status = 409, description = "Another run is in progress", body = ErrorBody),
        (status = 422, description = "The dataset could not be loaded, or the run failed (e.g. diverged)", body = ErrorBody),
    ))]
async fn train(State(state): State<ServeState>, body: Bytes) -> Response {
    match train_inner(&state, &body).await {
        Ok(r) => json_response(&r),
        Err(e) => e.into_response(),
    }
}

async fn train_inner(state: &ServeState, body: &Bytes) -> Result<TrainResponse, ApiError> {
    let req: TrainRequest = parse_body(body, "/train")?;
    let shared = &state.shared;
    let name = req.dataset_name.clone().unwrap_or_else(|| "MNIST-USPS".into());
    let source = resolve_dataset(&name, &shared.opts)?;
    let cfg = train_config(&req, &name, shared.opts.device)?;
    // Reserve the single run slot before the (possibly slow) load.
    let (id, rx) = {
        let mut inner = lock(&shared.inner);
        if let Some(a) = &inner.active {
            return Err(ApiError::conflict(format!(
                "run {} is in progress; one run at a time: wait for it, or POST /runs/{}/stop",
                a.id, a.id
            )));
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let (tx, rx) = tokio::sync::oneshot::channel();
        inner.active = Some(ActiveRun { id, dataset: None, done: Some(tx) });
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
        inner.runs.insert(id, RunRecord { status, started: Instant::now(), finished: None });
        (id, rx)
    };
    let release = |shared: &Shared, err: &ApiError| {
        let mut inner = lock(&shared.inner);
        inner.active = None;
        if let Some(rec) = inner.runs.get_mut(&id) {
            rec.status.status = "failed".into();
            rec.status.error = Some(err.detail.clone());
            rec.finished = Some(Instant::now());
        }
    };
    let loaded = tokio::task::spawn_blocking(move || -> Result<MultiViewDataset, String> {
        let mut ds = data::load_named(&source, &LoadOptions::default()).map_err(|e| e.to_string())?;
        data::preprocess::apply(&mut ds, Preprocess::MinMax);
        Ok(ds)
    })
    .await;
    let ds = match loaded {
        Ok(Ok(ds)) => Arc::new(ds),
        Ok(Err(why)) => {
            let err =
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("dataset {name:?} could not be loaded: {why}"));
            release(shared, &err);
            return Err(err);
        }
        Err(e) => {
            let err = ApiError::internal(format!("loading dataset {name:?} failed: {e}"));
            release(shared, &err);
            return Err(err);
        }
    };
    let mut warnings = Vec::new();
    if let Some(v) = req.views
        && v != ds.n_views()
    {
        warnings
            .push(format!("views is {v} but {name} has {} views; all of the dataset's views are used", ds.n_views()));
    }
    let k = match (cfg.n_clusters, ds.n_clusters()) {
        (Some(k), _) | (None, Some(k)) => k,
        (None, None) => {
            let err = ApiError::bad_request(format!("/train: {name} has no labels, so num_cluster must be given"));
            release(shared, &err);
            return Err(err);
        }
    };
    if k > ds.n_samples() {
        let err =
            ApiError::bad_request(format!("/train: num_cluster is {k} but {name} has only {} samples", ds.n_samples()));
        release(shared, &err);
        return Err(err);
    }
    let out_dir = shared.opts.runs_dir.join(format!("run-{id}-{}", normalise(&name)));
    {
        let mut inner = lock(&shared.inner);
        if let Some(a) = inner.active.as_mut() {
            a.dataset = Some(Arc::clone(&ds));
        }
        if let Some(rec) = inner.runs.get_mut(&id) {
            rec.status.n_samples = ds.n_samples();
            rec.status.n_views = ds.n_views();
            rec.status.n_clusters = k;
            rec.status.warnings.extend(warnings);
        }
    }
    if shared.commands.send(Command::Start { dataset: ds, config: Box::new(cfg), out_dir: Some(out_dir) }).is_err() {
        let err = ApiError::internal("the trainer thread has ended; restart the server");
        release(shared, &err);
        return Err(err);
    }
    match rx.await {
        Ok(outcome) => outcome,
        Err(_) => Err(ApiError::internal("the run ended without an outcome")),
    }
}

#[utoipa::path(post, path = "/predict", tag = "prediction",
    request_body(content = PredictRequest, description = "A sample of the dataset of the last run"),
    responses(
        (status = 200, description = "The sample's cluster", body = PredictResponse),
        (status = 400, description = "Malformed JSON, an out-of-range data_index, or no model trained yet", body = ErrorBody),
    ))]
async fn predict(State(state): State<ServeState>, body: Bytes) -> Response {
    match predict_inner(&state, &body).await {
        Ok(r) => json_response(&r),
        Err(e) => e.into_response(),
    }
}

async fn predict_inner(state: &ServeState, body: &Bytes) -> Result<PredictResponse, ApiError> {
    let req: PredictRequest = parse_body(body, "/predict")?;
    let model = state
        .shared
        .model
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .ok_or_else(|| ApiError::bad_request("/predict: no model has been trained yet; POST /train first"))?;
    let n = model.dataset.n_samples();
    let index = usize::try_from(req.data_index).ok().filter(|&i| i < n).ok_or_else(|| {
        ApiError::bad_request(format!(
            "/predict: data_index {} is out of range: it must be between 0 and {} (the dataset of run {} has {n} samples)",
            req.data_index,
            n.saturating_sub(1),
            model.run_id
        ))
    })?;
    let p = predict_index(&model.eval, &model.dataset, index).map_err(ApiError::bad_request)?;
    let pos = model.position[index];
    let hidden_features = req.return_features.then(|| {
        let h = model.eval.h_dim;
        model.eval.h[0][pos * h..(pos + 1) * h].to_vec()
    });
    let reconstructed_features = if req.return_reconstruction {
        let m = Arc::clone(&model);
        let rec = tokio::task::spawn_blocking(move || reconstruct_first_view(&m, index))
            .await
            .map_err(|e| ApiError::internal(format!("the reconstruction failed: {e}")))?
            .map_err(ApiError::internal)?;
        Some(rec)
    } else {
        None
    };
    let compare = req.compare_with_ground_truth;
    Ok(PredictResponse {
        data_index: index,
        status: "success".into(),
        cluster_probabilities: p.cluster_probabilities,
        cluster_assignment: req.return_cluster_assignment.then_some(p.cluster_assignment),
        hidden_features,
        reconstructed_features,
        ground_truth_label: p.ground_truth_label.filter(|_| compare),
        is_correct: p.is_correct.filter(|_| compare),
        confidence: p.confidence,
        per_view_assignment: p.per_view_assignment,
        run_id: model.run_id,
    })
}

fn reconstruct_first_view(model: &TrainedModel, index: usize) -> Result<Vec<f32>, String> {
    let xs: Vec<Tensor<2>> = model
        .dataset
        .views
        .iter()
        .map(|v| {
            Tensor::<2>::from_data(TensorData::new(v.data.gather_rows(&[index]), [1, v.data.cols()]), &model.device)
        })
        .collect();
    let network = lock(&model.network);
    let first = network.reconstruct(&xs[..1]).into_iter().next().ok_or("the model has no views")?;
    to_host(first)
}

#[utoipa::path(get, path = "/runs", tag = "training",
    responses((status = 200, description = "Every run of this server, oldest first", body = [RunStatus])))]
async fn list_runs(State(state): State<ServeState>) -> Response {
    let runs: Vec<RunStatus> = lock(&state.shared.inner).runs.values().map(RunRecord::snapshot).collect();
    json_response(&runs)
}

fn parse_run_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("run id {raw:?} is not a number; run ids are 1, 2, 3, …")))
}

#[utoipa::path(get, path = "/runs/{id}", tag = "training",
    params(("id" = u64, Path, description = "The run id returned by /train (and shown by GET /runs)")),
    responses(
        (status = 200, description = "The run's live state", body = RunStatus),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
    ))]
async fn get_run(State(state): State<ServeState>, UrlPath(raw): UrlPath<String>) -> Response {
    let result = parse_run_id(&raw).and_then(|id| {
        lock(&state.shared.inner)
            .runs
            .get(&id)
            .map(RunRecord::snapshot)
            .ok_or_else(|| ApiError::not_found(format!("there is no run {id} on this server")))
    });
    match result {
        Ok(s) => json_response(&s),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/runs/{id}/stop", tag = "training",
    params(("id" = u64, Path, description = "The run to stop")),
    responses(
        (status = 202, description = "The run stops after its current batch; /train then answers with status `stopped`", body = StopResponse),
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run has already ended", body = ErrorBody),
    ))]
async fn stop_run(State(state): State<ServeState>, UrlPath(raw): UrlPath<String>) -> Response {
    let result = parse_run_id(&raw).and_then(|id| {
        let inner = lock(&state.shared.inner);
        let Some(rec) = inner.runs.get(&id) else {
            return Err(ApiError::not_found(format!("there is no run {id} on this server")));
        };
        if inner.active.as_ref().map(|a| a.id) != Some(id) {
            return Err(ApiError::conflict(format!("run {id} has already ended ({})", rec.status.status)));
        }
        state
            .shared
            .commands
            .try_send(Command::Stop)
            .map_err(|_| ApiError::internal("the trainer did not take the stop command; try again"))?;
        Ok(StopResponse { run_id: id, status: "stopping".into() })
    });
    match result {
        Ok(s) => (StatusCode::ACCEPTED, json_response(&s)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MVC Workbench API",
        description = "Training and prediction of the CVC-AFWM multi-view clustering model (the seed system's /train and /predict, plus live run progress)."
    ),
    paths(train, predict, list_runs, get_run, stop_run),
    components(schemas(
        TrainRequest,
        TrainResponse,
        ApiMetrics,
        PredictRequest,
        PredictResponse,
        RunStatus,
        ApiLosses,
        ErrorBody,
        StopResponse
    ))
)]
struct ApiDoc;

/// The OpenAPI description of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

async fn openapi_json() -> Response {
    match openapi().to_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => ApiError::internal(format!("the OpenAPI description could not be written: {e}")).into_response(),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A self-contained page (no scripts, no CDN) listing the routes.
async fn index() -> Html<String> {
    let doc = openapi();
    let mut rows = String::new();
    for (path, item) in &doc.paths.paths {
        let ops = [("GET", &item.get), ("POST", &item.post)];
        for (method, op) in ops {
            if let Some(op) = op {
                let summary = op.description.as_deref().or(op.summary.as_deref()).unwrap_or("");
                rows.push_str(&format!(
                    "<tr><td><code>{method}</code></td><td><code>{}</code></td><td>{}</td></tr>\n",
                    html_escape(path),
                    html_escape(summary)
                ));
            }
        }
    }
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>MVC Workbench API</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td{{padding:.3em .8em;vertical-align:top}}pre{{background:#f4f4f4;padding:1em}}</style></head>
<body><h1>MVC Workbench API {version}</h1>
<p>The full description is at <a href="/openapi.json">/openapi.json</a>. Errors answer <code>{{"status":"error","code":…,"detail":"…"}}</code>.</p>
<table>{rows}</table>
<h2>Example</h2>
<pre>curl -X POST http://localhost:8919/train -H 'Content-Type: application/json' \
  -d '{{"dataset_name": "gauss3-noise", "mse_epochs": 10, "con_epochs": 20}}'
curl -X POST http://localhost:8919/predict -H 'Content-Type: application/json' \
  -d '{{"data_index": 6, "compare_with_ground_truth": true}}'</pre>
</body></html>"#,
        version = env!("CARGO_PKG_VERSION"),
    ))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "there is no route {}; the routes are POST /train, POST /predict, GET /runs, GET /runs/{{id}}, POST /runs/{{id}}/stop, GET /openapi.json",
        uri.path()
    ))
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not answer {method}; see GET /openapi.json for each route's method", uri.path()),
    )
}

/// The HTTP routes over a server state.
pub fn router(state: ServeState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/openapi.json", get(openapi_json))
        .route("/train", post(train))
        .route("/predict", post(predict))
        .route("/runs", get(list_runs))
        .route("/runs/{id}", get(get_run))
        .route("/runs/{id}/stop", post(stop_run))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

/// Whether serving on `addr` needs the explicit opt-in for other machines.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// The server's tokio runtime (two `mvc-serve-io` workers).
fn io_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("mvc-serve-io").enable_all().build()
}

/// A server running on its own `mvc-serve` thread (used by tests and embedders).
pub struct RunningServer {
    pub addr: SocketAddr,
    state: ServeState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    /// Binds `addr` (port 0 picks a free one) and serves until [`RunningServer::stop`] or drop.
    pub fn start(addr: SocketAddr, opts: ServeOptions) -> std::io::Result<RunningServer> {
        let runtime = io_runtime()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let state = ServeState::new(opts)?;
        let app = router(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("mvc-serve".into()).spawn(move || {
            runtime.block_on(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        rx.await.ok();
                    })
                    .await
                    .ok();
            });
            runtime.shutdown_timeout(Duration::from_secs(2));
        })?;
        Ok(RunningServer { addr, state, shutdown: Some(tx), thread: Some(thread) })
    }

    /// Stops the active run and the server, and waits for it.
    pub fn stop(mut self) {
        self.close();
    }

    fn close(&mut self) {
        self.state.stop_active();
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.close();
    }
}

/// Serves on `addr` until Ctrl-C (the `serve` command).
pub fn serve_blocking(addr: SocketAddr, opts: ServeOptions) -> Result<(), String> {
    let runtime = io_runtime().map_err(|e| format!("cannot start the server's runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            format!("cannot listen on {addr}: {e} (is another server using the port? try --addr 127.0.0.1:0)")
        })?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let state = ServeState::new(opts).map_err(|e| format!("cannot start the trainer thread: {e}"))?;
        eprintln!("MVC Workbench API listening on http://{bound}  (routes: GET /, GET /openapi.json; Ctrl-C stops)");
        let stopper = state.clone();
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async move {
                tokio::signal::ctrl_c().await.ok();
                eprintln!("stopping: the active run (if any) ends after its current batch");
                stopper.stop_active();
            })
            .await
            .map_err(|e| format!("the server stopped with an error: {e}"))
    })
}
