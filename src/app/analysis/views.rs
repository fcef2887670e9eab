//! The Analysis tile's per-view diagnostics: each view's own clustering quality (ACC / NMI of
//! its `argmax q_v`, and of k-means on its `h_v`, from the engine's evaluations) over the epochs
//! beside its learned weight,
//! and the view-pair agreement matrix. The view the weighting should distrust (gauss3-noise's
//! `noise`) shows as the worst view with the lowest weight.

use eframe::egui;
use egui::RichText;
use egui_plot::{Legend, Line, LineStyle, Plot};

use crate::analysis::agreement_matrix;

use super::super::palette;
use super::super::state::ViewCtx;
use super::super::widgets::empty_hint_ui;

/// One view's latest own ACC, NMI (absent in older records) and ACC of k-means on its `h_v`.
type ViewScores = (f64, Option<f64>, Option<f64>);

/// Each view's latest scores from the run's last evaluation.
fn latest_scores(ctx: &ViewCtx<'_>) -> Vec<Option<ViewScores>> {
    let Some(m) = ctx.session.run.metrics.last() else { return Vec::new() };
    if m.per_view.is_empty() {
        // Records from before issue 18 kept the ACC only.
        return m.per_view_acc.iter().map(|&a| Some((a, None, None))).collect();
    }
    m.per_view
        .iter()
        .enumerate()
        .map(|(v, s)| Some((s.acc, Some(s.nmi), m.per_view_kmeans.get(v).map(|k| k.acc))))
        .collect()
}

pub fn ui(ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
    let session = ctx.session;
    let run = &session.run;
    let snapshot = session.current_snapshot();
    let n_views =
        run.epochs.last().map(|e| e.view_weights.len()).or_else(|| snapshot.map(|s| s.q_views.len())).unwrap_or(0);
    if n_views == 0 {
        empty_hint_ui(ui, "Each view's own quality and weight appear once a run has finished an epoch.");
        return;
    }
    let names = session.view_names(n_views);
    let weights = run.epochs.last().map(|e| e.view_weights.clone()).unwrap_or_default();
    let scores = latest_scores(ctx);
    let worst_acc = scores
        .iter()
        .enumerate()
        .filter_map(|(v, s)| s.map(|(a, _, _)| (v, a)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(v, _)| v);
    let lowest_weight =
        weights.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map(|(v, _)| v).filter(|_| n_views > 1);

    ui.label(RichText::new("Each view's own reading (argmax q_v) and its weight in the fusion").strong());
    egui::Grid::new("per_view_table").num_columns(6).striped(true).show(ui, |ui| {
        for h in ["view", "weight", "own ACC", "own NMI", "k-means on h ACC", ""] {
            ui.label(RichText::new(h).weak());
        }
        ui.end_row();
        for v in 0..n_views {
            ui.label(RichText::new(names.get(v).cloned().unwrap_or_default()).color(palette::category(v)));
            let w = weights.get(v).copied().unwrap_or(0.0);
            ui.add(egui::ProgressBar::new(w.clamp(0.0, 1.0)).text(format!("{w:.3}")).desired_width(90.0));
            match scores.get(v).copied().flatten() {
                Some((acc, nmi, km)) => {
                    ui.label(format!("{acc:.3}"));
                    ui.label(nmi.map_or_else(|| "-".to_owned(), |n| format!("{n:.3}")));
                    ui.label(km.map_or_else(|| "-".to_owned(), |n| format!("{n:.3}")));
                }
                None => {
                    for _ in 0..3 {
                        ui.label("-");
                    }
                }
            }
            let mut notes = Vec::new();
            if worst_acc == Some(v) && n_views > 1 {
                notes.push("worst view");
            }
            if lowest_weight == Some(v) {
                notes.push("lowest weight");
            }
            ui.label(RichText::new(notes.join(", ")).weak());
            ui.end_row();
        }
    });
    if scores.is_empty() {
        ui.label(RichText::new("Own ACC / NMI need labels and a contrastive-phase evaluation.").weak());
    }

    // Agreement: the last evaluation's (the whole dataset), else the snapshot's points.
    let (agreement, over) = match run.metrics.last().filter(|m| !m.view_agreement.is_empty()) {
        Some(m) => (m.view_agreement.clone(), format!("all samples, epoch {}", m.global_epoch)),
        None => match snapshot {
            Some(s) => {
                let preds: Vec<Vec<usize>> = s
                    .q_views
                    .iter()
                    .map(|q| {
                        q.chunks_exact(s.k.max(1))
                            .map(|r| {
                                r.iter()
                                    .enumerate()
                                    .fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
                                    .0
                            })
                            .collect()
                    })
                    .collect();
                (agreement_matrix(&preds), format!("{} snapshot samples, epoch {}", s.indices.len(), s.global_epoch))
            }
            None => (Vec::new(), String::new()),
        },
    };

    let avail = ui.available_size();
    ui.horizontal(|ui| {
        let plot_w = (avail.x - 200.0).max(200.0);
        ui.vertical(|ui| {
            ui.set_width(plot_w);
            ui.label(RichText::new("Own ACC (solid) and weight (dashed) over epochs").strong());
            Plot::new("per_view_history")
                .legend(Legend::default().follow_insertion_order(true))
                .include_y(0.0)
                .include_y(1.0)
                .x_axis_label("epoch")
                .height((avail.y - 150.0).max(120.0))
                .allow_scroll(false)
                .show(ui, |p| {
                    super::super::widgets::shown_epoch_line(p, session);
                    for v in 0..n_views {
                        let name = names.get(v).cloned().unwrap_or_default();
                        let acc: Vec<[f64; 2]> = run
                            .metrics
                            .iter()
                            .filter_map(|m| {
                                let a = m.per_view.get(v).map(|s| s.acc).or_else(|| m.per_view_acc.get(v).copied())?;
                                Some([m.global_epoch as f64, a])
                            })
                            .collect();
                        if !acc.is_empty() {
                            p.line(Line::new(format!("{name} ACC"), acc).color(palette::category(v)).width(2.0));
                        }
                        let w: Vec<[f64; 2]> = run
                            .epochs
                            .iter()
                            .filter_map(|e| e.view_weights.get(v).map(|&w| [e.global_epoch as f64, f64::from(w)]))
                            .collect();
                        p.line(
                            Line::new(format!("{name} weight"), w)
                                .color(palette::category(v))
                                .width(1.5)
                                .style(LineStyle::dashed_dense()),
                        );
                    }
                });
        });
        ui.vertical(|ui| {
            ui.label(RichText::new("Agreement (same argmax)").strong());
            if agreement.is_empty() {
                ui.label(RichText::new("no snapshot yet").weak());
                return;
            }
            ui.label(RichText::new(over).weak().small());
            agreement_ui(ui, &agreement, &names);
        });
    });
}

/// The view-pair agreement as a heat-mapped grid of shares.
fn agreement_ui(ui: &mut egui::Ui, m: &[Vec<f64>], names: &[String]) {
    let n = m.len();
    let cell = 34.0;
    let label_w = 18.0;
    let (area, _) =
        ui.allocate_exact_size(egui::vec2(label_w + cell * n as f32, label_w + cell * n as f32), egui::Sense::hover());
    let painter = ui.painter_at(area);
    let font = egui::FontId::proportional(10.0);
    for (i, row) in m.iter().enumerate() {
        let tag = format!("{}", i + 1);
        painter.text(
            egui::pos2(area.left() + label_w + (i as f32 + 0.5) * cell, area.top() + label_w / 2.0),
            egui::Align2::CENTER_CENTER,
            &tag,
            font.clone(),
            palette::category(i),
        );
        painter.text(
            egui::pos2(area.left() + label_w / 2.0, area.top() + label_w + (i as f32 + 0.5) * cell),
            egui::Align2::CENTER_CENTER,
            &tag,
            font.clone(),
            palette::category(i),
        );
        for j in 0..n {
            let x = row.get(j).copied().unwrap_or(0.0) as f32;
            let rect = egui::Rect::from_min_size(
                egui::pos2(area.left() + label_w + j as f32 * cell, area.top() + label_w + i as f32 * cell),
                egui::vec2(cell - 1.0, cell - 1.0),
            );
            painter.rect_filled(rect, 1.0, palette::sequential(x));
            let ink = if x > 0.6 { egui::Color32::BLACK } else { egui::Color32::WHITE };
            painter.text(rect.center(), egui::Align2::CENTER_CENTER, format!("{x:.2}"), font.clone(), ink);
        }
    }
    let legend: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{} = {n}", i + 1)).collect();
    ui.label(RichText::new(legend.join(", ")).weak().small());
}
