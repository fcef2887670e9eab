//! Small widgets shared by the panels.

use crate::export::Figure;
use eframe::egui;

use super::state::{AppCommand, ExportTarget, ViewCtx};

/// The "Export" menu of a plot tile: SVG, PNG and the data as CSV.
pub fn export_menu_ui(ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui, figures: &[Figure]) {
    let busy = ctx.session.export_busy;
    ui.add_enabled_ui(!busy, |ui| {
        ui.menu_button("Export", |ui| {
            for &fig in figures {
                if figures.len() > 1 {
                    ui.label(egui::RichText::new(fig.title()).strong());
                }
                if ui.button(format!("{} as SVG", fig.title())).clicked() {
                    ctx.commands.send(AppCommand::Export(ExportTarget::Svg(fig)));
                }
                if ui.button(format!("{} as PNG", fig.title())).clicked() {
                    ctx.commands.send(AppCommand::Export(ExportTarget::Png(fig)));
                }
                if ui.button(format!("{} data as CSV", fig.title())).clicked() {
                    ctx.commands.send(AppCommand::Export(ExportTarget::Csv(fig)));
                }
            }
        });
    });
}

/// A centred, weak hint for an empty plot.
pub fn empty_hint_ui(ui: &mut egui::Ui, text: &str) {
    ui.centered_and_justified(|ui| {
        ui.label(egui::RichText::new(text).weak());
    });
}

/// Marks the epoch the timeline pins (nothing while it follows the latest) on an epoch plot.
pub fn shown_epoch_line(p: &mut egui_plot::PlotUi<'_>, session: &super::state::Session) {
    if let Some(e) = session.timeline.pinned {
        let line = egui_plot::VLine::new(format!("shown: epoch {e}"), e as f64);
        p.vline(line.color(super::palette::rgb(super::palette::SELECTION)).width(1.5));
    }
}
