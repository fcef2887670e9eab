//! Left panel: choosing and loading a dataset, its summary, overrides and preprocessing.

use eframe::egui;
use egui::RichText;

use crate::data::{Preprocess, builtin};

use super::palette;
use super::state::{AppCommand, AppState, DatasetSource, ViewCtx};

/// Widget state of the dataset panel.
#[derive(Debug, Default)]
pub struct DatasetPanel {
    show_ignored: bool,
}

impl DatasetPanel {
    pub fn ui(&mut self, state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        let Self { show_ignored } = self;
        let session = ctx.session;
        let locked = session.run.status.is_active();

        ui.heading("Dataset");
        ui.add_enabled_ui(!locked && session.loading.is_none(), |ui| {
            ui.horizontal_wrapped(|ui| {
                for name in builtin::names() {
                    let current =
                        matches!(&session.loaded, Some(l) if l.source == DatasetSource::Builtin(name.to_owned()));
                    let resp = ui.selectable_label(current, name);
                    let resp = match builtin::description(name) {
                        Some(d) => resp.on_hover_text(d),
                        None => resp,
                    };
                    if resp.clicked() {
                        ctx.commands.send(AppCommand::Load(DatasetSource::Builtin(name.to_owned())));
                    }
                }
            });
            if ui.button("Open .mat file…").on_hover_text("Or drop a .mat file anywhere on the window").clicked() {
                ctx.commands.send(AppCommand::OpenFileDialog);
            }
            if !state.recent_files.is_empty() {
                ui.collapsing("Recent files", |ui| {
                    for path in state.recent_files.clone() {
                        let name = path
                            .file_name()
                            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
                        let exists = path.exists();
                        let resp = ui
                            .add_enabled(exists, egui::Button::new(name).small())
                            .on_hover_text(path.display().to_string())
                            .on_disabled_hover_text(format!("{} no longer exists", path.display()));
                        if resp.clicked() {
                            ctx.commands.send(AppCommand::Load(DatasetSource::File(path.clone())));
                        }
                    }
                });
            }
        });
        if locked {
            ui.label(RichText::new("Stop the run to change the dataset.").weak().small());
        }

        if let Some(src) = &session.loading {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Loading {}…", src.display()));
            });
        }
        if let Some(err) = &session.load_error {
            ui.add_space(4.0);
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.label(RichText::new("Could not load the dataset").strong().color(palette::error_text()));
                ui.label(RichText::new(err).color(palette::error_text()));
            });
        }

        ui.separator();
        let Some(loaded) = &session.loaded else {
            ui.label(
                RichText::new("No dataset loaded. Pick a built-in one, open a file, or drop a .mat file here.").weak(),
            );
            return;
        };
        let ds = &loaded.dataset;
        egui::Grid::new("dataset_summary").num_columns(2).striped(true).show(ui, |ui| {
            ui.label("Name");
            ui.label(RichText::new(&ds.name).strong());
            ui.end_row();
            ui.label("Source");
            ui.label(loaded.source.display()).on_hover_text(match &loaded.source {
                DatasetSource::File(p) => p.display().to_string(),
                DatasetSource::Builtin(n) => builtin::description(n).unwrap_or_default().to_owned(),
            });
            ui.end_row();
            ui.label("Format");
            ui.label(ds.format.as_str());
            ui.end_row();
            ui.label("Samples");
            ui.label(ds.n_samples().to_string());
            ui.end_row();
            ui.label("Clusters");
            ui.label(ds.n_clusters().map_or_else(|| "unlabelled".to_owned(), |k| k.to_string()));
            ui.end_row();
            ui.label("Labels");
            ui.label(ds.labels.as_ref().map_or("none", |l| l.variable.as_str()));
            ui.end_row();
        });
        ui.add_space(4.0);
        ui.label(RichText::new("Views").strong());
        egui::Grid::new("dataset_views").num_columns(4).striped(true).show(ui, |ui| {
            for (i, v) in ds.views.iter().enumerate() {
                ui.label(&v.name).on_hover_text(format!(
                    "from {}{}",
                    v.source,
                    if v.transposed { " (transposed)" } else { "" }
                ));
                ui.label(format!("{} features", v.data.cols()));
                ui.label(if v.data.is_sparse() { "sparse" } else { "dense" });
                if let Some(&scaling) = loaded.scalings.get(i) {
                    ui.label(RichText::new(scaling.as_str()).weak())
                        .on_hover_text(scaling_hint(loaded.preprocess, scaling));
                }
                ui.end_row();
            }
        });
        if !ds.ignored.is_empty() {
            ui.checkbox(show_ignored, format!("Show {} ignored variable(s)", ds.ignored.len()));
            if *show_ignored {
                for ig in &ds.ignored {
                    ui.label(RichText::new(format!("{}: {}", ig.name, ig.why)).small().weak());
                }
            }
        }

        ui.add_space(6.0);
        ui.add_enabled_ui(!locked, |ui| {
            ui.horizontal(|ui| {
                ui.label("Preprocessing");
                let before = state.preprocess;
                egui::ComboBox::from_id_salt("preprocess").selected_text(preprocess_label(state.preprocess)).show_ui(
                    ui,
                    |ui| {
                        for p in [Preprocess::MinMax, Preprocess::ZScore, Preprocess::Auto, Preprocess::None] {
                            ui.selectable_value(&mut state.preprocess, p, preprocess_label(p));
                        }
                    },
                );
                if state.preprocess != before {
                    ctx.commands.send(AppCommand::Reload);
                }
            });
            if let Some(vars) = &loaded.variables {
                override_ui(state, ctx, vars, ui);
            }
        });
    }
}

fn scaling_hint(chosen: Preprocess, got: Preprocess) -> String {
    if chosen == Preprocess::Auto {
        let why = if got == Preprocess::ZScore { "at least half" } else { "fewer than half" };
        format!("auto: {} of its entries are non-zero, so {}", why, preprocess_label(got))
    } else {
        format!("scaled: {}", preprocess_label(got))
    }
}

fn preprocess_label(p: Preprocess) -> &'static str {
    match p {
        Preprocess::MinMax => "min-max per feature",
        Preprocess::ZScore => "z-score per feature",
        Preprocess::None => "none (as stored)",
        Preprocess::Auto => "auto: z-score dense views, min-max sparse ones",
    }
}

/// Controls to choose which variables are views and which is the label.
fn override_ui(state: &mut AppState, ctx: &mut ViewCtx<'_>, vars: &[crate::data::VariableInfo], ui: &mut egui::Ui) {
    let ov = &mut state.overrides;
    egui::CollapsingHeader::new("Wrong guess? Choose the variables").default_open(ov.enabled).show(ui, |ui| {
        ui.checkbox(&mut ov.enabled, "Use my choice instead of the guess");
        ui.add_enabled_ui(ov.enabled, |ui| {
            ui.label(RichText::new("Views (in order)").small());
            for v in vars.iter().filter(|v| v.view_candidate) {
                let mut on = ov.views.contains(&v.name);
                if ui.checkbox(&mut on, format!("{}  ({})", v.name, v.description)).changed() {
                    if on {
                        ov.views.push(v.name.clone());
                    } else {
                        ov.views.retain(|n| n != &v.name);
                    }
                }
            }
            ui.horizontal(|ui| {
                ui.label("Labels");
                let current = ov.labels.clone().unwrap_or_else(|| "(guess)".into());
                egui::ComboBox::from_id_salt("label_var").selected_text(current).show_ui(ui, |ui| {
                    ui.selectable_value(&mut ov.labels, None, "(guess)");
                    for v in vars.iter().filter(|v| v.label_candidate) {
                        ui.selectable_value(
                            &mut ov.labels,
                            Some(v.name.clone()),
                            format!("{} ({})", v.name, v.description),
                        );
                    }
                });
            });
            ui.checkbox(&mut ov.no_labels, "Load without labels");
            if ui.button("Reload with this choice").clicked() {
                ctx.commands.send(AppCommand::Reload);
            }
        });
    });
}
