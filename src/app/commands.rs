//! Applying the commands panels sent during the ui pass.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::TrySendError;

use crate::data::{self, ClusterCountError, LoadOptions};
use crate::engine::protocol::{COMMAND_CAPACITY, Command, EVENT_CAPACITY, Event};
use crate::engine::{TrainConfig, TrainerHandle, trainer};
use crate::export::{self, FigureStyle};

use super::state::{AppCommand, DatasetSource, ExportOutcome, ExportTarget, LoadedDataset, RunLog};
use super::worker::{self, JobKind, Worker};
use super::{DialogPick, WorkbenchApp};

impl WorkbenchApp {
    /// Applies every queued command.
    pub(super) fn run_commands(&mut self) {
        for command in self.commands.drain() {
            self.run_command(command);
        }
    }

    pub(super) fn run_command_now(&mut self, command: AppCommand) {
        self.run_command(command);
    }

    fn run_command(&mut self, command: AppCommand) {
        match command {
            c @ (AppCommand::RefreshRuns
            | AppCommand::SetRunsDir(_)
            | AppCommand::OverlayRuns(_)
            | AppCommand::OpenRun(_)
            | AppCommand::LoadRunDataset(_)
            | AppCommand::TrainAgain(_)
            | AppCommand::RenameRun(..)
            | AppCommand::SetRunTags(..)
            | AppCommand::DeleteRun(_)
            | AppCommand::PinBaseline(_)) => self.runs_command(c),
            AppCommand::ArmNewData(id) => self.session.runs.new_data.armed = id,
            AppCommand::NewData(id, file) => self.start_new_data(id, file),
            AppCommand::Load(src) => self.load(src, false),
            AppCommand::Reload => {
                if let Some(src) = self.session.loaded.as_ref().map(|l| l.source.clone()) {
                    self.load(src, true);
                }
            }
            AppCommand::OpenFileDialog => self.open_dialog(false),
            AppCommand::ChooseExportDir => self.open_dialog(true),
            AppCommand::StartRun => self.start_run(),
            AppCommand::Pause => self.send_trainer(Command::Pause),
            AppCommand::Resume => self.send_trainer(Command::Resume),
            AppCommand::Stop => self.send_trainer(Command::Stop),
            AppCommand::RequestSnapshot => self.send_trainer(Command::Snapshot),
            AppCommand::Live(p) => {
                if self.session.run.status.is_active() {
                    self.send_trainer(Command::Update(p));
                }
            }
            AppCommand::RecomputeTsne => {
                match self.session.timeline.shown().or(self.session.run.snapshot.as_ref()).cloned() {
                    Some(s) => self.submit_tsne(&s),
                    None => self.session.notify("no embedding snapshot yet"),
                }
            }
            AppCommand::PauseTsne(paused) => {
                if let Some(w) = &mut self.tsne {
                    w.set_paused(paused);
                    self.session.tsne_paused = w.is_paused();
                }
            }
            AppCommand::CancelTsne => {
                if let Some(w) = &self.tsne {
                    w.cancel();
                }
                self.session.embedding.pending = None;
            }
            AppCommand::Select(row) => self.session.selected = row,
            AppCommand::Mark(marked) => self.session.marked = marked,
            AppCommand::Timeline(c) => self.timeline_command(c),
            AppCommand::Export(target) => self.export(target),
            AppCommand::ApplyPreset(name) => self.apply_preset(&name),
        }
    }

    fn load(&mut self, src: DatasetSource, with_overrides: bool) {
        if self.loader.is_some() {
            self.session.notify("a dataset is already loading");
            return;
        }
        if self.session.run.status.is_active() {
            self.session.notify("stop the run before loading another dataset");
            return;
        }
        let is_same_file = matches!((&src, self.session.loaded.as_ref().map(|l| &l.source)), (DatasetSource::File(a), Some(DatasetSource::File(b))) if a == b);
        if !with_overrides && !is_same_file {
            // A different file: the previous file's choice of variables does not apply.
            self.state.overrides = Default::default();
        }
        let ov = self.state.overrides.clone();
        let opts = LoadOptions {
            views: (ov.enabled && !ov.views.is_empty()).then(|| ov.views.clone()),
            labels: ov.enabled.then(|| ov.labels.clone()).flatten(),
            no_labels: ov.enabled && ov.no_labels,
            ..LoadOptions::default()
        };
        let preprocess = self.state.preprocess;
        let task_src = src.clone();
        let crash = self.take_crash(JobKind::Loader);
        let work = move || -> Result<LoadedDataset, String> {
            if crash {
                worker::injected_crash();
            }
            let t0 = Instant::now();
            let mut ds = task_src.load(&opts).map_err(|e| e.to_string())?;
            let variables = match &task_src {
                DatasetSource::File(path) => data::list_variables(path).ok(),
                DatasetSource::Builtin(_) => None,
            };
            let scalings = data::preprocess::apply(&mut ds, preprocess);
            Ok(LoadedDataset {
                source: task_src,
                dataset: Arc::new(ds),
                variables,
                preprocess,
                scalings,
                load_secs: t0.elapsed().as_secs_f64(),
            })
        };
        match Worker::spawn("mvc-loader", work, self.wake()) {
            Ok(t) => {
                self.loader = Some(t);
                self.session.loading = Some(src);
                self.session.load_error = None;
            }
            Err(e) => self.session.load_error = Some(format!("could not start the loader thread: {e}")),
        }
    }

    fn open_dialog(&mut self, folder: bool) {
        if self.dialog.is_some() {
            self.session.notify("a file dialog is already open");
            return;
        }
        let start_dir = if folder {
            Some(self.state.export.dir.clone())
        } else {
            self.state.recent_files.first().and_then(|p| p.parent().map(Path::to_path_buf))
        };
        let work = move || -> Option<DialogPick> {
            let mut d = rfd::FileDialog::new();
            if let Some(dir) = start_dir.filter(|d| d.is_dir()) {
                d = d.set_directory(dir);
            }
            if folder {
                d.set_title("Export folder").pick_folder().map(DialogPick::ExportDir)
            } else {
                d.set_title("Open a multi-view dataset")
                    .add_filter("MATLAB data", &["mat"])
                    .pick_file()
                    .map(DialogPick::Dataset)
            }
        };
        match Worker::spawn("mvc-file-dialog", work, self.wake()) {
            Ok(t) => self.dialog = Some(t),
            Err(e) => self.session.notify(format!("could not open the file dialog: {e}")),
        }
    }

    fn start_run(&mut self) {
        self.session.start_error = None;
        if self.session.run.status.is_active() {
            return;
        }
        let Some(dataset) = self.session.dataset().cloned() else {
            self.session.start_error = Some("load a dataset first".into());
            return;
        };
        let config: TrainConfig = self.state.config.clone();
        if let Err(e) = config.validate() {
            self.session.start_error = Some(e);
            return;
        }
        if let Some(c) = &config.classes {
            // The app trains on the loaded dataset as it is (its tiles index its samples); the
            // class filter is `train --classes` / `/train`'s.
            self.session.start_error = Some(format!(
                "these settings train on classes {c:?} only, which the app does not do: use `train --classes`, or clear `classes`"
            ));
            return;
        }
        if let Err(e) = dataset.clusters_for(config.n_clusters) {
            self.session.start_error = Some(match e {
                ClusterCountError::Unlabelled => {
                    "this dataset has no labels: set the number of clusters K (Schedule > Clusters K)".into()
                }
                other => format!("{other}: change the number of clusters K (Schedule > Clusters K)"),
            });
            return;
        }
        if self.take_crash(JobKind::Trainer) {
            match crashing_trainer() {
                Ok(t) => self.trainer = Some(t),
                Err(e) => self.session.notify_error(format!("the crash test hook could not start its thread: {e}")),
            }
        }
        let out_dir = self.start_recording(&dataset, &config);
        let mut command = Command::Start { dataset, config: Box::new(config.clone()), out_dir };
        // Twice at most: a trainer thread that has died since the last run is replaced once.
        for attempt in 0..2 {
            if self.trainer.is_none() {
                match trainer::try_spawn_trainer() {
                    Ok(t) => self.trainer = Some(t),
                    Err(e) => {
                        self.session.start_error = Some(format!("could not start the trainer thread: {e}"));
                        return;
                    }
                }
            }
            let Some(t) = &self.trainer else { return };
            // Anything left from an earlier run is stale.
            while t.events.try_recv().is_ok() {}
            match t.commands.try_send(command) {
                Ok(()) => {
                    self.session.run = RunLog::starting(config);
                    self.session.runs.opened = None;
                    self.clear_inspection();
                    self.session.embedding = Default::default();
                    self.finished_handled = false;
                    return;
                }
                Err(TrySendError::Disconnected(c)) if attempt == 0 => {
                    self.trainer = None;
                    command = c;
                }
                Err(e) => {
                    let why = format!("the trainer did not take the run: {}", send_error(&e));
                    if let Some(w) = &mut self.recorder {
                        w.fail(&why).ok();
                    }
                    self.recorder = None;
                    self.session.start_error = Some(why);
                    return;
                }
            }
        }
    }

    fn send_trainer(&mut self, command: Command) {
        let Some(t) = &self.trainer else {
            self.session.notify("no run is active");
            return;
        };
        if let Err(e) = t.commands.try_send(command) {
            let why = send_error(&e);
            self.session.notify(format!("the trainer did not take the command: {why}"));
        }
    }

    fn apply_preset(&mut self, name: &str) {
        let device = self.state.config.device;
        let cfg = match super::state::preset_config(name) {
            Ok(cfg) => cfg,
            Err(e) => {
                self.session.notify(e);
                return;
            }
        };
        self.state.config = TrainConfig { device, ..cfg };
        // A preset that names its dataset's scaling (Prokaryotic: none, as the seed's lineage
        // loads it) sets the scaling menu as `train --preset` does without `--preprocess`, and
        // the data reloads with it; the menu can change it afterwards. Other presets leave it.
        if let Some(scaling) = crate::engine::presets::find(name).ok().and_then(|p| p.preprocess)
            && scaling != self.state.preprocess
        {
            self.state.preprocess = scaling;
            self.session.notify(format!("scaling: {} (the {name} preset's)", scaling.as_str()));
            if let Some(src) = self.session.loaded.as_ref().map(|l| l.source.clone()) {
                self.load(src, true);
            }
        }
    }

    fn export(&mut self, target: ExportTarget) {
        if self.exporter.is_some() {
            self.session.notify("an export is already in progress");
            return;
        }
        let run = self.build_run_export();
        let selection = self.build_selection_export();
        let ex = &self.state.export;
        let style = FigureStyle {
            width_in: ex.width_in,
            height_in: ex.height_in,
            dpi: ex.dpi,
            log_losses: self.state.losses_log_scale,
        };
        let stem = file_safe(&run.dataset.name);
        let dir = ex.dir.clone();
        let crash = self.take_crash(JobKind::Export);
        let work = move || -> ExportOutcome {
            if crash {
                worker::injected_crash();
            }
            let result = match target {
                ExportTarget::Svg(fig) => {
                    let p = dir.join(format!("{stem}-{}.svg", fig.stem()));
                    export::write_svg(&run, fig, &style, &p).map(|()| vec![p])
                }
                ExportTarget::Png(fig) => {
                    let p = dir.join(format!("{stem}-{}.png", fig.stem()));
                    export::write_png(&run, fig, &style, &p).map(|()| vec![p])
                }
                ExportTarget::Csv(fig) => {
                    let p = dir.join(format!("{stem}-{}.csv", fig.stem()));
                    export::write_csv(&run, fig, &p).map(|()| vec![p])
                }
                ExportTarget::RunJson => {
                    let p = dir.join(format!("{stem}-run.json"));
                    export::write_run_json(&run, &p).map(|()| vec![p])
                }
                ExportTarget::All => {
                    let folder = dir.join(format!("{stem}-{}", timestamp(run.exported_at_unix)));
                    export::export_all(&run, &style, &folder)
                }
                ExportTarget::Selection(format) => super::analysis::write_selection(selection, format, &dir, &stem),
            };
            match result {
                Ok(files) => ExportOutcome::Written(files),
                Err(e) => ExportOutcome::Failed(e.to_string()),
            }
        };
        match Worker::spawn("mvc-export", work, self.wake()) {
            Ok(t) => {
                self.exporter = Some(t);
                self.session.export_busy = true;
                self.session.export_outcome = None;
            }
            Err(e) => {
                self.session.export_outcome =
                    Some(ExportOutcome::Failed(format!("could not start the export thread: {e}")))
            }
        }
    }
}

/// The crash test hook's stand-in for the trainer: an `mvc-trainer` thread that
/// panics when a run starts, before it reports anything (its event channel just
/// disconnects).
fn crashing_trainer() -> std::io::Result<TrainerHandle> {
    let (cmd_tx, cmd_rx) = crossbeam_channel::bounded::<Command>(COMMAND_CAPACITY);
    let (ev_tx, ev_rx) = crossbeam_channel::bounded::<Event>(EVENT_CAPACITY);
    let thread = std::thread::Builder::new().name("mvc-trainer".into()).spawn(move || {
        let _events = ev_tx;
        while let Ok(command) = cmd_rx.recv() {
            match command {
                Command::Start { .. } => worker::injected_crash(),
                Command::Shutdown => return,
                _ => {}
            }
        }
    })?;
    Ok(TrainerHandle::from_parts(cmd_tx, ev_rx, Some(thread)))
}

fn send_error<T>(e: &TrySendError<T>) -> &'static str {
    match e {
        TrySendError::Full(_) => "its queue is full, try again",
        TrySendError::Disconnected(_) => "the trainer thread has stopped",
    }
}

/// A name safe for a file name.
fn file_safe(s: &str) -> String {
    let t: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if t.is_empty() { "run".into() } else { t }
}

/// `YYYYMMDD-HHMMSS` (UTC) of a Unix time.
pub fn timestamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", secs / 3600, (secs % 3600) / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_civil_dates() {
        assert_eq!(super::timestamp(0), "19700101-000000");
        assert_eq!(super::timestamp(1_700_000_000), "20231114-221320");
    }
}
