//! The settings of seed 004's single-view DEC (`ModelFamily::Dec`, `engine::layers::dec_defaults`):
//! which view, the network's sizes and the two phases' schedule, the fixed target's refresh and
//! the stopping tolerance.

use eframe::egui;

use crate::engine::TrainConfig;
use crate::engine::config::OptimizerKind;

/// The DEC settings (locked while its run is active). `views` are the loaded dataset's views
/// (their source variables); with no view chosen yet, the first is.
pub fn dec_ui(cfg: &mut TrainConfig, views: &[String], ui: &mut egui::Ui) {
    if cfg.views.as_ref().is_none_or(|v| v.len() != 1 || !views.contains(&v[0]))
        && let Some(first) = views.first()
    {
        cfg.views = Some(vec![first.clone()]);
    }
    egui::Grid::new("dec_settings").num_columns(2).show(ui, |ui| {
        ui.label("View").on_hover_text("DEC clusters one view; the others are left out of the run");
        let current = cfg.views.as_ref().and_then(|v| v.first().cloned()).unwrap_or_else(|| "(load a dataset)".into());
        egui::ComboBox::from_id_salt("dec_view").selected_text(current.clone()).show_ui(ui, |ui| {
            for v in views {
                if ui.selectable_label(current == *v, v).clicked() {
                    cfg.views = Some(vec![v.clone()]);
                }
            }
        });
        ui.end_row();
        ui.label("Encoder").on_hover_text("hidden sizes, then the latent F, then the L2-normalised feature H");
        ui.horizontal(|ui| {
            let hidden = cfg.encoder_hidden.iter().map(usize::to_string).collect::<Vec<_>>().join("-");
            ui.label(format!("{hidden}, F"));
            ui.add(egui::DragValue::new(&mut cfg.feature_dim).range(1..=4096));
            ui.label("H");
            ui.add(egui::DragValue::new(&mut cfg.high_feature_dim).range(1..=1024));
        });
        ui.end_row();
        ui.label("Pre-training epochs (Adam)");
        ui.add(egui::DragValue::new(&mut cfg.mse_epochs).range(0..=5000));
        ui.end_row();
        ui.label("Pre-training rate");
        let mut pre = cfg.pretrain_learning_rate.unwrap_or(cfg.learning_rate);
        if ui.add(egui::DragValue::new(&mut pre).speed(1e-5).range(1e-6..=1.0).max_decimals(6)).changed() {
            cfg.pretrain_learning_rate = Some(pre);
        }
        ui.end_row();
        ui.label("Clustering epochs (at most)");
        ui.add(egui::DragValue::new(&mut cfg.con_epochs).range(1..=100_000));
        ui.end_row();
        ui.label("Clustering optimiser");
        ui.horizontal(|ui| {
            ui.selectable_value(&mut cfg.con_optimizer, OptimizerKind::Sgd, "SGD");
            ui.selectable_value(&mut cfg.con_optimizer, OptimizerKind::Adam, "Adam");
            if cfg.con_optimizer == OptimizerKind::Sgd {
                ui.label("momentum");
                ui.add(egui::DragValue::new(&mut cfg.momentum).speed(0.01).range(0.0..=0.99));
            }
        });
        ui.end_row();
        ui.label("Clustering rate");
        ui.add(egui::DragValue::new(&mut cfg.learning_rate).speed(1e-4).range(1e-6..=1.0).max_decimals(6));
        ui.end_row();
        ui.label("Rate × γ every (epochs)").on_hover_text("StepLR; 0 = a constant rate");
        ui.horizontal(|ui| {
            ui.add(egui::DragValue::new(&mut cfg.lr_step_epochs).range(0..=100_000));
            ui.label("γ");
            ui.add(egui::DragValue::new(&mut cfg.lr_step_gamma).speed(0.01).range(0.01..=1.0));
        });
        ui.end_row();
        ui.label("Target refresh (epochs)")
            .on_hover_text("DEC's target P is held fixed over all samples and recomputed this often; 0 = every batch");
        ui.add(egui::DragValue::new(&mut cfg.target_refresh).range(0..=100_000));
        ui.end_row();
        ui.label("Stop below (changed share)")
            .on_hover_text("end when fewer than this share of the samples change cluster between two refreshes");
        ui.add(egui::DragValue::new(&mut cfg.stop_tolerance).speed(1e-4).range(0.0..=1.0).max_decimals(4));
        ui.end_row();
        ui.label("Batch size");
        ui.add(egui::DragValue::new(&mut cfg.batch_size).range(1..=65536));
        ui.end_row();
        ui.label("Seed");
        ui.add(egui::DragValue::new(&mut cfg.seed));
        ui.end_row();
    });
}
