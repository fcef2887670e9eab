//! Centre tile: each loss term and the total over epochs, log-scale toggle,
//! the phase boundary marked.

use eframe::egui;
use egui_plot::{Legend, Line, LineStyle, Plot, VLine};

use crate::engine::protocol::LossTerm;
use crate::export::Figure;

use super::palette;
use super::state::{AppState, ViewCtx};
use super::widgets::{empty_hint_ui, export_menu_ui};

/// The losses tile (its only setting, the log scale, persists in [`AppState`]).
#[derive(Debug, Default)]
pub struct LossesPanel;

impl LossesPanel {
    pub fn ui(&mut self, state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        let run = &ctx.session.run;
        // What the last epoch's adaptive parts did: a line of its own under the header, cut to the
        // tile's width (a long line in the header row widened the tile's content past its edge,
        // and the plot and the export button with it).
        let mut detail: Option<(String, &'static str)> = None;
        if let Some(last) = run.epochs.last() {
            let dec = run.config.as_ref().is_some_and(|c| c.model == crate::engine::config::ModelFamily::Dec);
            if dec {
                // Seed 004's DEC has no contrast or pseudo labels: what changes is the fixed target.
                if let Some(c) = run.epochs.iter().rev().find_map(|e| e.adaptive.as_ref()?.pseudo_changed) {
                    detail = Some((
                        format!("{:.2}% of the samples changed cluster at the last target refresh", 100.0 * c),
                        "DEC's target P is recomputed every few epochs and held fixed in between",
                    ));
                }
            } else if let Some(a) = &last.adaptive {
                let below = |v: f64, chance: f64| if chance > 0.0 { 100.0 * (1.0 - v / chance) } else { 0.0 };
                let refresh = run.epochs.iter().rev().find_map(|e| {
                    let a = e.adaptive.as_ref()?;
                    Some((a.pseudo_changed?, a.heads_changed))
                });
                let changed = refresh.map_or_else(String::new, |(p, h)| {
                    let heads = h.map_or_else(String::new, |h| format!(", the heads' {:.1}%", 100.0 * h));
                    format!(", {:.1}% relabelled at the last refresh{heads}", 100.0 * p)
                });
                let source = run
                    .epochs
                    .iter()
                    .rev()
                    .find_map(|e| e.adaptive.as_ref()?.pseudo_source)
                    .map_or_else(String::new, |s| format!(" (labels from {})", source_words(s)));
                let warm = run.epochs.iter().rev().find_map(|e| e.adaptive.as_ref()?.warm_start).map_or_else(
                    String::new,
                    |w| {
                        format!(
                            "; k-means {} (inertia {:.4} from the heads' partition, {:.4} from the restarts)",
                            if w.kept_warm { "kept the heads' partition" } else { "kept its restarts" },
                            w.warm_inertia,
                            w.restarts_inertia
                        )
                    },
                );
                // With the re-seeding on (`min_cluster_share`), how many near-empty clusters it has
                // re-seeded over the run so far.
                let reseeded = run
                    .epochs
                    .iter()
                    .filter_map(|e| e.adaptive.as_ref()?.clusters_reseeded)
                    .reduce(|a, b| a + b)
                    .map_or_else(String::new, |n| format!("; near-empty clusters re-seeded: {n}"));
                detail = Some((
                    format!(
                        "L_C cluster {:.0}% and local {:.0}% below chance · pseudo labels: {:.0}% confident, {:.1}% positive pairs{changed}{source}{warm}{reseeded}",
                        below(last.losses.cluster, a.cluster_chance),
                        below(last.losses.local, a.local_chance),
                        100.0 * a.pseudo_fraction,
                        100.0 * a.positive_pairs,
                    ),
                    "chance: the contrastive terms' values when the features carry no information (pairs·ln(2K−1) and pairs·ln B); dotted lines in the plot",
                ));
            }
        }
        ui.horizontal(|ui| {
            ui.checkbox(&mut state.losses_log_scale, "log scale");
            if let Some(last) = run.epochs.last() {
                ui.label(
                    egui::RichText::new(format!("epoch {} · total {:.4}", last.global_epoch, last.losses.total)).weak(),
                );
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                export_menu_ui(ctx, ui, &[Figure::Losses])
            });
        });
        if let Some((text, hover)) = detail {
            let full = format!("{text}\n\n{hover}");
            ui.add(egui::Label::new(egui::RichText::new(text).weak()).truncate()).on_hover_text(full);
        }
        let overlays = &ctx.session.runs.overlays;
        if run.epochs.is_empty() && overlays.is_empty() {
            empty_hint_ui(ui, "Losses appear here after the first epoch.");
            return;
        }
        let log = state.losses_log_scale;
        let tf = move |v: f64| if log { v.max(1e-12).log10() } else { v };
        let plot = Plot::new("losses_plot")
            .legend(Legend::default())
            .x_axis_label("epoch")
            .y_axis_label(if log { "loss (log)" } else { "loss" })
            .allow_scroll(false)
            .y_axis_formatter(
                move |m, _| if log { format_pow10(m.value) } else { egui_plot::format_number(m.value, 3) },
            );
        let plot = if log { plot } else { plot.include_y(0.0) };
        plot.show(ui, |p| {
            super::widgets::shown_epoch_line(p, ctx.session);
            for t in LossTerm::ALL {
                if !run.epochs.iter().any(|e| e.losses.get(t).abs() > 0.0) {
                    continue;
                }
                let pts: Vec<[f64; 2]> = run
                    .epochs
                    .iter()
                    .filter_map(|e| {
                        let v = e.losses.get(t);
                        (v.is_finite() && (!log || v > 0.0)).then(|| [e.global_epoch as f64, tf(v)])
                    })
                    .collect();
                let width = if t == LossTerm::Total { 2.5 } else { 1.5 };
                p.line(Line::new(t.label(), pts).color(palette::rgb(palette::loss_term_rgb(t))).width(width));
            }
            // The two contrastive terms' chance values, dotted, over the contrastive epochs.
            let chance: Vec<(u32, f64, f64)> = run
                .epochs
                .iter()
                .filter_map(|e| e.adaptive.as_ref().map(|a| (e.global_epoch as u32, a.cluster_chance, a.local_chance)))
                .collect();
            if let (Some(first), Some(last)) = (chance.first(), chance.last()) {
                for (t, value) in [(LossTerm::Cluster, first.1), (LossTerm::Local, first.2)] {
                    if value > 0.0 && run.epochs.iter().any(|e| e.losses.get(t).abs() > 0.0) {
                        let (name, color) = (t.label(), crate::palette::loss_term_rgb(t));
                        let pts = vec![[f64::from(first.0), tf(value)], [f64::from(last.0), tf(value)]];
                        let line = Line::new(format!("{name} at chance"), pts);
                        p.line(line.color(palette::rgb(color)).width(1.0).style(LineStyle::dotted_loose()));
                    }
                }
            }
            // Stored runs selected in the Runs tile: their total loss, dashed, one colour each.
            for (i, o) in overlays.iter().enumerate() {
                let pts: Vec<[f64; 2]> = o
                    .epochs
                    .iter()
                    .filter_map(|e| {
                        let v = e.losses.total;
                        (v.is_finite() && (!log || v > 0.0)).then(|| [e.global_epoch as f64, tf(v)])
                    })
                    .collect();
                let name = format!("{}: total", o.name);
                p.line(Line::new(name, pts).color(palette::overlay(i)).width(2.0).style(LineStyle::dashed_dense()));
            }
            // A baseline has one phase: no boundary to mark.
            if let Some(b) =
                run.contrastive_from.filter(|_| !run.config.as_ref().is_some_and(|c| c.model.is_baseline()))
            {
                p.vline(
                    VLine::new("contrastive phase", b as f64 - 0.5)
                        .color(palette::rgb(palette::PHASE_MARKER))
                        .style(LineStyle::dashed_loose()),
                );
            }
        });
    }
}

/// Tick label for a log10 axis value.
fn format_pow10(v: f64) -> String {
    let x = 10f64.powf(v);
    if (1e-3..1e4).contains(&x.abs()) { egui_plot::format_number(x, 3) } else { format!("{x:.0e}") }
}

/// How the losses line names where a refresh's labels came from.
fn source_words(source: crate::engine::config::PseudoSource) -> &'static str {
    match source {
        crate::engine::config::PseudoSource::Heads => "the heads",
        _ => "k-means",
    }
}
