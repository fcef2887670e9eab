//! The Analysis tile's confusion matrix: labels down, clusters across in the Hungarian
//! matching's order, counts or row shares, each cluster's size and purity; a click on a cell
//! marks exactly its samples (ringed in the embedding, listed in the inspector).

use eframe::egui;
use egui::{RichText, Sense};

use crate::analysis::Reading;
use crate::export::Figure;

use super::super::palette;
use super::super::state::{AppCommand, AppState, Marked, ViewCtx};
use super::super::widgets::{empty_hint_ui, export_menu_ui};
use super::confusion_of;

/// Widget state: the cells as last drawn (for tests and scripts).
#[derive(Debug, Default)]
pub struct ConfusionPanel {
    cells: Vec<(usize, usize, egui::Rect)>,
}

impl ConfusionPanel {
    pub fn cell_rect(&self, label: usize, column: usize) -> Option<egui::Rect> {
        self.cells.iter().find(|(l, c, _)| *l == label && *c == column).map(|(_, _, r)| *r)
    }

    pub fn ui(&mut self, state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        self.cells.clear();
        let settings = &mut state.analysis;
        let session = ctx.session;
        let baseline = session.run.config.as_ref().is_some_and(|c| c.model.is_baseline());
        if !Reading::of_run(baseline).contains(&settings.reading) {
            settings.reading = Reading::Primary;
        }
        ui.horizontal_wrapped(|ui| {
            ui.label("Reading");
            egui::ComboBox::from_id_salt("confusion_reading")
                .selected_text(settings.reading.label_in(baseline))
                .show_ui(ui, |ui| {
                    for &r in Reading::of_run(baseline) {
                        ui.selectable_value(&mut settings.reading, r, r.label_in(baseline));
                    }
                });
            ui.checkbox(&mut settings.row_normalised, "Row-normalised");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                export_menu_ui(ctx, ui, &[Figure::Confusion]);
            });
        });
        let Some(s) = session.current_snapshot() else {
            empty_hint_ui(ui, "The confusion matrix appears with the first snapshot of a run.");
            return;
        };
        let n_classes = session.dataset().and_then(|d| d.labels.as_ref()).map(|l| l.n_clusters());
        let Some(m) = confusion_of(s, settings.reading, n_classes) else {
            let why = if s.labels.is_none() {
                "The confusion matrix needs labels; this dataset has none."
            } else {
                "This snapshot has no such reading (it is from before the VCF and k-means readings were kept)."
            };
            empty_hint_ui(ui, why);
            return;
        };
        ui.label(
            RichText::new(format!(
                "{} · epoch {} · {} samples · ACC {:.3} · click a cell to mark its samples",
                settings.reading.label_in(baseline),
                s.global_epoch,
                s.indices.len(),
                m.accuracy()
            ))
            .strong(),
        );
        let (rows, cols) = (m.n_labels, m.columns.len());
        if rows == 0 || cols == 0 {
            return;
        }
        let sizes = m.cluster_sizes();
        let purities = m.purities();
        let max = m.counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f32;
        let label_w = 70.0;
        let avail = ui.available_size();
        let cell =
            ((avail.x - label_w - 8.0) / cols as f32).min((avail.y - 60.0) / (rows as f32 + 2.0)).clamp(14.0, 48.0);
        let font = egui::FontId::proportional((cell * 0.32).clamp(8.0, 13.0));
        let row_normalised = settings.row_normalised;
        let reading = settings.reading;
        egui::ScrollArea::both().auto_shrink([false, false]).show(ui, |ui| {
            let total = egui::vec2(label_w + cell * cols as f32, cell * (rows as f32 + 2.0));
            let (area, _) = ui.allocate_exact_size(total, Sense::hover());
            let painter = ui.painter_at(area);
            let text_color = ui.visuals().text_color();
            for (l, row) in m.counts.iter().enumerate() {
                let y = area.top() + l as f32 * cell;
                painter.text(
                    egui::pos2(area.left() + label_w - 6.0, y + cell / 2.0),
                    egui::Align2::RIGHT_CENTER,
                    session.class_name(l),
                    font.clone(),
                    text_color,
                );
                for (j, &n) in row.iter().enumerate() {
                    let rect = egui::Rect::from_min_size(
                        egui::pos2(area.left() + label_w + j as f32 * cell, y),
                        egui::vec2(cell - 1.0, cell - 1.0),
                    );
                    let share = m.row_normalised(l, j) as f32;
                    let t = if row_normalised { share } else { n as f32 / max };
                    painter.rect_filled(rect, 1.0, palette::sequential(t));
                    let text = if row_normalised { format!("{share:.2}") } else { n.to_string() };
                    let ink = if t > 0.6 { egui::Color32::BLACK } else { egui::Color32::WHITE };
                    painter.text(rect.center(), egui::Align2::CENTER_CENTER, text, font.clone(), ink);
                    let id = ui.scope_id().with(("confusion_cell", l, j));
                    let resp = ui.interact(rect, id, Sense::click());
                    let name = format!("true {}, cluster {}", session.class_name(l), m.columns[j]);
                    resp.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Button, true, &name));
                    let resp = resp.on_hover_text(format!(
                        "{name}: {n} samples ({:.0}% of the label); click to mark them",
                        share * 100.0
                    ));
                    if resp.clicked() {
                        let cell_rows: Vec<usize> =
                            m.members[l][j].iter().filter_map(|&p| s.indices.get(p).copied()).collect();
                        ctx.commands.send(AppCommand::Mark(Some(Marked {
                            rows: cell_rows,
                            what: format!("{name} ({})", reading.label_in(baseline)),
                        })));
                    }
                    self.cells.push((l, j, rect));
                }
            }
            // Under each column: the model cluster, its size and purity.
            let y = area.top() + rows as f32 * cell;
            for j in 0..cols {
                let x = area.left() + label_w + j as f32 * cell + cell / 2.0;
                painter.text(
                    egui::pos2(x, y + 2.0),
                    egui::Align2::CENTER_TOP,
                    format!("c{}", m.columns[j]),
                    font.clone(),
                    text_color,
                );
                let purity = purities[j].map_or_else(|| "-".to_owned(), |p| format!("{:.0}%", p * 100.0));
                painter.text(
                    egui::pos2(x, y + cell),
                    egui::Align2::CENTER_TOP,
                    format!("{}\n{purity}", sizes[j]),
                    egui::FontId::proportional((cell * 0.26).clamp(7.0, 11.0)),
                    ui.visuals().weak_text_color(),
                );
            }
            painter.text(
                egui::pos2(area.left(), y + 2.0),
                egui::Align2::LEFT_TOP,
                "cluster\nsize\npurity",
                egui::FontId::proportional(9.0),
                ui.visuals().weak_text_color(),
            );
        });
    }
}
