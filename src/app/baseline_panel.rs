//! The training panel's model choice, and the settings of seed 001's metric-learning baselines
//! (`engine::baseline`): image shape, triplet mining, positives, margin, test split, kNN.

use eframe::egui;
use egui::RichText;

use crate::engine::TrainConfig;
use crate::engine::config::{ImageShape, Mining, ModelFamily, Positives};
use crate::engine::layers::{baseline_defaults, dec_defaults};

/// Widget state of the baseline settings (the image shape as typed).
#[derive(Debug, Default)]
pub struct BaselinePanel {
    image_text: String,
    image_for: Option<ImageShape>,
    image_error: Option<String>,
}

/// The model family selector. Switching to a baseline applies seed 001's settings (no
/// pre-training, 40 epochs, Adam 7e-4, batches of 256), switching back the demo preset.
pub fn family_ui(cfg: &mut TrainConfig, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.label("Model");
        let before = cfg.model;
        egui::ComboBox::from_id_salt("model_family")
            .selected_text(cfg.model.label())
            .width(190.0)
            .show_ui(ui, |ui| {
                for f in ModelFamily::ALL {
                    ui.selectable_value(&mut cfg.model, f, f.label());
                }
            })
            .response
            .on_hover_text(
                "CVC-AFWM (the workbench's unsupervised multi-view clustering), seed 004's single-view DEC, or a \
             metric-learning baseline of seed 001: encoders trained with the triplet loss on a train split, scored \
             on the held-out test split",
            );
        if cfg.model != before {
            family_ui_apply(cfg, before);
        }
    });
}

/// After the model family changed from `before` to `cfg.model`: seed 001's settings when a
/// baseline is chosen in place of CVC-AFWM, the demo preset when CVC-AFWM comes back.
pub fn family_ui_apply(cfg: &mut TrainConfig, before: ModelFamily) {
    if cfg.model.is_baseline() {
        if !before.is_baseline() {
            baseline_defaults(cfg, &[]);
        }
    } else if cfg.model == ModelFamily::Dec {
        let mut dec = super::state::demo_config();
        dec.preset = None;
        dec_defaults(&mut dec, &[]);
        *cfg = dec;
    } else {
        *cfg = super::state::demo_config();
    }
}

impl BaselinePanel {
    /// A baseline's settings (locked while its run is active).
    pub fn ui(&mut self, cfg: &mut TrainConfig, ui: &mut egui::Ui) {
        let Self { image_text, image_for, image_error } = self;
        egui::Grid::new("baseline_settings").num_columns(2).show(ui, |ui| {
            ui.label("Epochs");
            ui.add(egui::DragValue::new(&mut cfg.con_epochs).range(1..=5000));
            ui.end_row();
            ui.label("Batch size");
            ui.add(egui::DragValue::new(&mut cfg.batch_size).range(2..=65536));
            ui.end_row();
            ui.label("Learning rate");
            ui.add(egui::DragValue::new(&mut cfg.learning_rate).speed(1e-5).range(1e-6..=1.0).max_decimals(6));
            ui.end_row();
            ui.label("Seed");
            ui.add(egui::DragValue::new(&mut cfg.seed));
            ui.end_row();
            if cfg.model.is_conv() {
                ui.label("Image shape").on_hover_text(
                    "HEIGHTxWIDTH of each view's image; empty: 28x28 for 784 features, 16x16 for 256",
                );
                if *image_for != cfg.image || (image_text.is_empty() && cfg.image.is_some()) {
                    *image_text = cfg.image.map(|i| i.to_string()).unwrap_or_default();
                    *image_for = cfg.image;
                }
                if ui.add(egui::TextEdit::singleline(image_text).hint_text("auto").desired_width(80.0)).changed() {
                    let text = image_text.trim();
                    match (text.is_empty(), text.parse::<ImageShape>()) {
                        (true, _) => {
                            cfg.image = None;
                            *image_error = None;
                        }
                        (false, Ok(img)) => {
                            cfg.image = Some(img);
                            *image_error = None;
                        }
                        (false, Err(why)) => *image_error = Some(why),
                    }
                    *image_for = cfg.image;
                }
                ui.end_row();
            }
            ui.label("Positives");
            egui::ComboBox::from_id_salt("positives").selected_text(cfg.positives.name()).show_ui(ui, |ui| {
                for p in Positives::ALL {
                    ui.selectable_value(&mut cfg.positives, p, p.name());
                }
            })
            .response
            .on_hover_text("labels: another sample of the class (supervised); cross-view: the same sample in the next view (no label used in training)");
            ui.end_row();
            ui.label("Mining");
            egui::ComboBox::from_id_salt("mining").selected_text(cfg.mining.name()).show_ui(ui, |ui| {
                for m in Mining::ALL {
                    ui.selectable_value(&mut cfg.mining, m, m.name());
                }
            })
            .response
            .on_hover_text("random: the seed's sampler; batch-hard: the farthest positive and nearest negative in the batch; semi-hard: the nearest negative beyond the positive");
            ui.end_row();
            ui.label("Margin");
            ui.add(egui::DragValue::new(&mut cfg.margin).speed(0.1).range(0.01..=1000.0));
            ui.end_row();
            ui.label("Test share");
            ui.add(egui::Slider::new(&mut cfg.test_fraction, 0.05..=0.9).fixed_decimals(2));
            ui.end_row();
            ui.label("kNN neighbours");
            ui.add(egui::DragValue::new(&mut cfg.knn_k).range(1..=100));
            ui.end_row();
            ui.label("Metrics every");
            ui.add(egui::DragValue::new(&mut cfg.eval_every).range(1..=1000).suffix(" epochs"));
            ui.end_row();
        });
        if let Some(why) = image_error {
            ui.label(RichText::new(why.as_str()).color(super::palette::error_text()));
        }
        ui.label(
            RichText::new("Readings are of the held-out test split: k-means on its embeddings and a kNN classifier.")
                .small()
                .weak(),
        );
    }
}
