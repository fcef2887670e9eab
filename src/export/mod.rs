//! Figures (SVG / PNG through plotters, one paper style), tables (CSV) and the
//! run record (JSON) of a training run. Every write is atomic (a temporary
//! file in the same folder, then a rename), and every error says which file
//! and why.
//!
//! The input is a plain [`RunExport`]: the app builds it from what it shows,
//! a script can build it from a [`crate::engine::protocol::RunSummary`].
//! `figures.rs` draws (with the embedded font of `font.rs`), `table.rs` writes the CSV tables, `write.rs` the atomic files.

mod confusion;
mod figures;
pub mod font;
mod selection;
mod table;
mod write;

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::engine::TrainConfig;
use crate::engine::protocol::{EpochReport, MetricsReport, RunSummary};

pub use confusion::ConfusionExport;
use figures::draw_figure;
pub use selection::{SelectedPoint, SelectionExport};
use table::csv_of;
pub use write::atomic_write;
use write::{ensure_parent, io_err, temp_path};

/// A plot that can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum Figure {
    Losses,
    Metrics,
    ViewWeights,
    ViewWeightHistory,
    Embedding,
    ClusterProbabilities,
    /// The aligned confusion matrix of the Analysis tile.
    Confusion,
}

impl Figure {
    pub const ALL: [Self; 7] = [
        Self::Losses,
        Self::Metrics,
        Self::ViewWeights,
        Self::ViewWeightHistory,
        Self::Embedding,
        Self::ClusterProbabilities,
        Self::Confusion,
    ];

    /// File name stem (`losses` → `losses.svg`, `losses.csv`).
    pub fn stem(self) -> &'static str {
        match self {
            Self::Losses => "losses",
            Self::Metrics => "metrics",
            Self::ViewWeights => "view_weights",
            Self::ViewWeightHistory => "view_weight_history",
            Self::Embedding => "embedding",
            Self::ClusterProbabilities => "cluster_probabilities",
            Self::Confusion => "confusion",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Losses => "Losses",
            Self::Metrics => "Metrics",
            Self::ViewWeights => "View weights",
            Self::ViewWeightHistory => "View weights over epochs",
            Self::Embedding => "Embedding",
            Self::ClusterProbabilities => "Cluster probabilities",
            Self::Confusion => "Confusion matrix",
        }
    }
}

/// Size and resolution of exported figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FigureStyle {
    pub width_in: f32,
    pub height_in: f32,
    /// PNG resolution; SVG is vector and uses 100 units per inch.
    pub dpi: u32,
    pub log_losses: bool,
}

impl Default for FigureStyle {
    fn default() -> Self {
        Self { width_in: 6.0, height_in: 4.0, dpi: 300, log_losses: true }
    }
}

/// Which value colours the embedding points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColorKey {
    Predicted,
    TrueLabel,
    Confidence,
    /// Correct (the prediction matched to the label) or wrong.
    Correctness,
    /// The pseudo-label uncertainty in [0, 1] ([`EmbeddingExport::uncertainty`]).
    Uncertainty,
    /// View `v`'s own prediction ([`EmbeddingExport::view_predicted`]).
    ViewPrediction(usize),
}

impl ColorKey {
    /// The colouring's name in a figure's title.
    pub fn describe(self, view_name: Option<&str>) -> String {
        match self {
            Self::Predicted => "predicted cluster".into(),
            Self::TrueLabel => "true label".into(),
            Self::Confidence => "confidence".into(),
            Self::Correctness => "correct / wrong".into(),
            Self::Uncertainty => "pseudo-label uncertainty".into(),
            Self::ViewPrediction(v) => match view_name {
                Some(n) => format!("the prediction of view {n}"),
                None => format!("the prediction of view {}", v + 1),
            },
        }
    }
}

/// What the run's dataset was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DatasetInfo {
    pub name: String,
    pub source: String,
    pub fingerprint: String,
    pub n_samples: usize,
    pub view_names: Vec<String>,
    pub view_dims: Vec<usize>,
    pub label_variable: Option<String>,
    pub class_names: Vec<String>,
    pub preprocess: String,
}

/// The 2-D embedding on screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingExport {
    pub epoch: usize,
    /// `t-SNE`, `PCA`, …
    pub method: String,
    /// `Z` or `h (view name)`.
    pub feature: String,
    pub color_by: ColorKey,
    /// Dataset row of each point.
    pub rows: Vec<usize>,
    pub coords: Vec<[f32; 2]>,
    pub true_labels: Option<Vec<usize>>,
    /// Predicted cluster in model ids.
    pub predicted: Vec<usize>,
    /// Predicted cluster in label ids (Hungarian matching), when labelled.
    pub predicted_aligned: Option<Vec<usize>>,
    pub confidence: Vec<f32>,
    /// Each point's pseudo-label uncertainty in [0, 1] (empty in exports from before it was kept).
    #[serde(default)]
    pub uncertainty: Vec<f32>,
    /// With [`ColorKey::ViewPrediction`]: that view's own prediction of each point (label ids
    /// where the data is labelled), and the view's name.
    #[serde(default)]
    pub view_predicted: Option<Vec<usize>>,
    #[serde(default)]
    pub view_name: Option<String>,
}

/// The selected sample's cluster probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleExport {
    pub row: usize,
    pub epoch: usize,
    pub true_label: Option<usize>,
    pub predicted: usize,
    pub predicted_aligned: Option<usize>,
    /// Mean soft assignment over clusters (model ids).
    pub q: Vec<f32>,
    /// Name of each cluster's matched class, when known.
    pub cluster_names: Vec<String>,
}

/// Everything one export reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunExport {
    pub app_version: String,
    pub exported_at_unix: u64,
    pub dataset: DatasetInfo,
    pub config: Option<TrainConfig>,
    pub device: Option<String>,
    pub status: String,
    pub wall_secs: Option<f64>,
    pub epochs: Vec<EpochReport>,
    pub metrics: Vec<MetricsReport>,
    /// First global epoch of the contrastive phase.
    pub contrastive_from: Option<usize>,
    pub final_metrics: Option<MetricsReport>,
    pub summary: Option<RunSummary>,
    pub embedding: Option<EmbeddingExport>,
    pub selected: Option<SampleExport>,
    /// The Analysis tile's confusion matrix (absent in exports from before issue 18).
    #[serde(default)]
    pub confusion: Option<ConfusionExport>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: cannot write: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("nothing to export for {what}: {why}")]
    NoData { what: &'static str, why: &'static str },
    #[error("{path}: drawing the figure failed: {why}")]
    Render { path: PathBuf, why: String },
    #[error("{path}: encoding failed: {why}")]
    Encode { path: PathBuf, why: String },
}

/// Which figures and tables `run` has data for.
pub fn available(run: &RunExport, fig: Figure) -> Result<(), ExportError> {
    let none = |why| Err(ExportError::NoData { what: fig.stem(), why });
    match fig {
        Figure::Losses | Figure::ViewWeightHistory if run.epochs.is_empty() => none("no epoch has finished yet"),
        Figure::ViewWeights if run.epochs.is_empty() => none("no epoch has finished yet"),
        Figure::Metrics if run.metrics.is_empty() => none("no metrics yet (they need labels and a contrastive epoch)"),
        Figure::Embedding if run.embedding.as_ref().is_none_or(|e| e.coords.is_empty()) => {
            none("no embedding has been computed")
        }
        Figure::ClusterProbabilities if run.selected.is_none() => none("no sample is selected"),
        Figure::Confusion if run.confusion.as_ref().is_none_or(|c| c.counts.is_empty()) => {
            none("no confusion matrix (it needs labels and a snapshot)")
        }
        _ => Ok(()),
    }
}

/// Renders a figure as SVG to `path`.
pub fn write_svg(run: &RunExport, fig: Figure, style: &FigureStyle, path: &Path) -> Result<(), ExportError> {
    available(run, fig)?;
    let size = ((style.width_in * 100.0).round() as u32, (style.height_in * 100.0).round() as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw_figure(&root, run, fig, style, 100.0 / 72.0)
            .map_err(|why| ExportError::Render { path: path.to_path_buf(), why })?;
        root.present().map_err(|e| ExportError::Render { path: path.to_path_buf(), why: e.to_string() })?;
    }
    atomic_write(path, svg.as_bytes())
}

/// Renders a figure as PNG to `path` at the style's DPI.
pub fn write_png(run: &RunExport, fig: Figure, style: &FigureStyle, path: &Path) -> Result<(), ExportError> {
    available(run, fig)?;
    let dpi = style.dpi.clamp(50, 1200) as f32;
    let size = ((style.width_in * dpi).round() as u32, (style.height_in * dpi).round() as u32);
    ensure_parent(path)?;
    let tmp = temp_path(path);
    let result = (|| {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        draw_figure(&root, run, fig, style, f64::from(dpi) / 72.0)
            .map_err(|why| ExportError::Render { path: path.to_path_buf(), why })?;
        root.present().map_err(|e| ExportError::Encode { path: path.to_path_buf(), why: e.to_string() })?;
        drop(root);
        std::fs::rename(&tmp, path).map_err(io_err(path))
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}

/// Writes a figure's data as CSV to `path`.
pub fn write_csv(run: &RunExport, fig: Figure, path: &Path) -> Result<(), ExportError> {
    available(run, fig)?;
    atomic_write(path, csv_of(run, fig).as_bytes())
}

/// Writes the whole run (config, dataset fingerprint, per-epoch series, final
/// metrics, device, timings) as pretty JSON.
pub fn write_run_json(run: &RunExport, path: &Path) -> Result<(), ExportError> {
    let json = serde_json::to_string_pretty(run)
        .map_err(|e| ExportError::Encode { path: path.to_path_buf(), why: e.to_string() })?;
    atomic_write(path, json.as_bytes())
}

/// Writes every figure with data (SVG and PNG), its CSV, and `run.json` into
/// `dir` (created). Returns the files written.
pub fn export_all(run: &RunExport, style: &FigureStyle, dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut written = Vec::new();
    for fig in Figure::ALL {
        if available(run, fig).is_err() {
            continue;
        }
        for (ext, f) in [
            ("svg", write_svg as fn(&RunExport, Figure, &FigureStyle, &Path) -> Result<(), ExportError>),
            ("png", write_png),
        ] {
            let p = dir.join(format!("{}.{ext}", fig.stem()));
            f(run, fig, style, &p)?;
            written.push(p);
        }
        let p = dir.join(format!("{}.csv", fig.stem()));
        write_csv(run, fig, &p)?;
        written.push(p);
    }
    let p = dir.join("run.json");
    write_run_json(run, &p)?;
    written.push(p);
    Ok(written)
}

// ---------------------------------------------------------------------------
// CSV

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::protocol::Losses;
    use crate::engine::protocol::{Phase, Scores};

    pub(crate) fn sample_run() -> RunExport {
        let epochs = (1..=6)
            .map(|g| EpochReport {
                phase: if g <= 2 { Phase::Pretrain } else { Phase::Contrastive },
                epoch: if g <= 2 { g } else { g - 2 },
                global_epoch: g,
                losses: Losses {
                    rec: 1.0 / g as f64,
                    cluster: if g > 2 { 2.0 } else { 0.0 },
                    total: 3.0 / g as f64,
                    ..Losses::default()
                },
                view_weights: vec![0.6, 0.4],
                secs: 0.1,
                lr: 1e-3,
                adaptive: None,
            })
            .collect();
        let s = Scores { acc: 0.8, nmi: 0.7, ari: 0.6, purity: 0.85 };
        RunExport {
            dataset: DatasetInfo {
                name: "t".into(),
                view_names: vec!["a, b".into(), "c".into()],
                class_names: vec!["x".into(), "y".into()],
                ..DatasetInfo::default()
            },
            epochs,
            metrics: vec![MetricsReport {
                global_epoch: 4,
                mean_q: s,
                vcf: s,
                kmeans_z: s,
                per_view_acc: vec![0.5, 0.6],
                per_view: vec![s, s],
                view_agreement: vec![vec![1.0, 0.5], vec![0.5, 1.0]],
                per_view_kmeans: vec![s, s],
                triplet: None,
            }],
            contrastive_from: Some(3),
            embedding: Some(EmbeddingExport {
                epoch: 6,
                method: "t-SNE".into(),
                feature: "Z".into(),
                color_by: ColorKey::Predicted,
                rows: vec![0, 5, 9],
                coords: vec![[0.0, 1.0], [2.0, -1.0], [1.0, 0.5]],
                true_labels: Some(vec![0, 1, 1]),
                predicted: vec![1, 0, 0],
                predicted_aligned: Some(vec![0, 1, 1]),
                confidence: vec![0.9, 0.8, 0.7],
                uncertainty: vec![0.1, 0.3, 0.6],
                view_predicted: None,
                view_name: None,
            }),
            confusion: Some(ConfusionExport {
                reading: "primary (heads)".into(),
                epoch: 6,
                row_normalised: false,
                columns: vec![1, 0],
                column_label: vec![Some(0), Some(1)],
                counts: vec![vec![5, 1], vec![0, 4]],
            }),
            ..RunExport::default()
        }
    }

    #[test]
    fn csv_quotes_and_has_rows() {
        let run = sample_run();
        let csv = csv_of(&run, Figure::ViewWeightHistory);
        assert!(csv.starts_with("global_epoch,phase,\"a, b\",c\n"), "{csv}");
        assert_eq!(csv.lines().count(), 7);
        let emb = csv_of(&run, Figure::Embedding);
        assert!(emb.lines().nth(1).unwrap().starts_with("0,0,1,0,x,0,x,1,"), "{emb}");
    }

    #[test]
    fn svg_and_png_are_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let run = sample_run();
        let files = export_all(&run, &FigureStyle { dpi: 100, ..FigureStyle::default() }, dir.path()).unwrap();
        assert!(files.iter().any(|p| p.ends_with("losses.svg")));
        let svg = std::fs::read_to_string(dir.path().join("losses.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("reconstruction"));
        let svg = std::fs::read_to_string(dir.path().join("confusion.svg")).unwrap();
        assert!(svg.contains("Confusion matrix") && svg.contains("DejaVu Sans"), "the embedded font is named");
        let csv = std::fs::read_to_string(dir.path().join("confusion.csv")).unwrap();
        assert!(csv.starts_with("true_label,cluster 1,cluster 0\nx,5,1\ny,0,4\ncluster_size,5,5\n"), "{csv}");
        let png = std::fs::read(dir.path().join("embedding.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        // No sample selected: that figure is skipped, and asking for it says why.
        let err = write_svg(&run, Figure::ClusterProbabilities, &FigureStyle::default(), &dir.path().join("x.svg"))
            .unwrap_err();
        assert!(err.to_string().contains("no sample is selected"));
    }

    #[test]
    fn the_embedding_figure_draws_every_colouring_of_the_app() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = sample_run();
        let path = dir.path().join("e.svg");
        let draw = |run: &RunExport| {
            write_svg(run, Figure::Embedding, &FigureStyle::default(), &path).unwrap();
            std::fs::read_to_string(&path).unwrap()
        };
        let e = run.embedding.as_mut().unwrap();
        e.color_by = ColorKey::Correctness;
        e.predicted_aligned = Some(vec![0, 0, 1]); // the second point is wrong
        let svg = draw(&run);
        assert!(svg.contains("correct / wrong") && svg.contains("\nwrong\n") && svg.contains("\ncorrect\n"), "{svg}");
        let e = run.embedding.as_mut().unwrap();
        e.color_by = ColorKey::Uncertainty;
        assert!(draw(&run).contains("pseudo-label uncertainty"));
        let e = run.embedding.as_mut().unwrap();
        e.color_by = ColorKey::ViewPrediction(1);
        e.view_predicted = Some(vec![1, 1, 0]);
        e.view_name = Some("moons".into());
        assert!(draw(&run).contains("the prediction of view moons"));
    }

    #[test]
    fn a_failed_write_names_the_file() {
        let run = sample_run();
        let err = write_run_json(&run, Path::new("/proc/forbidden/run.json")).unwrap_err();
        assert!(err.to_string().contains("/proc/forbidden"), "{err}");
    }
}
