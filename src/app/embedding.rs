//! Centre tile: the t-SNE (PCA while it runs) of the fused feature `Z` or of
//! one view's `h`; coloured by predicted cluster, true label, correct / wrong, confidence,
//! uncertainty or one view's own prediction; hover shows index, true and predicted; click
//! selects; marked samples (a confusion-matrix cell, the most uncertain) are ringed.

use eframe::egui;
use egui::{Pos2, RichText};
use egui_plot::{Legend, MarkerShape, Plot, PlotPoint, PlotTransform, Points};

use crate::export::Figure;

use super::palette;
use crate::engine::protocol::EmbeddingSnapshot;

use super::state::{
    AppCommand, AppState, ColorBy, EmbeddingLayout, FeatureSource, LayoutMethod, ViewCtx, cluster_to_label,
};
use super::tsne::TsneMethod;
use super::widgets::{empty_hint_ui, export_menu_ui};

/// Pointer distance (points) within which a sample is hovered or clicked.
const PICK_RADIUS: f32 = 10.0;

/// Widget state of the embedding tile.
#[derive(Debug, Default)]
pub struct EmbeddingPanel {
    /// The plot transform of the last frame (for picking and tests).
    transform: Option<PlotTransform>,
    show_settings: bool,
    /// The 3-D view (when `EmbeddingSettings::three_d`).
    pub view3d: super::embedding3d::Embedding3dPanel,
}

/// Group (colour index) of point `i` of a layout.
pub fn group_of(layout: &EmbeddingLayout, i: usize, color_by: ColorBy) -> usize {
    layout.positions.get(i).map_or(0, |&p| group_at(&layout.snapshot, p, color_by))
}

/// Group (colour index) of the snapshot's point at position `p`.
pub fn group_at(s: &EmbeddingSnapshot, p: usize, color_by: ColorBy) -> usize {
    let predicted =
        s.predicted_aligned.as_ref().and_then(|a| a.get(p)).or_else(|| s.predicted.get(p)).copied().unwrap_or(0);
    let bin = |x: f32| (x.clamp(0.0, 1.0) * 9.0).round() as usize;
    match color_by {
        ColorBy::Predicted => predicted,
        ColorBy::TrueLabel => s.labels.as_ref().and_then(|l| l.get(p)).copied().unwrap_or(predicted),
        ColorBy::Confidence => bin(s.confidence.get(p).copied().unwrap_or(0.0)),
        ColorBy::Correctness => match (s.labels.as_ref().and_then(|l| l.get(p)), &s.predicted_aligned) {
            (Some(&t), Some(_)) => usize::from(t != predicted),
            _ => 2,
        },
        ColorBy::Uncertainty => bin(super::analysis::uncertainty_at(s, p)),
        ColorBy::ViewPrediction(v) => {
            let own = s.q_views.get(v).and_then(|q| q.get(p * s.k..(p + 1) * s.k)).map_or(0, argmax);
            if s.predicted_aligned.is_some() {
                cluster_to_label(s).get(own).copied().flatten().unwrap_or(own)
            } else {
                own
            }
        }
    }
}

/// The index of the largest entry (0 for an empty row).
fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
}

/// Whether a colouring is a 0..1 scale in ten bins (drawn with the sequential palette).
fn is_scale(color_by: ColorBy) -> bool {
    matches!(color_by, ColorBy::Confidence | ColorBy::Uncertainty)
}

/// The legend name of group `g` under a colouring.
pub(super) fn group_name(ctx: &ViewCtx<'_>, s: &EmbeddingSnapshot, color_by: ColorBy, g: usize) -> String {
    let aligned = s.predicted_aligned.is_some();
    match color_by {
        ColorBy::Confidence => format!("confidence ~ {:.1}", g as f32 / 9.0),
        ColorBy::Uncertainty => format!("uncertainty ~ {:.1}", g as f32 / 9.0),
        ColorBy::Correctness => ["correct", "wrong", "unknown (no labels)"].get(g).copied().unwrap_or("").to_owned(),
        ColorBy::Predicted | ColorBy::ViewPrediction(_) if !aligned => format!("cluster {g}"),
        _ => ctx.session.class_name(g),
    }
}

/// The colour of group `g` under a colouring.
pub(super) fn group_color(color_by: ColorBy, g: usize) -> egui::Color32 {
    match color_by {
        _ if is_scale(color_by) => palette::sequential(g as f32 / 9.0),
        ColorBy::Correctness => match g {
            0 => palette::rgb(palette::CORRECT),
            1 => palette::rgb(palette::WRONG),
            _ => palette::rgb(palette::PHASE_MARKER),
        },
        _ => palette::category(g),
    }
}

impl EmbeddingPanel {
    /// Screen position of dataset row `row` in the last frame, if it is shown.
    pub fn screen_pos_of(&self, layout: &EmbeddingLayout, row: usize) -> Option<Pos2> {
        let t = self.transform.as_ref()?;
        let i = (0..layout.positions.len()).find(|&i| layout.row(i) == Some(row))?;
        let c = layout.coords.get(i)?;
        Some(t.position_from_point(&PlotPoint::new(c[0], c[1])))
    }

    fn pick(&self, layout: &EmbeddingLayout, pos: Pos2) -> Option<usize> {
        let t = self.transform.as_ref()?;
        let mut best: Option<(usize, f32)> = None;
        for (i, c) in layout.coords.iter().enumerate() {
            let d = t.position_from_point(&PlotPoint::new(c[0], c[1])).distance_sq(pos);
            if d <= PICK_RADIUS * PICK_RADIUS && best.is_none_or(|(_, b)| d < b) {
                best = Some((i, d));
            }
        }
        best.map(|(i, _)| i)
    }

    pub fn ui(&mut self, state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        let session = ctx.session;
        let emb = &session.embedding;
        let settings = &mut state.embedding;
        let n_views = session.run.snapshot.as_ref().map_or(0, |s| s.h.len());
        if let FeatureSource::View(v) = settings.source
            && n_views > 0
            && v >= n_views
        {
            settings.source = FeatureSource::Fused;
        }

        ui.horizontal_wrapped(|ui| {
            ui.label("Colour");
            let names = session.view_names(n_views);
            let colour_label = |c: ColorBy| match c {
                ColorBy::ViewPrediction(v) => {
                    format!("prediction of {}", names.get(v).cloned().unwrap_or_else(|| format!("view {}", v + 1)))
                }
                c => c.label().to_owned(),
            };
            if let ColorBy::ViewPrediction(v) = settings.color_by
                && n_views > 0
                && v >= n_views
            {
                settings.color_by = ColorBy::Predicted;
            }
            egui::ComboBox::from_id_salt("color_by").selected_text(colour_label(settings.color_by)).show_ui(ui, |ui| {
                for c in [
                    ColorBy::Predicted,
                    ColorBy::TrueLabel,
                    ColorBy::Correctness,
                    ColorBy::Confidence,
                    ColorBy::Uncertainty,
                ]
                .into_iter()
                .chain((0..n_views).map(ColorBy::ViewPrediction))
                {
                    ui.selectable_value(&mut settings.color_by, c, colour_label(c));
                }
            });
            ui.label("Feature");
            let label = |s: FeatureSource| match s {
                FeatureSource::Fused => "fused Z".to_owned(),
                FeatureSource::View(v) => {
                    format!("h of {}", names.get(v).cloned().unwrap_or_else(|| format!("view {}", v + 1)))
                }
            };
            let before = settings.source;
            egui::ComboBox::from_id_salt("feature_source").selected_text(label(settings.source)).show_ui(ui, |ui| {
                ui.selectable_value(&mut settings.source, FeatureSource::Fused, label(FeatureSource::Fused));
                for v in 0..n_views {
                    ui.selectable_value(&mut settings.source, FeatureSource::View(v), label(FeatureSource::View(v)));
                }
            });
            if settings.source != before {
                ctx.commands.send(AppCommand::RecomputeTsne);
            }
            let has_snapshot = session.run.snapshot.is_some();
            if ui
                .add_enabled(has_snapshot, egui::Button::new("Recompute t-SNE"))
                .on_hover_text("Recompute the t-SNE of the latest snapshot now")
                .clicked()
            {
                ctx.commands.send(AppCommand::RecomputeTsne);
            }
            let running = emb.pending.is_some();
            let paused = state_paused(ctx);
            if ui.add_enabled(running, egui::Button::new(if paused { "Resume t-SNE" } else { "Pause t-SNE" })).clicked()
            {
                ctx.commands.send(AppCommand::PauseTsne(!paused));
            }
            if ui
                .add_enabled(running, egui::Button::new("Stop t-SNE"))
                .on_hover_text("Stop this t-SNE (its last layout stays)")
                .clicked()
            {
                ctx.commands.send(AppCommand::CancelTsne);
            }
            ui.toggle_value(&mut self.show_settings, "t-SNE settings");
            ui.checkbox(&mut settings.three_d, "3-D").on_hover_text("A 3-D t-SNE with an orbit camera");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                export_menu_ui(ctx, ui, &[Figure::Embedding]);
            });
        });
        let shown_source = match state.embedding.source {
            FeatureSource::View(v) if v < n_views => FeatureSource::View(v),
            _ => FeatureSource::Fused,
        };
        super::timeline::timeline_ui(ctx, ui, shown_source);
        if state.embedding.three_d {
            self.view3d.ui(state, ctx, ui);
            return;
        }
        let settings = &mut state.embedding;
        if self.show_settings {
            egui::Grid::new("tsne_settings").num_columns(4).show(ui, |ui| {
                ui.label("Perplexity");
                ui.add(egui::DragValue::new(&mut settings.tsne.perplexity).range(1.0..=200.0).speed(0.5));
                ui.label("Iterations");
                ui.add(egui::DragValue::new(&mut settings.tsne.iterations).range(10..=10_000).speed(10));
                ui.end_row();
                ui.label("Max points");
                ui.add(egui::DragValue::new(&mut settings.tsne.max_points).range(10..=50_000).speed(50));
                ui.label("Every");
                ui.add(egui::DragValue::new(&mut settings.every_epochs).range(0..=1000).suffix(" epochs"))
                    .on_hover_text("Recompute automatically when a snapshot is at least this many epochs newer (0: only on demand)");
                ui.end_row();
                ui.label("Method");
                egui::ComboBox::from_id_salt("tsne_method")
                    .selected_text(settings.tsne.method.label())
                    .show_ui(ui, |ui| {
                        for m in [TsneMethod::BarnesHut, TsneMethod::Fft] {
                            ui.selectable_value(&mut settings.tsne.method, m, m.label());
                        }
                    })
                    .response
                    .on_hover_text(
                        "Barnes-Hut is the faster at these sizes: FFT interpolation's grid grows with the layout's \
                         spread (3,000 points of MNIST-USPS: FFT 4-10x slower here, equal trustworthiness)",
                    );
                ui.label("Seed");
                ui.add(egui::DragValue::new(&mut settings.tsne.seed));
                ui.end_row();
                ui.label("Point size");
                ui.add(egui::Slider::new(&mut settings.point_radius, 1.0..=6.0));
                ui.end_row();
            });
        }

        let Some(layout) = &emb.layout else {
            if let Some(e) = &emb.error {
                ui.label(RichText::new(e).color(palette::error_text()));
            }
            empty_hint_ui(ui, "The embedding appears with the first snapshot of a run.");
            return;
        };
        // Which epoch the picture is from, and how it was made.
        let source = match layout.source {
            FeatureSource::Fused => "Z".to_owned(),
            FeatureSource::View(v) => {
                format!("h of {}", session.view_names(layout.snapshot.h.len()).get(v).cloned().unwrap_or_default())
            }
        };
        let mut line = format!(
            "{} of {} · epoch {} · {} points",
            layout.method.label(),
            source,
            layout.epoch(),
            layout.coords.len()
        );
        if let Some(p) = &emb.pending {
            if layout.method == LayoutMethod::Pca {
                line.push_str(" · t-SNE running…");
            } else if p.snapshot.global_epoch != layout.epoch() {
                line.push_str(&format!(" · t-SNE of epoch {} running…", p.snapshot.global_epoch));
            }
        }
        if let Some(secs) = emb.last_tsne_secs {
            line.push_str(&format!(" · last t-SNE {secs:.1} s"));
        }
        ui.label(RichText::new(line).strong());
        if let Some(e) = &emb.error {
            ui.label(RichText::new(e).color(palette::error_text()));
        }

        let color_by = settings.color_by;
        let radius = settings.point_radius;
        let point_groups: Vec<usize> = (0..layout.coords.len()).map(|i| group_of(layout, i, color_by)).collect();
        let k = point_groups.iter().copied().max().map_or(0, |m| m + 1);
        let mut groups: Vec<Vec<[f64; 2]>> = vec![Vec::new(); k.max(1)];
        for (c, &g) in layout.coords.iter().zip(&point_groups) {
            if let Some(v) = groups.get_mut(g) {
                v.push([f64::from(c[0]), f64::from(c[1])]);
            }
        }
        let names: Vec<String> = (0..groups.len()).map(|g| group_name(ctx, &layout.snapshot, color_by, g)).collect();
        let selected = session.selected.and_then(|row| {
            let i = (0..layout.positions.len()).find(|&i| layout.row(i) == Some(row))?;
            layout.coords.get(i).map(|c| [f64::from(c[0]), f64::from(c[1])])
        });
        let marked: Vec<[f64; 2]> = session.marked.as_ref().map_or_else(Vec::new, |m| {
            let rows: std::collections::HashSet<usize> = m.rows.iter().copied().collect();
            (0..layout.coords.len())
                .filter(|&i| layout.row(i).is_some_and(|r| rows.contains(&r)))
                .map(|i| [f64::from(layout.coords[i][0]), f64::from(layout.coords[i][1])])
                .collect()
        });
        if let Some(m) = &session.marked {
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!("{} marked: {} ({} shown here)", m.rows.len(), m.what, marked.len()))
                        .color(palette::rgb(palette::SELECTION)),
                );
                if ui.small_button("Clear marks").clicked() {
                    ctx.commands.send(AppCommand::Mark(None));
                }
            });
        }

        // Groups in their id order (label ids ascend with the raw label values), not sorted by
        // name: sorted as text, clusters read 1, 10, 2, ….
        let resp = Plot::new("embedding_plot")
            .legend(Legend::default().follow_insertion_order(true))
            .data_aspect(1.0)
            .show_axes(false)
            .show_grid(false)
            .show_x(false)
            .show_y(false)
            .allow_scroll(false)
            .allow_double_click_reset(true)
            .show(ui, |p| {
                for (g, pts) in groups.into_iter().enumerate() {
                    if pts.is_empty() {
                        continue;
                    }
                    let color = group_color(color_by, g);
                    p.points(
                        Points::new(names[g].as_str(), pts)
                            .color(color)
                            .radius(radius)
                            .shape(MarkerShape::Circle)
                            .filled(true)
                            .allow_hover(false),
                    );
                }
                if !marked.is_empty() {
                    p.points(
                        Points::new("marked", marked)
                            .color(palette::rgb(palette::SELECTION))
                            .radius(radius + 2.0)
                            .shape(MarkerShape::Circle)
                            .filled(false)
                            .allow_hover(false),
                    );
                }
                if let Some(xy) = selected {
                    p.points(
                        Points::new("selected", vec![xy])
                            .color(palette::rgb(palette::SELECTION))
                            .radius(radius * 2.6 + 2.0)
                            .shape(MarkerShape::Circle)
                            .filled(false)
                            .allow_hover(false),
                    );
                }
            });
        self.transform = Some(resp.transform);
        let response = resp.response;
        if let Some(pos) = response.hover_pos()
            && let Some(i) = self.pick(layout, pos)
        {
            let text = describe_point(ctx, layout, i);
            response.clone().on_hover_ui_at_pointer(|ui| {
                ui.label(text);
            });
        }
        if response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            let row = self.pick(layout, pos).and_then(|i| layout.row(i));
            ctx.commands.send(AppCommand::Select(row));
        }
    }
}

fn state_paused(ctx: &ViewCtx<'_>) -> bool {
    ctx.session.tsne_paused
}

fn describe_point(ctx: &ViewCtx<'_>, layout: &EmbeddingLayout, i: usize) -> String {
    layout.positions.get(i).map_or_else(String::new, |&p| describe_at(ctx, &layout.snapshot, p))
}

/// The hover text of the snapshot's point at position `p`.
pub(super) fn describe_at(ctx: &ViewCtx<'_>, s: &EmbeddingSnapshot, p: usize) -> String {
    let session = ctx.session;
    let row = s.indices.get(p).copied().unwrap_or(0);
    let truth =
        s.labels.as_ref().and_then(|l| l.get(p)).map_or_else(|| "unknown".to_owned(), |&t| session.class_name(t));
    let predicted = match s.predicted_aligned.as_ref().and_then(|a| a.get(p)) {
        Some(&a) => session.class_name(a),
        None => format!("cluster {}", s.predicted.get(p).copied().unwrap_or(0)),
    };
    let conf = s.confidence.get(p).copied().unwrap_or(0.0);
    format!("sample #{row}\ntrue: {truth}\npredicted: {predicted} (confidence {conf:.2})\nclick to inspect")
}
