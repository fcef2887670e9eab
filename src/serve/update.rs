//! `/update`: an online update of a stored run's checkpoint (issue 15), through the same
//! `runs::update::run_update` as the `update` command, on a blocking thread. The run is named by
//! its store id (never a path: the client cannot point the server at arbitrary folders) and the
//! new data like `/train`'s `dataset_name`.

use super::ServeState;
use super::api::UpdateRequest;
use super::datasets::resolve_dataset;
use super::error::ServeError;
use crate::data::NonFinite;
use crate::engine::update::UpdateSettings;
use crate::runs::RunStore;
use crate::runs::update::{UpdateJob, run_update};

/// The most passes a request may ask for.
pub const MAX_ITERATIONS: usize = 10_000;

/// The update's settings from the request (defaults as `update`'s); 400 for a value out of range.
fn settings(req: &UpdateRequest) -> Result<UpdateSettings, ServeError> {
    let d = UpdateSettings::default();
    let s = UpdateSettings {
        iterations: req.iterations.unwrap_or(d.iterations),
        learning_rate: req.learning_rate.unwrap_or(d.learning_rate),
        ewc_lambda: req.ewc_lambda.unwrap_or(d.ewc_lambda),
        damping: req.damping.unwrap_or(d.damping),
        expand: match &req.expand {
            Some(e) => e.parse().map_err(|why: String| ServeError::Invalid(format!("/update: expand: {why}")))?,
            None => d.expand,
        },
        threshold: req.threshold.unwrap_or(d.threshold),
        min_size: req.min_size.unwrap_or(d.min_size),
        seed: req.seed.unwrap_or(d.seed),
        ..d
    };
    if s.iterations == 0 || s.iterations > MAX_ITERATIONS {
        return Err(ServeError::Invalid(format!(
            "/update: iterations must lie in 1..={MAX_ITERATIONS}, got {}",
            s.iterations
        )));
    }
    s.validate().map_err(|why| ServeError::Invalid(format!("/update: {why}")))?;
    Ok(s)
}

/// Runs the update and answers `update --json`'s object.
pub(super) async fn update(state: &ServeState, req: UpdateRequest) -> Result<serde_json::Value, ServeError> {
    let settings = settings(&req)?;
    let opts = state.shared.opts.clone();
    let work = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ServeError> {
        let store = RunStore::open(opts.runs_dir.clone())
            .map_err(|e| ServeError::Internal(format!("cannot open the run store: {e}")))?;
        let id = store.resolve(&req.run).map_err(|e| ServeError::UnknownStoredRun(format!("/update: run: {e}")))?;
        let new_data = resolve_dataset(&req.dataset_name, &opts)?;
        let job = UpdateJob {
            checkpoint: store.run_dir(&id),
            new_data,
            classes: req.classes.clone(),
            old_data: None,
            preprocess: None,
            non_finite: NonFinite::Error,
            label_column: None,
            settings,
            device: opts.device,
            front_end: "serve".into(),
            name: None,
        };
        match run_update(&store, &job) {
            Ok(outcome) => Ok(outcome.to_json()),
            Err(e) if e.is_input() => Err(ServeError::UpdateRefused(e.to_string())),
            Err(e) => Err(ServeError::Internal(e.to_string())),
        }
    });
    work.await.map_err(|e| ServeError::Internal(format!("the update's thread failed: {e}")))?
}
