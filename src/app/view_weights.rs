//! Centre tile: the current AFW view weights `w` as bars with view names, beside the closed-form
//! target `w*` they are trained toward (from each view's discrepancy from the consensus), and
//! both histories over epochs (`w*` dotted).

use eframe::egui;
use egui_plot::{Bar, BarChart, Legend, Line, LineStyle, Plot};

use crate::export::Figure;

use super::palette;
use super::state::{AppState, ViewCtx};
use super::widgets::{empty_hint_ui, export_menu_ui};

/// The view-weights tile.
#[derive(Debug, Default)]
pub struct ViewWeightsPanel;

impl ViewWeightsPanel {
    pub fn ui(&mut self, _state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        let session = ctx.session;
        let run = &session.run;
        if run.config.as_ref().is_some_and(|c| c.model.is_baseline()) {
            empty_hint_ui(
                ui,
                "A metric-learning baseline weighs no views: each view has its own encoder, and a sample's \
                 embedding is its views' side by side (label positives) or their mean (cross-view).",
            );
            return;
        }
        ui.horizontal(|ui| {
            if let Some(last) = run.epochs.last() {
                ui.label(egui::RichText::new(format!("epoch {}", last.global_epoch)).weak());
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                export_menu_ui(ctx, ui, &[Figure::ViewWeights, Figure::ViewWeightHistory]);
            });
        });
        let overlays = &session.runs.overlays;
        let last = run.epochs.last().or_else(|| overlays.iter().find_map(|o| o.epochs.last()));
        let Some(last) = last else {
            empty_hint_ui(ui, "View weights appear here after the first epoch.");
            return;
        };
        let n = last.view_weights.len();
        let names = session.view_names(n);
        let half = (ui.available_height() * 0.45).max(80.0);
        let target = last.adaptive.as_ref().map(|a| a.view_target.clone());
        let (offset, width) = if target.is_some() { (0.17, 0.32) } else { (0.0, 0.6) };
        let bars: Vec<Bar> = last
            .view_weights
            .iter()
            .enumerate()
            .map(|(v, &w)| {
                Bar::new(v as f64 - offset, f64::from(w))
                    .name(format!("{} · AFW w", names[v]))
                    .fill(palette::category(v))
                    .width(width)
            })
            .collect();
        let target_bars: Vec<Bar> = target
            .iter()
            .flatten()
            .enumerate()
            .map(|(v, &w)| {
                Bar::new(v as f64 + offset, f64::from(w))
                    .name(format!("{} · target w*", names[v]))
                    .fill(palette::category(v).gamma_multiply(0.35))
                    .stroke(egui::Stroke::new(1.0, palette::category(v)))
                    .width(width)
            })
            .collect();
        if let Some(a) = &last.adaptive {
            let d: Vec<String> = names.iter().zip(&a.discrepancy).map(|(n, d)| format!("{n} {d:.3}")).collect();
            ui.label(
                egui::RichText::new(format!(
                    "solid: AFW weights w · pale: target w* = softmax(−(D_v / max(mean D, 0.001)) / γ) · D_v = KL(P || q_v), P the unweighted consensus: {}",
                    d.join(", ")
                ))
                .small()
                .weak(),
            );
        }
        let bar_names = names.clone();
        Plot::new("view_weight_bars")
            .height(half)
            .include_y(0.0)
            .y_axis_label("weight")
            .allow_scroll(false)
            .allow_drag(false)
            .allow_zoom(false)
            .x_axis_formatter(move |m, _| {
                let i = m.value.round();
                if (m.value - i).abs() < 1e-6 && i >= 0.0 {
                    bar_names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .show(ui, |p| {
                p.bar_chart(BarChart::new("AFW w", bars));
                if !target_bars.is_empty() {
                    p.bar_chart(BarChart::new("target w*", target_bars));
                }
            });
        Plot::new("view_weight_history")
            .legend(Legend::default())
            .x_axis_label("epoch")
            .y_axis_label("weight")
            .include_y(0.0)
            .allow_scroll(false)
            .show(ui, |p| {
                super::widgets::shown_epoch_line(p, session);
                for (v, name) in names.iter().enumerate() {
                    let pts: Vec<[f64; 2]> = run
                        .epochs
                        .iter()
                        .filter_map(|e| e.view_weights.get(v).map(|&w| [e.global_epoch as f64, f64::from(w)]))
                        .collect();
                    p.line(Line::new(name.as_str(), pts).color(palette::category(v)).width(2.0));
                    let target: Vec<[f64; 2]> = run
                        .epochs
                        .iter()
                        .filter_map(|e| {
                            let w = e.adaptive.as_ref()?.view_target.get(v)?;
                            Some([e.global_epoch as f64, f64::from(*w)])
                        })
                        .collect();
                    if !target.is_empty() {
                        let line = Line::new(format!("{name} · w*"), target);
                        p.line(line.color(palette::category(v)).width(1.5).style(LineStyle::dotted_dense()));
                    }
                }
                // Stored runs selected in the Runs tile: each view's weight, dashed, one colour a run.
                for (i, o) in overlays.iter().enumerate() {
                    let views = o.epochs.last().map_or(0, |e| e.view_weights.len());
                    for v in 0..views {
                        let pts: Vec<[f64; 2]> = o
                            .epochs
                            .iter()
                            .filter_map(|e| e.view_weights.get(v).map(|&w| [e.global_epoch as f64, f64::from(w)]))
                            .collect();
                        let line = Line::new(format!("{}: view {}", o.name, v + 1), pts);
                        p.line(line.color(palette::overlay(i)).width(1.5).style(LineStyle::dashed_dense()));
                    }
                }
            });
    }
}
