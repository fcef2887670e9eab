//! Centre tile: ACC / NMI / ARI / purity over epochs for the three readings
//! (mean q, VCF head, k-means on Z), and the latest values as a table.

use eframe::egui;
use egui::RichText;
use egui_plot::{Legend, Line, LineStyle, Plot};

use crate::engine::protocol::{MetricsReport, Scores};
use crate::export::Figure;

use super::palette;
use super::state::{AppState, ViewCtx};
use super::widgets::{empty_hint_ui, export_menu_ui};

const METRICS: [&str; 4] = ["ACC", "NMI", "ARI", "Purity"];

fn score(s: &Scores, m: usize) -> f64 {
    match m {
        0 => s.acc,
        1 => s.nmi,
        2 => s.ari,
        _ => s.purity,
    }
}

/// The metrics tile: which metric the plot shows.
#[derive(Debug, Default)]
pub struct MetricsPanel {
    metric: usize,
}

impl MetricsPanel {
    pub fn ui(&mut self, _state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        let Self { metric } = self;
        let session = ctx.session;
        let run = &session.run;
        ui.horizontal(|ui| {
            for (i, name) in METRICS.iter().enumerate() {
                ui.selectable_value(metric, i, *name);
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                export_menu_ui(ctx, ui, &[Figure::Metrics])
            });
        });
        let overlays = &session.runs.overlays;
        let last = run.metrics.last();
        if last.is_none() && overlays.is_empty() {
            let why = if session.dataset().is_some_and(|d| d.labels.is_none()) {
                "This dataset has no labels, so there are no metrics."
            } else {
                "Metrics appear here during the contrastive phase."
            };
            empty_hint_ui(ui, why);
            return;
        }
        if let Some(last) = last {
            latest_ui(session, last, ui);
        }
        let m = *metric;
        Plot::new("metrics_plot")
            .legend(Legend::default())
            .x_axis_label("epoch")
            .y_axis_label(METRICS[m])
            .include_y(0.0)
            .include_y(1.0)
            .allow_scroll(false)
            .show(ui, |p| {
                super::widgets::shown_epoch_line(p, session);
                let names: Vec<&str> =
                    run.metrics.last().map(|x| x.readings()).unwrap_or_default().iter().map(|r| r.0).collect();
                for (r, name) in names.iter().enumerate() {
                    let pts: Vec<[f64; 2]> = run
                        .metrics
                        .iter()
                        .filter_map(|x| x.readings().get(r).map(|(_, s)| [x.global_epoch as f64, score(s, m)]))
                        .collect();
                    p.line(Line::new(*name, pts).color(palette::rgb(palette::READINGS[r])).width(2.0));
                }
                // Stored runs selected in the Runs tile: their primary reading, dashed.
                for (i, o) in overlays.iter().enumerate() {
                    let pts: Vec<[f64; 2]> =
                        o.metrics.iter().map(|x| [x.global_epoch as f64, score(&x.mean_q, m)]).collect();
                    let name = format!("{}: mean q", o.name);
                    p.line(Line::new(name, pts).color(palette::overlay(i)).width(2.0).style(LineStyle::dashed_dense()));
                }
            });
    }
}

/// The latest evaluation of the live run as a table, and each view's own ACC.
fn latest_ui(session: &crate::app::state::Session, last: &MetricsReport, ui: &mut egui::Ui) {
    egui::Grid::new("metrics_table").num_columns(5).striped(true).show(ui, |ui| {
        ui.label(RichText::new(format!("epoch {}", last.global_epoch)).weak());
        for m in METRICS {
            ui.label(RichText::new(m).strong());
        }
        ui.end_row();
        for (r, (name, s)) in last.readings().into_iter().enumerate() {
            ui.label(RichText::new(name).color(palette::rgb(palette::READINGS[r])));
            for m in 0..4 {
                ui.label(format!("{:.3}", score(&s, m)));
            }
            ui.end_row();
        }
    });
    if let Some(t) = last.triplet {
        ui.label(
            RichText::new(format!(
                "Test split: {} samples (trained on {}); {:.1}% of its triplets lie inside the margin.",
                t.n_test,
                t.n_train,
                100.0 * t.violations
            ))
            .small(),
        );
    }
    if !last.per_view_acc.is_empty() {
        let names = session.view_names(last.per_view_acc.len());
        let per_view: Vec<String> = names.iter().zip(&last.per_view_acc).map(|(n, a)| format!("{n} {a:.3}")).collect();
        ui.label(RichText::new(format!("ACC of each view's own prediction: {}", per_view.join(" · "))).small());
    }
}
