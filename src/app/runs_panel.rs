//! Centre tile: the run store. A sortable, filterable table of past and current runs (or their
//! groups over seeds with mean ± std), a pinned baseline, several runs selected to overlay their
//! curves on the plots, a diff of the settings that differ, and open / train again / rename /
//! tag / delete.

use eframe::egui;
use egui::RichText;

use crate::engine::TrainConfig;
use crate::engine::run_log::format_secs;
use crate::runs::record::ScoreRow;
use crate::runs::table::{self, NOT_A_SETTING, config_diff, flat_config};
use crate::runs::{RunRecord, Status};

use super::palette;
use super::state::{AppCommand, AppState, ViewCtx};
use super::widgets::empty_hint_ui;

/// Columns the table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum SortKey {
    #[default]
    Date,
    Name,
    Dataset,
    Status,
    FinalAcc,
    FinalNmi,
    BestAcc,
    Duration,
}

/// The Runs tile's widget state.
#[derive(Debug, Default)]
pub struct RunsPanel {
    filter: String,
    sort: SortKey,
    ascending: bool,
    group: bool,
    /// Selected run ids, in the order they were picked.
    selected: Vec<String>,
    confirm_delete: Option<String>,
    rename: String,
    tags: String,
    dir_edit: Option<String>,
    /// This frame's rows that take a dropped data file (finished runs with a checkpoint): where
    /// each is on screen. Filled while the table is drawn, read and cleared by the window's drop
    /// handling after the tiles (`frame.rs`).
    drop_rows: Vec<DropRow>,
}

/// A run row that a data file can be dropped on: its update starts on that file.
#[derive(Debug, Clone, PartialEq)]
pub struct DropRow {
    pub rect: egui::Rect,
    pub id: String,
    pub name: String,
}

impl RunsPanel {
    /// The row under `pos` that takes a dropped file, if any.
    pub fn drop_target(&self, pos: egui::Pos2) -> Option<&DropRow> {
        self.drop_rows.iter().find(|r| r.rect.contains(pos))
    }

    /// Forgets this frame's rows (the tile may not be drawn next frame).
    pub fn clear_drop_rows(&mut self) {
        self.drop_rows.clear();
    }
}

fn acc(s: &ScoreRow) -> f64 {
    s.acc
}
fn nmi(s: &ScoreRow) -> f64 {
    s.nmi
}

fn score(s: Option<ScoreRow>, f: fn(&ScoreRow) -> f64) -> String {
    s.map_or_else(|| "–".into(), |s| format!("{:.4}", f(&s)))
}

fn stat(s: Option<(f64, f64)>) -> String {
    s.map_or_else(|| "–".into(), |(m, sd)| format!("{m:.4} ± {sd:.4}"))
}

impl RunsPanel {
    pub fn ui(&mut self, state: &mut AppState, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        let view = &ctx.session.runs;
        ui.horizontal(|ui| {
            ui.label("Runs directory");
            let dir = self.dir_edit.get_or_insert_with(|| view.dir.display().to_string());
            ui.add(egui::TextEdit::singleline(dir).desired_width(260.0));
            if ui.button("Use").on_hover_text("Record and list runs in this directory").clicked() {
                ctx.commands.send(AppCommand::SetRunsDir(dir.trim().into()));
            }
            if ui.button("Refresh").clicked() {
                self.dir_edit = None;
                ctx.commands.send(AppCommand::RefreshRuns);
            }
        });
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .hint_text("filter: name, dataset, status, tag")
                    .desired_width(220.0),
            );
            ui.checkbox(&mut self.group, "group by everything but the seed");
            ui.label(RichText::new(format!("{} runs", view.runs.len())).weak());
        });
        if let Some(e) = &view.error {
            ui.label(RichText::new(e).color(palette::error_text()));
        }
        if !view.problems.is_empty() {
            egui::CollapsingHeader::new(format!("{} run folders could not be read", view.problems.len())).show(
                ui,
                |ui| {
                    for p in &view.problems {
                        ui.label(RichText::new(p.to_string()).small());
                    }
                },
            );
        }
        let needle = self.filter.to_lowercase();
        let mut runs: Vec<&RunRecord> = view
            .runs
            .iter()
            .filter(|r| {
                needle.is_empty()
                    || [r.name.as_str(), r.dataset.name.as_str(), r.status.as_str(), r.id.as_str()]
                        .iter()
                        .chain(r.tags.iter().map(String::as_str).collect::<Vec<_>>().iter())
                        .any(|s| s.to_lowercase().contains(&needle))
            })
            .collect();
        if runs.is_empty() {
            empty_hint_ui(ui, "Runs appear here once one is trained (here, with `train` or `sweep`).");
            return;
        }
        self.sort_runs(&mut runs);
        let settings: Vec<String> = config_diff(&runs.iter().map(|r| &r.config).collect::<Vec<_>>())
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| (k == "seed" && !self.group) || !NOT_A_SETTING.contains(&k.as_str()))
            .take(6)
            .collect();
        let baseline = state.runs_baseline.as_ref().and_then(|b| view.runs.iter().find(|r| &r.id == b));
        let before = self.selected.clone();
        egui::ScrollArea::both().max_height(ui.available_height() * 0.6).auto_shrink([false, true]).show(ui, |ui| {
            if self.group {
                group_table_ui(&runs, ui);
            } else {
                self.table_ui(&runs, &settings, baseline, state, ctx, ui);
            }
        });
        self.selected.retain(|id| view.runs.iter().any(|r| &r.id == id));
        if self.selected != before {
            ctx.commands.send(AppCommand::OverlayRuns(self.selected.clone()));
        }
        ui.separator();
        self.selection_ui(ctx, baseline, ui);
    }

    fn sort_runs(&self, runs: &mut [&RunRecord]) {
        let f = |r: &RunRecord, s: fn(&ScoreRow) -> f64| r.final_scores().map_or(f64::NEG_INFINITY, |x| s(&x));
        runs.sort_by(|a, b| {
            let o = match self.sort {
                SortKey::Date => a.created_unix.total_cmp(&b.created_unix),
                SortKey::Name => a.name.cmp(&b.name),
                SortKey::Dataset => a.dataset.name.cmp(&b.dataset.name),
                SortKey::Status => a.status.cmp(&b.status),
                SortKey::FinalAcc => f(a, acc).total_cmp(&f(b, acc)),
                SortKey::FinalNmi => f(a, nmi).total_cmp(&f(b, nmi)),
                SortKey::BestAcc => {
                    let g = |r: &RunRecord| r.best_scores().map_or(f64::NEG_INFINITY, |x| x.acc);
                    g(a).total_cmp(&g(b))
                }
                SortKey::Duration => a.duration_secs().unwrap_or(0.0).total_cmp(&b.duration_secs().unwrap_or(0.0)),
            };
            if self.ascending { o } else { o.reverse() }
        });
    }

    fn header_ui(&mut self, ui: &mut egui::Ui, text: &str, key: SortKey) {
        let arrow = if self.sort == key { if self.ascending { " ^" } else { " v" } } else { "" };
        if ui.button(RichText::new(format!("{text}{arrow}")).strong()).on_hover_text("Sort by this column").clicked() {
            if self.sort == key {
                self.ascending = !self.ascending;
            } else {
                self.sort = key;
                self.ascending = false;
            }
        }
    }

    fn table_ui(
        &mut self,
        runs: &[&RunRecord],
        settings: &[String],
        baseline: Option<&RunRecord>,
        state: &AppState,
        ctx: &mut ViewCtx<'_>,
        ui: &mut egui::Ui,
    ) {
        egui::Grid::new("runs_table").striped(true).show(ui, |ui| {
            self.header_ui(ui, "name", SortKey::Name);
            self.header_ui(ui, "dataset", SortKey::Dataset);
            self.header_ui(ui, "status", SortKey::Status);
            for s in settings {
                ui.label(RichText::new(s).strong());
            }
            self.header_ui(ui, "final ACC", SortKey::FinalAcc);
            self.header_ui(ui, "final NMI", SortKey::FinalNmi);
            self.header_ui(ui, "best ACC*", SortKey::BestAcc);
            ui.label(RichText::new("best NMI*").strong());
            let knn = runs.iter().any(|r| r.knn_acc().is_some());
            if knn {
                ui.label(RichText::new("kNN ACC (test)").strong()).on_hover_text(
                    "a metric-learning baseline's nearest-neighbour accuracy on its held-out test split \
                     (its final ACC / NMI are k-means on the test embeddings)",
                );
            }
            self.header_ui(ui, "duration", SortKey::Duration);
            self.header_ui(ui, "date", SortKey::Date);
            ui.label("");
            ui.end_row();
            for r in runs {
                let mut on = self.selected.contains(&r.id);
                let is_base = state.runs_baseline.as_deref() == Some(r.id.as_str());
                let name = if is_base { format!("{} (baseline)", r.name) } else { r.name.clone() };
                let first = ui.checkbox(&mut on, name).on_hover_text(&r.id);
                let row_start = first.rect;
                if first.changed() {
                    if on {
                        self.selected.push(r.id.clone());
                    } else {
                        self.selected.retain(|x| x != &r.id);
                    }
                }
                ui.label(&r.dataset.name);
                let status = RichText::new(r.status.as_str());
                ui.label(match r.status {
                    Status::Failed | Status::Diverged | Status::Interrupted => status.color(palette::error_text()),
                    Status::Running => status.strong(),
                    _ => status,
                });
                let flat = flat_config(&r.config);
                for s in settings {
                    ui.label(flat.get(s).map_or("–", String::as_str));
                }
                let fin = score(r.final_scores(), acc);
                let delta = match (baseline.and_then(RunRecord::final_scores), r.final_scores()) {
                    (Some(b), Some(x)) if !is_base => format!(" ({:+.4})", x.acc - b.acc),
                    _ => String::new(),
                };
                ui.label(format!("{fin}{delta}"));
                ui.label(score(r.final_scores(), nmi));
                ui.label(score(r.best_scores(), acc));
                ui.label(score(r.best_scores(), nmi));
                if knn {
                    ui.label(r.knn_acc().map_or_else(|| "–".into(), |a| format!("{a:.4}")));
                }
                ui.label(r.duration_secs().map_or_else(|| "–".into(), format_secs));
                ui.label(r.created.replace('T', " ").trim_end_matches('Z').to_owned());
                let pin = if is_base { "unpin" } else { "pin" };
                let last = ui.small_button(pin).on_hover_text("Compare the other runs' final ACC with this one");
                if last.clicked() {
                    ctx.commands.send(AppCommand::PinBaseline((!is_base).then(|| r.id.clone())));
                }
                if r.status == Status::Finished && r.checkpoint.is_some() {
                    let rect = egui::Rect::from_min_max(
                        egui::pos2(row_start.left(), row_start.top().min(last.rect.top())),
                        egui::pos2(last.rect.right(), row_start.bottom().max(last.rect.bottom())),
                    );
                    self.drop_rows.push(DropRow { rect, id: r.id.clone(), name: r.name.clone() });
                }
                ui.end_row();
            }
        });
        ui.label(
            RichText::new("* best = the epoch with the highest ACC, chosen with the labels (label-selected)").weak(),
        );
    }

    fn selection_ui(&mut self, ctx: &mut ViewCtx<'_>, baseline: Option<&RunRecord>, ui: &mut egui::Ui) {
        let runs = &ctx.session.runs.runs;
        let chosen: Vec<&RunRecord> = self.selected.iter().filter_map(|id| runs.iter().find(|r| &r.id == id)).collect();
        if chosen.is_empty() {
            ui.label(
                RichText::new("Select runs to overlay their curves on the plots and compare their settings.").weak(),
            );
            return;
        }
        ui.label(format!(
            "{} selected: their curves are overlaid on the losses, metrics and view-weight plots",
            chosen.len()
        ));
        if let [one] = chosen.as_slice() {
            self.single_ui(one, ctx, ui);
        }
        // The diff: the selected runs, or one run against the baseline.
        let mut compared: Vec<&RunRecord> = chosen.clone();
        if compared.len() == 1
            && let Some(b) = baseline
            && b.id != compared[0].id
        {
            compared.insert(0, b);
        }
        if compared.len() >= 2 {
            let configs: Vec<&TrainConfig> = compared.iter().map(|r| &r.config).collect();
            let diff = config_diff(&configs);
            ui.label(RichText::new("Settings that differ").strong());
            if diff.is_empty() {
                ui.label("none: the runs have the same settings");
            }
            egui::Grid::new("runs_diff").striped(true).show(ui, |ui| {
                ui.label("");
                for r in &compared {
                    ui.label(RichText::new(&r.name).strong());
                }
                ui.end_row();
                for (field, values) in &diff {
                    ui.label(field);
                    for v in values {
                        ui.label(v);
                    }
                    ui.end_row();
                }
            });
        }
    }

    fn single_ui(&mut self, r: &RunRecord, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui.button("Open").on_hover_text("Show this run's curves and embedding in the tiles").clicked() {
                ctx.commands.send(AppCommand::OpenRun(r.id.clone()));
            }
            if ui.button("Train again").on_hover_text("Load this run's dataset and settings").clicked() {
                ctx.commands.send(AppCommand::TrainAgain(r.id.clone()));
            }
            let finished = r.status == crate::runs::Status::Finished && r.checkpoint.is_some();
            let busy = ctx.session.runs.new_data.busy.is_some();
            if ui
                .add_enabled(finished && !busy, egui::Button::new("New data..."))
                .on_hover_text("Update this run's model on new data: frozen encoders, anchored centres, new clusters")
                .on_disabled_hover_text("Needs a finished run with a checkpoint, and no update running")
                .clicked()
            {
                ctx.commands.send(AppCommand::ArmNewData(Some(r.id.clone())));
            }
            ui.add(egui::TextEdit::singleline(&mut self.rename).hint_text(&r.name).desired_width(160.0));
            if ui.add_enabled(!self.rename.trim().is_empty(), egui::Button::new("Rename")).clicked() {
                ctx.commands.send(AppCommand::RenameRun(r.id.clone(), self.rename.trim().to_owned()));
                self.rename.clear();
            }
            let hint = if r.tags.is_empty() { "tags, comma separated".to_owned() } else { r.tags.join(", ") };
            ui.add(egui::TextEdit::singleline(&mut self.tags).hint_text(hint).desired_width(140.0));
            if ui.button("Set tags").clicked() {
                let tags = self.tags.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
                ctx.commands.send(AppCommand::SetRunTags(r.id.clone(), tags));
                self.tags.clear();
            }
            if self.confirm_delete.as_deref() == Some(r.id.as_str()) {
                ui.label(RichText::new(format!("Delete {} and its checkpoint?", r.name)).color(palette::error_text()));
                if ui.button("Yes, delete").clicked() {
                    ctx.commands.send(AppCommand::DeleteRun(r.id.clone()));
                    self.selected.retain(|x| x != &r.id);
                    self.confirm_delete = None;
                }
                if ui.button("Cancel").clicked() {
                    self.confirm_delete = None;
                }
            } else if ui.button("Delete…").clicked() {
                self.confirm_delete = Some(r.id.clone());
            }
        });
        if let Some(reason) = &r.reason {
            ui.label(RichText::new(format!("{}: {reason}", r.status)).weak());
        }
        self.new_data_ui(r, ctx, ui);
    }
}

impl RunsPanel {
    /// The "New data" action of one run: the drop target once armed, the running update, and the
    /// last update's drift and metrics.
    fn new_data_ui(&mut self, r: &RunRecord, ctx: &mut ViewCtx<'_>, ui: &mut egui::Ui) {
        let nd = &ctx.session.runs.new_data;
        if let Some(u) = &r.update {
            let parent = u.parent_run.as_deref().unwrap_or("a checkpoint outside the run store");
            ui.label(
                RichText::new(format!(
                    "update of {parent}: clusters {} -> {}",
                    u.report.clusters_before, u.report.clusters_after
                ))
                .weak(),
            );
        }
        if nd.busy.as_deref() == Some(r.id.as_str()) {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("updating on the new data...");
            });
        } else if nd.armed.as_deref() == Some(r.id.as_str()) {
            ui.horizontal(|ui| {
                ui.label(RichText::new("Drop a data file (.mat, .npy, .npz, .csv, .tsv) on the window, or").strong());
                if ui.button("Choose file...").clicked() {
                    ctx.commands.send(AppCommand::NewData(r.id.clone(), None));
                    ctx.commands.send(AppCommand::ArmNewData(None));
                }
                if ui.button("Cancel").clicked() {
                    ctx.commands.send(AppCommand::ArmNewData(None));
                }
            });
        }
        if let Some((parent, result)) = &nd.result
            && parent == &r.id
        {
            match result {
                Ok((run, lines)) => {
                    ui.label(RichText::new(format!("updated: new run {run}")).strong());
                    for l in lines {
                        ui.label(l);
                    }
                }
                Err(e) => {
                    ui.label(RichText::new(format!("the update failed: {e}")).color(palette::error_text()));
                }
            }
        }
    }
}

/// One row per dataset and setting, mean ± std over the seeds (finished runs only).
fn group_table_ui(runs: &[&RunRecord], ui: &mut egui::Ui) {
    let done: Vec<&RunRecord> = runs.iter().copied().filter(|r| r.status == Status::Finished).collect();
    let t = table::table(&done, true);
    egui::Grid::new("runs_groups").striped(true).show(ui, |ui| {
        for h in ["dataset"]
            .iter()
            .map(|s| s.to_string())
            .chain(t.settings.iter().cloned())
            .chain(["seeds", "final ACC", "final NMI", "best ACC*", "best NMI*"].iter().map(|s| s.to_string()))
        {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for g in &t.groups {
            ui.label(&g.dataset);
            for v in &g.setting {
                ui.label(v);
            }
            ui.label(g.seeds().iter().map(u64::to_string).collect::<Vec<_>>().join(" "));
            ui.label(stat(g.final_stat(acc)));
            ui.label(stat(g.final_stat(nmi)));
            ui.label(stat(g.best_stat(acc)));
            ui.label(stat(g.best_stat(nmi)));
            ui.end_row();
        }
    });
    ui.label(RichText::new("finished runs only; * best = chosen with the labels (label-selected)").weak());
}
