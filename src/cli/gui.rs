//! `mvc-workbench gui`: the desktop app (also what runs with no command).

use std::path::PathBuf;

use clap::Args;

use crate::app::{
    self, AppOptions,
    state::{AnalysisView, ColorBy, Tile},
};

/// Arguments of `gui`.
#[derive(Debug, Args, Default)]
pub struct GuiArgs {
    /// A built-in dataset name (gauss3-noise, rings-moons) or a .mat file to load at start;
    /// without it the last dataset is reopened.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Start training as soon as the dataset is loaded.
    #[arg(long)]
    pub start: bool,
    /// Select this sample (dataset row) in the inspector once it appears in the embedding.
    #[arg(long)]
    pub select: Option<usize>,
    /// Open with one tile as a tab: losses, metrics, view-weights, embedding, inspector, analysis or runs.
    #[arg(long, value_parser = parse_tile)]
    pub tab: Option<Tile>,
    /// When the run finishes, "Export all" into this folder.
    #[arg(long)]
    pub export_on_finish: Option<PathBuf>,
    /// Close the window when the run has finished (and its export is written).
    #[arg(long)]
    pub exit_when_done: bool,
    /// Measure frame times for this many seconds while training with the embedding on
    /// screen, print p50/p95 as JSON (or write them to --bench-out) and close.
    #[arg(long)]
    pub bench_frames: Option<f64>,
    #[arg(long)]
    pub bench_out: Option<PathBuf>,
    /// Snapshot and embed up to this many samples (the run's snapshot size and the t-SNE cap;
    /// e.g. 10000 to draw all of Hdigit).
    #[arg(long)]
    pub points: Option<usize>,
    /// The runs directory the app records its runs in and the Runs tile lists (default: the
    /// tile's setting, else $MVC_RUNS, else ~/.local/share/mvc-workbench/runs).
    #[arg(long, value_name = "DIR")]
    pub runs: Option<PathBuf>,
    /// Train this network: cvc (CVC-AFWM), dec (seed 004's single-view DEC, on the dataset's
    /// first view; with the seed's settings) or a metric-learning baseline (siamese-conv,
    /// ae-conv, mlp; with seed 001's settings).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<crate::engine::config::ModelFamily>,
    /// Colour the embedding by: predicted, true, correct, confidence or uncertainty.
    #[arg(long, value_parser = parse_color)]
    pub color_by: Option<ColorBy>,
    /// The Analysis tile's view at start: confusion, views or uncertainty.
    #[arg(long, value_parser = parse_analysis)]
    pub analysis: Option<AnalysisView>,
    /// Dark theme (default: the saved choice, else light).
    #[arg(long, conflicts_with = "light")]
    pub dark: bool,
    /// Light theme.
    #[arg(long)]
    pub light: bool,
    /// Neither restore nor save the UI state.
    #[arg(long)]
    pub no_persist: bool,
}

fn parse_color(s: &str) -> Result<ColorBy, String> {
    match s.to_ascii_lowercase().as_str() {
        "predicted" => Ok(ColorBy::Predicted),
        "true" | "label" | "true-label" => Ok(ColorBy::TrueLabel),
        "confidence" => Ok(ColorBy::Confidence),
        "correct" | "correctness" => Ok(ColorBy::Correctness),
        "uncertainty" => Ok(ColorBy::Uncertainty),
        o => Err(format!("unknown colouring {o:?}; use predicted, true, correct, confidence or uncertainty")),
    }
}

fn parse_analysis(s: &str) -> Result<AnalysisView, String> {
    match s.to_ascii_lowercase().as_str() {
        "confusion" => Ok(AnalysisView::Confusion),
        "views" | "per-view" => Ok(AnalysisView::Views),
        "uncertainty" => Ok(AnalysisView::Uncertainty),
        o => Err(format!("unknown analysis view {o:?}; use confusion, views or uncertainty")),
    }
}

fn parse_tile(s: &str) -> Result<Tile, String> {
    match s.to_ascii_lowercase().replace('_', "-").as_str() {
        "losses" => Ok(Tile::Losses),
        "metrics" => Ok(Tile::Metrics),
        "view-weights" | "weights" => Ok(Tile::ViewWeights),
        "embedding" => Ok(Tile::Embedding),
        "inspector" => Ok(Tile::Inspector),
        "runs" => Ok(Tile::Runs),
        "analysis" => Ok(Tile::Analysis),
        o => Err(format!(
            "unknown tile {o:?}; use losses, metrics, view-weights, embedding, inspector, analysis or runs"
        )),
    }
}

/// Launches the app.
pub fn run(args: &GuiArgs) -> Result<(), String> {
    let GuiArgs {
        dataset,
        start,
        select,
        tab,
        export_on_finish,
        exit_when_done,
        bench_frames,
        bench_out,
        points,
        color_by,
        analysis,
        dark,
        light,
        no_persist,
        runs,
        model,
    } = args;
    app::run(AppOptions {
        dataset: dataset.clone(),
        start: *start || bench_frames.is_some(),
        select: *select,
        tab: *tab,
        export_on_finish: export_on_finish.clone(),
        bench_secs: *bench_frames,
        bench_out: bench_out.clone(),
        points: *points,
        exit_when_done: *exit_when_done,
        persist: !no_persist,
        color_by: *color_by,
        model: *model,
        analysis: *analysis,
        runs_dir: runs.clone(),
        dark: if *dark {
            Some(true)
        } else if *light {
            Some(false)
        } else {
            None
        },
    })
}
