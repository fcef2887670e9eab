//! The Analysis tile's uncertainty view: the histogram of the per-sample pseudo-label
//! uncertainty (`super::uncertainty_of`: the engine's, else `H(q) / ln K` of the primary
//! reading; 0 = sure of one cluster, 1 = no idea) and "select the N most uncertain", which marks
//! them in the embedding and lists them in the inspector.

use eframe::egui;
use egui::RichText;
use egui_plot::{Bar, BarChart, Plot};

use crate::analysis::{histogram, most_uncertain};

use super::super::palette;
use super::super::state::{AppCommand, AppState, ColorBy, Marked, ViewCtx};
use super::super::widgets::empty_hint_ui;

/// Bins of the histogram.
const BINS: usize = 20;

pub fn ui(state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
    let session = ctx.session;
    let Some(s) = session.current_snapshot() else {
        empty_hint_ui(ui, "The uncertainty appears with the first snapshot of a run.");
        return;
    };
    let (u, what) = super::uncertainty_of(s);
    if u.is_empty() {
        empty_hint_ui(ui, "This snapshot has no points.");
        return;
    }
    let mean = u.iter().map(|&x| f64::from(x)).sum::<f64>() / u.len() as f64;
    ui.label(
        RichText::new(format!("Uncertainty: {what} · epoch {} · {} samples · mean {mean:.3}", s.global_epoch, u.len()))
            .strong(),
    );
    let n_max = u.len();
    let settings = &mut state.analysis;
    ui.horizontal_wrapped(|ui| {
        ui.label("N");
        ui.add(egui::DragValue::new(&mut settings.uncertain_n).range(1..=n_max.max(1)));
        if ui.button("Select the N most uncertain").clicked() {
            let n = settings.uncertain_n.min(n_max);
            let rows: Vec<usize> =
                most_uncertain(&u, n).into_iter().filter_map(|p| s.indices.get(p).copied()).collect();
            let what = format!("the {n} most uncertain (epoch {})", s.global_epoch);
            ctx.commands.send(AppCommand::Mark(Some(Marked { rows, what })));
        }
        if ui.button("Colour the embedding by it").clicked() {
            state.embedding.color_by = ColorBy::Uncertainty;
        }
    });
    let counts = histogram(&u, BINS);
    let width = 1.0 / BINS as f64;
    let bars: Vec<Bar> = counts
        .iter()
        .enumerate()
        .map(|(b, &c)| {
            let mid = (b as f64 + 0.5) * width;
            Bar::new(mid, c as f64).width(width * 0.95).fill(palette::sequential(mid as f32))
        })
        .collect();
    Plot::new("uncertainty_histogram")
        .x_axis_label("uncertainty (0 sure, 1 no idea)")
        .y_axis_label("samples")
        .include_x(0.0)
        .include_x(1.0)
        .include_y(0.0)
        .allow_scroll(false)
        .show(ui, |p| p.bar_chart(BarChart::new("samples", bars)));
}
