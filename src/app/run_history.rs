//! The app's side of the run store: what the Runs tile lists, the stored runs overlaid on the
//! plots, recording the app's own runs, and the commands that act on stored runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::data::MultiViewDataset;
use crate::engine::TrainConfig;
use crate::engine::protocol::{EpochReport, Event, MetricsReport, Phase};
use crate::engine::run_log::{Failure, RunLog, RunStatus};
use crate::runs::{self, DatasetInfo, NewRun, RunRecord, RunStore, Status, StoreProblem, snapshot};

use super::WorkbenchApp;
use super::state::{AppCommand, DatasetSource};

/// One stored run's curves, drawn over the live run's plots.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub id: String,
    pub name: String,
    pub epochs: Vec<EpochReport>,
    pub metrics: Vec<MetricsReport>,
}

/// The run store as the Runs tile shows it.
#[derive(Debug, Default)]
pub struct RunsView {
    /// The runs directory listed.
    pub dir: PathBuf,
    /// Newest first.
    pub runs: Vec<RunRecord>,
    /// Run folders that could not be read (the others list regardless).
    pub problems: Vec<StoreProblem>,
    /// The store itself could not be opened.
    pub error: Option<String>,
    pub overlays: Vec<Overlay>,
    pub refreshed: Option<Instant>,
    /// The stored run shown in the tiles (opened after a restart), if any.
    pub opened: Option<String>,
    /// The run the app is recording now.
    pub recording: Option<String>,
    /// The "New data" action (an online update of a stored run's checkpoint).
    pub new_data: crate::app::update_job::NewData,
}

impl WorkbenchApp {
    /// The runs directory: `--runs`, else the Runs tile's setting, else `$MVC_RUNS` / the default.
    pub(super) fn runs_dir(&self) -> PathBuf {
        self.runs_dir_flag.clone().or_else(|| self.state.runs_dir.clone()).unwrap_or_else(|| runs::runs_dir(None))
    }

    pub(super) fn store(&mut self) -> Option<RunStore> {
        match RunStore::open(self.runs_dir()) {
            Ok(s) => Some(s),
            Err(e) => {
                self.session.runs.error = Some(e.to_string());
                None
            }
        }
    }

    /// Re-reads the store's listing.
    pub(super) fn refresh_runs(&mut self) {
        let dir = self.runs_dir();
        self.session.runs.dir.clone_from(&dir);
        let Some(store) = self.store() else { return };
        let listing = store.list();
        let view = &mut self.session.runs;
        view.error = None;
        view.runs = listing.runs;
        view.problems = listing.problems;
        view.refreshed = Some(Instant::now());
        view.overlays.retain(|o| view.runs.iter().any(|r| r.id == o.id));
    }

    /// Opens a record for a run about to start; returns the folder the trainer should write to.
    pub(super) fn start_recording(&mut self, ds: &MultiViewDataset, config: &TrainConfig) -> Option<PathBuf> {
        self.recorder = None;
        let source = self.session.loaded.as_ref().map_or_else(|| ds.name.clone(), |l| l.source.arg());
        let preprocess = self.session.loaded.as_ref().map_or("minmax", |l| l.preprocess.as_str());
        let scalings = self.session.loaded.as_ref().map_or(&[][..], |l| l.scalings.as_slice());
        let new = NewRun {
            name: String::new(),
            tags: Vec::new(),
            front_end: "app".into(),
            dataset: DatasetInfo::of(ds, &source, preprocess).with_scalings(scalings),
            config: config.clone(),
            sweep_cell: None,
        };
        let store = self.store()?;
        match store.create(new) {
            Ok(w) => {
                let dir = w.dir().to_path_buf();
                self.session.runs.recording = Some(w.id().to_owned());
                self.recorder = Some(w);
                self.refresh_runs();
                Some(dir)
            }
            Err(e) => {
                self.session.notify_error(format!("this run is not recorded: {e}"));
                None
            }
        }
    }

    /// Records one trainer event of the current run (before the run log takes it).
    pub(super) fn record_event(&mut self, event: &Event) {
        let Some(w) = &mut self.recorder else { return };
        if let Err(e) = w.observe(event) {
            self.session.notify_error(format!("the run store could not record this run: {e}"));
        }
        if matches!(event, Event::Finished(_) | Event::Failed { .. }) {
            self.recorder = None;
            self.session.runs.recording = None;
            self.refresh_runs();
        }
    }

    /// Applies a command about stored runs.
    pub(super) fn runs_command(&mut self, command: AppCommand) {
        let Some(store) = self.store() else { return };
        let result: Result<(), String> = match command {
            AppCommand::RefreshRuns => Ok(()),
            AppCommand::SetRunsDir(dir) => {
                self.runs_dir_flag = None;
                self.state.runs_dir = Some(dir);
                self.session.runs.overlays.clear();
                Ok(())
            }
            AppCommand::OverlayRuns(ids) => {
                let mut overlays = Vec::new();
                for id in ids {
                    let name = self.session.runs.runs.iter().find(|r| r.id == id).map(|r| r.name.clone());
                    match store.history(&id) {
                        Ok(h) => overlays.push(Overlay {
                            name: name.unwrap_or_else(|| id.clone()),
                            id,
                            epochs: h.epochs,
                            metrics: h.metrics,
                        }),
                        Err(e) => self.session.notify_error(e.to_string()),
                    }
                }
                self.session.runs.overlays = overlays;
                Ok(())
            }
            AppCommand::OpenRun(id) => self.open_run(&store, &id),
            AppCommand::LoadRunDataset(id) => self.load_run_dataset(&store, id),
            AppCommand::TrainAgain(id) => self.train_again(&store, &id),
            AppCommand::RenameRun(id, name) => store.edit(&id, |r| r.name = name).map(drop).map_err(|e| e.to_string()),
            AppCommand::SetRunTags(id, tags) => store.edit(&id, |r| r.tags = tags).map(drop).map_err(|e| e.to_string()),
            AppCommand::DeleteRun(id) => {
                let r = store.delete(&id).map_err(|e| e.to_string());
                if r.is_ok() && self.state.runs_baseline.as_deref() == Some(id.as_str()) {
                    self.state.runs_baseline = None;
                }
                r
            }
            AppCommand::PinBaseline(id) => {
                self.state.runs_baseline = id;
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.session.notify_error(e);
        }
        self.refresh_runs();
    }

    /// Shows a stored run in the tiles: its curves, its readings and its last embedding snapshot.
    fn open_run(&mut self, store: &RunStore, id: &str) -> Result<(), String> {
        if self.session.run.status.is_active() {
            return Err("a run is in progress; open a stored run once it has ended".into());
        }
        let rec = store.load(id).map_err(|e| e.to_string())?;
        let h = store.history(id).map_err(|e| e.to_string())?;
        let failure = |reason: String, diverged: bool| RunStatus::Failed(Failure { reason, internal: false, diverged });
        let reason = rec.reason.clone().unwrap_or_default();
        let status = match rec.status {
            Status::Finished => RunStatus::Finished { stopped: false },
            Status::Stopped => RunStatus::Finished { stopped: true },
            Status::Diverged => failure(reason, true),
            Status::Failed | Status::Interrupted => failure(format!("{}: {reason}", rec.status), false),
            Status::Running => failure("still being written by another process (as far as it got)".into(), false),
        };
        let snap_path = store.run_dir(id).join(snapshot::FILE);
        let snap = match snapshot::read(&snap_path) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                if snap_path.exists() {
                    self.session.notify_error(e.to_string());
                }
                None
            }
        };
        let mut log = RunLog {
            status,
            total_epochs: rec.config.mse_epochs + rec.config.con_epochs,
            config: Some(rec.config.clone()),
            device: rec.device.clone(),
            contrastive_from: h.epochs.iter().find(|e| e.phase == Phase::Contrastive).map(|e| e.global_epoch),
            epochs: h.epochs,
            metrics: h.metrics,
            snapshot: snap,
            checkpoint: rec.checkpoint.clone(),
            wall: rec.duration_secs().and_then(|s| std::time::Duration::try_from_secs_f64(s).ok()),
            ..RunLog::default()
        };
        log.last_event = Some((format!("opened stored run {} ({})", rec.name, rec.id), Instant::now()));
        // The stored run's snapshot history becomes the timeline (runs from before issue 18 have
        // only their last snapshot).
        let mut timeline = super::state::Timeline::default();
        for s in runs::snapshot::read_history(&store.run_dir(id)) {
            timeline.push(std::sync::Arc::new(s));
        }
        if let Some(s) = &log.snapshot {
            timeline.push(std::sync::Arc::clone(s));
            timeline.last_seen = Some(std::sync::Arc::clone(s));
        }
        self.session.run = log;
        self.session.timeline = timeline;
        self.session.embedding = Default::default();
        self.session.selected = None;
        self.session.runs.opened = Some(id.to_owned());
        self.finished_handled = true;
        self.clear_inspection();
        if let Some(ck) = rec.checkpoint.clone() {
            // The same source loaded: the `mvc-inspect` thread checks the data's fingerprint (a
            // hash of every value, kept off the UI thread) and says so if it differs.
            let src = DatasetSource::parse(&rec.dataset.source);
            if self.session.loaded.as_ref().is_some_and(|l| l.source == src) {
                self.inspect_through_checkpoint(ck);
            } else {
                self.session.inspection.needs_dataset = Some((id.to_owned(), src));
            }
        }
        Ok(())
    }

    /// Loads stored run `id`'s dataset with the run's preprocessing and opens the run again
    /// once it has loaded.
    fn load_run_dataset(&mut self, store: &RunStore, id: String) -> Result<(), String> {
        let rec = store.load(&id).map_err(|e| e.to_string())?;
        if let Ok(p) = rec.dataset.preprocess.parse() {
            self.state.preprocess = p;
        }
        self.reopen_after_load = Some(id);
        self.run_command_now(AppCommand::Load(DatasetSource::parse(&rec.dataset.source)));
        Ok(())
    }

    /// Loads a stored run's dataset and settings so that Start trains it again.
    fn train_again(&mut self, store: &RunStore, id: &str) -> Result<(), String> {
        if self.session.run.status.is_active() {
            return Err("a run is in progress; stop it before loading another run's settings".into());
        }
        let rec = store.load(id).map_err(|e| e.to_string())?;
        self.state.config = rec.config.clone();
        if let Ok(p) = rec.dataset.preprocess.parse() {
            self.state.preprocess = p;
        }
        let src = DatasetSource::parse(&rec.dataset.source);
        let already =
            self.session.loaded.as_ref().is_some_and(|l| l.source == src && l.preprocess == self.state.preprocess);
        if !already {
            self.run_command_now(AppCommand::Load(src));
        }
        match self.state.config.classes.take() {
            // The app trains on the whole loaded dataset (its tiles index its samples).
            Some(c) => self.session.notify(format!(
                "the settings of {} are loaded, but not its class filter {c:?}: the app trains on every class (`train --classes` filters)",
                rec.name
            )),
            None => self.session.notify(format!("the settings of {} are loaded; press Start to train again", rec.name)),
        }
        Ok(())
    }
}
