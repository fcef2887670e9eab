//! The desktop workbench: an eframe/egui app around the trainer thread.
//!
//! - [`state`]: what persists ([`state::AppState`]) and what a session holds
//!   ([`state::Session`]), apart from drawing; commands panels send.
//! - one panel per file: [`dataset_panel`], [`training_panel`], [`losses`],
//!   [`metrics`], [`view_weights`], [`embedding`], [`inspector`], [`analysis`], [`status_bar`].
//! - [`tsne`]: the `mvc-tsne` worker. Loading, file dialogs and exports run on
//!   their own named threads too, through [`worker`], which turns a panic into a
//!   message; the UI thread never blocks on any of them and drains the trainer's
//!   events with `try_recv` each frame. A worker that crashes (or a trainer whose
//!   thread ends without a word) is reported in the status bar and its panel, and
//!   the next job gets a fresh thread.
//! - `logic.rs` (per-frame intake) and `commands.rs` (applying commands) are
//!   `impl WorkbenchApp` blocks.

use eframe::egui;
pub mod analysis;
pub mod baseline_panel;
pub mod dataset_panel;
pub mod dec_panel;
pub mod embedding;
pub mod embedding3d;
pub mod inspection;
pub mod inspector;
pub mod losses;
pub mod metrics;
pub mod palette;
pub mod run_history;
pub mod runs_panel;
pub mod sample_image;
pub mod state;
pub mod status_bar;
pub mod timeline;
pub mod training_panel;
pub mod tsne;
pub mod tsne_params;
pub mod update_job;
pub mod view_weights;
pub mod widgets;
pub mod worker;

mod commands;
mod embedding3d_jobs;
mod frame;
mod logic;
mod run_export;
mod timeline_logic;

use std::path::PathBuf;
use std::time::Instant;

use egui::{Pos2, RichText};

use crate::engine::TrainerHandle;
use worker::{JobKind, Worker};

use state::{
    AppCommand, AppState, CommandQueue, DatasetSource, ExportOutcome, LayoutMode, LoadedDataset, Session, Tile, ViewCtx,
};

/// How the app is launched.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// A built-in dataset name or a `.mat` path to load at start (else the last one).
    pub dataset: Option<String>,
    /// Start training as soon as the dataset is loaded.
    pub start: bool,
    /// Select this dataset row once it appears in a snapshot.
    pub select: Option<usize>,
    /// Show only this tile (as a tab) at start.
    pub tab: Option<Tile>,
    /// Write "Export all" into this folder when the run finishes.
    pub export_on_finish: Option<PathBuf>,
    /// Measure frame times for this many seconds once the embedding shows, write them
    /// as JSON to `bench_out` (or stdout) and close.
    pub bench_secs: Option<f64>,
    pub bench_out: Option<PathBuf>,
    /// Snapshot and embed up to this many samples (`TrainConfig::snapshot_points`, the t-SNE cap).
    pub points: Option<usize>,
    /// Close the window after the run finishes (and its export, if any, is written).
    pub exit_when_done: bool,
    /// Restore and save UI state (off for tests).
    pub persist: bool,
    pub dark: Option<bool>,
    /// Colour the embedding by this at start.
    pub color_by: Option<state::ColorBy>,
    /// The Analysis tile's view at start.
    pub analysis: Option<state::AnalysisView>,
    /// The runs directory (else the Runs tile's setting, `$MVC_RUNS` or the default).
    pub runs_dir: Option<PathBuf>,
    /// The network to train at start (a baseline with seed 001's settings).
    pub model: Option<crate::engine::config::ModelFamily>,
}

/// Launches the desktop app (blocks until the window closes).
pub fn run(opts: AppOptions) -> Result<(), String> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("MVC Workbench")
            .with_inner_size([1560.0, 980.0])
            .with_min_inner_size([960.0, 620.0])
            .with_drag_and_drop(true)
            .with_app_id("mvc-workbench")
            .with_icon(icon()),
        persist_window: opts.persist,
        ..Default::default()
    };
    eframe::run_native("MVC Workbench", native, Box::new(move |cc| Ok(Box::new(WorkbenchApp::new(cc, opts)))))
        .map_err(|e| format!("the window could not be opened: {e}"))
}

/// The window's icon (`assets/icon.png`, also what `assets/mvc-workbench.desktop` names).
pub fn icon() -> egui::IconData {
    // A PNG checked in with the code (the test below decodes it); a broken one would leave the
    // window with the platform's default icon rather than fail the launch.
    eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon.png")).unwrap_or_default()
}

/// Widget state of every panel.
#[derive(Default)]
struct Panels {
    dataset: dataset_panel::DatasetPanel,
    training: training_panel::TrainingPanel,
    losses: losses::LossesPanel,
    metrics: metrics::MetricsPanel,
    view_weights: view_weights::ViewWeightsPanel,
    embedding: embedding::EmbeddingPanel,
    inspector: inspector::InspectorPanel,
    analysis: analysis::AnalysisPanel,
    runs: runs_panel::RunsPanel,
    status: status_bar::StatusBar,
}

/// Starts the `mvc-tsne` thread, waking the UI after each update.
fn spawn_tsne(ctx: &egui::Context) -> Result<tsne::TsneWorker, String> {
    let wake_ctx = ctx.clone();
    tsne::TsneWorker::spawn(Box::new(move || wake_ctx.request_repaint()))
        .map_err(|e| format!("the t-SNE thread could not start: {e}"))
}

/// Frame-time benchmark in progress.
struct Bench {
    secs: f64,
    out: Option<PathBuf>,
    started: Option<Instant>,
    ui_ms: Vec<f32>,
    interval_ms: Vec<f32>,
    last_frame: Option<Instant>,
    points: usize,
    done: bool,
}

/// The app shell: persisted state, session data, panels and worker handles.
pub struct WorkbenchApp {
    pub state: AppState,
    pub session: Session,
    panels: Panels,
    commands: CommandQueue,
    trainer: Option<TrainerHandle>,
    tsne: Option<tsne::TsneWorker>,
    /// Times a training step on a newly loaded dataset (the presets' run-time estimates).
    estimator: Option<Worker<state::StepMeasurements>>,
    loader: Option<Worker<Result<LoadedDataset, String>>>,
    dialog: Option<Worker<Option<DialogPick>>>,
    exporter: Option<Worker<ExportOutcome>>,
    /// The 3-D view's t-SNE in flight.
    tsne3d: Option<embedding3d_jobs::Job3d>,
    /// Evaluates every sample with an ended run's checkpoint for the inspector (`mvc-inspect`).
    inspector_job: Option<Worker<inspection::InspectResult>>,
    /// An online update of a stored run's checkpoint on new data (`mvc-update`, the Runs tile's
    /// "New data").
    update_job: Option<Worker<update_job::UpdateResult>>,
    /// A stored run to open again once its dataset has loaded (the inspector's "load its dataset").
    reopen_after_load: Option<String>,
    egui_ctx: egui::Context,
    pending_start: bool,
    pending_select: Option<usize>,
    export_on_finish: Option<PathBuf>,
    exit_when_done: bool,
    finished_handled: bool,
    bench: Option<Bench>,
    persist: bool,
    applied_dark: Option<bool>,
    /// Job kinds armed to crash (the test hook, [`WorkbenchApp::crash_next`]).
    crash_next: Vec<JobKind>,
    /// Records the current run in the run store.
    recorder: Option<crate::runs::RunWriter>,
    /// `--runs` (until the Runs tile chooses another directory).
    runs_dir_flag: Option<PathBuf>,
}

/// What a file dialog picked.
enum DialogPick {
    Dataset(PathBuf),
    ExportDir(PathBuf),
}

impl WorkbenchApp {
    pub fn new(cc: &eframe::CreationContext<'_>, opts: AppOptions) -> Self {
        let mut state: AppState = if opts.persist {
            cc.storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default()
        } else {
            AppState::default()
        };
        state.layout.normalise();
        if let Some(d) = opts.dark {
            state.dark_mode = d;
        }
        if let Some(c) = opts.color_by {
            state.embedding.color_by = c;
        }
        if let Some(v) = opts.analysis {
            state.analysis.view = v;
        }
        if let Some(m) = opts.model
            && m != state.config.model
        {
            let mut cfg = state.config.clone();
            cfg.model = m;
            baseline_panel::family_ui_apply(&mut cfg, state.config.model);
            state.config = cfg;
        }
        if let Some(n) = opts.points {
            state.config.snapshot_points = n.max(10);
            state.embedding.tsne.max_points = n.max(10);
        }
        if let Some(t) = opts.tab {
            state.layout.mode = LayoutMode::Tabs;
            state.layout.active_tab = t;
        }
        let egui_ctx = cc.egui_ctx.clone();
        let mut session = Session::default();
        let tsne = match spawn_tsne(&egui_ctx) {
            Ok(w) => Some(w),
            Err(e) => {
                session.embedding.error = Some(e);
                None
            }
        };
        let bench = opts.bench_secs.map(|secs| Bench {
            secs,
            out: opts.bench_out.clone(),
            started: None,
            ui_ms: Vec::new(),
            interval_ms: Vec::new(),
            last_frame: None,
            points: 0,
            done: false,
        });
        let mut app = Self {
            state,
            session,
            panels: Panels::default(),
            commands: CommandQueue::default(),
            trainer: None,
            tsne,
            loader: None,
            estimator: None,
            dialog: None,
            exporter: None,
            tsne3d: None,
            inspector_job: None,
            update_job: None,
            reopen_after_load: None,
            egui_ctx,
            pending_start: opts.start,
            pending_select: opts.select,
            export_on_finish: opts.export_on_finish,
            exit_when_done: opts.exit_when_done,
            finished_handled: false,
            bench,
            persist: opts.persist,
            applied_dark: None,
            crash_next: Vec::new(),
            recorder: None,
            runs_dir_flag: opts.runs_dir,
        };
        app.refresh_runs();
        let initial = match opts.dataset {
            Some(d) => Some(DatasetSource::parse(&d)),
            None => app.state.last_dataset.clone().filter(|s| match s {
                DatasetSource::File(p) => p.exists(),
                DatasetSource::Builtin(_) => true,
            }),
        };
        if let Some(src) = initial {
            app.commands.send(AppCommand::Load(src));
            app.run_commands();
        }
        app
    }

    /// Queues a command as if a panel had sent it (tests and scripts).
    pub fn send(&mut self, command: AppCommand) {
        self.commands.send(command);
    }

    /// Test hook: the next background job of this kind panics (with
    /// [`worker::INJECTED_CRASH`]); for `Trainer`, the next run's trainer thread
    /// dies without reporting the end of the run.
    #[doc(hidden)]
    pub fn crash_next(&mut self, job: JobKind) {
        self.crash_next.push(job);
    }

    /// What a background thread calls once it has something for the UI: a repaint.
    fn wake(&self) -> impl FnOnce() + Send + 'static {
        let ctx = self.egui_ctx.clone();
        move || ctx.request_repaint()
    }

    /// Whether the crash test hook is armed for `job` (disarms it).
    fn take_crash(&mut self, job: JobKind) -> bool {
        let armed = self.crash_next.contains(&job);
        self.crash_next.retain(|j| *j != job);
        armed
    }

    /// Screen position of dataset row `row` in the 3-D embedding as last drawn.
    pub fn embedding3d_point_pos(&self, row: usize) -> Option<Pos2> {
        let layout = self.session.embedding.layout3d.as_ref()?;
        self.panels.embedding.view3d.screen_pos_of(layout, row)
    }

    /// Screen position of dataset row `row` in the embedding as last drawn.
    pub fn embedding_point_pos(&self, row: usize) -> Option<Pos2> {
        let layout = self.session.embedding.layout.as_ref()?;
        self.panels.embedding.screen_pos_of(layout, row)
    }

    fn apply_theme(&mut self, ctx: &egui::Context) {
        if self.applied_dark != Some(self.state.dark_mode) {
            ctx.set_theme(if self.state.dark_mode { egui::Theme::Dark } else { egui::Theme::Light });
            self.applied_dark = Some(self.state.dark_mode);
        }
    }
}

impl eframe::App for WorkbenchApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.apply_theme(ctx);
        self.receive(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let started = Instant::now();
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| {
            let Self { session, panels, commands, .. } = self;
            panels.status.ui(&mut ViewCtx { session, commands }, ui);
        });
        let mut open = self.state.left_panel_open;
        egui::Panel::left("left_panel").resizable(true).default_size(360.0).size_range(280.0..=560.0).show_collapsible(
            ui,
            &mut open,
            |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let Self { state, session, panels, commands, .. } = self;
                    let mut ctx = ViewCtx { session, commands };
                    panels.dataset.ui(state, &mut ctx, ui);
                    ui.add_space(8.0);
                    ui.separator();
                    panels.training.ui(state, &mut ctx, ui);
                });
            },
        );
        self.state.left_panel_open = open;
        egui::CentralPanel::default().show(ui, |ui| self.centre_ui(ui));
        self.drop_ui(ui);
        self.run_commands();
        let ms = started.elapsed().as_secs_f32() * 1000.0;
        self.session.frames.push(ms);
        self.bench_frame(ms);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.persist {
            eframe::set_value(storage, eframe::APP_KEY, &self.state);
        }
    }
}
