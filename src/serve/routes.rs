//! The HTTP routes: handlers, the OpenAPI description, the index page and the fallbacks.
//! Every handler answers from memory in microseconds; what takes longer (loading a dataset,
//! a reconstruction through the network) runs on a blocking thread or a background job.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use burn::tensor::{Tensor, TensorData};
use utoipa::OpenApi;

use super::api::{
    ApiConvergence, ApiLosses, ApiMetrics, PredictRequest, PredictResponse, RunStatus, StopResponse, TrainRequest,
    TrainResponse, UpdateRequest,
};
use super::error::{ErrorBody, ServeError, json_response, parse_body};
use super::jobs;
use super::limits::guard;
use super::state::{RunRecord, ServeState, TrainedModel, lock};
use crate::engine::predict::to_host;
use crate::engine::protocol::Command;
use crate::runs::{RunRecord as StoredRun, RunStore};

#[utoipa::path(post, path = "/train", tag = "training",
    request_body(content = TrainRequest, description = "The dataset and the run's settings (all optional)"),
    responses(
        (status = 200, description = "The run ended (status `success`, or `stopped` after POST /runs/{id}/stop)", body = TrainResponse),
        (status = 400, description = "Malformed JSON, an unknown field, or a value out of range", body = ErrorBody),
        (status = 404, description = "Unknown dataset_name", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 409, description = "Another run is in progress", body = ErrorBody),
        (status = 413, description = "The body is larger than the server accepts", body = ErrorBody),
        (status = 422, description = "The dataset could not be loaded, or the run failed (e.g. diverged)", body = ErrorBody),
        (status = 503, description = "Loading the dataset took too long, or the trainer is busy", body = ErrorBody),
    ))]
async fn train(State(state): State<ServeState>, body: Bytes) -> Response {
    match jobs::train(&state, &body).await {
        Ok(r) => json_response(&r),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/update", tag = "training",
    request_body(content = UpdateRequest, description = "The stored run to update and the new data"),
    responses(
        (status = 200, description = "The update's measurements (drift_old, acc_old_before, acc_old_after, acc_new, \
            nmi_new, clusters_before, clusters_after, new_clusters, …), the new run's id and its checkpoint", body = serde_json::Value),
        (status = 400, description = "Malformed JSON, an unknown field, or a setting out of range", body = ErrorBody),
        (status = 404, description = "Unknown run or dataset_name", body = ErrorBody),
        (status = 422, description = "The data, classes or checkpoint do not allow the update (named in detail)", body = ErrorBody),
        (status = 503, description = "The update took longer than the server allows", body = ErrorBody),
    ))]
async fn update(State(state): State<ServeState>, body: Bytes) -> Response {
    let result = match parse_body::<UpdateRequest>(&body, "/update") {
        Ok(req) => super::update::update(&state, req).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => json_response(&v),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/predict", tag = "prediction",
    request_body(content = PredictRequest, description = "A sample of the dataset of the last run"),
    responses(
        (status = 200, description = "The sample's cluster", body = PredictResponse),
        (status = 400, description = "Malformed JSON, an out-of-range data_index, or no model trained yet", body = ErrorBody),
        (status = 503, description = "The answer took too long (e.g. many reconstructions at once)", body = ErrorBody),
    ))]
async fn predict(State(state): State<ServeState>, body: Bytes) -> Response {
    match predict_inner(&state, &body).await {
        Ok(r) => json_response(&r),
        Err(e) => e.into_response(),
    }
}

async fn predict_inner(state: &ServeState, body: &Bytes) -> Result<PredictResponse, ServeError> {
    let req: PredictRequest = parse_body(body, "/predict")?;
    let model = state.shared.model().ok_or(ServeError::NoModel)?;
    let n = model.dataset.n_samples();
    let out_of_range = || {
        ServeError::Invalid(format!(
            "/predict: data_index {} is out of range: it must be between 0 and {} (the dataset of run {} has {n} samples)",
            req.data_index,
            n.saturating_sub(1),
            model.run_id
        ))
    };
    let index = usize::try_from(req.data_index).ok().filter(|&i| i < n).ok_or_else(out_of_range)?;
    let mut answer =
        model.predict(index, req.compare_with_ground_truth, req.return_cluster_assignment).ok_or_else(out_of_range)?;
    if req.return_features {
        answer.hidden_features = Some(model.hidden(index).ok_or_else(out_of_range)?);
    }
    if req.return_reconstruction {
        // At most a few at once: each holds the network on a blocking thread.
        let _permit = state
            .shared
            .reconstructions
            .acquire()
            .await
            .map_err(|_| ServeError::Internal("the server is shutting down".into()))?;
        let m = Arc::clone(&model);
        let rec = tokio::task::spawn_blocking(move || reconstruct_first_view(&m, index))
            .await
            .map_err(|e| ServeError::Internal(format!("the reconstruction failed: {e}")))?
            .map_err(ServeError::Internal)?;
        answer.reconstructed_features = Some(rec);
    }
    Ok(answer)
}

/// The first view's reconstruction of one row (blocking: runs the network).
fn reconstruct_first_view(model: &TrainedModel, index: usize) -> Result<Vec<f32>, String> {
    let view = model.dataset.views.first().ok_or("the model has no views")?;
    let x =
        Tensor::<2>::from_data(TensorData::new(view.data.gather_rows(&[index]), [1, view.data.cols()]), &model.device);
    let network = lock(&model.network);
    let first = network.reconstruct(&[x]).into_iter().next().ok_or("the model has no views")?;
    to_host(first)
}

#[utoipa::path(get, path = "/runs", tag = "training",
    responses((status = 200, description = "Every run in the run store (`--runs`), newest first, from any front end \
        (this server, the app, `train`, `sweep`): id (a store id, not the numeric id of /runs/{id}), name, status \
        (running, finished, stopped, diverged, failed, interrupted), dataset, seed, epochs_done, config, final, \
        best (label-selected) and kmeans_z scores, created. /runs/{id} is this server's live progress of one of its runs.",
        body = Vec<serde_json::Value>)))]
async fn list_runs(State(state): State<ServeState>) -> Result<Response, ServeError> {
    let dir = state.shared.opts.runs_dir.clone();
    let listing = tokio::task::spawn_blocking(move || RunStore::open(dir).map(|s| s.list()))
        .await
        .map_err(|e| ServeError::Internal(format!("listing the run store failed: {e}")))?
        .map_err(|e| ServeError::Internal(format!("cannot open the run store: {e}")))?;
    let runs: Vec<serde_json::Value> = listing.runs.iter().map(StoredRun::summary_json).collect();
    Ok(json_response(&runs))
}

fn parse_run_id(raw: &str) -> Result<u64, ServeError> {
    raw.parse::<u64>().map_err(|_| ServeError::BadRunId(raw.chars().take(100).collect()))
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
        lock(&state.shared.inner).runs.get(&id).map(RunRecord::snapshot).ok_or(ServeError::UnknownRun(id))
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
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run has already ended", body = ErrorBody),
        (status = 503, description = "The trainer did not take the command; try again", body = ErrorBody),
    ))]
async fn stop_run(State(state): State<ServeState>, UrlPath(raw): UrlPath<String>) -> Response {
    let result = parse_run_id(&raw).and_then(|id| {
        let mut inner = lock(&state.shared.inner);
        let Some(rec) = inner.runs.get(&id) else {
            return Err(ServeError::UnknownRun(id));
        };
        let status = rec.status.status.clone();
        match inner.active.as_mut() {
            // A run still loading sends this stop after its start (see jobs.rs).
            Some(a) if a.id == id => a.stop_requested = true,
            _ => return Err(ServeError::AlreadyEnded { id, status }),
        }
        state.shared.commands.try_send(Command::Stop).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => {
                ServeError::Unavailable("the trainer did not take the stop command; try again".into())
            }
            crossbeam_channel::TrySendError::Disconnected(_) => {
                ServeError::Internal("the trainer thread has ended; restart the server".into())
            }
        })?;
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
    paths(train, predict, update, list_runs, get_run, stop_run),
    components(schemas(
        TrainRequest,
        TrainResponse,
        ApiConvergence,
        UpdateRequest,
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

/// The OpenAPI description as JSON, built once per process.
async fn openapi_json() -> Response {
    static JSON: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    match JSON.get_or_init(|| openapi().to_json().map_err(|e| e.to_string())) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text.clone()).into_response(),
        Err(e) => ServeError::Internal(format!("the OpenAPI description could not be written: {e}")).into_response(),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A self-contained page (no scripts, no CDN) listing the routes.
async fn index() -> Html<String> {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Html(PAGE.get_or_init(index_page).clone())
}

fn index_page() -> String {
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
    format!(
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
    )
}

async fn not_found(uri: axum::http::Uri) -> ServeError {
    ServeError::NoRoute(uri.path().chars().take(200).collect())
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ServeError {
    ServeError::WrongMethod { path: uri.path().chars().take(200).collect(), method: method.to_string() }
}

/// The HTTP routes over a server state, behind the body limit and the timeouts of its
/// options' [`Limits`](super::Limits).
pub fn router(state: ServeState) -> Router {
    let limits = state.shared.opts.limits;
    Router::new()
        .route("/", get(index))
        .route("/openapi.json", get(openapi_json))
        .route("/train", post(train))
        .route("/predict", post(predict))
        .route("/update", post(update))
        .route("/runs", get(list_runs))
        .route("/runs/{id}", get(get_run))
        .route("/runs/{id}/stop", post(stop_run))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
        // `guard` has already read the body within the limit.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(limits, guard))
}
