//! The app's state, apart from drawing: what persists across launches
//! ([`AppState`]), what a session holds at run time ([`Session`] with its [`RunLog`],
//! [`EmbeddingLayout`]), and the commands panels send ([`AppCommand`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::{MultiViewDataset, Preprocess, VariableInfo};
use crate::engine::TrainConfig;
use crate::engine::protocol::{EmbeddingSnapshot, LiveParams};
pub use crate::engine::run_log::{RunLog, RunStatus, format_secs, phase_name};

use super::tsne::TsneParams;
use crate::export::Figure;

/// The centre tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum Tile {
    Losses,
    Metrics,
    ViewWeights,
    Embedding,
    Inspector,
    Runs,
}

impl Tile {
    pub const ALL: [Self; 6] =
        [Self::Losses, Self::Metrics, Self::ViewWeights, Self::Embedding, Self::Inspector, Self::Runs];

    pub fn title(self) -> &'static str {
        match self {
            Self::Losses => "Losses",
            Self::Metrics => "Metrics",
            Self::ViewWeights => "View weights",
            Self::Embedding => "Embedding",
            Self::Inspector => "Inspector",
            Self::Runs => "Runs",
        }
    }
}

/// How the centre tiles are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum LayoutMode {
    /// One tile at a time, chosen by tabs.
    Tabs,
    /// The visible tiles in a grid.
    #[default]
    Grid,
}

/// The user's arrangement of the centre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Layout {
    pub mode: LayoutMode,
    /// Tile order (the user moves tiles left / right).
    pub order: Vec<Tile>,
    /// Tiles hidden from the grid.
    pub hidden: Vec<Tile>,
    pub active_tab: Tile,
    /// Grid columns.
    pub columns: usize,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            mode: LayoutMode::Grid,
            order: Tile::ALL.to_vec(),
            // The Runs tile is a tab, or a grid tile once switched on in the View menu.
            hidden: vec![Tile::Runs],
            active_tab: Tile::Embedding,
            columns: 2,
        }
    }
}

impl Layout {
    /// The tiles to show in the grid, in order (every tile exactly once in `order`).
    pub fn visible(&self) -> Vec<Tile> {
        self.order.iter().copied().filter(|t| !self.hidden.contains(t)).collect()
    }

    /// Repairs an order read from an older save.
    pub fn normalise(&mut self) {
        let mut seen = Vec::new();
        self.order.retain(|t| {
            let fresh = !seen.contains(t);
            seen.push(*t);
            fresh
        });
        for t in Tile::ALL {
            if !self.order.contains(&t) {
                self.order.push(t);
            }
        }
        self.columns = self.columns.clamp(1, 3);
    }

    pub fn move_tile(&mut self, tile: Tile, delta: isize) {
        let Some(i) = self.order.iter().position(|t| *t == tile) else { return };
        let j = i as isize + delta;
        if j >= 0 && (j as usize) < self.order.len() {
            self.order.swap(i, j as usize);
        }
    }
}

/// What the embedding points are coloured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ColorBy {
    #[default]
    Predicted,
    TrueLabel,
    Confidence,
}

impl ColorBy {
    pub fn label(self) -> &'static str {
        match self {
            Self::Predicted => "predicted cluster",
            Self::TrueLabel => "true label",
            Self::Confidence => "confidence",
        }
    }
}

/// Which feature the embedding shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum FeatureSource {
    /// The fused feature `Z`.
    #[default]
    Fused,
    /// View `v`'s high-level feature `h_v`.
    View(usize),
}

/// Embedding tile settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddingSettings {
    pub color_by: ColorBy,
    pub source: FeatureSource,
    pub tsne: TsneParams,
    /// Recompute t-SNE automatically at most every this many epochs (0 = only on demand).
    pub every_epochs: usize,
    pub point_radius: f32,
}

impl Default for EmbeddingSettings {
    fn default() -> Self {
        Self {
            color_by: ColorBy::Predicted,
            source: FeatureSource::Fused,
            tsne: TsneParams::default(),
            every_epochs: 10,
            point_radius: 2.5,
        }
    }
}

/// Figure export settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportSettings {
    pub dir: PathBuf,
    pub dpi: u32,
    pub width_in: f32,
    pub height_in: f32,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self { dir: PathBuf::from("mvc-exports"), dpi: 300, width_in: 6.0, height_in: 4.0 }
    }
}

/// Where a dataset came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatasetSource {
    Builtin(String),
    File(PathBuf),
}

impl DatasetSource {
    /// Parses a `--dataset` argument: a built-in name or a path.
    pub fn parse(s: &str) -> Self {
        if crate::data::builtin::description(s).is_some() {
            Self::Builtin(s.to_owned())
        } else {
            Self::File(PathBuf::from(s))
        }
    }

    pub fn display(&self) -> String {
        match self {
            Self::Builtin(n) => format!("{n} (built-in)"),
            Self::File(p) => {
                p.file_name().map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into_owned())
            }
        }
    }
}

/// The user's overrides of the loader's guess (file datasets only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VariableOverride {
    pub enabled: bool,
    pub views: Vec<String>,
    pub labels: Option<String>,
    pub no_labels: bool,
}

/// Everything that persists across launches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppState {
    pub dark_mode: bool,
    pub last_dataset: Option<DatasetSource>,
    pub recent_files: Vec<PathBuf>,
    pub preprocess: Preprocess,
    pub overrides: VariableOverride,
    pub config: TrainConfig,
    pub layout: Layout,
    pub embedding: EmbeddingSettings,
    pub losses_log_scale: bool,
    pub export: ExportSettings,
    pub left_panel_open: bool,
    /// The runs directory chosen in the Runs tile (`None`: `--runs`, `$MVC_RUNS` or the default).
    pub runs_dir: Option<PathBuf>,
    /// The run the Runs tile compares the others with.
    pub runs_baseline: Option<String>,
}

impl Default for AppState {
    fn default() -> Self {
        Self {
            dark_mode: false,
            last_dataset: None,
            recent_files: Vec::new(),
            preprocess: Preprocess::MinMax,
            overrides: VariableOverride::default(),
            config: demo_config(),
            layout: Layout::default(),
            embedding: EmbeddingSettings::default(),
            losses_log_scale: true,
            export: ExportSettings::default(),
            left_panel_open: true,
            runs_dir: None,
            runs_baseline: None,
        }
    }
}

/// The most recent files kept.
pub const RECENT_FILES: usize = 8;

impl AppState {
    pub fn remember_file(&mut self, path: PathBuf) {
        self.recent_files.retain(|p| p != &path);
        self.recent_files.insert(0, path);
        self.recent_files.truncate(RECENT_FILES);
    }
}

/// Name of the app's own preset for small data (the built-in sets).
pub const DEMO_PRESET: &str = "Demo (small, fast)";

/// Small sizes that train the built-in datasets in seconds on a CPU.
pub fn demo_config() -> TrainConfig {
    TrainConfig {
        preset: Some(DEMO_PRESET.to_owned()),
        mse_epochs: 20,
        con_epochs: 60,
        batch_size: 128,
        // With the views target the heads need the faster rate on this budget: gauss3-noise
        // reached ACC .79–.83 at 3e-4 and 1.0 at 1e-3 (seeds 10, 1, 2, 3); rings-moons
        // .96 ± .01 at 3e-4 and .95 ± .05 at 1e-3.
        learning_rate: 1e-3,
        encoder_hidden: vec![128, 128],
        feature_dim: 32,
        high_feature_dim: 32,
        vcf_ff_dim: 64,
        eval_every: 2,
        snapshot_every: 2,
        snapshot_points: 2000,
        ..TrainConfig::default()
    }
}

/// A dataset preset (`MNIST-USPS`, …) laid over the defaults through the shared layering
/// (`engine::layers`), exactly as `train --preset` and `serve` apply it.
pub fn dataset_preset_config(name: &str) -> Result<TrainConfig, String> {
    let layers = crate::engine::layers::Layers { preset: Some(name.to_owned()), ..Default::default() };
    layers.build().map_err(|e| e.to_string())
}

/// How the embedding's current picture was computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayoutMethod {
    Pca,
    Tsne { iteration: usize, total: usize, done: bool },
}

impl LayoutMethod {
    pub fn label(&self) -> String {
        match self {
            Self::Pca => "PCA".into(),
            Self::Tsne { done: true, .. } => "t-SNE".into(),
            Self::Tsne { iteration, total, .. } => format!("t-SNE (iteration {iteration}/{total})"),
        }
    }
}

/// The 2-D picture of one snapshot: its points, their coordinates, and where it came from.
#[derive(Debug, Clone)]
pub struct EmbeddingLayout {
    pub snapshot: Arc<EmbeddingSnapshot>,
    /// Position in `snapshot` of each point shown.
    pub positions: Vec<usize>,
    pub coords: Vec<[f32; 2]>,
    pub method: LayoutMethod,
    pub source: FeatureSource,
}

impl EmbeddingLayout {
    /// Dataset row of point `i`.
    pub fn row(&self, i: usize) -> Option<usize> {
        self.positions.get(i).and_then(|&p| self.snapshot.indices.get(p)).copied()
    }

    /// The epoch the picture is from.
    pub fn epoch(&self) -> usize {
        self.snapshot.global_epoch
    }
}

/// A t-SNE job in flight.
#[derive(Debug, Clone)]
pub struct PendingTsne {
    pub job_id: u64,
    pub snapshot: Arc<EmbeddingSnapshot>,
    pub positions: Vec<usize>,
    pub source: FeatureSource,
    pub last_iteration: usize,
}

/// Embedding state at run time.
#[derive(Debug, Clone, Default)]
pub struct EmbeddingRuntime {
    pub layout: Option<EmbeddingLayout>,
    pub pending: Option<PendingTsne>,
    pub error: Option<String>,
    /// Epoch of the snapshot last sent to t-SNE.
    pub last_job_epoch: Option<usize>,
    pub last_tsne_secs: Option<f64>,
}

/// The label id each model cluster was matched to (from the snapshot's
/// `predicted` / `predicted_aligned` pairs); `None` for a cluster no point took.
pub fn cluster_to_label(s: &EmbeddingSnapshot) -> Vec<Option<usize>> {
    let mut map = vec![None; s.k];
    if let Some(aligned) = &s.predicted_aligned {
        for (&c, &a) in s.predicted.iter().zip(aligned) {
            if let Some(m) = map.get_mut(c) {
                *m = Some(a);
            }
        }
    }
    map
}

/// Position of dataset row `row` in a snapshot.
pub fn position_in(s: &EmbeddingSnapshot, row: usize) -> Option<usize> {
    s.indices.iter().position(|&r| r == row)
}

/// A loaded dataset and what the override UI needs.
#[derive(Debug, Clone)]
pub struct LoadedDataset {
    pub source: DatasetSource,
    pub dataset: Arc<MultiViewDataset>,
    /// The file's variables (file datasets only).
    pub variables: Option<Vec<VariableInfo>>,
    pub preprocess: Preprocess,
    pub load_secs: f64,
}

/// Result of a background export.
#[derive(Debug, Clone)]
pub enum ExportOutcome {
    Written(Vec<PathBuf>),
    Failed(String),
}

/// Rolling frame-time statistics (the ui pass, in milliseconds).
#[derive(Debug, Clone, Default)]
pub struct FrameTimes {
    pub recent_ms: VecDeque<f32>,
}

impl FrameTimes {
    pub const WINDOW: usize = 240;

    pub fn push(&mut self, ms: f32) {
        if self.recent_ms.len() == Self::WINDOW {
            self.recent_ms.pop_front();
        }
        self.recent_ms.push_back(ms);
    }

    /// The `q`-quantile (0..=1) of the recent frames.
    pub fn quantile(&self, q: f32) -> Option<f32> {
        quantile(self.recent_ms.iter().copied().collect(), q)
    }
}

/// The `q`-quantile of `v` (nearest rank).
pub fn quantile(mut v: Vec<f32>, q: f32) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    let i = ((v.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
    v.get(i).copied()
}

/// A status-bar message.
#[derive(Debug, Clone)]
pub struct Notice {
    pub text: String,
    pub at: Instant,
    /// Shown in the error colour, and longer.
    pub error: bool,
}

/// Everything the session holds at run time (never persisted).
#[derive(Default)]
pub struct Session {
    pub loaded: Option<LoadedDataset>,
    /// What is being loaded right now.
    pub loading: Option<DatasetSource>,
    pub load_error: Option<String>,
    pub run: RunLog,
    /// Dataset row of the selected sample.
    pub selected: Option<usize>,
    pub embedding: EmbeddingRuntime,
    pub export_busy: bool,
    pub export_outcome: Option<ExportOutcome>,
    /// A message for the status bar (e.g. a refused command, a crashed worker).
    pub notice: Option<Notice>,
    pub frames: FrameTimes,
    pub start_error: Option<String>,
    pub tsne_paused: bool,
    /// The run store as the Runs tile shows it.
    pub runs: super::run_history::RunsView,
}

impl Session {
    pub fn dataset(&self) -> Option<&Arc<MultiViewDataset>> {
        self.loaded.as_ref().map(|l| &l.dataset)
    }

    pub fn notify(&mut self, msg: impl Into<String>) {
        self.notice = Some(Notice { text: msg.into(), at: Instant::now(), error: false });
    }

    /// A notice shown as an error (e.g. a background thread crashed).
    pub fn notify_error(&mut self, msg: impl Into<String>) {
        self.notice = Some(Notice { text: msg.into(), at: Instant::now(), error: true });
    }

    /// View names of the loaded dataset (or `view 1`, … when there is none).
    pub fn view_names(&self, n: usize) -> Vec<String> {
        match self.dataset() {
            Some(ds) if ds.views.len() == n => ds.views.iter().map(|v| v.name.clone()).collect(),
            _ => (1..=n).map(|i| format!("view {i}")).collect(),
        }
    }

    /// Display name of label class `k`.
    pub fn class_name(&self, k: usize) -> String {
        match self.dataset().and_then(|d| d.labels.as_ref()) {
            Some(l) if k < l.n_clusters() => l.class_name(k),
            _ => format!("{k}"),
        }
    }
}

/// What to export.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportTarget {
    Svg(Figure),
    Png(Figure),
    Csv(Figure),
    RunJson,
    /// Every figure (SVG + PNG), every table and the run JSON into a new folder.
    All,
}

/// What panels ask the app to do. Applied after the ui pass.
#[derive(Debug, Clone, PartialEq)]
pub enum AppCommand {
    /// Load a dataset (on the loader thread).
    Load(DatasetSource),
    /// Reload the current dataset (after a change of preprocessing or overrides).
    Reload,
    /// Open the file dialog.
    OpenFileDialog,
    /// Choose the export folder with a dialog.
    ChooseExportDir,
    StartRun,
    Pause,
    Resume,
    Stop,
    /// Send live parameters to the running trainer.
    Live(LiveParams),
    /// Ask the trainer for an embedding snapshot now.
    RequestSnapshot,
    /// Recompute the t-SNE of the latest snapshot now.
    RecomputeTsne,
    PauseTsne(bool),
    CancelTsne,
    Select(Option<usize>),
    Export(ExportTarget),
    /// Apply a preset by name.
    ApplyPreset(String),
    /// Re-read the run store.
    RefreshRuns,
    /// Use this runs directory from now on (the Runs tile's setting).
    SetRunsDir(PathBuf),
    /// Overlay these stored runs' curves on the plots (replaces the previous choice).
    OverlayRuns(Vec<String>),
    /// Show a stored run in the tiles (its curves and last embedding snapshot).
    OpenRun(String),
    /// Load a stored run's dataset and settings, ready to train again.
    TrainAgain(String),
    RenameRun(String, String),
    SetRunTags(String, Vec<String>),
    /// Delete a stored run (the panel asks for confirmation first).
    DeleteRun(String),
    /// Pin (or with `None` unpin) the baseline run.
    PinBaseline(Option<String>),
}

/// The queue panels push commands into during a frame.
#[derive(Debug, Default)]
pub struct CommandQueue {
    queue: Vec<AppCommand>,
}

impl CommandQueue {
    pub fn send(&mut self, command: AppCommand) {
        self.queue.push(command);
    }

    pub fn drain(&mut self) -> Vec<AppCommand> {
        std::mem::take(&mut self.queue)
    }
}

/// What every panel reads (the session) and where it sends its commands.
pub struct ViewCtx<'a> {
    pub session: &'a Session,
    pub commands: &'a mut CommandQueue,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_moves_and_repairs() {
        let mut l = Layout { order: vec![Tile::Embedding, Tile::Embedding], ..Layout::default() };
        l.normalise();
        assert_eq!(l.order.len(), 6);
        assert_eq!(l.order[0], Tile::Embedding);
        l.move_tile(Tile::Embedding, 1);
        assert_eq!(l.order[1], Tile::Embedding);
        l.move_tile(Tile::Embedding, -5);
        assert_eq!(l.order[1], Tile::Embedding);
    }

    #[test]
    fn quantiles() {
        assert_eq!(quantile(vec![3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(quantile(vec![], 0.5), None);
    }
}
