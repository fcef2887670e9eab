//! Left panel: model and training settings, run controls and progress.
//!
//! Threshold, temperatures, loss weights and learning rate stay editable
//! while a run is active and are sent to the trainer as live parameters; the
//! rest lock until the run ends.

use eframe::egui;
use egui::RichText;

use crate::engine::config::{CentringScope, ClusterSpace, ContrastPairing, ContrastScale, PseudoSource};
use crate::engine::{CentroidInit, DeviceChoice, LiveParams, TargetSource, Term, TrainConfig, presets};

use super::palette;
use super::state::{AppCommand, AppState, DEMO_PRESET, FULL_DEFAULTS, RunStatus, ViewCtx, preset_config};
use crate::engine::run_log::format_secs;

/// A run estimated to finish within this many seconds is offered in place of the demo preset.
const FEW_MINUTES: f64 = 300.0;

/// Widget state of the training panel.
#[derive(Debug, Default)]
pub struct TrainingPanel {
    baseline: super::baseline_panel::BaselinePanel,
    hidden_text: String,
    hidden_for: Vec<usize>,
    hidden_error: Option<String>,
}

impl TrainingPanel {
    pub fn ui(&mut self, state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        let session = ctx.session;
        let run = &session.run;
        let active = run.status.is_active();
        ui.heading("Model & training");

        run_controls_ui(state, ctx, ui);
        ui.add_space(4.0);
        ui.add_enabled_ui(!active, |ui| super::baseline_panel::family_ui(&mut state.config, ui));
        if state.config.model.is_baseline() {
            ui.add_enabled_ui(!active, |ui| self.baseline.ui(&mut state.config, ui));
            if let Err(e) = state.config.validate() {
                ui.label(RichText::new(e).color(palette::error_text()));
            }
            return;
        }
        if state.config.model == crate::engine::config::ModelFamily::Dec {
            let views: Vec<String> = session
                .loaded
                .as_ref()
                .map(|l| l.dataset.views.iter().map(|v| v.source.clone()).collect())
                .unwrap_or_default();
            ui.add_enabled_ui(!active, |ui| super::dec_panel::dec_ui(&mut state.config, &views, ui));
            if let Err(e) = state.config.validate() {
                ui.label(RichText::new(e).color(palette::error_text()));
            }
            return;
        }

        ui.add_enabled_ui(!active, |ui| {
            ui.horizontal(|ui| {
                ui.label("Preset");
                let current = state.config.preset.clone().unwrap_or_else(|| "(custom)".into());
                egui::ComboBox::from_id_salt("preset").selected_text(current).width(150.0).show_ui(ui, |ui| {
                    for name in [DEMO_PRESET, FULL_DEFAULTS].into_iter().chain(presets::names()) {
                        let label = match preset_config(name).ok().and_then(|c| session.estimate_secs(&c)) {
                            Some(secs) => format!("{name} · ≈ {}", format_secs(secs)),
                            None => name.to_owned(),
                        };
                        if ui.selectable_label(state.config.preset.as_deref() == Some(name), label).clicked() {
                            ctx.commands.send(AppCommand::ApplyPreset(name.to_owned()));
                        }
                    }
                });
            });
            match session.estimate_secs(&state.config) {
                Some(secs) => {
                    ui.label(RichText::new(format!("Estimated run time on this dataset: ≈ {}", format_secs(secs))).small())
                        .on_hover_text("from a measured pre-training step of this network on the loaded data; evaluations and pseudo-label refreshes add a few percent");
                }
                None if session.loaded.is_some() && session.step_error.is_none() && session.step_secs.is_empty() => {
                    ui.label(RichText::new("Measuring a training step for run-time estimates…").small().weak());
                }
                None => {}
            }
            if let Some(why) = &session.step_error {
                ui.label(RichText::new(format!("No run-time estimate: {why}")).small().weak());
            }
            let full = preset_config(FULL_DEFAULTS).ok().and_then(|c| session.estimate_secs(&c).map(|s| (c, s)));
            if let Some((_, secs)) = full.filter(|(_, s)| *s <= FEW_MINUTES)
                && state.config.preset.as_deref() == Some(DEMO_PRESET)
                && ui
                    .button(format!("Use the full defaults instead (≈ {} here)", format_secs(secs)))
                    .on_hover_text("the demo preset's small network is for a first look; the full network reaches the reported quality")
                    .clicked()
            {
                ctx.commands.send(AppCommand::ApplyPreset(FULL_DEFAULTS.to_owned()));
            }
            // A dataset the seed has settings for (by its name, as serve and the seed's train.py
            // pick them): offer them, with their cost on this machine.
            if let Some(p) = session.dataset().and_then(|ds| presets::for_dataset(&ds.name))
                && state.config.preset.as_deref() != Some(p.name)
            {
                let cost = preset_config(p.name)
                    .ok()
                    .and_then(|c| session.estimate_secs(&c))
                    .map(|s| format!(" (≈ {} here)", format_secs(s)))
                    .unwrap_or_default();
                if ui
                    .button(format!("Use the seed's {} preset{cost}", p.name))
                    .on_hover_text(match p.preprocess {
                        Some(scaling) => format!(
                            "the seed's learning rate, epochs, seed and τ_L for this dataset, and its scaling ({}), as the seed's lineage loads it",
                            scaling.as_str()
                        ),
                        None => "the seed's learning rate, epochs, seed and τ_L for this dataset".to_owned(),
                    })
                    .clicked()
                {
                    ctx.commands.send(AppCommand::ApplyPreset(p.name.to_owned()));
                }
            }
        });

        let before = state.config.clone();
        live_ui(&mut state.config, ui);
        if active && live_changed(&before, &state.config) {
            ctx.commands.send(AppCommand::Live(live_diff(&before, &state.config)));
        }

        ui.add_enabled_ui(!active, |ui| self.locked_ui(&mut state.config, ui));
        if active {
            ui.label(RichText::new("Sizes, epochs and the device are locked while a run is active.").weak().small());
        }
        if let Err(e) = state.config.validate() {
            ui.label(RichText::new(e).color(palette::error_text()));
        }
    }

    fn locked_ui(&mut self, cfg: &mut TrainConfig, ui: &mut egui::Ui) {
        let Self { hidden_text, hidden_for, hidden_error, .. } = self;
        egui::CollapsingHeader::new("Schedule").default_open(true).show(ui, |ui| {
            egui::Grid::new("schedule").num_columns(2).show(ui, |ui| {
                ui.label("Pre-training epochs");
                ui.add(egui::DragValue::new(&mut cfg.mse_epochs).range(0..=5000));
                ui.end_row();
                ui.label("Contrastive epochs");
                ui.add(egui::DragValue::new(&mut cfg.con_epochs).range(0..=5000));
                ui.end_row();
                ui.label("Batch size");
                ui.add(egui::DragValue::new(&mut cfg.batch_size).range(1..=65536));
                ui.end_row();
                ui.label("Seed");
                ui.add(egui::DragValue::new(&mut cfg.seed));
                ui.end_row();
                ui.label("Labelled fraction");
                ui.add(egui::Slider::new(&mut cfg.labelled_fraction, 0.0..=1.0).fixed_decimals(2));
                ui.end_row();
                ui.label("Clusters K");
                ui.horizontal(|ui| {
                    let mut auto = cfg.n_clusters.is_none();
                    if ui.checkbox(&mut auto, "from labels").changed() {
                        cfg.n_clusters = if auto { None } else { Some(cfg.n_clusters.unwrap_or(4)) };
                    }
                    if let Some(k) = &mut cfg.n_clusters {
                        ui.add(egui::DragValue::new(k).range(2..=1000));
                    }
                });
                ui.end_row();
                ui.label("Metrics every");
                ui.add(egui::DragValue::new(&mut cfg.eval_every).range(1..=1000).suffix(" epochs"));
                ui.end_row();
                ui.label("Snapshot every");
                ui.add(egui::DragValue::new(&mut cfg.snapshot_every).range(0..=1000).suffix(" epochs"));
                ui.end_row();
                ui.label("Snapshot points");
                ui.add(egui::DragValue::new(&mut cfg.snapshot_points).range(10..=100_000));
                ui.end_row();
            });
        });
        egui::CollapsingHeader::new("Architecture").default_open(false).show(ui, |ui| {
            if *hidden_for != cfg.encoder_hidden || hidden_text.is_empty() {
                *hidden_text = cfg.encoder_hidden.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                hidden_for.clone_from(&cfg.encoder_hidden);
            }
            egui::Grid::new("arch").num_columns(2).show(ui, |ui| {
                ui.label("Encoder hidden sizes");
                if ui.text_edit_singleline(hidden_text).changed() {
                    match parse_sizes(hidden_text) {
                        Ok(v) => {
                            cfg.encoder_hidden.clone_from(&v);
                            *hidden_for = v;
                            *hidden_error = None;
                        }
                        Err(e) => *hidden_error = Some(e),
                    }
                }
                ui.end_row();
                ui.label("Feature size F (z)");
                ui.add(egui::DragValue::new(&mut cfg.feature_dim).range(1..=8192));
                ui.end_row();
                ui.label("High-level size H (h)");
                ui.add(egui::DragValue::new(&mut cfg.high_feature_dim).range(1..=8192));
                ui.end_row();
                ui.label("VCF feed-forward");
                ui.add(egui::DragValue::new(&mut cfg.vcf_ff_dim).range(1..=8192));
                ui.end_row();
                ui.label("AFW heads");
                ui.add(egui::DragValue::new(&mut cfg.afw_heads).range(1..=64));
                ui.end_row();
                ui.label("Weight decay");
                ui.add(egui::DragValue::new(&mut cfg.weight_decay).speed(1e-5).range(0.0..=1.0).min_decimals(5));
                ui.end_row();
                ui.label("Pseudo-label confidence");
                ui.add(egui::Slider::new(&mut cfg.confidence, 0.0..=1.0).fixed_decimals(2));
                ui.end_row();
                ui.label("Stop when settled (share)").on_hover_text(
                    "end the contrastive phase at a pseudo-label refresh where fewer than this share of the samples changed cluster since the previous one (DEC's tol, 0.001; label-free); 0 = train every epoch",
                );
                ui.add(egui::DragValue::new(&mut cfg.stop_tolerance).speed(1e-4).range(0.0..=1.0).max_decimals(4));
                ui.end_row();
                ui.label("Centroid init");
                egui::ComboBox::from_id_salt("centroid_init")
                    .selected_text(match cfg.centroid_init {
                        CentroidInit::KmeansPlusPlus => "k-means++ on h",
                        CentroidInit::Xavier => "Xavier uniform",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut cfg.centroid_init, CentroidInit::KmeansPlusPlus, "k-means++ on h");
                        ui.selectable_value(&mut cfg.centroid_init, CentroidInit::Xavier, "Xavier uniform");
                    });
                ui.end_row();
                ui.label("DEC kernel scale κ").on_hover_text(
                    "q ∝ (1 + κ||h − μ||²)⁻¹; 1 is the seed's kernel, whose max q on the unit sphere is 0.25 for K = 10",
                );
                ui.add(egui::Slider::new(&mut cfg.kernel_scale, 0.1..=100.0).logarithmic(true).fixed_decimals(1));
                ui.end_row();
                ui.label("DEC target P from").on_hover_text(
                    "the views' mean q (the default; the VCF head's t learns to follow it), or the VCF head's t \
                         (the seed's choice, whose heads merge classes on MNIST-USPS, BDGP and handwritten)",
                );
                egui::ComboBox::from_id_salt("target_source")
                    .selected_text(match cfg.target_source {
                        TargetSource::Vcf => "VCF head t",
                        TargetSource::Views => "views' mean q",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut cfg.target_source, TargetSource::Views, "views' mean q");
                        ui.selectable_value(&mut cfg.target_source, TargetSource::Vcf, "VCF head t");
                    });
                ui.end_row();
                ui.label("L_A / L_Q warm-up (epochs)")
                    .on_hover_text("contrastive epochs over which L_A and L_Q ramp in from 0; 0 = at once");
                ui.add(egui::DragValue::new(&mut cfg.kl_warmup).range(0..=10_000));
                ui.end_row();
                ui.label("Sinkhorn rounds on P")
                    .on_hover_text("balance the target's clusters (SwAV); 0 = DEC's target, which lets clusters merge");
                ui.add(egui::DragValue::new(&mut cfg.sinkhorn_iters).range(0..=100));
                ui.end_row();
                seed_options_ui(cfg, ui);
                ui.label("Cosine learning-rate decay").on_hover_text(
                    "the contrastive phase's learning rate falls along a half cosine to 0 at its last batch",
                );
                ui.checkbox(&mut cfg.lr_cosine, "in the contrastive phase");
                ui.end_row();
                ui.label("Fresh optimiser").on_hover_text(
                    "the contrastive phase starts with a new Adam: the pre-training's moments, estimated on the \
                     reconstruction loss, are not carried into the new objective (off: one optimiser, as the seed)",
                );
                ui.checkbox(&mut cfg.fresh_optimizer, "at the contrastive phase");
                ui.end_row();
                let warm_up = ui.label("Learning-rate warm-up (epochs)").on_hover_text(
                    "contrastive epochs over which the learning rate rises linearly to its set value; 0 = at once, as the seed",
                );
                ui.add(egui::DragValue::new(&mut cfg.lr_warmup_epochs).range(0..=10_000)).labelled_by(warm_up.id);
                ui.end_row();
                ui.label("Device");
                egui::ComboBox::from_id_salt("device").selected_text(device_label(cfg.device)).show_ui(ui, |ui| {
                    for d in [DeviceChoice::Auto, DeviceChoice::Flex, DeviceChoice::Wgpu, DeviceChoice::WgpuSoftware] {
                        ui.selectable_value(&mut cfg.device, d, device_label(d));
                    }
                });
                ui.end_row();
            });
            if let Some(e) = hidden_error {
                ui.label(RichText::new(e.as_str()).color(palette::error_text()));
            }
        });
    }
}

fn device_label(d: DeviceChoice) -> &'static str {
    match d {
        DeviceChoice::Auto => "auto (GPU if present)",
        DeviceChoice::Flex => "CPU (flex)",
        DeviceChoice::Wgpu => "GPU (wgpu)",
        DeviceChoice::WgpuSoftware => "wgpu, software allowed",
    }
}

/// Parses `500, 500, 2000`.
pub fn parse_sizes(s: &str) -> Result<Vec<usize>, String> {
    let v: Result<Vec<usize>, _> =
        s.split([',', ' ']).filter(|p| !p.trim().is_empty()).map(|p| p.trim().parse::<usize>()).collect();
    match v {
        Ok(v) if v.iter().all(|&x| x > 0) => Ok(v),
        Ok(_) => Err("hidden sizes must all be at least 1".into()),
        Err(_) => Err(format!("{s:?} is not a list of sizes like 500, 500, 2000")),
    }
}

fn run_controls_ui(state: &AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
    let session = ctx.session;
    let run = &session.run;
    let has_data = session.loaded.is_some();
    ui.horizontal(|ui| {
        let can_start = has_data && !run.status.is_active() && state.config.validate().is_ok();
        let start = ui.add_enabled(can_start, egui::Button::new(RichText::new("Start").strong()));
        let start = if has_data { start } else { start.on_disabled_hover_text("Load a dataset first") };
        if start.clicked() {
            ctx.commands.send(AppCommand::StartRun);
        }
        match run.status {
            RunStatus::Paused => {
                if ui.button("Resume").clicked() {
                    ctx.commands.send(AppCommand::Resume);
                }
            }
            _ => {
                if ui.add_enabled(run.status == RunStatus::Running, egui::Button::new("Pause")).clicked() {
                    ctx.commands.send(AppCommand::Pause);
                }
            }
        }
        if ui.add_enabled(run.status.is_active(), egui::Button::new("Stop")).clicked() {
            ctx.commands.send(AppCommand::Stop);
        }
        if ui
            .add_enabled(run.status.is_active(), egui::Button::new("Snapshot now"))
            .on_hover_text("Ask the trainer for an embedding snapshot now")
            .clicked()
        {
            ctx.commands.send(AppCommand::RequestSnapshot);
        }
    });
    if let Some(e) = &session.start_error {
        ui.label(RichText::new(e).color(palette::error_text()));
    }
    match &run.status {
        RunStatus::Idle => {}
        RunStatus::Starting => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Starting the trainer…");
            });
        }
        RunStatus::Failed(failure) => {
            ui.label(RichText::new(format!("Run failed: {}", failure.reason)).color(palette::error_text()));
        }
        _ => {}
    }
    if let Some((frac, text)) = run.progress_line() {
        let text = if run.status.is_active() { text } else { format!("{} · {}", run.status.label(), text) };
        ui.add(egui::ProgressBar::new(frac).text(text));
    } else if run.status.is_active() {
        ui.add(egui::ProgressBar::new(0.0).text("waiting for the first batch"));
    }
    if let Some(line) = run.convergence_line() {
        ui.label(RichText::new(format!("Ended early: {line}")).small());
    }
    if let Some(d) = &run.device {
        ui.label(RichText::new(format!("Device in use: {d}")).small());
    }
}

/// The seeds' related methods (002, 003), each off by default: rows of the settings grid.
fn seed_options_ui(cfg: &mut TrainConfig, ui: &mut egui::Ui) {
    ui.label("Uncertainty weighting").on_hover_text(
        "seed 003: weight each sample's L_Q and L_A by 1 - u, u the normalised entropy of its fuzzy c-means memberships at the refresh",
    );
    ui.checkbox(&mut cfg.uncertainty_weighting, "confident samples count more");
    ui.end_row();
    ui.label("Cluster space").on_hover_text(
        "where the pseudo-label k-means clusters: h (the heads' space), zh (low + high level, seed 003) or Z",
    );
    egui::ComboBox::from_id_salt("cluster_space").selected_text(cluster_space_label(cfg.cluster_space)).show_ui(
        ui,
        |ui| {
            for s in [ClusterSpace::ZFused, ClusterSpace::H, ClusterSpace::Zh] {
                ui.selectable_value(&mut cfg.cluster_space, s, cluster_space_label(s));
            }
        },
    );
    ui.end_row();
    ui.label("Pseudo-label source").on_hover_text(
        "kmeans: k-means in the cluster space, matched to the heads; heads: the heads' own assignment (DEC self-training), which keeps a partition the heads found that k-means on the features does not; balanced: at each refresh whichever of the two has the more even cluster sizes (a merge of two classes, or one cluster growing at the others' expense, makes them less even); with the centre refresh on, the centres then move only when the k-means partition is kept",
    );
    egui::ComboBox::from_id_salt("pseudo_source").selected_text(cfg.pseudo_source.as_str()).show_ui(ui, |ui| {
        for s in [PseudoSource::Kmeans, PseudoSource::Heads, PseudoSource::Balanced] {
            ui.selectable_value(&mut cfg.pseudo_source, s, s.as_str());
        }
    });
    ui.end_row();
    let delay = ui.label("Pseudo-label delay (epochs)").on_hover_text(
        "contrastive epochs before the refreshed pseudo labels enter L_Q and the local contrast: the labels then come from features the contrast has trained, not from the pre-trained ones (k-means at the phase's start); 0 = from the start",
    );
    ui.add(egui::DragValue::new(&mut cfg.pseudo_delay).range(0..=10_000)).labelled_by(delay.id);
    ui.end_row();
    let share = ui.label("Re-seed clusters under (share of N/K)").on_hover_text(
        "at each refresh, a pseudo cluster holding fewer than this share of an even cluster's size gives its samples to their nearest cluster and takes the smaller half of the largest cluster instead (a few outliers then cannot hold a cluster while two classes share one); 0 = never",
    );
    ui.add(egui::DragValue::new(&mut cfg.min_cluster_share).range(0.0..=0.95).speed(0.01)).labelled_by(share.id);
    ui.end_row();
    ui.label("Contrast with").on_hover_text(
        "what each view's two contrastive terms compare it with: pairs, every other view (MFLVC, the seed); consensus, the views' weighted consensus, detached (GCFAggMVC, SCMVC); others, the other views' weighted consensus, detached (with two views the same gradient as pairs) — a view that cannot tell two classes apart (rotation-invariant features and 6 / 9) then does not pull the other views toward merging them",
    );
    egui::ComboBox::from_id_salt("contrast_pairing").selected_text(cfg.contrast_pairing.as_str()).show_ui(ui, |ui| {
        for s in [ContrastPairing::Pairs, ContrastPairing::Consensus, ContrastPairing::Others] {
            ui.selectable_value(&mut cfg.contrast_pairing, s, s.as_str());
        }
    });
    ui.end_row();
    ui.label("Contrast size").on_hover_text(
        "terms: each contrastive term once; per-view: with consensus or others, each view's term times V − 1, the number of pairwise terms a view sits in, so its contrast (and the entropy term that keeps clusters from emptying) keeps the size it has with pairs relative to the DEC and label losses. No effect on pairs or with two views",
    );
    ui.add_enabled_ui(cfg.contrast_pairing != ContrastPairing::Pairs, |ui| {
        egui::ComboBox::from_id_salt("contrast_scale").selected_text(cfg.contrast_scale.as_str()).show_ui(ui, |ui| {
            for s in [ContrastScale::Terms, ContrastScale::PerView] {
                ui.selectable_value(&mut cfg.contrast_scale, s, s.as_str());
            }
        });
    });
    ui.end_row();
    ui.label("k-means warm start").on_hover_text(
        "with k-means as the source (or balanced): beside k-means' 10 restarts, one run from the heads' current partition; the lower inertia wins, so a partition the heads hold is not given up for a worse k-means optimum. The losses panel reports both inertias at each refresh",
    );
    ui.add_enabled(
        cfg.pseudo_source != PseudoSource::Heads,
        egui::Checkbox::new(&mut cfg.pseudo_warm_start, "start k-means from the heads too"),
    );
    ui.end_row();
    ui.label("Warm start margin").on_hover_text(
        "the heads' partition is kept unless k-means' restarts reach an inertia lower by more than this fraction (0: whichever is lower)",
    );
    ui.add_enabled(
        cfg.pseudo_warm_start && cfg.pseudo_source != PseudoSource::Heads,
        egui::DragValue::new(&mut cfg.pseudo_warm_margin).range(0.0..=0.5).speed(0.001).max_decimals(3),
    );
    ui.end_row();
    ui.label("Centre refresh").on_hover_text(
        "at each pseudo-label refresh, move the DEC centres to the refreshed clusters' means; off, they move only with their gradient (handwritten keeps its ten digits apart with it off and the heads as the source)",
    );
    ui.checkbox(&mut cfg.refresh_centres, "move the centres at each refresh");
    ui.end_row();
    ui.label("View centring").on_hover_text(
        "subtract each view's mean projection before the L2 normalisation: from every feature (all), from the instance contrast's only (contrast, the default: the heads, Z and the readings keep each sample's distance from the mean; BDGP's heads start at .96 instead of .66), or not at all (the contrastive terms may then sit at chance)",
    );
    let centring = |c: &TrainConfig| match (c.view_centring, c.centring_scope) {
        (false, _) => "off",
        (true, CentringScope::All) => "all",
        (true, CentringScope::Contrast) => "contrast",
    };
    egui::ComboBox::from_id_salt("view_centring").selected_text(centring(cfg)).show_ui(ui, |ui| {
        for (label, on, scope) in [
            ("all", true, CentringScope::All),
            ("contrast", true, CentringScope::Contrast),
            ("off", false, CentringScope::All),
        ] {
            if ui.selectable_label(centring(cfg) == label, label).clicked() {
                cfg.view_centring = on;
                cfg.centring_scope = scope;
            }
        }
    });
    ui.end_row();
    ui.label("PCL temperatures").on_hover_text(
        "seed 002: each cluster's own temperature in the cluster-level contrast, from its concentration, with this mean",
    );
    ui.horizontal(|ui| {
        let mut on = cfg.pcl_temperature.is_some();
        if ui.checkbox(&mut on, "per cluster, mean").changed() {
            cfg.pcl_temperature = on.then_some(cfg.temperature_l);
        }
        if let Some(t) = &mut cfg.pcl_temperature {
            ui.add(egui::Slider::new(t, 0.01..=2.0).logarithmic(true).fixed_decimals(3));
        }
    });
    ui.end_row();
    ui.label("kNN targets (neighbours)")
        .on_hover_text("seed 002 (TSD): mix each sample's neighbours' mean assignment into P; 0 = off");
    ui.horizontal(|ui| {
        ui.add(egui::DragValue::new(&mut cfg.knn_targets).range(0..=100));
        ui.label(RichText::new("weight: Live parameters").weak());
    });
    ui.end_row();
}

fn cluster_space_label(s: ClusterSpace) -> &'static str {
    match s {
        ClusterSpace::ZFused => "Z (fused)",
        ClusterSpace::H => "h (heads)",
        ClusterSpace::Zh => "z + h (low + high)",
    }
}

/// The live-editable settings.
fn live_ui(cfg: &mut TrainConfig, ui: &mut egui::Ui) {
    egui::CollapsingHeader::new("Live parameters").default_open(true).show(ui, |ui| {
        ui.label(RichText::new("These apply at the next batch, also while training.").weak().small());
        egui::Grid::new("live").num_columns(2).show(ui, |ui| {
            ui.label("Learning rate");
            ui.add(
                egui::Slider::new(&mut cfg.learning_rate, 1e-6..=1e-1)
                    .logarithmic(true)
                    .custom_formatter(|v, _| format!("{v:.2e}")),
            );
            ui.end_row();
            ui.label("Threshold");
            ui.add(egui::Slider::new(&mut cfg.threshold, 0.0..=1.0).fixed_decimals(2));
            ui.end_row();
            ui.label("Temperature τ_F (instance)");
            ui.add(egui::Slider::new(&mut cfg.temperature_f, 0.01..=2.0).logarithmic(true).fixed_decimals(3));
            ui.end_row();
            ui.label("Temperature τ_L (cluster)");
            ui.add(egui::Slider::new(&mut cfg.temperature_l, 0.001..=2.0).logarithmic(true).fixed_decimals(3));
            ui.end_row();
            ui.label("View weights γ").on_hover_text(
                "w* = softmax(−(D_v / max(mean D, 0.001)) / γ), D_v = KL(P || q_v), P the unweighted consensus: smaller γ down-weights a view that disagrees with it more sharply",
            );
            ui.add_enabled(
                cfg.adaptive_weights,
                egui::Slider::new(&mut cfg.weight_temperature, 0.05..=5.0).logarithmic(true).fixed_decimals(2),
            );
            ui.end_row();
            ui.label("kNN target weight").on_hover_text(
                "seed 002 (TSD): the share of the neighbours' mean assignment in the target P (needs kNN targets > 0)",
            );
            ui.add_enabled(cfg.knn_targets > 0, egui::Slider::new(&mut cfg.knn_weight, 0.0..=1.0).fixed_decimals(2));
            ui.end_row();
        });
        ui.label(RichText::new("Loss terms").strong());
        egui::Grid::new("loss_terms").num_columns(2).show(ui, |ui| {
            let l = &mut cfg.loss;
            for (name, term) in [
                ("Reconstruction L_R", &mut l.rec),
                ("Cluster-level L_C", &mut l.cluster),
                ("Instance-level L_C", &mut l.local),
                ("View KL L_A", &mut l.kl),
                ("Label L_Q", &mut l.label),
            ] {
                term_ui(name, term, ui);
                ui.end_row();
            }
        });
    });
}

fn term_ui(name: &str, term: &mut Term, ui: &mut egui::Ui) {
    ui.checkbox(&mut term.enabled, name);
    ui.add_enabled(
        term.enabled,
        egui::DragValue::new(&mut term.weight).speed(0.01).range(0.0..=100.0).fixed_decimals(2),
    );
}

fn live_changed(a: &TrainConfig, b: &TrainConfig) -> bool {
    a.learning_rate != b.learning_rate
        || a.threshold != b.threshold
        || a.temperature_f != b.temperature_f
        || a.temperature_l != b.temperature_l
        || a.weight_temperature != b.weight_temperature
        || a.knn_weight != b.knn_weight
        || a.loss != b.loss
}

/// The live parameters that differ between `a` and `b`.
pub fn live_diff(a: &TrainConfig, b: &TrainConfig) -> LiveParams {
    LiveParams {
        learning_rate: (a.learning_rate != b.learning_rate).then_some(b.learning_rate),
        threshold: (a.threshold != b.threshold).then_some(b.threshold),
        temperature_f: (a.temperature_f != b.temperature_f).then_some(b.temperature_f),
        temperature_l: (a.temperature_l != b.temperature_l).then_some(b.temperature_l),
        weight_temperature: (a.weight_temperature != b.weight_temperature).then_some(b.weight_temperature),
        knn_weight: (a.knn_weight != b.knn_weight).then_some(b.knn_weight),
        loss: (a.loss != b.loss).then_some(b.loss),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_sizes("500, 500,2000").unwrap(), vec![500, 500, 2000]);
        assert!(parse_sizes("5,x").is_err());
        assert!(parse_sizes("0").is_err());
    }

    #[test]
    fn only_changed_live_fields_are_sent() {
        let a = TrainConfig::default();
        let b = TrainConfig { threshold: 0.5, ..a.clone() };
        let d = live_diff(&a, &b);
        assert_eq!(d.threshold, Some(0.5));
        assert!(d.learning_rate.is_none() && d.loss.is_none() && d.knn_weight.is_none());
        let c = TrainConfig { knn_weight: 0.25, ..a.clone() };
        assert_eq!(live_diff(&a, &c), LiveParams { knn_weight: Some(0.25), ..LiveParams::default() });
    }
}
