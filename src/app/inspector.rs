//! Centre tile: the selected sample: index, true label, predicted cluster
//! (aligned to label ids), correct or not, its cluster probabilities, each
//! view's own prediction and the view weights that produced the fused one. Above it, the
//! marked samples (a confusion-matrix cell, the most uncertain) as a list, with their export.

use eframe::egui;
use egui::RichText;
use egui_plot::{Bar, BarChart, Plot};

use crate::engine::protocol::EmbeddingSnapshot;
use crate::export::Figure;

use super::palette;
use super::state::{AppCommand, AppState, ExportTarget, SelectionFormat, ViewCtx, cluster_to_label, position_in};
use super::widgets::{empty_hint_ui, export_menu_ui};

/// Widget state of the inspector.
#[derive(Debug, Default)]
pub struct InspectorPanel {
    goto_row: usize,
    /// The selection the number field last followed.
    followed: Option<usize>,
    images: super::sample_image::SampleImages,
}

/// Why sample `row` cannot be shown, and what would show it: the run's checkpoint evaluating
/// every sample (running, failed, or waiting for the run's dataset to be loaded).
fn not_found_ui(ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui, snapshot: Option<&EmbeddingSnapshot>, row: usize) {
    let insp = &ctx.session.inspection;
    match snapshot {
        None => ui.label(format!("Sample #{row}: no embedding snapshot yet.")),
        Some(s) => ui.label(format!(
            "Sample #{row} is not in the epoch-{} snapshot ({} of the samples).",
            s.global_epoch,
            s.indices.len()
        )),
    };
    if insp.busy {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Evaluating every sample through the run's checkpoint...");
        });
    } else if let Some(e) = &insp.error {
        ui.label(RichText::new(format!("The run's checkpoint could not evaluate every sample: {e}")).weak());
    } else if let Some((id, src)) = &insp.needs_dataset {
        ui.label("Its checkpoint can answer for every sample once the run's dataset is loaded.");
        if ui.button(format!("Load {} and inspect every sample", src.display())).clicked() {
            ctx.commands.send(AppCommand::LoadRunDataset(id.clone()));
        }
    } else {
        ui.label("Pick one from the embedding.");
    }
}

fn argmax(v: &[f32]) -> Option<(usize, f32)> {
    v.iter().copied().enumerate().fold(None, |best, (i, x)| match best {
        Some((_, b)) if b >= x => best,
        _ => Some((i, x)),
    })
}

impl InspectorPanel {
    /// Moves the number field to a selection made elsewhere (a click in the embedding, a marked
    /// cell, `--select`), once per change, so a number being typed is not overwritten.
    fn follow_selection(&mut self, selected: Option<usize>) {
        if selected != self.followed {
            if let Some(row) = selected {
                self.goto_row = row;
            }
            self.followed = selected;
        }
    }

    pub fn ui(&mut self, _state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        self.follow_selection(ctx.session.selected);
        let Self { goto_row, images, .. } = self;
        let session = ctx.session;
        ui.horizontal(|ui| {
            ui.label("Sample #");
            let max = session.dataset().map_or(0, |d| d.n_samples().saturating_sub(1));
            ui.add(egui::DragValue::new(goto_row).range(0..=max));
            if ui.button("Inspect").clicked() {
                ctx.commands.send(AppCommand::Select(Some(*goto_row)));
            }
            if ui.add_enabled(session.selected.is_some(), egui::Button::new("Clear")).clicked() {
                ctx.commands.send(AppCommand::Select(None));
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                export_menu_ui(ctx, ui, &[Figure::ClusterProbabilities]);
            });
        });
        if session.marked.is_some() {
            marked_ui(ctx, ui);
        }
        let session = ctx.session;
        let Some(row) = session.selected else {
            if session.marked.is_none() {
                empty_hint_ui(ui, "Click a point in the embedding (or enter a sample number) to inspect it.");
            }
            return;
        };
        let snapshot = session.current_snapshot();
        let Some((s, p, through_checkpoint)) = session.inspection.locate(snapshot, row) else {
            not_found_ui(ctx, ui, snapshot.map(|s| &**s), row);
            return;
        };
        let map = cluster_to_label(s);
        let cluster_name = |c: usize| match map.get(c).copied().flatten() {
            Some(l) => format!("{} (cluster {c})", session.class_name(l)),
            None => format!("cluster {c}"),
        };
        let truth = s.labels.as_ref().and_then(|l| l.get(p)).copied();
        let predicted = s.predicted.get(p).copied().unwrap_or(0);
        let aligned = s.predicted_aligned.as_ref().and_then(|a| a.get(p)).copied();
        let q = s.q_mean.get(p * s.k..(p + 1) * s.k).unwrap_or(&[]);

        egui::Grid::new("inspector_summary").num_columns(2).striped(true).show(ui, |ui| {
            ui.label("Sample");
            ui.label(RichText::new(format!("#{row}")).strong());
            ui.end_row();
            ui.label("Snapshot");
            if through_checkpoint {
                ui.label(format!("checkpoint of epoch {} (every sample)", s.global_epoch));
            } else {
                ui.label(format!("epoch {}", s.global_epoch));
            }
            ui.end_row();
            ui.label("True label");
            ui.label(
                truth.map_or_else(
                    || "unknown (no labels)".to_owned(),
                    |t| format!("{} (id {t})", session.class_name(t)),
                ),
            );
            ui.end_row();
            ui.label("Predicted");
            ui.label(
                RichText::new(match aligned {
                    Some(a) => format!("{} (label id {a}, model cluster {predicted})", session.class_name(a)),
                    None => format!("cluster {predicted}"),
                })
                .strong(),
            );
            ui.end_row();
            if let (Some(t), Some(a)) = (truth, aligned) {
                ui.label("Correct");
                if t == a {
                    ui.label(RichText::new("correct").color(palette::rgb(palette::CORRECT)).strong());
                } else {
                    ui.label(RichText::new("wrong").color(palette::rgb(palette::WRONG)).strong());
                }
                ui.end_row();
            }
            ui.label("Confidence");
            ui.label(format!("{:.3}", s.confidence.get(p).copied().unwrap_or(0.0)));
            ui.end_row();
            if let Some(u) = s.uncertainty.get(p) {
                ui.label("Uncertainty").on_hover_text(if s.q_views.is_empty() {
                    "normalised entropy of the sample's Student-t memberships to the k-means centres of the test \
                     embeddings: 0 = on one centre, 1 = equally far from all"
                } else {
                    "normalised entropy of the sample's fuzzy c-means memberships (m = 2) from its distances to the \
                     cluster centres: 0 = on one centre, 1 = equally far from all"
                });
                ui.label(format!("{u:.3}"));
                ui.end_row();
            }
        });

        let config = session.run.config.as_ref();
        if let Some(ds) = session.dataset() {
            images.ui(ui, ds, row, config.and_then(|c| c.image));
        }
        if config.is_some_and(|c| c.model.is_baseline()) {
            // A baseline's second reading: the kNN classifier's label (a label id, no matching).
            if let Some(k) = s.predicted_vcf.as_ref().and_then(|v| v.get(p)) {
                ui.label(format!("kNN classifier predicts: {} (label id {k})", session.class_name(*k)));
            }
        }
        if !s.q_views.is_empty() {
            views_ui(session, s, p, predicted, &cluster_name, ui);
        }
        ui.add_space(4.0);
        ui.label(
            RichText::new(if s.q_views.is_empty() {
                "Cluster memberships (Student-t to the k-means centres)"
            } else {
                "Cluster probabilities (mean q)"
            })
            .strong(),
        );
        let bars: Vec<Bar> = q
            .iter()
            .enumerate()
            .map(|(c, &x)| {
                let color = if c == predicted {
                    palette::category(aligned.unwrap_or(c))
                } else {
                    ui.visuals().weak_text_color()
                };
                Bar::new(c as f64, f64::from(x)).name(cluster_name(c)).fill(color).width(0.7)
            })
            .collect();
        let labels: Vec<String> = (0..q.len())
            .map(|c| match map.get(c).copied().flatten() {
                Some(l) => session.class_name(l),
                None => format!("c{c}"),
            })
            .collect();
        Plot::new("inspector_q")
            .include_y(0.0)
            .include_y(1.0)
            .y_axis_label("q")
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .x_axis_formatter(move |m, _| {
                let i = m.value.round();
                if (m.value - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .show(ui, |pl| pl.bar_chart(BarChart::new("q", bars)));
    }
}

/// The marked samples (a confusion-matrix cell, the most uncertain): a list to inspect them
/// one by one, and their export.
fn marked_ui(ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
    let session = ctx.session;
    let Some(m) = &session.marked else { return };
    let s = session.current_snapshot();
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(format!("Marked: {} ({} samples)", m.what, m.rows.len())).strong());
        let busy = session.export_busy;
        if ui
            .add_enabled(!busy, egui::Button::new("Export CSV"))
            .on_hover_text("Indices, labels, predictions, uncertainty and coordinates")
            .clicked()
        {
            ctx.commands.send(AppCommand::Export(ExportTarget::Selection(SelectionFormat::Csv)));
        }
        if ui.add_enabled(!busy, egui::Button::new("Export JSON")).clicked() {
            ctx.commands.send(AppCommand::Export(ExportTarget::Selection(SelectionFormat::Json)));
        }
        if ui.button("Clear marks").clicked() {
            ctx.commands.send(AppCommand::Mark(None));
        }
    });
    let describe = |row: usize| -> String {
        let Some((s, p)) = s.and_then(|s| position_in(s, row).map(|p| (s, p))) else { return format!("#{row}") };
        let truth = s.labels.as_ref().and_then(|l| l.get(p)).map_or_else(|| "?".to_owned(), |&t| session.class_name(t));
        let pred = match s.predicted_aligned.as_ref().and_then(|a| a.get(p)) {
            Some(&a) => session.class_name(a),
            None => format!("cluster {}", s.predicted.get(p).copied().unwrap_or(0)),
        };
        format!("#{row}: true {truth}, predicted {pred}")
    };
    let row_height = ui.text_style_height(&egui::TextStyle::Body);
    egui::ScrollArea::vertical().id_salt("marked_list").max_height(120.0).auto_shrink([false, true]).show_rows(
        ui,
        row_height,
        m.rows.len(),
        |ui, range| {
            for &row in &m.rows[range] {
                if ui.selectable_label(session.selected == Some(row), describe(row)).clicked() {
                    ctx.commands.send(AppCommand::Select(Some(row)));
                }
            }
        },
    );
    ui.separator();
}

/// Each view's own prediction beside its weight in the fusion (CVC-AFWM's snapshots).
fn views_ui(
    session: &crate::app::state::Session,
    s: &EmbeddingSnapshot,
    p: usize,
    predicted: usize,
    cluster_name: &dyn Fn(usize) -> String,
    ui: &mut egui::Ui,
) {
    ui.add_space(4.0);
    ui.label(RichText::new("Each view's own prediction, and its weight in the fusion").strong());
    let names = session.view_names(s.q_views.len());
    egui::Grid::new("inspector_views").num_columns(4).striped(true).show(ui, |ui| {
        ui.label(RichText::new("view").weak());
        ui.label(RichText::new("predicts").weak());
        ui.label(RichText::new("q").weak());
        ui.label(RichText::new("weight").weak());
        ui.end_row();
        for (v, qv) in s.q_views.iter().enumerate() {
            let row_q = qv.get(p * s.k..(p + 1) * s.k).unwrap_or(&[]);
            let (c, prob) = argmax(row_q).unwrap_or((0, 0.0));
            ui.label(names.get(v).cloned().unwrap_or_default());
            let agrees = c == predicted;
            let text = RichText::new(cluster_name(c));
            ui.label(if agrees { text } else { text.color(palette::rgb(palette::WRONG)) });
            ui.label(format!("{prob:.2}"));
            let w = s.view_weights.get(v).copied().unwrap_or(0.0);
            ui.add(egui::ProgressBar::new(w.clamp(0.0, 1.0)).text(format!("{w:.3}")).desired_width(110.0));
            ui.end_row();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::InspectorPanel;

    #[test]
    fn the_number_field_follows_a_new_selection_but_not_every_frame() {
        let mut panel = InspectorPanel::default();
        panel.follow_selection(Some(20));
        assert_eq!(panel.goto_row, 20, "a selection made elsewhere shows in the field");
        // The user types another number; the unchanged selection must not overwrite it.
        panel.goto_row = 7;
        panel.follow_selection(Some(20));
        assert_eq!(panel.goto_row, 7);
        // Clearing keeps the typed number; the next selection moves the field again.
        panel.follow_selection(None);
        assert_eq!(panel.goto_row, 7);
        panel.follow_selection(Some(42));
        assert_eq!(panel.goto_row, 42);
    }
}
