//! The window's frame around the panels: the top bar (menus, export, theme), the centre's tiles
//! (grid or tabs, each with its header), and the drop overlay.

use super::*;

impl WorkbenchApp {
    pub(super) fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        let Self { state, session, commands, .. } = self;
        ui.horizontal(|ui| {
            ui.label(RichText::new("MVC Workbench").strong().size(16.0));
            ui.separator();
            ui.menu_button("File", |ui| {
                if ui.button("Open .mat file…").clicked() {
                    commands.send(AppCommand::OpenFileDialog);
                }
                ui.separator();
                if ui.add_enabled(!session.export_busy, egui::Button::new("Export all")).clicked() {
                    commands.send(AppCommand::Export(state::ExportTarget::All));
                }
                if ui.add_enabled(!session.export_busy, egui::Button::new("Export run JSON")).clicked() {
                    commands.send(AppCommand::Export(state::ExportTarget::RunJson));
                }
                if ui.button("Choose export folder…").clicked() {
                    commands.send(AppCommand::ChooseExportDir);
                }
            });
            ui.menu_button("View", |ui| {
                ui.label(RichText::new("Centre layout").strong());
                ui.radio_value(&mut state.layout.mode, LayoutMode::Grid, "Tiles (grid)");
                ui.radio_value(&mut state.layout.mode, LayoutMode::Tabs, "Tabs");
                ui.add(egui::Slider::new(&mut state.layout.columns, 1..=3).text("columns"));
                ui.separator();
                ui.label(RichText::new("Tiles shown in the grid").strong());
                for t in Tile::ALL {
                    let mut on = !state.layout.hidden.contains(&t);
                    if ui.checkbox(&mut on, t.title()).changed() {
                        if on {
                            state.layout.hidden.retain(|h| *h != t);
                        } else {
                            state.layout.hidden.push(t);
                        }
                    }
                }
                if ui.button("Reset layout").clicked() {
                    state.layout = state::Layout::default();
                }
                ui.separator();
                ui.checkbox(&mut state.left_panel_open, "Left panel");
            });
            ui.menu_button("Export settings", |ui| {
                let ex = &mut state.export;
                ui.horizontal(|ui| {
                    ui.label("Folder");
                    let mut text = ex.dir.display().to_string();
                    if ui.text_edit_singleline(&mut text).changed() {
                        ex.dir = PathBuf::from(text);
                    }
                    if ui.button("…").clicked() {
                        commands.send(AppCommand::ChooseExportDir);
                    }
                });
                ui.add(egui::Slider::new(&mut ex.dpi, 72..=600).text("PNG DPI"));
                ui.add(egui::Slider::new(&mut ex.width_in, 2.0..=12.0).text("width (in)"));
                ui.add(egui::Slider::new(&mut ex.height_in, 1.5..=10.0).text("height (in)"));
            });
            if ui
                .add_enabled(!session.export_busy, egui::Button::new("Export all"))
                .on_hover_text("Every figure (SVG + PNG), its data (CSV) and the run (JSON) into a new folder")
                .clicked()
            {
                commands.send(AppCommand::Export(state::ExportTarget::All));
            }
            match &session.export_outcome {
                Some(ExportOutcome::Written(files)) => {
                    if let Some(first) = files.first() {
                        let where_ = first.parent().map_or_else(String::new, |p| p.display().to_string());
                        ui.label(RichText::new(format!("exported {} file(s) to {where_}", files.len())).weak().small());
                    }
                }
                Some(ExportOutcome::Failed(e)) => {
                    ui.label(RichText::new("export failed").small().color(palette::error_text())).on_hover_text(e);
                }
                None => {}
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let label = if state.dark_mode { "Light theme" } else { "Dark theme" };
                if ui.button(label).on_hover_text("Switch the theme").clicked() {
                    state.dark_mode = !state.dark_mode;
                }
            });
        });
    }

    pub(super) fn centre_ui(&mut self, ui: &mut egui::Ui) {
        match self.state.layout.mode {
            LayoutMode::Tabs => {
                let order = self.state.layout.order.clone();
                ui.horizontal(|ui| {
                    for t in order {
                        ui.selectable_value(&mut self.state.layout.active_tab, t, t.title());
                    }
                });
                ui.separator();
                let t = self.state.layout.active_tab;
                self.tile_ui(t, ui);
            }
            LayoutMode::Grid => {
                let tiles = self.state.layout.visible();
                if tiles.is_empty() {
                    widgets::empty_hint_ui(ui, "Every tile is hidden: View > Tiles shown.");
                    return;
                }
                let cols = self.state.layout.columns.clamp(1, 3).min(tiles.len());
                let rows = tiles.len().div_ceil(cols);
                let full = ui.available_rect_before_wrap();
                let gap = 6.0;
                let w = (full.width() - gap * (cols as f32 - 1.0)) / cols as f32;
                let h = (full.height() - gap * (rows as f32 - 1.0)) / rows as f32;
                for (i, t) in tiles.iter().enumerate() {
                    let (r, c) = (i / cols, i % cols);
                    // The last row's tiles share its width.
                    let in_row = if r + 1 == rows { tiles.len() - r * cols } else { cols };
                    let w_row = (full.width() - gap * (in_row as f32 - 1.0)) / in_row as f32;
                    let ww = if in_row == cols { w } else { w_row };
                    let min = Pos2::new(full.min.x + c as f32 * (ww + gap), full.min.y + r as f32 * (h + gap));
                    let rect = egui::Rect::from_min_size(min, egui::vec2(ww, h));
                    let mut child = ui.new_child(egui::UiBuilder::new().max_rect(rect).id_salt(("tile", *t)));
                    child.set_clip_rect(rect.intersect(ui.clip_rect()));
                    egui::Frame::group(child.style()).inner_margin(6.0).show(&mut child, |ui| {
                        ui.set_min_size(rect.size() - egui::vec2(14.0, 14.0));
                        self.tile_header_ui(*t, ui);
                        self.tile_ui(*t, ui);
                    });
                }
                ui.allocate_rect(full, egui::Sense::hover());
            }
        }
    }

    fn tile_header_ui(&mut self, t: Tile, ui: &mut egui::Ui) {
        let layout = &mut self.state.layout;
        ui.horizontal(|ui| {
            ui.label(RichText::new(t.title()).strong().size(15.0));
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.small_button("Hide").on_hover_text("Hide this tile (View > Tiles shown)").clicked() {
                    layout.hidden.push(t);
                }
                if ui.small_button("Solo").on_hover_text("Show this tile alone, as a tab").clicked() {
                    layout.mode = LayoutMode::Tabs;
                    layout.active_tab = t;
                }
                if ui.small_button(">").on_hover_text("Move right").clicked() {
                    layout.move_tile(t, 1);
                }
                if ui.small_button("<").on_hover_text("Move left").clicked() {
                    layout.move_tile(t, -1);
                }
            });
        });
    }

    fn tile_ui(&mut self, t: Tile, ui: &mut egui::Ui) {
        let Self { state, session, panels, commands, .. } = self;
        let mut ctx = ViewCtx { session, commands };
        match t {
            Tile::Losses => panels.losses.ui(state, &mut ctx, ui),
            Tile::Metrics => panels.metrics.ui(state, &mut ctx, ui),
            Tile::ViewWeights => panels.view_weights.ui(state, &mut ctx, ui),
            Tile::Embedding => panels.embedding.ui(state, &mut ctx, ui),
            Tile::Inspector => panels.inspector.ui(state, &mut ctx, ui),
            Tile::Runs => panels.runs.ui(state, &mut ctx, ui),
            Tile::Analysis => panels.analysis.ui(state, &mut ctx, ui),
        }
    }

    pub(super) fn drop_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let (hovered, dropped, pointer) =
            ctx.input(|i| (!i.raw.hovered_files.is_empty(), i.raw.dropped_files.clone(), i.pointer.latest_pos()));
        // A file over a finished run's row in the Runs tile updates that run's model.
        let row = pointer.and_then(|p| self.panels.runs.drop_target(p)).cloned();
        let busy = self.session.runs.new_data.busy.is_some();
        self.panels.runs.clear_drop_rows();
        if hovered {
            let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("drop_hint")));
            let window = ctx.content_rect();
            match &row {
                Some(r) => {
                    painter.rect_filled(r.rect.expand(2.0), 2.0, palette::drop_overlay());
                    let text = if busy {
                        "an update is running; wait for it to finish".to_owned()
                    } else {
                        format!("Drop to update {}'s model on this data", r.name)
                    };
                    painter.text(
                        r.rect.left_bottom() + egui::vec2(0.0, 4.0),
                        egui::Align2::LEFT_TOP,
                        text,
                        egui::FontId::proportional(16.0),
                        ctx.global_style().visuals.strong_text_color(),
                    );
                }
                None => {
                    painter.rect_filled(window, 0.0, palette::drop_overlay());
                    painter.text(
                        window.center(),
                        egui::Align2::CENTER_CENTER,
                        "Drop a .mat file to load it (or on a finished run's row to update its model)",
                        egui::FontId::proportional(24.0),
                        egui::Color32::WHITE,
                    );
                }
            }
        }
        if let Some(f) = dropped.first() {
            let path = f.path().to_path_buf();
            if let Some(r) = row {
                if busy {
                    self.session.notify("an update is already running; drop the file again when it has finished");
                } else {
                    self.commands.send(AppCommand::ArmNewData(None));
                    self.commands.send(AppCommand::NewData(r.id, Some(path)));
                }
            } else if let Some(id) = self.session.runs.new_data.armed.take() {
                // The Runs tile's "New data" is armed: the file updates that run's checkpoint.
                self.commands.send(AppCommand::NewData(id, Some(path)));
            } else if self.session.run.status.is_active() {
                self.session.notify("stop the run before loading another dataset");
            } else {
                self.commands.send(AppCommand::Load(DatasetSource::File(path)));
            }
        }
    }
}
