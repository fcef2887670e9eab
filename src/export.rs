//! Figures (SVG / PNG through plotters, one paper style), tables (CSV) and the
//! run record (JSON) of a training run. Every write is atomic (a temporary
//! file in the same folder, then a rename), and every error says which file
//! and why.
//!
//! The input is a plain [`RunExport`]: the app builds it from what it shows,
//! a script can build it from a [`crate::engine::protocol::RunSummary`].

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::engine::TrainConfig;
use crate::engine::protocol::{EpochReport, LossTerm, MetricsReport, Phase, RunSummary, Scores};

/// Colours of the figures: the app's palette, so figures match the screen.
use crate::palette;

/// A plot that can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum Figure {
    Losses,
    Metrics,
    ViewWeights,
    ViewWeightHistory,
    Embedding,
    ClusterProbabilities,
}

impl Figure {
    pub const ALL: [Self; 6] = [
        Self::Losses,
        Self::Metrics,
        Self::ViewWeights,
        Self::ViewWeightHistory,
        Self::Embedding,
        Self::ClusterProbabilities,
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_path_buf(), source }
}

/// A sibling temporary path that keeps the extension (the PNG encoder picks the format by it).
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "export".into(), |n| n.to_string_lossy().into_owned());
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    let unique = format!(".{name}.{}-{}.tmp{ext}", std::process::id(), next_temp_id());
    path.with_file_name(unique)
}

fn next_temp_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn ensure_parent(path: &Path) -> Result<(), ExportError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (temp file + fsync + rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    ensure_parent(path)?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        std::fs::remove_file(&tmp).ok();
        return Err(ExportError::Io { path: path.to_path_buf(), source });
    }
    Ok(())
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

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

fn phase_str(p: Phase) -> &'static str {
    match p {
        Phase::Pretrain => "pretrain",
        Phase::Contrastive => "contrastive",
    }
}

fn view_name(run: &RunExport, v: usize) -> String {
    run.dataset.view_names.get(v).cloned().unwrap_or_else(|| format!("view {}", v + 1))
}

fn class_name(run: &RunExport, k: usize) -> String {
    run.dataset.class_names.get(k).cloned().unwrap_or_else(|| k.to_string())
}

fn csv_of(run: &RunExport, fig: Figure) -> String {
    let mut out = String::new();
    match fig {
        Figure::Losses => {
            out.push_str("global_epoch,phase,epoch,rec,cluster,local,kl,label,total,secs\n");
            for e in &run.epochs {
                let l = &e.losses;
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{}",
                    e.global_epoch,
                    phase_str(e.phase),
                    e.epoch,
                    l.rec,
                    l.cluster,
                    l.local,
                    l.kl,
                    l.label,
                    l.total,
                    e.secs
                );
            }
        }
        Figure::Metrics => {
            let n_views = run.metrics.iter().map(|m| m.per_view_acc.len()).max().unwrap_or(0);
            out.push_str("global_epoch");
            for r in ["mean_q", "vcf", "kmeans_z"] {
                for m in ["acc", "nmi", "ari", "purity"] {
                    let _ = write!(out, ",{r}_{m}");
                }
            }
            for v in 0..n_views {
                let _ = write!(out, ",{}", csv_field(&format!("acc_{}", view_name(run, v))));
            }
            out.push('\n');
            for m in &run.metrics {
                let _ = write!(out, "{}", m.global_epoch);
                for s in [&m.mean_q, &m.vcf, &m.kmeans_z] {
                    let _ = write!(out, ",{},{},{},{}", s.acc, s.nmi, s.ari, s.purity);
                }
                for v in 0..n_views {
                    let _ = write!(out, ",{}", m.per_view_acc.get(v).map_or(String::new(), ToString::to_string));
                }
                out.push('\n');
            }
        }
        Figure::ViewWeights | Figure::ViewWeightHistory => {
            let n_views = run.epochs.iter().map(|e| e.view_weights.len()).max().unwrap_or(0);
            out.push_str("global_epoch,phase");
            for v in 0..n_views {
                let _ = write!(out, ",{}", csv_field(&view_name(run, v)));
            }
            out.push('\n');
            let rows: Vec<&EpochReport> = if fig == Figure::ViewWeights {
                run.epochs.last().into_iter().collect()
            } else {
                run.epochs.iter().collect()
            };
            for e in rows {
                let _ = write!(out, "{},{}", e.global_epoch, phase_str(e.phase));
                for v in 0..n_views {
                    let _ = write!(out, ",{}", e.view_weights.get(v).map_or(String::new(), ToString::to_string));
                }
                out.push('\n');
            }
        }
        Figure::Embedding => {
            out.push_str("index,x,y,true_label,true_name,predicted,predicted_name,predicted_cluster,confidence,method,feature,epoch\n");
            if let Some(e) = &run.embedding {
                for (i, (&row, xy)) in e.rows.iter().zip(&e.coords).enumerate() {
                    let truth = e.true_labels.as_ref().and_then(|t| t.get(i)).copied();
                    let aligned = e.predicted_aligned.as_ref().and_then(|t| t.get(i)).copied();
                    let cluster = e.predicted.get(i).copied().unwrap_or(0);
                    let _ = writeln!(
                        out,
                        "{row},{},{},{},{},{},{},{cluster},{},{},{},{}",
                        xy[0],
                        xy[1],
                        truth.map_or(String::new(), |t| t.to_string()),
                        truth.map_or(String::new(), |t| csv_field(&class_name(run, t))),
                        aligned.unwrap_or(cluster),
                        aligned.map_or(String::new(), |a| csv_field(&class_name(run, a))),
                        e.confidence.get(i).copied().unwrap_or(f32::NAN),
                        csv_field(&e.method),
                        csv_field(&e.feature),
                        e.epoch
                    );
                }
            }
        }
        Figure::ClusterProbabilities => {
            out.push_str("index,cluster,matched_class,probability\n");
            if let Some(s) = &run.selected {
                for (k, q) in s.q.iter().enumerate() {
                    let name = s.cluster_names.get(k).cloned().unwrap_or_default();
                    let _ = writeln!(out, "{},{k},{},{q}", s.row, csv_field(&name));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Figures

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Paper style in points, scaled to the backend's pixels.
struct Paper {
    /// Pixels per typographic point.
    px_per_pt: f64,
}

impl Paper {
    fn px(&self, pt: f64) -> u32 {
        (pt * self.px_per_pt).round().max(1.0) as u32
    }
    fn font(&self, pt: f64) -> TextStyle<'static> {
        ("sans-serif", pt * self.px_per_pt).into_font().color(&BLACK)
    }
    fn stroke(&self, color: RGBColor, pt: f64) -> ShapeStyle {
        color.stroke_width(self.px(pt))
    }
}

type Res = Result<(), String>;

fn re<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    run: &RunExport,
    fig: Figure,
    style: &FigureStyle,
    px_per_pt: f64,
) -> Res
where
    DB::ErrorType: 'static,
{
    let paper = Paper { px_per_pt };
    root.fill(&WHITE).map_err(re)?;
    let area = root.margin(paper.px(6.0), paper.px(6.0), paper.px(6.0), paper.px(10.0));
    match fig {
        Figure::Losses => draw_losses(&area, run, &paper, style.log_losses),
        Figure::Metrics => draw_metrics(&area, run, &paper),
        Figure::ViewWeights => draw_view_weights(&area, run, &paper),
        Figure::ViewWeightHistory => draw_view_weight_history(&area, run, &paper),
        Figure::Embedding => draw_embedding(&area, run, &paper),
        Figure::ClusterProbabilities => draw_probabilities(&area, run, &paper),
    }
}

fn x_range_epochs(run: &RunExport) -> (f64, f64) {
    let max =
        run.epochs.iter().map(|e| e.global_epoch).chain(run.metrics.iter().map(|m| m.global_epoch)).max().unwrap_or(1);
    (0.0, (max as f64).max(1.0) + 0.5)
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if (hi - lo).abs() < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// A readable number with about three significant digits.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e4).contains(&a) {
        return format!("{v:.1e}");
    }
    let decimals = (2 - a.log10().floor() as i32).clamp(0, 4) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

fn draw_losses<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, run: &RunExport, p: &Paper, log: bool) -> Res
where
    DB::ErrorType: 'static,
{
    let tf = |v: f64| if log { v.max(1e-12).log10() } else { v };
    let shown: Vec<LossTerm> =
        LossTerm::ALL.into_iter().filter(|&t| run.epochs.iter().any(|e| e.losses.get(t).abs() > 0.0)).collect();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for e in &run.epochs {
        for &t in &shown {
            let v = e.losses.get(t);
            if v.is_finite() && (!log || v > 0.0) {
                lo = lo.min(tf(v));
                hi = hi.max(tf(v));
            }
        }
    }
    let (lo, hi) = padded(lo, hi);
    let (x0, x1) = x_range_epochs(run);
    let mut chart = ChartBuilder::on(area)
        .caption("Training losses", p.font(11.0))
        .x_label_area_size(p.px(26.0))
        .y_label_area_size(p.px(40.0))
        .build_cartesian_2d(x0..x1, lo..hi)
        .map_err(re)?;
    let yfmt = |v: &f64| if log { tick(10f64.powf(*v)) } else { tick(*v) };
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(if log { "loss (log scale)" } else { "loss" })
        .label_style(p.font(8.0))
        .axis_desc_style(p.font(9.0))
        .y_label_formatter(&yfmt)
        .x_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(re)?;
    if let Some(b) = run.contrastive_from {
        let x = b as f64 - 0.5;
        let marker = rgb(palette::PHASE_MARKER);
        chart
            .draw_series(DashedLineSeries::new(vec![(x, lo), (x, hi)], p.px(4.0), p.px(3.0), p.stroke(marker, 0.8)))
            .map_err(re)?
            .label("contrastive phase starts")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], marker));
    }
    for &t in &shown {
        let color = rgb(palette::loss_term_rgb(t));
        let width = if t == LossTerm::Total { 1.6 } else { 1.0 };
        let pts: Vec<(f64, f64)> = run
            .epochs
            .iter()
            .filter_map(|e| {
                let v = e.losses.get(t);
                (v.is_finite() && (!log || v > 0.0)).then(|| (e.global_epoch as f64, tf(v)))
            })
            .collect();
        let stroke = p.stroke(color, width);
        chart
            .draw_series(LineSeries::new(pts, stroke))
            .map_err(re)?
            .label(t.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], stroke));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(p.font(7.5))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(re)
}

fn draw_metrics<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, run: &RunExport, p: &Paper) -> Res
where
    DB::ErrorType: 'static,
{
    let area = area.titled("Clustering metrics", p.font(11.0)).map_err(re)?;
    let panels = area.split_evenly((2, 2));
    let names = ["ACC", "NMI", "ARI", "Purity"];
    let readings = ["mean q", "VCF head", "k-means on Z"];
    let get = |s: &Scores, m: usize| match m {
        0 => s.acc,
        1 => s.nmi,
        2 => s.ari,
        _ => s.purity,
    };
    let (x0, x1) = x_range_epochs(run);
    for (m, panel) in panels.iter().enumerate() {
        let lo =
            run.metrics.iter().flat_map(|r| [&r.mean_q, &r.vcf, &r.kmeans_z]).map(|s| get(s, m)).fold(0f64, f64::min);
        let mut chart = ChartBuilder::on(panel)
            .caption(names[m], p.font(9.0))
            .margin(p.px(3.0))
            .x_label_area_size(p.px(18.0))
            .y_label_area_size(p.px(28.0))
            .build_cartesian_2d(x0..x1, lo..1.0)
            .map_err(re)?;
        chart
            .configure_mesh()
            .x_desc(if m >= 2 { "epoch" } else { "" })
            .label_style(p.font(7.0))
            .axis_desc_style(p.font(8.0))
            .x_labels(5)
            .y_labels(5)
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(220, 220, 220))
            .draw()
            .map_err(re)?;
        for (r, reading) in readings.iter().enumerate() {
            let color = rgb(palette::READINGS[r]);
            let stroke = p.stroke(color, 1.1);
            let pts: Vec<(f64, f64)> = run
                .metrics
                .iter()
                .map(|x| (x.global_epoch as f64, get([&x.mean_q, &x.vcf, &x.kmeans_z][r], m)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), stroke))
                .map_err(re)?
                .label(*reading)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], stroke));
            if pts.len() < 12 {
                chart
                    .draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), p.px(1.5), color.filled())))
                    .map_err(re)?;
            }
        }
        if m == 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font(p.font(6.5))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .draw()
                .map_err(re)?;
        }
    }
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Paper,
    title: &str,
    y_desc: &str,
    labels: &[String],
    values: &[f64],
    colors: &[RGBColor],
) -> Res
where
    DB::ErrorType: 'static,
{
    let n = values.len().max(1);
    let hi = values.iter().copied().fold(0f64, f64::max).max(1e-9) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(title, p.font(11.0))
        .x_label_area_size(p.px(24.0))
        .y_label_area_size(p.px(36.0))
        .build_cartesian_2d(-0.6..(n as f64 - 0.4), 0.0..hi)
        .map_err(re)?;
    let xfmt = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&|v| tick(*v))
        .y_desc(y_desc)
        .label_style(p.font(8.0))
        .axis_desc_style(p.font(9.0))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(220, 220, 220))
        .draw()
        .map_err(re)?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, &v)| {
            let c = colors.get(i).copied().unwrap_or(BLUE);
            Rectangle::new([(i as f64 - 0.35, 0.0), (i as f64 + 0.35, v)], c.filled())
        }))
        .map_err(re)?;
    chart
        .draw_series(
            values.iter().enumerate().map(|(i, &v)| Text::new(tick(v), (i as f64 - 0.12, v + hi * 0.06), p.font(7.5))),
        )
        .map_err(re)?;
    Ok(())
}

fn draw_view_weights<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, run: &RunExport, p: &Paper) -> Res
where
    DB::ErrorType: 'static,
{
    let Some(last) = run.epochs.last() else { return Err("no epoch yet".into()) };
    let labels: Vec<String> = (0..last.view_weights.len()).map(|v| view_name(run, v)).collect();
    let values: Vec<f64> = last.view_weights.iter().map(|&w| f64::from(w)).collect();
    let colors: Vec<RGBColor> = (0..values.len()).map(|v| rgb(palette::category_rgb(v))).collect();
    let title = format!("View weights (epoch {})", last.global_epoch);
    draw_bars(area, p, &title, "weight", &labels, &values, &colors)
}

fn draw_view_weight_history<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, run: &RunExport, p: &Paper) -> Res
where
    DB::ErrorType: 'static,
{
    let n_views = run.epochs.iter().map(|e| e.view_weights.len()).max().unwrap_or(0);
    let hi = run.epochs.iter().flat_map(|e| e.view_weights.iter()).fold(0f32, |a, &b| a.max(b));
    let (x0, x1) = x_range_epochs(run);
    let mut chart = ChartBuilder::on(area)
        .caption("View weights over epochs", p.font(11.0))
        .x_label_area_size(p.px(26.0))
        .y_label_area_size(p.px(36.0))
        .build_cartesian_2d(x0..x1, 0.0..(f64::from(hi) * 1.1).max(0.1))
        .map_err(re)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("weight")
        .label_style(p.font(8.0))
        .axis_desc_style(p.font(9.0))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(220, 220, 220))
        .draw()
        .map_err(re)?;
    for v in 0..n_views {
        let stroke = p.stroke(rgb(palette::category_rgb(v)), 1.2);
        let pts: Vec<(f64, f64)> = run
            .epochs
            .iter()
            .filter_map(|e| e.view_weights.get(v).map(|&w| (e.global_epoch as f64, f64::from(w))))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, stroke))
            .map_err(re)?
            .label(view_name(run, v))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], stroke));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(p.font(7.5))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(re)
}

fn draw_embedding<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, run: &RunExport, p: &Paper) -> Res
where
    DB::ErrorType: 'static,
{
    let Some(e) = &run.embedding else { return Err("no embedding".into()) };
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for c in &e.coords {
        x_lo = x_lo.min(f64::from(c[0]));
        x_hi = x_hi.max(f64::from(c[0]));
        y_lo = y_lo.min(f64::from(c[1]));
        y_hi = y_hi.max(f64::from(c[1]));
    }
    let (x_lo, x_hi) = padded(x_lo, x_hi);
    let (y_lo, y_hi) = padded(y_lo, y_hi);
    let colour_name = match e.color_by {
        ColorKey::Predicted => "predicted cluster",
        ColorKey::TrueLabel => "true label",
        ColorKey::Confidence => "confidence",
    };
    let title = format!("{} of {} (epoch {}), coloured by {colour_name}", e.method, e.feature, e.epoch);
    let mut chart = ChartBuilder::on(area)
        .caption(title, p.font(10.0))
        .x_label_area_size(p.px(22.0))
        .y_label_area_size(p.px(30.0))
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(re)?;
    chart
        .configure_mesh()
        .x_desc(format!("{} 1", e.method))
        .y_desc(format!("{} 2", e.method))
        .label_style(p.font(7.0))
        .axis_desc_style(p.font(8.0))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(245, 245, 245))
        .bold_line_style(RGBColor(230, 230, 230))
        .draw()
        .map_err(re)?;
    let radius = p.px(1.6);
    let group = |i: usize| -> Option<usize> {
        match e.color_by {
            ColorKey::Predicted => Some(
                e.predicted_aligned
                    .as_ref()
                    .and_then(|a| a.get(i))
                    .copied()
                    .unwrap_or(e.predicted.get(i).copied().unwrap_or(0)),
            ),
            ColorKey::TrueLabel => e.true_labels.as_ref().and_then(|t| t.get(i)).copied(),
            ColorKey::Confidence => None,
        }
    };
    if e.color_by == ColorKey::Confidence {
        chart
            .draw_series(e.coords.iter().enumerate().map(|(i, c)| {
                let col = rgb(palette::sequential_rgb(e.confidence.get(i).copied().unwrap_or(0.0)));
                Circle::new((f64::from(c[0]), f64::from(c[1])), radius, col.mix(0.8).filled())
            }))
            .map_err(re)?;
        return Ok(());
    }
    let k = (0..e.coords.len()).filter_map(group).max().map_or(0, |m| m + 1);
    for g in 0..k {
        let col = rgb(palette::category_rgb(g));
        let pts: Vec<(f64, f64)> = e
            .coords
            .iter()
            .enumerate()
            .filter(|(i, _)| group(*i) == Some(g))
            .map(|(_, c)| (f64::from(c[0]), f64::from(c[1])))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let label = if e.color_by == ColorKey::Predicted && e.predicted_aligned.is_none() {
            format!("cluster {g}")
        } else {
            class_name(run, g)
        };
        let series =
            chart.draw_series(pts.into_iter().map(|xy| Circle::new(xy, radius, col.mix(0.8).filled()))).map_err(re)?;
        if k <= 16 {
            series.label(label).legend(move |(x, y)| Circle::new((x + 6, y), 4, col.filled()));
        }
    }
    if k <= 16 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(p.font(7.0))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(re)?;
    }
    Ok(())
}

fn draw_probabilities<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, run: &RunExport, p: &Paper) -> Res
where
    DB::ErrorType: 'static,
{
    let Some(s) = &run.selected else { return Err("no sample selected".into()) };
    let labels: Vec<String> = (0..s.q.len())
        .map(|k| s.cluster_names.get(k).filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| format!("c{k}")))
        .collect();
    let values: Vec<f64> = s.q.iter().map(|&q| f64::from(q)).collect();
    let colors: Vec<RGBColor> = (0..values.len())
        .map(|k| {
            if k == s.predicted {
                rgb(palette::category_rgb(s.predicted_aligned.unwrap_or(k)))
            } else {
                RGBColor(170, 170, 170)
            }
        })
        .collect();
    let truth = s.true_label.map_or(String::new(), |t| format!(", true: {}", class_name(run, t)));
    let title = format!("Sample {} cluster probabilities (epoch {}{truth})", s.row, s.epoch);
    draw_bars(area, p, &title, "q", &labels, &values, &colors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::protocol::Losses;

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
    fn a_failed_write_names_the_file() {
        let run = sample_run();
        let err = write_run_json(&run, Path::new("/proc/forbidden/run.json")).unwrap_err();
        assert!(err.to_string().contains("/proc/forbidden"), "{err}");
    }
}
