//! The "New data" action on a finished stored run (issue 15): the Runs tile arms it for the
//! selected run; a file dropped on the window (or picked with the dialog) is then fed to an
//! online update of the run's checkpoint on the `mvc-update` thread, through the same
//! `runs::update::run_update` as the `update` command. When it ends, the drift and the metrics
//! are shown under the run and the new checkpoint's run is opened.

use std::path::PathBuf;

use crate::engine::update::UpdateSettings;
use crate::runs::update::{UpdateJob, run_update};

use super::WorkbenchApp;
use super::state::AppCommand;
use super::worker::{Poll, Worker};

/// The "New data" action's state (part of the Runs tile's view).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewData {
    /// The run a dropped file updates (the tile's "New data…" was pressed for it).
    pub armed: Option<String>,
    /// An update is running for this run.
    pub busy: Option<String>,
    /// The last update's outcome: the parent run, then the new run's id and the report's lines, or
    /// the error.
    pub result: Option<(String, Result<Summary, String>)>,
}

/// A finished update as the Runs tile shows it: the new run's id and the report's lines.
pub type Summary = (String, Vec<String>);

/// What the `mvc-update` thread hands back: the parent, then the new run and its lines, or
/// `Ok(None)` when the dialog was cancelled.
pub(super) type UpdateResult = (String, Result<Option<Summary>, String>);

impl WorkbenchApp {
    /// Runs an update of stored run `id`'s checkpoint on `file` (or on a file picked with a dialog
    /// on the worker thread), with `update`'s default settings.
    pub(super) fn start_new_data(&mut self, id: String, file: Option<PathBuf>) {
        if self.session.runs.new_data.busy.is_some() {
            self.session.notify("an update is already running");
            return;
        }
        let Some(store) = self.store() else { return };
        let device = self.state.config.device;
        let parent = id.clone();
        let work = move || -> UpdateResult {
            let file = match file {
                Some(f) => f,
                None => match rfd::FileDialog::new()
                    .set_title("New data for the update")
                    .add_filter("data", &["mat", "npy", "npz", "csv", "tsv"])
                    .pick_file()
                {
                    Some(f) => f,
                    None => return (parent, Ok(None)),
                },
            };
            let job = UpdateJob {
                checkpoint: store.run_dir(&parent),
                new_data: file.display().to_string(),
                classes: None,
                old_data: None,
                preprocess: None,
                non_finite: crate::data::NonFinite::Error,
                label_column: None,
                settings: UpdateSettings::default(),
                device,
                front_end: "app".into(),
                name: None,
            };
            let result = run_update(&store, &job).map(|o| {
                let mut lines: Vec<String> = o.notes.iter().map(|n| format!("note: {n}")).collect();
                lines.extend(o.report.summary_lines());
                Some((o.run_id, lines))
            });
            (parent, result.map_err(|e| e.to_string()))
        };
        let ctx = self.egui_ctx.clone();
        match Worker::spawn("mvc-update", work, move || ctx.request_repaint()) {
            Ok(w) => {
                self.update_job = Some(w);
                self.session.runs.new_data = NewData { busy: Some(id), ..NewData::default() };
            }
            Err(e) => self.session.notify(format!("the update thread could not start: {e}")),
        }
    }

    /// Takes the `mvc-update` thread's result, if it has one: shows it, lists the new run and
    /// opens it.
    pub(super) fn receive_new_data(&mut self) {
        let Some(job) = &mut self.update_job else { return };
        let (parent, result) = match job.poll() {
            Poll::Pending => return,
            Poll::Done(r) => r,
            Poll::Crashed(why) => {
                let parent = self.session.runs.new_data.busy.clone().unwrap_or_default();
                (parent, Err(format!("the update thread crashed: {why}")))
            }
        };
        self.update_job = None;
        let nd = &mut self.session.runs.new_data;
        nd.busy = None;
        match result {
            Ok(None) => {}
            Ok(Some((run, lines))) => {
                nd.result = Some((parent, Ok((run.clone(), lines))));
                self.run_command_now(AppCommand::RefreshRuns);
                self.run_command_now(AppCommand::OpenRun(run));
            }
            Err(e) => nd.result = Some((parent, Err(e))),
        }
    }
}
