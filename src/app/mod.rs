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
pub mod update_job;
pub mod view_weights;
pub mod widgets;
pub mod worker;

mod commands;
mod embedding3d_jobs;
mod logic;
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

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        let Self { state, session, commands, .. } = self;
        ui.horizontal(|ui| {
            ui.label(RichText::new("MVC Workbench").strong().size(16.0));
            ui.separator();
            ui.menu_button("File", |ui| {
                if ui.button("Open .mat file…").clicked() {
                    commands.send(AppCommand::OpenFileDialog);
                }
                ui.separator();
                if ui.add_enabled(!session.export_busy, egui::Button::new("Export all")).clicked() {
                    commands.send(AppCommand::Export(state::ExportTarget::All));
                }
                if ui.add_enabled(!session.export_busy, egui::Button::new("Export run JSON")).clicked() {
                    commands.send(AppCommand::Export(state::ExportTarget::RunJson));
                }
                if ui.button("Choose export folder…").clicked() {
                    commands.send(AppCommand::ChooseExportDir);
                }
            });
            ui.menu_button("View", |ui| {
                ui.label(RichText::new("Centre layout").strong());
                ui.radio_value(&mut state.layout.mode, LayoutMode::Grid, "Tiles (grid)");
                ui.radio_value(&mut state.layout.mode, LayoutMode::Tabs, "Tabs");
                ui.add(egui::Slider::new(&mut state.layout.columns, 1..=3).text("columns"));
                ui.separator();
                ui.label(RichText::new("Tiles shown in the grid").strong());
                for t in Tile::ALL {
                    let mut on = !state.layout.hidden.contains(&t);
                    if ui.checkbox(&mut on, t.title()).changed() {
                        if on {
                            state.layout.hidden.retain(|h| *h != t);
                        } else {
                            state.layout.hidden.push(t);
                        }
                    }
                }
                if ui.button("Reset layout").clicked() {
                    state.layout = state::Layout::default();
                }
                ui.separator();
                ui.checkbox(&mut state.left_panel_open, "Left panel");
            });
            ui.menu_button("Export settings", |ui| {
                let ex = &mut state.export;
                ui.horizontal(|ui| {
                    ui.label("Folder");
                    let mut text = ex.dir.display().to_string();
                    if ui.text_edit_singleline(&mut text).changed() {
                        ex.dir = PathBuf::from(text);
                    }
                    if ui.button("…").clicked() {
                        commands.send(AppCommand::ChooseExportDir);
                    }
                });
                ui.add(egui::Slider::new(&mut ex.dpi, 72..=600).text("PNG DPI"));
                ui.add(egui::Slider::new(&mut ex.width_in, 2.0..=12.0).text("width (in)"));
                ui.add(egui::Slider::new(&mut ex.height_in, 1.5..=10.0).text("height (in)"));
            });
            if ui
                .add_enabled(!session.export_busy, egui::Button::new("Export all"))
                .on_hover_text("Every figure (SVG + PNG), its data (CSV) and the run (JSON) into a new folder")
                .clicked()
            {
                commands.send(AppCommand::Export(state::ExportTarget::All));
            }
            match &session.export_outcome {
                Some(ExportOutcome::Written(files)) => {
                    if let Some(first) = files.first() {
                        let where_ = first.parent().map_or_else(String::new, |p| p.display().to_string());
                        ui.label(RichText::new(format!("exported {} file(s) to {where_}", files.len())).weak().small());
                    }
                }
                Some(ExportOutcome::Failed(e)) => {
                    ui.label(RichText::new("export failed").small().color(palette::error_text())).on_hover_text(e);
                }
                None => {}
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let label = if state.dark_mode { "Light theme" } else { "Dark theme" };
                if ui.button(label).on_hover_text("Switch the theme").clicked() {
                    state.dark_mode = !state.dark_mode;
                }
            });
        });
    }

    fn centre_ui(&mut self, ui: &mut egui::Ui) {
        match self.state.layout.mode {
            LayoutMode::Tabs => {
                let order = self.state.layout.order.clone();
                ui.horizontal(|ui| {
                    for t in order {
                        ui.selectable_value(&mut self.state.layout.active_tab, t, t.title());
                    }
                });
                ui.separator();
                let t = self.state.layout.active_tab;
                self.tile_ui(t, ui);
            }
            LayoutMode::Grid => {
                let tiles = self.state.layout.visible();
                if tiles.is_empty() {
                    widgets::empty_hint_ui(ui, "Every tile is hidden: View > Tiles shown.");
                    return;
                }
                let cols = self.state.layout.columns.clamp(1, 3).min(tiles.len());
                let rows = tiles.len().div_ceil(cols);
                let full = ui.available_rect_before_wrap();
                let gap = 6.0;
                let w = (full.width() - gap * (cols as f32 - 1.0)) / cols as f32;
                let h = (full.height() - gap * (rows as f32 - 1.0)) / rows as f32;
                for (i, t) in tiles.iter().enumerate() {
                    let (r, c) = (i / cols, i % cols);
                    // The last row's tiles share its width.
                    let in_row = if r + 1 == rows { tiles.len() - r * cols } else { cols };
                    let w_row = (full.width() - gap * (in_row as f32 - 1.0)) / in_row as f32;
                    let ww = if in_row == cols { w } else { w_row };
                    let min = Pos2::new(full.min.x + c as f32 * (ww + gap), full.min.y + r as f32 * (h + gap));
                    let rect = egui::Rect::from_min_size(min, egui::vec2(ww, h));
                    let mut child = ui.new_child(egui::UiBuilder::new().max_rect(rect).id_salt(("tile", *t)));
                    child.set_clip_rect(rect.intersect(ui.clip_rect()));
                    egui::Frame::group(child.style()).inner_margin(6.0).show(&mut child, |ui| {
                        ui.set_min_size(rect.size() - egui::vec2(14.0, 14.0));
                        self.tile_header_ui(*t, ui);
                        self.tile_ui(*t, ui);
                    });
                }
                ui.allocate_rect(full, egui::Sense::hover());
            }
        }
    }

    fn tile_header_ui(&mut self, t: Tile, ui: &mut egui::Ui) {
        let layout = &mut self.state.layout;
        ui.horizontal(|ui| {
            ui.label(RichText::new(t.title()).strong().size(15.0));
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.small_button("Hide").on_hover_text("Hide this tile (View > Tiles shown)").clicked() {
                    layout.hidden.push(t);
                }
                if ui.small_button("Solo").on_hover_text("Show this tile alone, as a tab").clicked() {
                    layout.mode = LayoutMode::Tabs;
                    layout.active_tab = t;
                }
                if ui.small_button(">").on_hover_text("Move right").clicked() {
                    layout.move_tile(t, 1);
                }
                if ui.small_button("<").on_hover_text("Move left").clicked() {
                    layout.move_tile(t, -1);
                }
            });
        });
    }

    fn tile_ui(&mut self, t: Tile, ui: &mut egui::Ui) {
        let Self { state, session, panels, commands, .. } = self;
        let mut ctx = ViewCtx { session, commands };
        match t {
            Tile::Losses => panels.losses.ui(state, &mut ctx, ui),
            Tile::Metrics => panels.metrics.ui(state, &mut ctx, ui),
            Tile::ViewWeights => panels.view_weights.ui(state, &mut ctx, ui),
            Tile::Embedding => panels.embedding.ui(state, &mut ctx, ui),
            Tile::Inspector => panels.inspector.ui(state, &mut ctx, ui),
            Tile::Runs => panels.runs.ui(state, &mut ctx, ui),
            Tile::Analysis => panels.analysis.ui(state, &mut ctx, ui),
        }
    }

    fn drop_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let (hovered, dropped) = ctx.input(|i| (!i.raw.hovered_files.is_empty(), i.raw.dropped_files.clone()));
        if hovered {
            let rect = ctx.content_rect();
            let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("drop_hint")));
            painter.rect_filled(rect, 0.0, palette::drop_overlay());
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Drop a .mat file to load it",
                egui::FontId::proportional(28.0),
                egui::Color32::WHITE,
            );
        }
        if let Some(f) = dropped.first() {
            if let Some(id) = self.session.runs.new_data.armed.take() {
                // The Runs tile's "New data" is armed: the file updates that run's checkpoint.
                self.commands.send(AppCommand::NewData(id, Some(f.path().to_path_buf())));
            } else if self.session.run.status.is_active() {
                self.session.notify("stop the run before loading another dataset");
            } else {
                self.commands.send(AppCommand::Load(DatasetSource::File(f.path().to_path_buf())));
            }
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
