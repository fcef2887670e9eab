//! The figures, drawn with plotters in one paper style.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::engine::protocol::{LossTerm, Scores};
use crate::palette;

use super::table::{class_name, view_name};
use super::{ColorKey, Figure, FigureStyle, RunExport};

pub(super) fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Paper style in points, scaled to the backend's pixels.
pub(super) struct Paper {
    /// Pixels per typographic point.
    px_per_pt: f64,
}

impl Paper {
    pub(super) fn px(&self, pt: f64) -> u32 {
        (pt * self.px_per_pt).round().max(1.0) as u32
    }
    pub(super) fn font(&self, pt: f64) -> TextStyle<'static> {
        (super::font::FAMILY, pt * self.px_per_pt).into_font().color(&BLACK)
    }
    fn stroke(&self, color: RGBColor, pt: f64) -> ShapeStyle {
        color.stroke_width(self.px(pt))
    }
}

type Res = Result<(), String>;

/// The paper style's legend box (translucent white, grey border) at `position`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font: TextStyle<'static>,
) -> Res
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(font)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(re)
}

pub(super) fn re<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

pub(super) fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    run: &RunExport,
    fig: Figure,
    style: &FigureStyle,
    px_per_pt: f64,
) -> Res
where
    DB::ErrorType: 'static,
{
    super::font::ensure_registered();
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
        Figure::Confusion => super::confusion::draw(&area, run, &paper),
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
    legend(&mut chart, SeriesLabelPosition::UpperRight, p.font(7.5))
}

fn draw_metrics<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, run: &RunExport, p: &Paper) -> Res
where
    DB::ErrorType: 'static,
{
    let area = area.titled("Clustering metrics", p.font(11.0)).map_err(re)?;
    let panels = area.split_evenly((2, 2));
    let names = ["ACC", "NMI", "ARI", "Purity"];
    // CVC-AFWM's three readings, or a baseline's two (`MetricsReport::readings`).
    let readings: Vec<&str> =
        run.metrics.last().map(|x| x.readings()).unwrap_or_default().iter().map(|r| r.0).collect();
    let get = |s: &Scores, m: usize| match m {
        0 => s.acc,
        1 => s.nmi,
        2 => s.ari,
        _ => s.purity,
    };
    let (x0, x1) = x_range_epochs(run);
    for (m, panel) in panels.iter().enumerate() {
        let lo = run.metrics.iter().flat_map(|r| r.readings()).map(|(_, s)| get(&s, m)).fold(0f64, f64::min);
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
                .filter_map(|x| x.readings().get(r).map(|(_, s)| (x.global_epoch as f64, get(s, m))))
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
            legend(&mut chart, SeriesLabelPosition::LowerRight, p.font(6.5))?;
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
    legend(&mut chart, SeriesLabelPosition::UpperRight, p.font(7.5))
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
    let colour_name = e.color_by.describe(e.view_name.as_deref());
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
            ColorKey::Correctness => {
                let truth = e.true_labels.as_ref().and_then(|t| t.get(i))?;
                let aligned = e.predicted_aligned.as_ref().and_then(|a| a.get(i))?;
                Some(usize::from(truth != aligned))
            }
            ColorKey::ViewPrediction(_) => e.view_predicted.as_ref().and_then(|v| v.get(i)).copied(),
            ColorKey::Confidence | ColorKey::Uncertainty => None,
        }
    };
    if matches!(e.color_by, ColorKey::Confidence | ColorKey::Uncertainty) {
        let values = if e.color_by == ColorKey::Confidence { &e.confidence } else { &e.uncertainty };
        chart
            .draw_series(e.coords.iter().enumerate().map(|(i, c)| {
                let col = rgb(palette::sequential_rgb(values.get(i).copied().unwrap_or(0.0)));
                Circle::new((f64::from(c[0]), f64::from(c[1])), radius, col.mix(0.8).filled())
            }))
            .map_err(re)?;
        return Ok(());
    }
    let k = (0..e.coords.len()).filter_map(group).max().map_or(0, |m| m + 1);
    let correctness = e.color_by == ColorKey::Correctness;
    for g in 0..k {
        let col = match (correctness, g) {
            (true, 0) => rgb(palette::CORRECT),
            (true, _) => rgb(palette::WRONG),
            (false, _) => rgb(palette::category_rgb(g)),
        };
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
        let label = if correctness {
            if g == 0 { "correct".to_owned() } else { "wrong".to_owned() }
        } else if e.color_by == ColorKey::Predicted && e.predicted_aligned.is_none() {
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
        legend(&mut chart, SeriesLabelPosition::UpperRight, p.font(7.0))?;
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
